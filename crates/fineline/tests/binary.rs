//! The real `fineline` binary as a user runs it: receipts verified by the
//! CLI, no raw id on disk or in logs, and a ledger that survives kill -9.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::{consent, http, publish_policy, Server};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fineline");

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("FINELINE_LOG", "debug")
        .output()
        .unwrap()
}

fn create_key(dir: &Path, role: &str) -> String {
    let out = cli(&[
        "keys",
        "create",
        "--role",
        role,
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The server as these tests run it: every line of its debug log kept in
/// `log` (audited for raw ids), no anonymous rate limit (they read the
/// whole ledger in a tight loop; limits have their own tests).
fn start(dir: &Path, log: &Path) -> Server {
    Server::start_logged(dir, log, "debug", &["--rate-limit", "public=off"])
}

#[test]
fn receipts_verify_offline_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin");
    let server = start(dir.path(), &dir.path().join("log"));
    publish_policy(&server.base, &admin);
    consent(
        &server.base,
        &admin,
        "ann@example.com",
        json!({"source": "web", "grant": ["partner_insights"]}),
    );
    let withdrawn = consent(
        &server.base,
        &admin,
        "ann@example.com",
        json!({"source": "web", "withdraw": ["partner_insights"]}),
    );
    let receipt = &withdrawn["receipts"][0];
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, serde_json::to_vec_pretty(receipt).unwrap()).unwrap();
    let key: Value = http()
        .get(format!("{}/v1/ledger/key", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = key["public_key"].as_str().unwrap();

    let out = cli(&["verify", path.to_str().unwrap(), "--key", key]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("valid"), "{stdout}");
    assert!(stdout.contains("withdrawn"), "{stdout}");
    // The verdict, then that the person was not checked (no --subject).
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().nth(1).unwrap().starts_with("not checked"));

    // Alter the entry: the CLI names what failed and exits non-zero.
    let mut altered = receipt.clone();
    altered["entry"]["purpose"] = json!("analytics");
    std::fs::write(&path, serde_json::to_vec(&altered).unwrap()).unwrap();
    let out = cli(&["verify", path.to_str().unwrap(), "--key", key]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("altered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Flip one byte of the serialised receipt's proof: bad proof.
    let text = serde_json::to_string(receipt).unwrap();
    let proof_hex = receipt["inclusion_proof"][0].as_str().unwrap().to_string();
    let mut flipped = proof_hex.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let text = text.replace(&proof_hex, std::str::from_utf8(&flipped).unwrap());
    std::fs::write(&path, text).unwrap();
    let out = cli(&["verify", path.to_str().unwrap(), "--key", key]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("proof"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A receipt checked against another log's key is refused.
    std::fs::write(&path, serde_json::to_vec(receipt).unwrap()).unwrap();
    let other = fineline_ledger::public_key_to_text(
        &fineline_ledger::LogSigner::generate().verifying_key(),
    );
    let out = cli(&["verify", path.to_str().unwrap(), "--key", &other]);
    assert!(!out.status.success());

    // The log only grew between two heads.
    let old: Value = http()
        .get(format!("{}/v1/ledger/tree-head", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    consent(
        &server.base,
        &admin,
        "bob@example.com",
        json!({"source": "app", "grant": ["analytics"]}),
    );
    let new: Value = http()
        .get(format!("{}/v1/ledger/tree-head", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (o, n) = (dir.path().join("old.json"), dir.path().join("new.json"));
    std::fs::write(&o, old.to_string()).unwrap();
    std::fs::write(&n, new.to_string()).unwrap();
    let out = cli(&[
        "verify-consistency",
        o.to_str().unwrap(),
        n.to_str().unwrap(),
        "--server",
        &server.base,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("consistent"));
    let out = cli(&[
        "verify-consistency",
        n.to_str().unwrap(),
        o.to_str().unwrap(),
        "--server",
        &server.base,
    ]);
    assert!(!out.status.success());
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn raw_ids_never_reach_disk_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let admin = create_key(&data, "admin");
    let ingest = create_key(&data, "ingest");
    let raw = "raw-secret-person-4711@example.com";
    let mut server = start(&data, &log);
    publish_policy(&server.base, &admin);
    consent(
        &server.base,
        &admin,
        raw,
        json!({"source": "web", "grant": ["personalization", "analytics"]}),
    );
    let now = fineline_core::Timestamp::now().millis() + 1;
    let events: Vec<Value> = (0..50)
        .map(|i| json!({"subject_id": raw, "type": "view", "item": format!("sku-{i}"), "timestamp": now, "purpose": "personalization"}))
        .collect();
    let r = http()
        .post(format!("{}/v1/events", server.base))
        .bearer_auth(&ingest)
        .json(&events)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http()
        .get(format!("{}/v1/subjects/{raw}/consents", server.base))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    server.stop();

    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(
        files.len() >= 3,
        "expected database, key file and log: {files:?}"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("request"),
        "debug request logs were written"
    );
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, raw.as_bytes()),
            "raw id found in {}",
            f.display()
        );
    }
}

#[test]
fn the_ledger_survives_kill_9_mid_append() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin");
    let log = dir.path().join("log");
    let mut server = start(dir.path(), &log);
    publish_policy(&server.base, &admin);

    // Four writers append consent changes as fast as they can; each keeps
    // the receipts it was given. The server is killed mid-stream.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, admin, stop) = (server.base.clone(), admin.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let client = http();
            let mut acked = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/v1/subjects/w{w}-{i}@example.com/consents"))
                    .bearer_auth(&admin)
                    .json(&json!({"source": "api", "grant": ["analytics"]}))
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let body: Value = r.json().unwrap();
                        acked.push(body["receipts"][0].clone());
                    }
                    _ => break,
                }
                i += 1;
            }
            acked
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<Value> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 10,
        "only {} appends acknowledged before the kill",
        acked.len()
    );

    let server = start(dir.path(), &log);
    let head: Value = http()
        .get(format!("{}/v1/ledger/tree-head", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let head: fineline_ledger::SignedTreeHead = serde_json::from_value(head).unwrap();
    let key: Value = http()
        .get(format!("{}/v1/ledger/key", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = fineline_ledger::parse_public_key(key["public_key"].as_str().unwrap()).unwrap();
    head.verify(&key)
        .expect("the restarted log's head verifies");
    let size = head.tree_head.size;
    assert!(
        size as usize > acked.len(),
        "policy + every acknowledged change: {size} vs {}",
        acked.len()
    );

    // No gap and no duplicate: every index below the size has one entry,
    // and every acknowledged receipt is still proven at its index.
    let mut indices = std::collections::BTreeSet::new();
    for r in &acked {
        let receipt: fineline_ledger::Receipt = serde_json::from_value(r.clone()).unwrap();
        assert!(
            indices.insert(receipt.leaf_index),
            "duplicate index {}",
            receipt.leaf_index
        );
        let proof: Value = http()
            .get(format!(
                "{}/v1/ledger/proof/inclusion?index={}&size={size}",
                server.base, receipt.leaf_index
            ))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let proof: Vec<fineline_ledger::Hash> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().parse().unwrap())
            .collect();
        fineline_ledger::verify_inclusion(
            receipt.leaf_index,
            size,
            &receipt.leaf_hash,
            &proof,
            &head.tree_head.root_hash,
        )
        .expect("acknowledged entry is in the restarted log");
    }
    for i in 0..size {
        let r = http()
            .get(format!("{}/v1/ledger/entries/{i}", server.base))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "gap at {i}");
    }
    let r = http()
        .get(format!("{}/v1/ledger/entries/{size}", server.base))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn demo_data_imports_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let admin = create_key(dir.path(), "admin");
    let ingest = create_key(dir.path(), "ingest");
    let server = start(dir.path(), &dir.path().join("log"));
    publish_policy(&server.base, &admin);
    for i in 0..20 {
        consent(
            &server.base,
            &admin,
            &format!("customer-{i:06}@example.com"),
            json!({"source": "web", "grant": ["personalization", "analytics"]}),
        );
    }
    let file = dir.path().join("events.ndjson");
    let out = cli(&[
        "demo-data",
        "--seed",
        "7",
        "--subjects",
        "40",
        "--events",
        "500",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 500);
    let out = cli(&[
        "import",
        file.to_str().unwrap(),
        "--server",
        &server.base,
        "--key",
        &ingest,
        "--batch",
        "100",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Half the demo customers consented: some events are accepted, the
    // rest refused for lack of consent, none lost.
    let accepted: u64 = stdout.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(accepted > 100 && accepted < 500, "{stdout}");
    assert!(stdout.contains("no_consent"), "{stdout}");

    // A CSV with a bad line is refused with the line named.
    let csv = dir.path().join("events.csv");
    std::fs::write(
        &csv,
        "subject_id,type,item,timestamp,purpose\na@x,view,sku-1,1,analytics\nb@x,view,sku-2\n",
    )
    .unwrap();
    let out = cli(&[
        "import",
        csv.to_str().unwrap(),
        "--server",
        &server.base,
        "--key",
        &ingest,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An event from next year is refused by the server, and the import
    // says so by reason.
    let now = fineline_core::Timestamp::now().millis();
    let future = dir.path().join("future.ndjson");
    let line = |at: i64| {
        json!({"subject_id": "customer-000000@example.com", "type": "view", "item": "sku-1",
               "timestamp": at, "purpose": "analytics"})
        .to_string()
    };
    std::fs::write(
        &future,
        format!("{}\n{}\n", line(now), line(now + 365 * 86_400_000)),
    )
    .unwrap();
    let out = cli(&[
        "import",
        future.to_str().unwrap(),
        "--server",
        &server.base,
        "--key",
        &ingest,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("accepted 1 of 2"), "{stdout}");
    assert!(stdout.contains("refused 1: future_timestamp"), "{stdout}");
}

#[test]
fn the_recommender_model_is_chosen_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = cli(&[
        "train",
        "--data-dir",
        data,
        "--recs-model",
        "rp3beta:0.75:0.5:100",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("trained rp3beta "));
    let out = cli(&[
        "train",
        "--data-dir",
        data,
        "--recs-model",
        "rp3beta:0.75:x:100",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--recs-model") && err.contains("BETA"),
        "{err}"
    );
    // The public floor is the deployment's, and never 1 (one person's pair).
    let out = cli(&["train", "--data-dir", data, "--recs-public-min-people", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--recs-public-min-people"), "{err}");
    let out = cli(&[
        "train",
        "--data-dir",
        data,
        "--recs-public-min-people",
        "25",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The insights floor is the admin's to raise, never to lower below what
/// the policy promises: the server refuses to start with less.
#[test]
fn serve_refuses_an_insights_floor_below_the_promised_100() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = cli(&["serve", "--insights-floor", "99", "--data-dir", data]);
    assert!(!out.status.success(), "started with a floor of 99");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("insights-floor") && err.contains("100"),
        "{err}"
    );
}
