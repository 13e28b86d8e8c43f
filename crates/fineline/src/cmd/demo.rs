//! A seeded synthetic shop: customers with a mix of consent choices and
//! a catalogue browsed with realistic skew, for `serve --demo`,
//! `demo-data` and the benchmarks.

use std::io::Write;
use std::path::PathBuf;

use fineline_core::Purpose;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 1_000)]
    pub subjects: usize,
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// Output file (NDJSON, or CSV for sightings); standard output if absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// `events` (a shop) or `sightings` (a store's Wi-Fi sensors, simulated with ground truth).
    #[arg(long, value_enum, default_value = "events")]
    pub kind: super::import::Kind,
    /// Sightings only: simulated days, ending yesterday.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
}

pub struct DemoShape {
    pub seed: u64,
    pub subjects: usize,
    pub events: usize,
    pub items: usize,
}

impl Default for DemoShape {
    fn default() -> Self {
        Self {
            seed: 42,
            // Enough people granting partner insights (about 40%) that the
            // console's insights clear the 100-person floor.
            subjects: 600,
            events: 15_000,
            items: 300,
        }
    }
}

pub const KINDS: [&str; 4] = ["view", "view", "add_to_cart", "purchase"];

pub fn subject_id(i: usize) -> String {
    format!("customer-{i:06}@example.com")
}

/// Which purposes demo subject `i` grants: most allow personalization,
/// fewer analytics, fewer still partner insights; a few refuse all.
pub fn demo_grants(rng: &mut ChaCha8Rng) -> Vec<Purpose> {
    let mut g = Vec::new();
    if rng.gen_bool(0.8) {
        g.push(Purpose::Personalization);
    }
    if rng.gen_bool(0.6) {
        g.push(Purpose::Analytics);
    }
    if rng.gen_bool(0.4) {
        g.push(Purpose::PartnerInsights);
    }
    if rng.gen_bool(0.3) {
        g.push(Purpose::Location);
    }
    g
}

/// One synthetic event at `now_ms`, as the wire format wants it. Item
/// popularity is Zipf-like so recommendations have something to find.
pub fn demo_event(rng: &mut ChaCha8Rng, shape: &DemoShape, now_ms: i64) -> serde_json::Value {
    let subject = rng.gen_range(0..shape.subjects);
    let u: f64 = rng.gen_range(0.0f64..1.0);
    let item = ((shape.items as f64).powf(u) as usize)
        .saturating_sub(1)
        .min(shape.items - 1);
    let kind = KINDS[rng.gen_range(0..KINDS.len())];
    let purpose = if rng.gen_bool(0.7) {
        "personalization"
    } else {
        "analytics"
    };
    json!({
        "subject_id": subject_id(subject),
        "type": kind,
        "item": format!("sku-{item:05}"),
        "properties": {"price_cents": rng.gen_range(199..20_000), "channel": "web"},
        "timestamp": now_ms,
        "purpose": purpose,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.kind == super::import::Kind::Sightings {
        return super::sightings::demo(args.seed, args.days, args.out.as_ref());
    }
    if args.items == 0 || args.subjects == 0 {
        anyhow::bail!("--items and --subjects must be at least 1");
    }
    let shape = DemoShape {
        seed: args.seed,
        subjects: args.subjects,
        events: args.events,
        items: args.items,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    let now = fineline_core::Timestamp::now().millis();
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for n in 0..shape.events {
        serde_json::to_writer(&mut out, &demo_event(&mut rng, &shape, now + n as i64))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub struct SeedSummary {
    pub subjects: usize,
    pub accepted: usize,
    pub refused: usize,
    pub example_subject: String,
}

impl std::fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} customers; {} events accepted, {} refused for lack of consent",
            self.subjects, self.accepted, self.refused
        )
    }
}

/// Seed a running server through its public API, as a business would.
pub async fn seed_server(
    base: &str,
    admin: &str,
    ingest: &str,
    shape: &DemoShape,
) -> anyhow::Result<SeedSummary> {
    let http = reqwest::Client::new();
    let now = fineline_core::Timestamp::now();
    if http.get(format!("{base}/v1/policy")).send().await?.status() == 404 {
        let policy = fineline_consent::demo_policy(1, now);
        let r = http
            .post(format!("{base}/v1/policy"))
            .bearer_auth(admin)
            .json(&policy)
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "publishing the demo policy failed: {}",
            r.text().await?
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(shape.seed);
    for i in 0..shape.subjects {
        let grants = demo_grants(&mut rng);
        if grants.is_empty() {
            continue;
        }
        let r = http
            .post(format!("{base}/v1/subjects/{}/consents", subject_id(i)))
            .bearer_auth(admin)
            .json(&json!({"source": "web", "grant": grants}))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "demo consent failed: {}",
            r.text().await?
        );
    }
    let mut accepted = 0;
    let mut refused = 0;
    let mut batch = Vec::with_capacity(1000);
    for n in 0..shape.events {
        // Timed after the consents above, so granted purposes count.
        batch.push(demo_event(
            &mut rng,
            shape,
            fineline_core::Timestamp::now().millis(),
        ));
        if batch.len() == 1000 || n + 1 == shape.events {
            let r: serde_json::Value = http
                .post(format!("{base}/v1/events"))
                .bearer_auth(ingest)
                .json(&batch)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            accepted += r["accepted"].as_u64().unwrap_or(0) as usize;
            refused += r["rejected"].as_array().map_or(0, |a| a.len());
            batch.clear();
        }
    }
    seed_footfall(&http, base, admin, ingest).await?;
    Ok(SeedSummary {
        subjects: shape.subjects,
        accepted,
        refused,
        example_subject: subject_id(0),
    })
}

/// Days of simulated foot traffic the demo shop's store gets, ending yesterday.
pub const DEMO_FOOTFALL_DAYS: u32 = 7;

/// The simulated store and a week of its Wi-Fi sightings, so the
/// console's foot-traffic page has something to show. Skipped when a
/// store is already registered (a restarted demo).
async fn seed_footfall(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    ingest: &str,
) -> anyhow::Result<()> {
    let stores: serde_json::Value = http
        .get(format!("{base}/v1/footfall/stores"))
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if stores.as_array().is_some_and(|s| !s.is_empty()) {
        return Ok(());
    }
    let mut cfg = fineline_footfall::simulate::SimConfig {
        days: DEMO_FOOTFALL_DAYS,
        ..Default::default()
    };
    let tz = jiff::tz::TimeZone::get(&cfg.store.time_zone)?;
    let today = jiff::Zoned::now().with_time_zone(tz).date();
    cfg.first_day = today.checked_sub(jiff::Span::new().days(i64::from(DEMO_FOOTFALL_DAYS)))?;
    let (sightings, _) = fineline_footfall::simulate::simulate(42, &cfg)?;
    http.post(format!("{base}/v1/footfall/stores"))
        .bearer_auth(admin)
        .json(&super::sightings::store_json(&cfg.store))
        .send()
        .await?
        .error_for_status()?;
    for chunk in sightings.chunks(super::sightings::MAX_BATCH) {
        let body: Vec<serde_json::Value> = chunk
            .iter()
            .map(|s| {
                json!({"sensor_id": s.sensor_id, "mac": s.mac.to_canonical(),
                       "rssi": s.rssi, "timestamp": s.at.0})
            })
            .collect();
        http.post(format!("{base}/v1/footfall/sightings"))
            .bearer_auth(ingest)
            .json(&body)
            .send()
            .await?
            .error_for_status()?;
    }
    http.post(format!("{base}/v1/footfall/flush"))
        .bearer_auth(ingest)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}
