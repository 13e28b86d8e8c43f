//! Erasure and export latency through the real HTTP API on loopback.
//!
//! Erasure: one person among `--events` stored events (default 1M, spread
//! evenly over `--subjects`), `DELETE /v1/subjects/{id}` end to end: the
//! ledger append, the one-transaction delete of their events, consent
//! records, interests and keys, the in-memory forgetting and every
//! registered erasure listener, including the recommender's exact
//! forgetting in a model trained on all those events first (its debounced
//! EASE refit then runs in the background, competing for the same cores,
//! as it would in production). Export: `GET .../export` for one person
//! holding `--export-events` events, every property decrypted.
//!
//! Events are bulk-loaded straight into the database, sealed with each
//! person's real data key, so setup does not dominate the run.

use std::sync::Arc;
use std::time::Instant;

use fineline_core::{EventKind, ItemId, Purpose, Timestamp};
use fineline_db::{NewEvent, WriteOp, WriteSet};
use fineline_vault::subject_aad;

use super::harness::{backend_name, percentile_ms, BenchServer};

#[derive(clap::Args)]
pub struct Args {
    /// Events stored before the first erasure.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    #[arg(long, default_value_t = 1_000)]
    pub subjects: usize,
    /// Erasures timed (each a different person).
    #[arg(long, default_value_t = 100)]
    pub samples: usize,
    /// Events held by the person whose export is timed.
    #[arg(long, default_value_t = 10_000)]
    pub export_events: usize,
    #[arg(long, default_value_t = 20)]
    pub export_samples: usize,
    /// Skip training the recommender, to see the database's share of the time.
    #[arg(long)]
    pub no_model: bool,
    /// Run against PostgreSQL (a fresh schema) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
}

fn subject(i: usize) -> String {
    format!("erasure-bench-{i}@example.com")
}

async fn load_events(
    state: &fineline_server::AppState,
    who: &[String],
    total: usize,
) -> anyhow::Result<()> {
    let mut keys = Vec::with_capacity(who.len());
    for raw in who {
        let p = state.pseudonymize(raw);
        let k = state
            .subject_keys(&p)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no keys after consent"))?;
        keys.push((p, k, subject_aad(&p)));
    }
    let at = Timestamp::now().millis();
    let kind = EventKind::new("view")?;
    let mut batch = Vec::with_capacity(10_000);
    for n in 0..total {
        let (p, k, aad) = &keys[n % keys.len()];
        let props = format!(r#"{{"price_cents":{},"channel":"web"}}"#, 100 + n % 9_900);
        batch.push(NewEvent {
            subject: *p,
            kind: kind.clone(),
            item: Some(ItemId::new(&format!("sku-{}", n % 5_000))?),
            purpose: Purpose::Personalization,
            at: Timestamp(at - (n % 86_400_000) as i64),
            sealed_properties: k.data_key.seal(props.as_bytes(), aad),
        });
        if batch.len() == 10_000 || n + 1 == total {
            state
                .database()
                .apply(WriteSet::from(WriteOp::PutEvents(std::mem::take(
                    &mut batch,
                ))))
                .await?;
        }
    }
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.subjects > args.samples && args.events > 0 && args.samples > 0,
        "need --subjects > --samples > 0 and --events > 0"
    );
    let dir = tempfile::tempdir()?;
    let url = args.database_url.as_deref();
    let backend = backend_name(url);
    let bench = BenchServer::start(dir.path(), url, |_| {}).await?;
    let (state, base, admin, http) = (&bench.state, &bench.base, &bench.admin, &bench.http);
    let exporter = "export-bench@example.com".to_string();
    let mut people: Vec<String> = (0..args.subjects).map(subject).collect();
    people.push(exporter.clone());
    for raw in &people {
        http.post(format!("{base}/v1/subjects/{raw}/consents"))
            .bearer_auth(admin)
            .json(&serde_json::json!({"source": "api", "grant": ["personalization"]}))
            .send()
            .await?
            .error_for_status()?;
    }
    let start = Instant::now();
    load_events(state, &people[..args.subjects], args.events).await?;
    load_events(state, std::slice::from_ref(&exporter), args.export_events).await?;
    let load_secs = start.elapsed().as_secs_f64();
    let stored = state.database().count_events().await?;

    // The recommender learns from every event first, so each erasure
    // includes forgetting the person from a real model.
    let t = Instant::now();
    let trained = if args.no_model {
        None
    } else {
        Some(state.train(Arc::new(|_| {})).await?)
    };
    let train_secs = t.elapsed().as_secs_f64();

    // Export first, while the database is at its fullest.
    let mut export_times = Vec::with_capacity(args.export_samples);
    let mut export_bytes = 0;
    for _ in 0..args.export_samples.max(1) {
        let t = Instant::now();
        let body = http
            .get(format!("{base}/v1/subjects/{exporter}/export"))
            .bearer_auth(admin)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        export_times.push(t.elapsed());
        export_bytes = body.len();
    }
    let t = Instant::now();
    let html = http
        .get(format!("{base}/v1/subjects/{exporter}/export?format=html"))
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let html_ms = t.elapsed().as_secs_f64() * 1e3;

    let mut erase_times = Vec::with_capacity(args.samples);
    let mut wal_pages = Vec::with_capacity(args.samples);
    let mut rows = 0u64;
    let wal_frames = || bench.sqlite.as_ref().map(|s| s.erasure_wal_frames());
    // Whatever setup left in the WAL goes first, so each erasure's count
    // is its own.
    if let Some(s) = &bench.sqlite {
        s.checkpoint_truncate().await?;
    }
    for raw in people.iter().take(args.samples) {
        let before = wal_frames();
        let t = Instant::now();
        let r: serde_json::Value = http
            .delete(format!("{base}/v1/subjects/{raw}"))
            .bearer_auth(admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        erase_times.push(t.elapsed());
        if let (Some(b), Some(a)) = (before, wal_frames()) {
            wal_pages.push(a - b);
        }
        rows += r["rows_deleted"].as_u64().unwrap_or(0);
    }
    bench.stop().await?;
    export_times.sort();
    erase_times.sort();
    wal_pages.sort();
    println!(
        "erasure benchmark: database {backend}, {stored} events stored ({} subjects), loaded in {load_secs:.1} s",
        args.subjects + 1
    );
    println!(
        "  erasure (HTTP DELETE, {} people, ~{} rows each): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        args.samples,
        rows / args.samples as u64,
        percentile_ms(&erase_times, 0.50),
        percentile_ms(&erase_times, 0.99),
        percentile_ms(&erase_times, 1.0)
    );
    if !wal_pages.is_empty() {
        let at = |q: f64| wal_pages[((wal_pages.len() - 1) as f64 * q).round() as usize];
        println!(
            "  WAL pages written per erasure (frames at its checkpoint): p50 {}  max {}",
            at(0.5),
            at(1.0)
        );
    }
    println!(
        "  export (JSON, {} events, {:.1} MB, {} runs): p50 {:.1} ms  p99 {:.1} ms; HTML once: {html_ms:.1} ms ({:.1} MB)",
        args.export_events,
        export_bytes as f64 / 1e6,
        export_times.len(),
        percentile_ms(&export_times, 0.50),
        percentile_ms(&export_times, 0.99),
        html.len() as f64 / 1e6
    );
    match trained {
        Some(t) => println!(
            "  model update included: recommender ({}) trained on {} events ({} people) in {train_secs:.1} s before the erasures",
            t.algorithm, t.events_used, t.subjects
        ),
        None => println!("  model update: none (--no-model: no trained recommender to forget from)"),
    }
    Ok(())
}
