//! Kill -9 in the middle of a large ingest: every batch the server
//! acknowledged is there after a restart, every other batch is there
//! whole or not at all, and the ledger still verifies and only grew.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cli, create_key, ok_stdout, Server};
use serde_json::{json, Value};

const SUBJECTS: usize = 200;
const CLIENTS: usize = 4;
const BATCH: usize = 250;

fn subject(i: usize) -> String {
    format!("crash-{i:04}@example.com")
}

/// The events of client `c`'s batch `b`, each named by its item.
fn batch(c: usize, b: usize, at: i64) -> Vec<Value> {
    (0..BATCH)
        .map(|e| {
            json!({
                "subject_id": subject((c * 31 + b * 17 + e) % SUBJECTS),
                "type": "view",
                "item": format!("c{c}-b{b}-e{e}"),
                "properties": {"batch": format!("c{c}-b{b}")},
                "timestamp": at,
                "purpose": "analytics",
            })
        })
        .collect()
}

/// What each client learnt: batches acknowledged, and the one (at most)
/// whose fate it never heard.
#[derive(Default)]
struct Outcome {
    acked: Vec<(usize, usize)>,
    unknown: Option<(usize, usize)>,
}

fn get_json(client: &reqwest::blocking::Client, url: &str, key: Option<&str>) -> Value {
    let mut req = client.get(url);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().unwrap()
}

#[test]
fn every_acknowledged_event_survives_kill_9_mid_ingest() {
    crash_mid_ingest(&[]);
}

/// The same on PostgreSQL, when the run has one (scripts/test.sh always
/// does), in a fresh schema dropped afterwards.
#[test]
fn every_acknowledged_event_survives_kill_9_mid_ingest_on_postgresql() {
    let Ok(url) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
        eprintln!("FINELINE_TEST_DATABASE_URL is not set: PostgreSQL not exercised");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt
        .block_on(fineline_db::PostgresDatabase::open_isolated(&url))
        .unwrap();
    let url = database.isolated_url(&url).unwrap();
    crash_mid_ingest(&["--database-url", &url]);
    rt.block_on(database.drop_isolated()).unwrap();
}

/// `database`: the arguments that choose the database (none: the embedded one).
fn crash_mid_ingest(database: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let admin = create_key(data, "admin", database);
    let ingest = create_key(data, "ingest", database);
    let mut server = Server::start(data, database);
    assert_eq!(
        data.join("fineline.db").exists(),
        database.is_empty(),
        "the database in use is the one asked for"
    );
    let http = reqwest::blocking::Client::new();
    let policy = fineline_consent::demo_policy(1, fineline_core::Timestamp::now());
    let r = http
        .post(format!("{}/v1/policy", server.base))
        .bearer_auth(&admin)
        .json(&policy)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);

    // Consent for everyone, from four writers.
    let receipts: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|w| {
                let (base, admin) = (&server.base, &admin);
                s.spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    (w..SUBJECTS)
                        .step_by(CLIENTS)
                        .map(|i| {
                            let r = http
                                .post(format!("{base}/v1/subjects/{}/consents", subject(i)))
                                .bearer_auth(admin)
                                .json(&json!({"source": "api", "grant": ["analytics"]}))
                                .send()
                                .unwrap();
                            assert_eq!(r.status(), 201);
                            r.json::<Value>().unwrap()["receipts"][0].clone()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let head_before = get_json(&http, &format!("{}/v1/ledger/tree-head", server.base), None);
    std::thread::sleep(Duration::from_millis(5));
    let at = fineline_core::Timestamp::now().millis();

    // Four clients post 250-event batches back to back; the server is
    // killed while they are at it.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, key, stop) = (server.base.clone(), ingest.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut out = Outcome::default();
                for b in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = http
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(&key)
                        .json(&batch(c, b, at))
                        .send()
                        .and_then(|r| r.error_for_status())
                        .and_then(|r| r.json::<Value>());
                    match r {
                        Ok(report) => {
                            assert_eq!(report["accepted"], BATCH, "{report}");
                            out.acked.push((c, b));
                        }
                        Err(_) => {
                            out.unknown = Some((c, b));
                            break;
                        }
                    }
                }
                out
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2_000));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let acked: BTreeSet<(usize, usize)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
    let unknown: Vec<(usize, usize)> = outcomes.iter().filter_map(|o| o.unknown).collect();
    assert!(
        acked.len() >= 2 * CLIENTS,
        "only {} batches acknowledged before the kill",
        acked.len()
    );
    assert!(
        !unknown.is_empty(),
        "the kill came after the clients stopped"
    );
    eprintln!(
        "{} batches of {BATCH} acknowledged, {} in flight at the kill",
        acked.len(),
        unknown.len()
    );

    // Restart on the same data and read every person's events back.
    let server = Server::start(data, database);
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..SUBJECTS {
        let url = format!("{}/v1/subjects/{}/export", server.base, subject(i));
        for e in get_json(&http, &url, Some(&admin))["events"]
            .as_array()
            .unwrap()
        {
            let item = e["item"].as_str().unwrap();
            let name = item[..item.rfind("-e").unwrap()].to_string();
            assert_eq!(e["properties"]["batch"], name.as_str(), "sealed intact");
            *stored.entry(name).or_default() += 1;
        }
    }
    for (c, b) in &acked {
        assert_eq!(
            stored.get(&format!("c{c}-b{b}")),
            Some(&BATCH),
            "acknowledged batch c{c}-b{b} is incomplete after the restart"
        );
    }
    // A batch in flight at the kill is there whole or not at all.
    for (c, b) in &unknown {
        let n = stored.get(&format!("c{c}-b{b}")).copied().unwrap_or(0);
        assert!(n == 0 || n == BATCH, "c{c}-b{b}: {n} of {BATCH} events");
    }
    let known: usize = acked.len() + unknown.len();
    assert!(stored.len() <= known, "events from batches nobody sent");

    // The ledger: the restarted head verifies, extends the one from before
    // the kill, and a receipt from before the kill checks out offline.
    let head_after = get_json(&http, &format!("{}/v1/ledger/tree-head", server.base), None);
    let (old, new) = (data.join("old.json"), data.join("new.json"));
    std::fs::write(&old, head_before.to_string()).unwrap();
    std::fs::write(&new, head_after.to_string()).unwrap();
    let out = cli(&[
        "verify-consistency",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--server",
        &server.base,
    ]);
    assert!(ok_stdout(out).starts_with("consistent"));
    let key = get_json(&http, &format!("{}/v1/ledger/key", server.base), None);
    let receipt = data.join("receipt.json");
    std::fs::write(&receipt, receipts[SUBJECTS / 2].to_string()).unwrap();
    let out = cli(&[
        "verify",
        receipt.to_str().unwrap(),
        "--key",
        key["public_key"].as_str().unwrap(),
    ]);
    assert!(ok_stdout(out).starts_with("valid"));
}
