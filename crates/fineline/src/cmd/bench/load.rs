//! `fineline bench load`: a constant arrival rate of mixed traffic against
//! a real server on loopback, for a fixed time, with latency per route
//! class and overall.
//!
//! Open loop: request `i` is due at `start + i / rate` whether or not
//! earlier ones have answered, and its latency runs from that due time,
//! not from when it was actually sent — a stalled server (or a stalled
//! generator) shows up in the percentiles instead of quietly lowering the
//! rate (coordinated omission). The generator runs on its own thread and
//! runtime, but on the same two cores as the server.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::Timestamp;
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::harness::{backend_name, BenchServer};

#[derive(clap::Args)]
pub struct Args {
    /// Requests per second, all classes together.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u32,
    /// Seconds of measured load (after the warm-up).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Seconds at the same rate before measuring.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// People with consent and history in the shop.
    #[arg(long, default_value_t = 2_000)]
    pub subjects: usize,
    /// Loopback source addresses (127.0.0.2, ...) the anonymous traffic
    /// comes from, as many clients would: each has its own per-client
    /// rate limit bucket.
    #[arg(long, default_value_t = 8)]
    pub clients: u8,
    /// Requests waiting for an answer beyond which new ones are counted as
    /// failed instead of sent (keeps an overwhelmed run bounded).
    #[arg(long, default_value_t = 20_000)]
    pub max_in_flight: usize,
    /// Run against PostgreSQL (a fresh schema) instead of the embedded database.
    #[arg(long)]
    pub database_url: Option<String>,
}

const ITEMS: usize = 500;
const EVENTS_PER_BATCH: usize = 20;

/// The traffic mix: (class, share in per mille). Read-heavy, as a
/// shop's is. The writes — event batches, consent changes, and consent
/// reads (each a ledger entry) — are each a durable commit, and together
/// stay under what one SQLite writer commits per second on this machine.
const MIX: [(Class, u32); 9] = [
    (Class::Recommendations, 320),
    (Class::SimilarItems, 200),
    (Class::Policy, 160),
    (Class::TreeHead, 110),
    (Class::InclusionProof, 90),
    (Class::ConsistencyProof, 70),
    (Class::Ingest, 30),
    (Class::ConsentRead, 15),
    (Class::ConsentChange, 5),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Recommendations,
    SimilarItems,
    ConsentRead,
    Ingest,
    Policy,
    TreeHead,
    InclusionProof,
    ConsentChange,
    ConsistencyProof,
}

impl Class {
    fn label(self) -> &'static str {
        match self {
            Class::Recommendations => "GET recommendations",
            Class::SimilarItems => "GET items/{item}/similar",
            Class::ConsentRead => "GET subjects/{id}/consents",
            Class::Ingest => "POST events (20/batch)",
            Class::Policy => "GET policy",
            Class::TreeHead => "GET ledger/tree-head",
            Class::InclusionProof => "GET ledger/proof/inclusion",
            Class::ConsentChange => "POST subjects/{id}/consents",
            Class::ConsistencyProof => "GET ledger/proof/consistency",
        }
    }

    fn index(self) -> usize {
        MIX.iter().position(|(c, _)| *c == self).unwrap_or(0)
    }

    fn pick(rng: &mut ChaCha8Rng) -> Class {
        let mut x = rng.gen_range(0..1000);
        for (c, share) in MIX {
            if x < share {
                return c;
            }
            x -= share;
        }
        MIX[0].0
    }
}

fn person(i: usize) -> String {
    format!("load-{i:05}@example.com")
}

fn item(rng: &mut ChaCha8Rng) -> String {
    // Skewed popularity, as shops have.
    let x: f64 = rng.gen();
    format!("sku-{}", (x * x * ITEMS as f64) as usize)
}

/// Everything a request needs, shared by the generator's tasks.
struct Target {
    base: String,
    admin: String,
    ingest: String,
    /// One client per source address, for anonymous routes.
    anonymous: Vec<reqwest::Client>,
    keyed: reqwest::Client,
    subjects: usize,
    /// Ledger size when the run started: proofs are asked up to it.
    ledger_size: u64,
}

impl Target {
    fn request(&self, class: Class, rng: &mut ChaCha8Rng) -> reqwest::RequestBuilder {
        let base = &self.base;
        let anon = &self.anonymous[rng.gen_range(0..self.anonymous.len())];
        let who = person(rng.gen_range(0..self.subjects));
        match class {
            Class::Recommendations => self
                .keyed
                .get(format!("{base}/v1/subjects/{who}/recommendations?n=10"))
                .bearer_auth(&self.admin),
            Class::SimilarItems => anon.get(format!("{base}/v1/items/{}/similar?n=10", item(rng))),
            Class::ConsentRead => self
                .keyed
                .get(format!("{base}/v1/subjects/{who}/consents"))
                .bearer_auth(&self.admin),
            Class::Ingest => {
                let at = Timestamp::now().millis();
                let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                    .map(|_| {
                        json!({"subject_id": person(rng.gen_range(0..self.subjects)),
                               "type": "view", "item": item(rng), "timestamp": at,
                               "properties": {"page": "load"}, "purpose": "personalization"})
                    })
                    .collect();
                self.keyed
                    .post(format!("{base}/v1/events"))
                    .bearer_auth(&self.ingest)
                    .json(&events)
            }
            Class::Policy => anon.get(format!("{base}/v1/policy")),
            Class::TreeHead => anon.get(format!("{base}/v1/ledger/tree-head")),
            Class::InclusionProof => anon.get(format!(
                "{base}/v1/ledger/proof/inclusion?index={}&size={}",
                rng.gen_range(0..self.ledger_size),
                self.ledger_size
            )),
            Class::ConsistencyProof => anon.get(format!(
                "{base}/v1/ledger/proof/consistency?from={}&to={}",
                rng.gen_range(1..self.ledger_size),
                self.ledger_size
            )),
            Class::ConsentChange => {
                // Analytics only: personalization (what the events claim)
                // stays granted, so ingestion keeps storing.
                let change = if rng.gen_bool(0.5) {
                    json!({"source": "api", "grant": ["analytics"]})
                } else {
                    json!({"source": "api", "withdraw": ["analytics"]})
                };
                self.keyed
                    .post(format!("{base}/v1/subjects/{who}/consents"))
                    .bearer_auth(&self.admin)
                    .json(&change)
            }
        }
    }
}

/// The innermost cause: reqwest's own message only says sending failed.
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    format!("{e}: {inner}")
}

/// One class's results.
struct Tally {
    latency_us: Histogram<u64>,
    errors: u64,
    /// A few distinct failures, to say what went wrong.
    samples: Vec<String>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            errors: 0,
            samples: Vec::new(),
        })
    }

    fn fail(&mut self, why: String) {
        self.errors += 1;
        if self.samples.len() < 3 && !self.samples.contains(&why) {
            self.samples.push(why);
        }
    }
}

/// Seed the shop: consent for everyone, a history of views, a catalogue
/// and a trained recommender, so every class does its real work.
async fn seed(bench: &BenchServer, subjects: usize) -> anyhow::Result<()> {
    let (base, http) = (&bench.base, &bench.http);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (base, admin, http) = (base.clone(), bench.admin.clone(), http.clone());
        writers.spawn(async move {
            for i in (w..subjects).step_by(8) {
                http.post(format!("{base}/v1/subjects/{}/consents", person(i)))
                    .bearer_auth(&admin)
                    .json(&json!({"source": "api", "grant": ["personalization", "analytics"]}))
                    .send()
                    .await?
                    .error_for_status()?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let at = Timestamp::now().millis();
    let views: Vec<Value> = (0..subjects * 20)
        .map(|i| {
            json!({"subject_id": person(i % subjects), "type": "view", "item": item(&mut rng),
                   "timestamp": at, "properties": {}, "purpose": "personalization"})
        })
        .collect();
    for chunk in views.chunks(5_000) {
        http.post(format!("{base}/v1/events"))
            .bearer_auth(&bench.ingest)
            .json(chunk)
            .send()
            .await?
            .error_for_status()?;
    }
    http.post(format!("{base}/v1/recs/train"))
        .bearer_auth(&bench.admin)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.rate > 0 && args.duration > 0,
        "--rate and --duration must be positive"
    );
    anyhow::ensure!(
        args.subjects > 0 && args.clients > 0,
        "--subjects and --clients must be positive"
    );
    let dir = tempfile::tempdir()?;
    let url = args.database_url.as_deref();
    let backend = backend_name(url);
    // Training on a schedule would land mid-run; the model is trained once
    // after seeding instead. Rate limits stay at their defaults.
    let bench = BenchServer::start(dir.path(), url, |s| s.set_training_schedule(None)).await?;
    eprintln!("seeding {} people ...", args.subjects);
    seed(&bench, args.subjects).await?;
    let head: Value = bench
        .http
        .get(format!("{}/v1/ledger/tree-head", bench.base))
        .send()
        .await?
        .json()
        .await?;
    let ledger_size = head["tree_head"]["size"]
        .as_u64()
        .filter(|s| *s > 1)
        .ok_or_else(|| anyhow::anyhow!("unexpected tree head {head}"))?;
    let anonymous = (0..args.clients)
        .map(|c| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + c)))
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = Arc::new(Target {
        base: bench.base.clone(),
        admin: bench.admin.clone(),
        ingest: bench.ingest.clone(),
        anonymous,
        keyed: reqwest::Client::new(),
        subjects: args.subjects,
        ledger_size,
    });
    eprintln!(
        "load: {} req/s for {} s (+{} s warm-up) ...",
        args.rate, args.duration, args.warmup
    );
    let (rate, duration, warmup, max_in_flight) =
        (args.rate, args.duration, args.warmup, args.max_in_flight);
    // The generator gets its own thread and runtime: the server's runtime
    // being busy must not delay when requests are sent.
    let generator = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(generate(target, rate, duration, warmup, max_in_flight))
    });
    let report = tokio::task::spawn_blocking(move || generator.join())
        .await?
        .map_err(|_| anyhow::anyhow!("load generator panicked"))??;
    println!(
        "load benchmark: database {backend}; {} people, {ITEMS} items; open loop at {} req/s for {} s after {} s warm-up; latency from each request's scheduled time; generator and server share this machine's cores",
        args.subjects, args.rate, args.duration, args.warmup
    );
    println!("{report}");
    bench.stop().await?;
    Ok(())
}

async fn generate(
    target: Arc<Target>,
    rate: u32,
    duration: u64,
    warmup: u64,
    max_in_flight: usize,
) -> anyhow::Result<String> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = u64::from(rate) * (duration + warmup);
    let measured_from = u64::from(rate) * warmup;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Result<Duration, String>)>();
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut tallies = MIX
        .iter()
        .map(|_| Tally::new())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now() + Duration::from_millis(10);
    let mut measure_start = None;
    let mut i = 0u64;
    while i < total {
        // Send everything due by now, then sleep until the next one.
        let now = Instant::now();
        while i < total {
            let due = start + period.mul_f64(i as f64);
            if due > now {
                break;
            }
            let class = Class::pick(&mut rng);
            let measured = i >= measured_from;
            if i == measured_from {
                measure_start = Some(due);
            }
            i += 1;
            if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= max_in_flight {
                if measured {
                    tallies[class.index()].fail("generator: too many in flight".into());
                }
                continue;
            }
            let request = target.request(class, &mut rng);
            let (tx, in_flight) = (tx.clone(), in_flight.clone());
            in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let outcome = match request.send().await {
                    Ok(r) if r.status().is_success() => r
                        .bytes()
                        .await
                        .map(|_| due.elapsed())
                        .map_err(|e| e.to_string()),
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        Err(format!("{status} {}", &body[..body.len().min(200)]))
                    }
                    Err(e) => Err(cause(&e)),
                };
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if measured {
                    let _ = tx.send((class.index(), outcome));
                }
            });
        }
        if i < total {
            tokio::time::sleep_until((start + period.mul_f64(i as f64)).into()).await;
        }
    }
    drop(tx);
    while let Some((class, outcome)) = rx.recv().await {
        match outcome {
            Ok(d) => tallies[class]
                .latency_us
                .saturating_record(d.as_micros().max(1) as u64),
            Err(why) => tallies[class].fail(why),
        }
    }
    let elapsed = measure_start.map_or(Duration::ZERO, |s| s.elapsed());
    render(&tallies, elapsed, rate, duration)
}

fn render(
    tallies: &[Tally],
    elapsed: Duration,
    rate: u32,
    duration: u64,
) -> anyhow::Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let mut all = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut errors = 0;
    writeln!(
        out,
        "{:<30} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "route class", "req/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    )?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let line = |out: &mut String, label: &str, h: &Histogram<u64>, err: u64| {
        writeln!(
            out,
            "{:<30} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7}",
            label,
            h.len() as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.95),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1e3,
            err
        )
    };
    for ((class, _), t) in MIX.iter().zip(tallies) {
        line(&mut out, class.label(), &t.latency_us, t.errors)?;
        all.add(&t.latency_us)?;
        errors += t.errors;
    }
    line(&mut out, "all", &all, errors)?;
    writeln!(
        out,
        "achieved: {:.0} answered req/s over {:.1} s (target {rate}/s for {duration} s); {} answered, {errors} errors",
        all.len() as f64 / secs,
        secs,
        all.len()
    )?;
    for ((class, _), t) in MIX.iter().zip(tallies) {
        for s in &t.samples {
            writeln!(out, "  error in {}: {s}", class.label())?;
        }
    }
    Ok(out)
}
