//! `fineline bench recs-serving`: latency of `GET /v1/subjects/{id}/recommendations`
//! over loopback against a real server trained on MovieLens-100k (positives,
//! from bench/data, fetched by `fineline bench recs`) or, when that file is
//! absent, on a seeded synthetic shop. Each personalized answer reads the
//! person's history from the database (fold-in), scores with the model of
//! `--recs-model` (EASE by default) and queues a ledger entry, exactly as in
//! production.

use super::harness::{backend_name, percentile_ms, BenchServer};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fineline_core::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// MovieLens-100k as RecBole ships it (default: bench/data/ml-100k.inter if present).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Timed requests per kind.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Run against PostgreSQL (a fresh schema) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub recs: crate::RecsArgs,
}

/// `(raw subject id, item)` views to load.
fn dataset(args: &Args) -> anyhow::Result<(String, Vec<(String, String)>)> {
    let path = args
        .data
        .clone()
        .or_else(|| Some(PathBuf::from("bench/data/ml-100k.inter")))
        .filter(|p| p.is_file());
    if let Some(path) = path {
        let all = fineline_recs::bench::load_movielens(&path)?;
        let views = all
            .iter()
            .map(|i| {
                (
                    format!("ml-{}", fineline_recs::bench::token_of(&i.subject)),
                    i.item.as_str().to_string(),
                )
            })
            .collect();
        return Ok((
            format!("MovieLens-100k positives ({})", path.display()),
            views,
        ));
    }
    // 1,000 people, 40 views each over 2,000 items with a skewed popularity.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut views = Vec::new();
    for p in 0..1000 {
        for _ in 0..40 {
            let x: f64 = rng.gen();
            let item = (x * x * x * 2000.0) as usize;
            views.push((format!("syn-{p}"), format!("sku-{item}")));
        }
    }
    Ok((
        "synthetic (1,000 people x 40 views, 2,000 items)".into(),
        views,
    ))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (name, views) = dataset(&args)?;
    let dir = tempfile::tempdir()?;
    let url = args.database_url.as_deref();
    let backend = backend_name(url);
    let model = args.recs.config();
    let bench = BenchServer::start(dir.path(), url, |state| {
        state.set_training_schedule(None);
        state.set_recs_config(model);
    })
    .await?;
    let (base, admin, ingest, http) = (&bench.base, &bench.admin, &bench.ingest, &bench.http);
    let mut people: Vec<String> = views.iter().map(|v| v.0.clone()).collect();
    people.sort();
    people.dedup();
    eprintln!(
        "loading {name}: {} people, {} views",
        people.len(),
        views.len()
    );
    for p in &people {
        http.post(format!("{base}/v1/subjects/{p}/consents"))
            .bearer_auth(admin)
            .json(&json!({"source": "api", "grant": ["personalization"]}))
            .send()
            .await?
            .error_for_status()?;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = Timestamp::now().millis();
    for chunk in views.chunks(5_000) {
        let evs: Vec<_> = chunk
            .iter()
            .map(|(p, i)| {
                json!({"subject_id": p, "type": "view", "item": i, "properties": {},
                                 "timestamp": at, "purpose": "personalization"})
            })
            .collect();
        http.post(format!("{base}/v1/events"))
            .bearer_auth(ingest)
            .json(&evs)
            .send()
            .await?
            .error_for_status()?;
    }
    let status: serde_json::Value = http
        .post(format!("{base}/v1/recs/train"))
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    eprintln!("trained: {status}");

    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let items: Vec<&String> = views.iter().map(|v| &v.1).collect();
    let kinds = ["personalized", "non-personal + context", "similar items"];
    println!(
        "recs serving benchmark: {name}; database {backend}; {} sequential requests per kind over loopback (one keep-alive connection), client-side latency",
        args.requests
    );
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>9}",
        "request", "p50 ms", "p99 ms", "max ms", "req/s"
    );
    for kind in kinds {
        let mut lat = Vec::with_capacity(args.requests);
        let warmup = 500;
        let started = Instant::now();
        for r in 0..args.requests + warmup {
            let url = match kind {
                "personalized" => format!(
                    "{base}/v1/subjects/{}/recommendations?n=10",
                    people[rng.gen_range(0..people.len())]
                ),
                "non-personal + context" => format!(
                    "{base}/v1/subjects/nobody-{r}/recommendations?n=10&context={}",
                    items[rng.gen_range(0..items.len())]
                ),
                _ => format!(
                    "{base}/v1/items/{}/similar?n=10",
                    items[rng.gen_range(0..items.len())]
                ),
            };
            let t = Instant::now();
            let body = http
                .get(&url)
                .bearer_auth(admin)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            let d = t.elapsed();
            anyhow::ensure!(!body.is_empty(), "empty answer");
            if r >= warmup {
                lat.push(d);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        println!(
            "{:<24} {:>9.3} {:>9.3} {:>9.3} {:>9.0}",
            kind,
            percentile_ms(&lat, 0.5),
            percentile_ms(&lat, 0.99),
            percentile_ms(&lat, 1.0),
            (args.requests + warmup) as f64 / secs
        );
    }
    bench.stop().await?;
    Ok(())
}
