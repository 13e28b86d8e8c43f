//! Wi-Fi sightings from the command line: CSV import to a running server,
//! simulated demo data, and the HTTP ingestion benchmark.
//!
//! The CLI forwards CSV fields as they are; the server validates, names
//! bad rows by field, and turns MACs into device keys before keeping
//! anything. Nothing here logs or prints a MAC.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fineline_core::{Role, Timestamp};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Largest batch the server takes.
pub const MAX_BATCH: usize = 50_000;

/// Send a CSV of sightings (`sensor_id,mac,rssi,timestamp`) in batches,
/// then close open sessions so the import's visits are stored.
pub async fn import(path: &Path, server: &str, key: &str, batch: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_BATCH).contains(&batch),
        "--batch must be 1..={MAX_BATCH} for sightings"
    );
    let size = std::fs::metadata(path)?.len();
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)?;
    let headers = rdr.headers()?.clone();
    let mut idx = [0usize; 4];
    for (i, col) in fineline_footfall::csv_import::COLUMNS.iter().enumerate() {
        idx[i] = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(col))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: header has no column {col} (expected sensor_id,mac,rssi,timestamp)",
                    path.display()
                )
            })?;
    }
    let bar = ProgressBar::new(size);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    )?);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/footfall/sightings", server.trim_end_matches('/'));
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut rejected: Vec<(u64, String, String)> = Vec::new();
    let mut rows = 0u64;
    let mut records = rdr.records();
    loop {
        let first_line = rows + 2;
        let mut chunk = Vec::with_capacity(batch);
        for rec in records.by_ref().take(batch) {
            let rec =
                rec.map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), rows + 2))?;
            rows += 1;
            let f = |i: usize| rec.get(idx[i]).unwrap_or("");
            let rssi = f(2)
                .parse::<i64>()
                .map_or_else(|_| json!(f(2)), Value::from);
            let ts = f(3)
                .parse::<i64>()
                .map_or_else(|_| json!(f(3)), Value::from);
            chunk.push(json!({"sensor_id": f(0), "mac": f(1), "rssi": rssi, "timestamp": ts}));
        }
        if chunk.is_empty() {
            break;
        }
        let resp = http.post(&url).bearer_auth(key).json(&chunk).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "server refused a batch ({status}): {body}"
        );
        *totals.entry("accepted".into()).or_default() += body["accepted"].as_u64().unwrap_or(0);
        for (reason, n) in body["dropped"].as_object().into_iter().flatten() {
            *totals.entry(format!("dropped: {reason}")).or_default() += n.as_u64().unwrap_or(0);
        }
        for r in body["rejected"].as_array().into_iter().flatten() {
            let line = first_line + r["index"].as_u64().unwrap_or(0);
            let field = r["field"].as_str().unwrap_or("?").to_string();
            *totals.entry(format!("rejected: {field}")).or_default() += 1;
            rejected.push((line, field, r["message"].as_str().unwrap_or("").to_string()));
        }
        bar.set_position(records.reader().position().byte());
        bar.set_message(format!("{rows} sightings"));
    }
    let flushed: Value = http
        .post(format!(
            "{}/v1/footfall/flush",
            server.trim_end_matches('/')
        ))
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    bar.finish_and_clear();
    println!("{rows} sightings read from {}", path.display());
    for (what, n) in &totals {
        println!("  {what}: {n}");
    }
    for (line, field, message) in rejected.iter().take(10) {
        println!("  line {line}: field {field}: {message}");
    }
    println!(
        "open sessions closed and stored: {}",
        flushed["sessions_stored"]
    );
    Ok(())
}

/// The simulator's store, as `POST /v1/footfall/stores` takes it.
pub fn store_json(cfg: &fineline_footfall::StoreConfig) -> Value {
    let t = |t: jiff::civil::Time| {
        if t == jiff::civil::Time::MAX {
            "24:00".to_string()
        } else {
            format!("{:02}:{:02}", t.hour(), t.minute())
        }
    };
    let hours: Vec<Value> = cfg
        .opening_hours
        .iter()
        .map(|h| {
            h.map_or(
                Value::Null,
                |h| json!({"open": t(h.open), "close": t(h.close)}),
            )
        })
        .collect();
    json!({
        "store_id": cfg.store_id,
        "sensors": cfg.sensors,
        "opening_hours": hours,
        "time_zone": cfg.time_zone,
    })
}

/// `demo-data --kind sightings`: `days` simulated days ending yesterday
/// (inside the repeat lookback), as CSV. The store to register first goes
/// to standard error.
pub fn demo(seed: u64, days: u32, out: Option<&PathBuf>) -> anyhow::Result<()> {
    let mut cfg = fineline_footfall::simulate::SimConfig {
        days,
        ..Default::default()
    };
    let tz = jiff::tz::TimeZone::get(&cfg.store.time_zone)?;
    let today = jiff::Zoned::now().with_time_zone(tz).date();
    cfg.first_day = today.checked_sub(jiff::Span::new().days(i64::from(days)))?;
    let (sightings, truth) = fineline_footfall::simulate::simulate(seed, &cfg)?;
    let w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    fineline_footfall::csv_import::write_sightings(w, &sightings)?;
    let visits: u64 = truth.days.iter().map(|d| d.visits).sum();
    eprintln!(
        "{} sightings, {} true visits over {days} days from {}. Register the store first:\n\
         curl -X POST -H \"Authorization: Bearer $ADMIN_KEY\" -H 'Content-Type: application/json' \
         $FINELINE_SERVER/v1/footfall/stores -d '{}'",
        sightings.len(),
        visits,
        cfg.first_day,
        store_json(&cfg.store)
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Sightings to ingest.
    #[arg(long, default_value_t = 10_000_000)]
    pub sightings: u64,
    /// Drive the real HTTP route on loopback (JSON, auth, engine, durable
    /// session writes) instead of the engine alone.
    #[arg(long)]
    pub http: bool,
    #[arg(long, default_value_t = 50_000)]
    pub batch: usize,
    /// With --http: PostgreSQL (a fresh schema) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
}

fn peak_rss_mib() -> f64 {
    fineline_footfall::bench::peak_rss_kib().map_or(f64::NAN, |k| k as f64 / 1024.0)
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if !args.http {
        let cfg = fineline_footfall::bench::BenchConfig {
            sightings: args.sightings,
            ..Default::default()
        };
        let r = tokio::task::spawn_blocking(move || fineline_footfall::bench::run(&cfg)).await?;
        println!(
            "footfall engine: {} sightings in {:.2} s = {:.0} sightings/s (ingest + sessionization, 1 core)",
            r.sightings,
            r.ingest_time.as_secs_f64(),
            r.per_second
        );
        println!(
            "  devices {}, sessions {}, visits {}, max open sessions {}",
            r.devices, r.sessions, r.visits, r.max_open_sessions
        );
        println!(
            "  peak RSS before {:?} KiB, after {:?} KiB",
            r.peak_rss_kib_before, r.peak_rss_kib_after
        );
        return Ok(());
    }
    anyhow::ensure!(
        (1..=MAX_BATCH).contains(&args.batch),
        "--batch must be 1..={MAX_BATCH}"
    );
    let dir = tempfile::tempdir()?;
    let database: std::sync::Arc<dyn fineline_db::Database> = match &args.database_url {
        Some(url) => std::sync::Arc::new(fineline_db::PostgresDatabase::open_isolated(url).await?),
        None => std::sync::Arc::new(
            fineline_db::SqliteDatabase::open(dir.path().join("fineline.db")).await?,
        ),
    };
    let vault = fineline_vault::Vault::open_or_create(dir.path())?;
    let state = fineline_server::AppState::load(database, vault).await?;
    let admin = fineline_app::api_keys::create_key(state.database(), Role::Admin).await?;
    let ingest = fineline_app::api_keys::create_key(state.database(), Role::Ingest).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fineline_server::serve_on(state.clone(), listener, async {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::new();
    let day = json!({"open": "00:00", "close": "24:00"});
    http.post(format!("{base}/v1/footfall/stores"))
        .bearer_auth(&admin)
        .json(&json!({
            "store_id": "bench-store",
            "sensors": ["b0", "b1", "b2", "b3"],
            "opening_hours": [day, day, day, day, day, day, day],
            "time_zone": "UTC",
        }))
        .send()
        .await?
        .error_for_status()?;
    let rss_before = peak_rss_mib();

    // Bodies are made on another thread while the server ingests, two
    // batches ahead, so memory holds the engine plus a few batches.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Vec<u8>)>(2);
    let (total, batch) = (args.sightings, args.batch);
    let producer = tokio::task::spawn_blocking(move || feed(total, batch, tx));
    let start = Instant::now();
    let (mut accepted, mut sent) = (0u64, 0u64);
    while let Some((n, body)) = rx.recv().await {
        let r: Value = http
            .post(format!("{base}/v1/footfall/sightings"))
            .bearer_auth(&ingest)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        accepted += r["accepted"].as_u64().unwrap_or(0);
        sent += n as u64;
    }
    producer.await??;
    let flushed: Value = http
        .post(format!("{base}/v1/footfall/flush"))
        .bearer_auth(&ingest)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "footfall over HTTP ({}): {sent} sightings in {secs:.2} s = {:.0} sightings/s end to end \
         (JSON, auth, opt-out check, HMAC, sessionization, durable session writes); {accepted} accepted",
        if args.database_url.is_some() { "postgresql" } else { "embedded SQLite" },
        sent as f64 / secs
    );
    println!(
        "  sessions stored at flush {}; peak RSS {:.0} MiB (server and client in one process; {:.0} MiB before ingesting)",
        flushed["sessions_stored"],
        peak_rss_mib(),
        rss_before
    );
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}

/// A busy day's sightings in time order, ending now: devices arrive,
/// are seen every 10-60 s for 0-4 min (passers-by) or 5-120 min (shoppers).
fn feed(
    total: u64,
    batch: usize,
    tx: tokio::sync::mpsc::Sender<(usize, Vec<u8>)>,
) -> anyhow::Result<()> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let day_ms = 86_400_000i64;
    let end = Timestamp::now().millis() - 60_000;
    let start = end - day_ms;
    let arrival_gap = (day_ms as f64 * 62.0 / total.max(1) as f64).max(1.0);
    // (next sighting, leaves at, mac)
    let mut heap: BinaryHeap<Reverse<(i64, i64, [u8; 6])>> = BinaryHeap::new();
    let mut next_arrival = start as f64;
    let mut made = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(batch * 90);
    let mut in_buf = 0usize;
    let sensors = ["b0", "b1", "b2", "b3"];
    while made < total {
        let due = heap.peek().map(|Reverse((t, ..))| *t);
        let (at, mac) = if due.is_none_or(|t| next_arrival < t as f64) {
            let mut mac: [u8; 6] = rng.gen();
            mac[0] &= !0x01;
            let at = next_arrival as i64;
            next_arrival += rng.gen_range(0.0..2.0 * arrival_gap);
            let stay = if rng.gen_bool(0.4) {
                rng.gen_range(0..240_000)
            } else {
                rng.gen_range(300_000..7_200_000)
            };
            heap.push(Reverse((at, at + stay, mac)));
            continue;
        } else {
            let Reverse((at, leaves, mac)) = heap.pop().expect("peeked");
            let next = at + rng.gen_range(10_000..60_000);
            if next <= leaves {
                heap.push(Reverse((next, leaves, mac)));
            }
            (at, mac)
        };
        if at > end {
            break;
        }
        buf.push(if in_buf == 0 { b'[' } else { b',' });
        write!(
            buf,
            "{{\"sensor_id\":\"{}\",\"mac\":\"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\",\"rssi\":{},\"timestamp\":{}}}",
            sensors[rng.gen_range(0..4)],
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
            rng.gen_range(-84..-40),
            at
        )?;
        in_buf += 1;
        made += 1;
        if in_buf == batch {
            buf.push(b']');
            let body = std::mem::replace(&mut buf, Vec::with_capacity(batch * 90));
            if tx.blocking_send((in_buf, body)).is_err() {
                return Ok(());
            }
            in_buf = 0;
        }
    }
    if in_buf > 0 {
        buf.push(b']');
        let _ = tx.blocking_send((in_buf, buf));
    }
    Ok(())
}
