//! Ingestion throughput: events/s through the real HTTP batch API on
//! loopback (JSON parsing, pseudonymisation, consent check, sealing,
//! durable commit), beside the same rows bulk-inserted straight into the
//! same kind of database with none of fineline's work.

use std::sync::Arc;
use std::time::Instant;

use fineline_core::{EventKind, ItemId, Purpose, Timestamp};
use fineline_db::{NewEvent, WriteOp, WriteSet};

use super::harness::{backend_name, fresh_database, peak_rss_mib, BenchServer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    #[arg(long, default_value_t = 1_000)]
    pub subjects: usize,
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Run against PostgreSQL (a fresh schema) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.subjects > 0 && args.events > 0,
        "--events and --subjects must be positive"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.batch),
        "--batch must be 1..=10000"
    );
    let dir = tempfile::tempdir()?;
    let url = args.database_url.as_deref();
    let backend = backend_name(url);

    // fineline: the whole server, driven over loopback HTTP.
    let server = BenchServer::start(dir.path(), url, |_| {}).await?;
    let (base, admin, ingest, http) = (&server.base, &server.admin, &server.ingest, &server.http);
    for i in 0..args.subjects {
        http.post(format!("{base}/v1/subjects/bench-{i}@example.com/consents"))
            .bearer_auth(admin)
            .json(&serde_json::json!({"source": "api", "grant": ["personalization"]}))
            .send()
            .await?
            .error_for_status()?;
    }
    let at = Timestamp::now().millis() + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let bodies: Vec<Vec<u8>> = (0..args.events)
        .collect::<Vec<_>>()
        .chunks(args.batch)
        .map(|chunk| {
            let evs: Vec<serde_json::Value> = chunk
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "subject_id": format!("bench-{}@example.com", rng.gen_range(0..args.subjects)),
                        "type": "view",
                        "item": format!("sku-{}", rng.gen_range(0..5000)),
                        "properties": {"price_cents": rng.gen_range(100..10_000), "channel": "web"},
                        "timestamp": at + *n as i64 % 1000,
                        "purpose": "personalization",
                    })
                })
                .collect();
            serde_json::to_vec(&evs).expect("json")
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (bodies, next, http, base, ingest) = (
            bodies.clone(),
            next.clone(),
            http.clone(),
            base.clone(),
            ingest.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let r: serde_json::Value = http
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&ingest)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                accepted += r["accepted"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(accepted)
        }));
    }
    let mut accepted = 0;
    for c in clients {
        accepted += c.await??;
    }
    let fineline_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        accepted as usize == args.events,
        "only {accepted} of {} events accepted",
        args.events
    );
    server.stop().await?;
    let rss = peak_rss_mib();

    // Baseline: the same number of rows, pre-built, bulk-inserted into a
    // fresh store of the same kind through its own batch write, in the
    // same batch size: no HTTP, JSON, pseudonyms, consent or sealing.
    let bare = fresh_database(dir.path(), url, "bare").await?;
    let keyring = fineline_vault::Vault::open_or_create(dir.path())?
        .keyring()
        .clone();
    let sealed_len = 60;
    let rows: Vec<Vec<NewEvent>> = (0..args.events)
        .collect::<Vec<_>>()
        .chunks(args.batch)
        .map(|chunk| {
            chunk
                .iter()
                .map(|n| NewEvent {
                    // The same pseudonyms the API run stored, so both
                    // runs touch the same index pages.
                    subject: keyring
                        .pseudonymize(&format!("bench-{}@example.com", n % args.subjects)),
                    kind: EventKind::new("view").expect("valid"),
                    item: Some(ItemId::new(&format!("sku-{}", n % 5000)).expect("valid")),
                    purpose: Purpose::Personalization,
                    at: Timestamp(at),
                    sealed_properties: vec![7u8; sealed_len],
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    for batch in rows {
        bare.apply(WriteSet::from(WriteOp::PutEvents(batch)))
            .await?;
    }
    let bare_secs = start.elapsed().as_secs_f64();

    let ours = args.events as f64 / fineline_secs;
    let theirs = args.events as f64 / bare_secs;
    println!(
        "ingest benchmark: {} events, {} subjects, batches of {}, {} clients, database {backend}",
        args.events, args.subjects, args.batch, args.clients
    );
    println!("  fineline HTTP API (consent-checked, sealed): {ours:>10.0} events/s  ({fineline_secs:.2} s)");
    println!("  bare bulk insert, same database kind:        {theirs:>10.0} events/s  ({bare_secs:.2} s)");
    println!("  ratio fineline / bare: {:.2}", ours / theirs);
    println!("  peak RSS of this process (server + client): {rss:.0} MiB");
    Ok(())
}
