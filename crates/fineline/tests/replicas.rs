//! Three `fineline serve` processes on one PostgreSQL database, sharing a
//! data directory (key file and key store) as replicas on one host do;
//! mixed traffic round-robin over them, the leader killed with SIGKILL
//! mid-run. Nothing acknowledged is lost, every survivor serves the same
//! ledger, a budget is not overspent across replicas, and a new leader
//! is elected within a bound this test measures and enforces. Skipped
//! without `FINELINE_TEST_DATABASE_URL`.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{create_key, http, publish_policy, Server};
use serde_json::{json, Value};

/// How long the survivors may take to elect a new leader. They try every
/// 500 ms (`fineline_app::replication::LEAD_EVERY`); PostgreSQL frees a
/// killed process's lock as soon as its connection closes.
const FAILOVER_BOUND: Duration = Duration::from_secs(3);

fn leads(base: &str) -> Option<bool> {
    let text = http()
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("fineline_leader "))
        .map(|v| v.trim() == "1")
}

/// Waits until exactly one of `bases` leads; its position and the wait.
fn await_leader(bases: &[String], bound: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        let leading: Vec<usize> = (0..bases.len())
            .filter(|&i| leads(&bases[i]) == Some(true))
            .collect();
        assert!(leading.len() <= 1, "two leaders at once: {leading:?}");
        if let [one] = leading[..] {
            return (one, started.elapsed());
        }
        assert!(
            started.elapsed() < bound,
            "no leader within {bound:?} among {bases:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn events(subject: &str, n: usize, at: i64) -> Value {
    Value::Array(
        (0..n)
            .map(|e| {
                json!({"subject_id": subject, "type": "app_open", "item": format!("i{e}"),
                       "timestamp": at, "purpose": "analytics"})
            })
            .collect(),
    )
}

/// What the clients were told: consent receipts by person, and how many
/// of each person's events were acknowledged.
#[derive(Debug, Default)]
struct Acked {
    receipts: Vec<(String, Value)>,
    events: BTreeMap<String, usize>,
}

#[test]
fn the_leader_killed_mid_traffic_loses_nothing_acknowledged() {
    let Ok(base_url) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
        eprintln!("skipped: FINELINE_TEST_DATABASE_URL is not set");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt
        .block_on(fineline_db::PostgresDatabase::open_isolated(&base_url))
        .unwrap();
    let url = database.isolated_url(&base_url).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let pg = ["--database-url", url.as_str()];
    let admin = create_key(data, "admin", &pg);
    let ingest = create_key(data, "ingest", &pg);
    let analyst = create_key(data, "analyst", &pg);
    let mut servers: Vec<Server> = (0..3).map(|_| Server::start(data, &pg)).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let (leader, _) = await_leader(&bases, Duration::from_secs(5));
    publish_policy(&bases[0], &admin);

    // A load balancer's health check finds the leader, the one replica
    // that takes foot-traffic sightings; the others refuse them, saying why.
    for (i, base) in bases.iter().enumerate() {
        let r = http().get(format!("{base}/healthz/leader")).send().unwrap();
        assert_eq!(r.status().as_u16(), if i == leader { 200 } else { 503 });
        let r = http()
            .post(format!("{base}/v1/footfall/sightings"))
            .bearer_auth(&ingest)
            .json(&json!([]))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap();
        if i == leader {
            assert_eq!(status, 200, "{body}");
        } else {
            assert_eq!(
                (status, &body["error"]["code"]),
                (503, &json!("not_leader")),
                "{body}"
            );
        }
    }

    // Six clients, round robin over the replicas they still reach: grant a
    // new person on one replica, send their events to the next.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let (bases, admin, ingest) = (bases.clone(), admin.clone(), ingest.clone());
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut dead = [false; 3];
                let mut turn = c;
                let next = |turn: &mut usize, dead: &[bool; 3]| loop {
                    *turn = (*turn + 1) % 3;
                    if !dead[*turn] {
                        return *turn;
                    }
                };
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let subject = format!("r-{c}-{i}@example.com");
                    let r = next(&mut turn, &dead);
                    let granted = http
                        .post(format!("{}/v1/subjects/{subject}/consents", bases[r]))
                        .bearer_auth(&admin)
                        .json(&json!({"source": "api", "grant": ["analytics"]}))
                        .send()
                        .and_then(|r| r.error_for_status())
                        .and_then(|r| r.json::<Value>());
                    let Ok(granted) = granted else {
                        dead[r] = true;
                        continue;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .receipts
                        .push((subject.clone(), granted["receipts"][0].clone()));
                    let r = next(&mut turn, &dead);
                    let sent = http
                        .post(format!("{}/v1/events", bases[r]))
                        .bearer_auth(&ingest)
                        .json(&events(
                            &subject,
                            20,
                            fineline_core::Timestamp::now().millis(),
                        ))
                        .send()
                        .and_then(|r| r.error_for_status())
                        .and_then(|r| r.json::<Value>());
                    match sent {
                        Ok(report) => {
                            assert_eq!(report["accepted"], 20, "{report}");
                            *acked.lock().unwrap().events.entry(subject).or_default() += 20;
                        }
                        Err(_) => dead[r] = true,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1_500));
    servers[leader].kill9();
    let killed = Instant::now();
    let survivors: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| bases[i].clone())
        .collect();
    let (_, failover) = await_leader(&survivors, FAILOVER_BOUND);
    eprintln!(
        "new leader {failover:?} after the kill ({:?} since it)",
        killed.elapsed()
    );
    std::thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = Arc::try_unwrap(acked).unwrap().into_inner().unwrap();
    assert!(
        acked.receipts.len() >= 30,
        "only {} consents acknowledged",
        acked.receipts.len()
    );

    // One ledger: after the background catch-up every survivor serves the
    // same head, and every acknowledged receipt's entry is in it.
    std::thread::sleep(Duration::from_millis(500));
    let heads: Vec<Value> = survivors
        .iter()
        .map(|b| {
            http()
                .get(format!("{b}/v1/ledger/tree-head"))
                .send()
                .unwrap()
                .json()
                .unwrap()
        })
        .collect();
    assert_eq!(heads[0], heads[1], "the survivors serve one head");
    for (n, (subject, receipt)) in acked.receipts.iter().enumerate() {
        let index = receipt["leaf_index"].as_u64().unwrap();
        let base = &survivors[n % 2];
        let entry: Value = http()
            .get(format!("{base}/v1/ledger/entries/{index}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            entry["entry"], receipt["entry"],
            "{subject}'s acknowledged consent is entry {index}"
        );
    }
    // Every acknowledged event is stored, whichever replica took it.
    for (n, (subject, count)) in acked.events.iter().enumerate() {
        let base = &survivors[n % 2];
        let export: Value = http()
            .get(format!("{base}/v1/subjects/{subject}/export"))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let stored = export["events"].as_array().unwrap().len();
        assert!(stored >= *count, "{subject}: {stored} of {count} stored");
    }

    // A budget for 10 queries, 30 asked across the survivors: 10 answered.
    let id = fineline_app::budget::analyst_id(&analyst);
    let r = http()
        .put(format!("{}/v1/insights/budgets/{id}", survivors[0]))
        .bearer_auth(&admin)
        .json(&json!({"nano_rho": 10_000_000u64}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let answered = std::thread::scope(|s| {
        let handles: Vec<_> = (0..30)
            .map(|q| {
                let (base, analyst) = (&survivors[q % 2], &analyst);
                s.spawn(move || {
                    let r = http()
                        .post(format!("{base}/v1/insights/query"))
                        .bearer_auth(analyst)
                        .json(
                            &json!({"metric": {"kind": "count"}, "event_types": ["app_open"],
                                      "cost_nano_rho": 1_000_000}),
                        )
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    assert!(status == 200 || status == 429, "{status}");
                    status == 200
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(answered, 10, "the budget holds across replicas");
    drop(servers);
    rt.block_on(database.drop_isolated()).unwrap();
}
