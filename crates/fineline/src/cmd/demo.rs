//! `demo-data` (synthetic events stamped now, for trying `import`) and
//! seeding `serve --demo`'s shop (`demo_shop.rs`) through the public API.

use std::io::Write;
use std::path::PathBuf;

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
    pub items: usize,
    pub accepted: usize,
    pub refused: usize,
    pub example_subject: String,
    /// False when the data dir already held a shop (a restarted demo).
    pub seeded: bool,
}

impl std::fmt::Display for SeedSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.seeded {
            return write!(f, "the shop in this data dir was seeded before");
        }
        write!(
            f,
            "{} customers, {} catalogue items; {} events accepted, {} refused for lack of consent",
            self.subjects, self.items, self.accepted, self.refused
        )
    }
}

/// Events per `POST /v1/events` while seeding: one more customer's
/// history (a few hundred at most) still fits the 10,000 a batch holds.
const EVENT_BATCH: usize = 9_500;
/// Event batches in flight at once: the server's group commit writes
/// those that queue up together.
const IN_FLIGHT: usize = 3;

async fn post_json(
    http: &reqwest::Client,
    url: String,
    key: &str,
    body: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let r = http.post(&url).bearer_auth(key).json(body).send().await?;
    let status = r.status();
    let text = r.text().await?;
    anyhow::ensure!(status.is_success(), "{url}: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// Seed a running server through its public API, as a business moving to
/// fineline would: its existing notice (in force since before the 90
/// days), its catalogue, its customers' consents with their original
/// times, their events, a week of a store's Wi-Fi sightings, and a first
/// training. A data dir that already holds a policy is left alone.
pub async fn seed_server(
    base: &str,
    admin: &str,
    ingest: &str,
    customers: usize,
    seed: u64,
) -> anyhow::Result<SeedSummary> {
    let http = reqwest::Client::new();
    let now = fineline_core::Timestamp::now();
    let shop = super::demo_shop::Shop::new(seed, customers, now.millis());
    let mut summary = SeedSummary {
        subjects: customers,
        items: shop.catalogue.items.len(),
        accepted: 0,
        refused: 0,
        example_subject: super::demo_shop::customer_id(0),
        seeded: false,
    };
    if http.get(format!("{base}/v1/policy")).send().await?.status() != 404 {
        return Ok(summary);
    }
    let bar = indicatif::ProgressBar::new(customers as u64 * 2);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {pos}/{len} people, {elapsed}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message("consents");
    // The notice was in force a day before the history starts.
    let policy =
        fineline_consent::demo_policy(1, fineline_core::Timestamp(shop.start - 86_400_000));
    post_json(
        &http,
        format!("{base}/v1/policy"),
        admin,
        &serde_json::to_value(&policy)?,
    )
    .await?;
    post_json(
        &http,
        format!("{base}/v1/items"),
        admin,
        &shop.catalogue.wire(),
    )
    .await?;

    for chunk in shop
        .customers
        .chunks(fineline_server::routes::consent_import::MAX_IMPORT)
    {
        let records: Vec<serde_json::Value> = chunk
            .iter()
            .filter(|c| !c.grants.is_empty())
            .map(|c| {
                let source = if c.app_user { "app" } else { "web" };
                json!({"subject_id": c.id, "grant": c.grants, "at": c.joined, "source": source})
            })
            .collect();
        if !records.is_empty() {
            post_json(
                &http,
                format!("{base}/v1/consents/import"),
                admin,
                &json!({ "records": records }),
            )
            .await?;
        }
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("events");
    let mut in_flight = tokio::task::JoinSet::new();
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    let mut people_in_batch = 0u64;
    let url = format!("{base}/v1/events");
    for i in 0..customers {
        batch.extend(shop.events_of(i));
        people_in_batch += 1;
        if batch.len() >= EVENT_BATCH || i + 1 == customers {
            let body = serde_json::Value::Array(std::mem::take(&mut batch));
            let (http, url, key) = (http.clone(), url.clone(), ingest.to_string());
            let people = std::mem::take(&mut people_in_batch);
            in_flight.spawn(async move {
                post_json(&http, url, &key, &body)
                    .await
                    .map(|r| (r, people))
            });
            while in_flight.len() >= IN_FLIGHT || (i + 1 == customers && !in_flight.is_empty()) {
                let Some(done) = in_flight.join_next().await else {
                    break;
                };
                let (r, people) = done??;
                summary.accepted += r["accepted"].as_u64().unwrap_or(0) as usize;
                summary.refused += r["rejected"].as_array().map_or(0, |a| a.len());
                bar.inc(people);
            }
        }
    }
    bar.set_message("store");
    seed_footfall(&http, base, admin, ingest).await?;
    bar.set_message("training");
    post_json(&http, format!("{base}/v1/recs/train"), admin, &json!(null)).await?;
    bar.finish_and_clear();
    summary.seeded = true;
    Ok(summary)
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
