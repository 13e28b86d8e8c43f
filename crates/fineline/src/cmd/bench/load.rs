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
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::fleet::{self, Fleet};
use super::harness::{backend_name, BenchServer};
use super::tally::{render, Tally};

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
    /// Run this many `fineline serve` processes on the PostgreSQL database
    /// (needs --database-url) and send requests to them round-robin, as a
    /// load balancer would; without it, one server runs inside this process.
    #[arg(long, requires = "database_url", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub replicas: Option<u16>,
    /// SIGKILL the leading replica this many seconds into the measured run
    /// (needs --replicas 2 or more); requests it would have answered go to
    /// the next replica, as a load balancer retries a refused connection.
    #[arg(long, requires = "replicas")]
    pub kill_leader_after: Option<u64>,
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
    /// Every replica; requests go round-robin.
    bases: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
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
        let turn = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = &self.bases[turn % self.bases.len()];
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

/// Where the load goes: one server or several replicas.
struct Front {
    bases: Vec<String>,
    admin: String,
    ingest: String,
    http: reqwest::Client,
}

/// Seed the shop: consent for everyone, a history of views, a catalogue
/// and a trained recommender (on every replica), so every class does its
/// real work.
async fn seed(bench: &Front, subjects: usize) -> anyhow::Result<()> {
    let (base, http) = (&bench.bases[0], &bench.http);
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
    // Other replicas catch up with the writes within 200 ms.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for base in &bench.bases {
        http.post(format!("{base}/v1/recs/train"))
            .bearer_auth(&bench.admin)
            .send()
            .await?
            .error_for_status()?;
    }
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
    anyhow::ensure!(
        args.kill_leader_after.is_none() || args.replicas.unwrap_or(1) >= 2,
        "--kill-leader-after needs --replicas 2 or more"
    );
    let dir = tempfile::tempdir()?;
    let url = args.database_url.as_deref();
    let backend = backend_name(url);
    let (front, running) = match (args.replicas, url) {
        (Some(n), Some(url)) => {
            let fleet = Fleet::start(usize::from(n), url, dir.path()).await?;
            let front = Front {
                bases: fleet.bases.clone(),
                admin: fleet.admin.clone(),
                ingest: fleet.ingest.clone(),
                http: reqwest::Client::new(),
            };
            (front, Running::Fleet(Box::new(fleet)))
        }
        _ => {
            // Training on a schedule would land mid-run; the model is
            // trained once after seeding instead. Rate limits stay at
            // their defaults.
            let bench =
                BenchServer::start(dir.path(), url, |s| s.set_training_schedule(None)).await?;
            let front = Front {
                bases: vec![bench.base.clone()],
                admin: bench.admin.clone(),
                ingest: bench.ingest.clone(),
                http: bench.http.clone(),
            };
            (front, Running::InProcess(Box::new(bench)))
        }
    };
    eprintln!("seeding {} people ...", args.subjects);
    seed(&front, args.subjects).await?;
    let head: Value = front
        .http
        .get(format!("{}/v1/ledger/tree-head", front.bases[0]))
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
        bases: front.bases.clone(),
        next: Default::default(),
        admin: front.admin.clone(),
        ingest: front.ingest.clone(),
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
    let started = Instant::now();
    let watch = match &running {
        Running::Fleet(fleet) => Some(fleet::Watch::start(
            fleet,
            started + Duration::from_secs(warmup),
            args.kill_leader_after.map(Duration::from_secs),
        )),
        Running::InProcess(_) => None,
    };
    let kill = watch.as_ref().map(fleet::Watch::killed_at);
    // The generator gets its own thread and runtime: the server's runtime
    // being busy must not delay when requests are sent.
    let generator = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(generate(
                target,
                rate,
                duration,
                warmup,
                max_in_flight,
                kill,
            ))
    });
    let (report, answered) = tokio::task::spawn_blocking(move || generator.join())
        .await?
        .map_err(|_| anyhow::anyhow!("load generator panicked"))??;
    let replicas = match &running {
        Running::Fleet(f) => format!("{} `fineline serve` replicas, round-robin", f.bases.len()),
        Running::InProcess(_) => "one server in the benchmark's process".into(),
    };
    println!(
        "load benchmark: database {backend}; {replicas}; {} people, {ITEMS} items; open loop at {} req/s for {} s after {} s warm-up; latency from each request's scheduled time; generator and server share this machine's cores",
        args.subjects, args.rate, args.duration, args.warmup
    );
    println!("{report}");
    if let Some(watch) = watch {
        println!("{}", watch.finish(answered)?);
    }
    match running {
        Running::Fleet(fleet) => fleet.stop().await?,
        Running::InProcess(bench) => bench.stop().await?,
    }
    Ok(())
}

enum Running {
    InProcess(Box<BenchServer>),
    Fleet(Box<Fleet>),
}

async fn generate(
    target: Arc<Target>,
    rate: u32,
    duration: u64,
    warmup: u64,
    max_in_flight: usize,
    kill: Option<Arc<std::sync::OnceLock<Instant>>>,
) -> anyhow::Result<(String, f64)> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = u64::from(rate) * (duration + warmup);
    let measured_from = u64::from(rate) * warmup;
    type Outcome = (usize, Instant, Result<Duration, String>);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let ports: Arc<Vec<u16>> = Arc::new(
        target
            .bases
            .iter()
            .filter_map(|b| b.rsplit(':').next()?.parse().ok())
            .collect(),
    );
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
            let (tx, in_flight, ports) = (tx.clone(), in_flight.clone(), ports.clone());
            in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let outcome = match send(request, &ports).await {
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
                    let _ = tx.send((class.index(), due, outcome));
                }
            });
        }
        if i < total {
            tokio::time::sleep_until((start + period.mul_f64(i as f64)).into()).await;
        }
    }
    drop(tx);
    let mut outcomes = Vec::new();
    while let Some(outcome) = rx.recv().await {
        outcomes.push(outcome);
    }
    let elapsed = measure_start.map_or(Duration::ZERO, |s| s.elapsed());
    let killed = kill.and_then(|k| k.get().copied());
    let mut failover = Tally::new()?;
    for (class, due, outcome) in outcomes {
        let in_failover = killed.is_some_and(|k| due >= k && due < k + FAILOVER_WINDOW);
        match outcome {
            Ok(d) => {
                let us = d.as_micros().max(1) as u64;
                tallies[class].latency_us.saturating_record(us);
                if in_failover {
                    failover.latency_us.saturating_record(us);
                }
            }
            Err(why) => {
                if in_failover {
                    failover.fail(why.clone());
                }
                tallies[class].fail(why)
            }
        }
    }
    let labelled: Vec<(&str, &Tally)> = MIX.iter().map(|(c, _)| c.label()).zip(&tallies).collect();
    let (mut report, answered) = render(&labelled, elapsed, rate, duration)?;
    if killed.is_some() {
        report.push_str(&failover.failover_line(FAILOVER_WINDOW)?);
    }
    Ok((report, answered))
}

/// Window after the kill whose requests the failover line reports.
const FAILOVER_WINDOW: Duration = Duration::from_secs(5);

/// Send, and where the replica refuses the connection (killed), try the
/// next one, as a load balancer does; the latency still runs from the
/// request's due time.
async fn send(
    request: reqwest::RequestBuilder,
    ports: &[u16],
) -> Result<reqwest::Response, reqwest::Error> {
    let (client, request) = request.build_split();
    let mut request = request?;
    let first = request.url().port();
    let mut tried = 0;
    loop {
        let attempt = request.try_clone();
        let result = client.execute(request).await;
        match (result, attempt) {
            (Err(e), Some(mut next)) if e.is_connect() && tried + 1 < ports.len() => {
                tried += 1;
                let at = ports.iter().position(|p| Some(*p) == first).unwrap_or(0);
                let _ = next
                    .url_mut()
                    .set_port(Some(ports[(at + tried) % ports.len()]));
                request = next;
            }
            (result, _) => return result,
        }
    }
}
