//! A person's rights over their data, against a real server on loopback:
//! tokens that reach one person only, export, corrections, erasure that
//! reaches everything (and shreds the key), retention, the privacy center.

mod common;

use std::sync::{Arc, Mutex};

use common::{backends, event, Backend, TestServer};
use fineline_core::{Pseudonym, Timestamp};
use serde_json::{json, Value};

const ANN: &str = "ann@example.com";
const BOB: &str = "bob@example.com";

fn token_for(s: &TestServer, raw: &str) -> String {
    s.state.tokens().issue(
        &s.state.pseudonymize(raw),
        Timestamp::now().plus_millis(600_000),
    )
}

async fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .http
        .request(method.parse().unwrap(), s.url(path))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Ann and Bob, each with consent, events and an interest.
async fn two_people(s: &TestServer) {
    s.publish_demo_policy(1).await;
    s.grant(ANN, &["personalization", "analytics"]).await;
    s.grant(BOB, &["personalization"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let now = Timestamp::now().millis();
    let r = s
        .ingest_events(&json!([
            event(ANN, "personalization", now),
            event(ANN, "analytics", now),
            event(BOB, "personalization", now),
        ]))
        .await;
    assert_eq!(r["accepted"], 3, "{r}");
    for (who, cat) in [(ANN, "running"), (BOB, "knitting")] {
        s.state
            .database()
            .put_interest(fineline_db::InterestRow {
                subject: s.state.pseudonymize(who),
                category: cat.into(),
                weight: 0.8,
                removed: false,
            })
            .await
            .unwrap();
    }
}

fn subject_routes(id: &str, event_id: i64) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", format!("/v1/subjects/{id}"), None),
        ("GET", format!("/v1/subjects/{id}/consents"), None),
        (
            "POST",
            format!("/v1/subjects/{id}/consents"),
            Some(json!({"source": "web", "withdraw": ["personalization"]})),
        ),
        ("GET", format!("/v1/subjects/{id}/consents/history"), None),
        ("GET", format!("/v1/subjects/{id}/export"), None),
        ("GET", format!("/v1/subjects/{id}/export?format=html"), None),
        ("GET", format!("/v1/subjects/{id}/interests"), None),
        ("GET", format!("/v1/subjects/{id}/interests/knitting"), None),
        (
            "PUT",
            format!("/v1/subjects/{id}/interests/knitting"),
            Some(json!({"weight": 0.1})),
        ),
        (
            "DELETE",
            format!("/v1/subjects/{id}/interests/knitting"),
            None,
        ),
        (
            "DELETE",
            format!("/v1/subjects/{id}/events/{event_id}"),
            None,
        ),
        ("DELETE", format!("/v1/subjects/{id}"), None),
    ]
}

#[tokio::test]
async fn a_persons_token_never_reaches_another_person() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        two_people(&s).await;
        let ann = token_for(&s, ANN);
        let bob_events = s
            .state
            .database()
            .events_for(&s.state.pseudonymize(BOB))
            .await
            .unwrap();
        let bob_event = bob_events[0].id;
        let size_before = s.state.tree_head().tree_head.size;
        for (method, path, body) in subject_routes(BOB, bob_event) {
            let (status, resp) = send(&s, method, &path, &ann, body.clone()).await;
            assert_eq!(status, 403, "{backend:?} {method} {path}: {resp}");
            assert_eq!(resp["error"]["code"], "forbidden");
            // Ingest and analyst keys reach nobody either.
            for key in [&s.ingest, &s.analyst] {
                let (status, _) = send(&s, method, &path, key, body.clone()).await;
                assert_eq!(status, 403, "{method} {path}");
            }
        }
        // Nothing happened to Bob, and refused calls wrote nothing.
        assert_eq!(s.state.tree_head().tree_head.size, size_before);
        let after = s
            .state
            .database()
            .events_for(&s.state.pseudonymize(BOB))
            .await
            .unwrap();
        assert_eq!(after.len(), bob_events.len());
        // Ann cannot delete Bob's event through her own id either.
        let (status, _) = send(
            &s,
            "DELETE",
            &format!("/v1/subjects/me/events/{bob_event}"),
            &ann,
            None,
        )
        .await;
        assert_eq!(status, 404);
        // "me" is Ann herself; her own raw id works too.
        let (status, me) = send(&s, "GET", "/v1/subjects/me", &ann, None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["events_total"], 2);
        let (status, _) = send(&s, "GET", &format!("/v1/subjects/{ANN}/export"), &ann, None).await;
        assert_eq!(status, 200);
        // An admin key may not use "me" to mean anyone in particular.
        let (status, _) = send(&s, "GET", "/v1/subjects/me", &s.admin, None).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn admins_issue_subject_tokens_through_the_api() {
    let s = TestServer::start(Backend::Sqlite).await;
    two_people(&s).await;
    let (status, body) = s
        .post(
            "/v1/admin/tokens",
            &s.admin,
            &json!({"subject_id": ANN, "ttl": "15m"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("fls_"));
    assert!(body["privacy_center"]
        .as_str()
        .unwrap()
        .starts_with("/privacy#token=fls_"));
    let left = body["expires_at"].as_i64().unwrap() - Timestamp::now().millis();
    assert!((890_000..=900_000).contains(&left), "{left}");
    let (status, _) = s.get("/v1/subjects/me/consents", token).await;
    assert_eq!(status, 200);
    let (status, _) = s.get(&format!("/v1/subjects/{BOB}/consents"), token).await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post("/v1/admin/tokens", &s.ingest, &json!({"subject_id": ANN}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post("/v1/admin/tokens", token, &json!({"subject_id": BOB}))
        .await;
    assert_eq!(status, 403, "a subject token cannot mint tokens");
    let (status, body) = s
        .post(
            "/v1/admin/tokens",
            &s.admin,
            &json!({"subject_id": ANN, "ttl": "9y"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ttl"))
    );
}

#[tokio::test]
async fn the_export_holds_everything_and_is_itself_logged() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        two_people(&s).await;
        let ann = token_for(&s, ANN);
        let size_before = s.state.tree_head().tree_head.size;
        let (status, doc) = s.get("/v1/subjects/me/export", &ann).await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["schema"], "fineline.export.v1");
        assert_eq!(doc["subject"], s.state.pseudonymize(ANN).to_text());
        assert_eq!(doc["consents"]["current"]["personalization"], "given");
        assert_eq!(doc["consents"]["current"]["partner_insights"], "none");
        assert_eq!(doc["consents"]["records"].as_array().unwrap().len(), 2);
        let events = doc["events"].as_array().unwrap();
        assert_eq!(events.len(), 2, "Ann's events only");
        assert_eq!(events[0]["properties"]["colour"], "teal-secret-property");
        assert_eq!(events[0]["type"], "view");
        assert_eq!(
            doc["interests"],
            json!([{"category": "running", "weight": 0.8, "removed": false}])
        );
        assert!(!doc.to_string().contains("knitting") && !doc.to_string().contains(ANN));
        // Receipts: one per consent record plus this export, all valid and
        // provably about Ann.
        let receipts = doc["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), 3);
        let key = s.state.ledger_key();
        for r in receipts {
            let r: fineline_ledger::Receipt = serde_json::from_value(r.clone()).unwrap();
            fineline_ledger::verify_receipt_for_subject(&r, Some(&key), &s.state.pseudonymize(ANN))
                .unwrap();
        }
        let last = receipts.last().unwrap();
        assert_eq!(last["entry"]["kind"], "data_access");
        assert_eq!(last["entry"]["what"], "export");
        assert_eq!(last["entry"]["actor"], "subject");
        assert_eq!(s.state.tree_head().tree_head.size, size_before + 1);

        // The readable page: by query or by Accept, escaped, no scripts.
        for req in [
            s.http.get(s.url("/v1/subjects/me/export?format=html")),
            s.http
                .get(s.url("/v1/subjects/me/export"))
                .header("Accept", "text/html"),
        ] {
            let r = req.bearer_auth(&ann).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            assert!(r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"));
            let page = r.text().await.unwrap();
            assert!(page.contains("teal-secret-property") && page.contains("<caption>"));
            assert!(!page.contains("<script"));
        }
        assert_eq!(
            s.state.tree_head().tree_head.size,
            size_before + 3,
            "every export is logged"
        );
        let (status, _) = s.get("/v1/subjects/me/export?format=pdf", &ann).await;
        assert_eq!(status, 400);
        // Nobody known: nothing to export.
        let (status, _) = s
            .get("/v1/subjects/nobody@example.com/export", &s.admin)
            .await;
        assert_eq!(status, 404);
    }
}

#[tokio::test]
async fn people_correct_their_interests_and_delete_single_events() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        two_people(&s).await;
        let ann = token_for(&s, ANN);
        let (status, list) = s.get("/v1/subjects/me/interests", &ann).await;
        assert_eq!(
            (status, list[0]["category"].as_str()),
            (200, Some("running"))
        );
        let (status, one) = send(
            &s,
            "PUT",
            "/v1/subjects/me/interests/running",
            &ann,
            Some(json!({"weight": 0.3})),
        )
        .await;
        assert_eq!((status, one["weight"].as_f64()), (200, Some(0.3)));
        let (status, _) = send(
            &s,
            "PUT",
            "/v1/subjects/me/interests/running",
            &ann,
            Some(json!({"weight": 3})),
        )
        .await;
        assert_eq!(status, 400);
        let (status, _) = send(
            &s,
            "DELETE",
            "/v1/subjects/me/interests/running",
            &ann,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (_, one) = s.get("/v1/subjects/me/interests/running", &ann).await;
        assert_eq!(
            one["removed"], true,
            "kept as removed so it is not inferred again"
        );
        let (status, _) = s.get("/v1/subjects/me/interests/cooking", &ann).await;
        assert_eq!(status, 404);

        let ev = s
            .state
            .database()
            .events_for(&s.state.pseudonymize(ANN))
            .await
            .unwrap();
        let (status, _) = send(
            &s,
            "DELETE",
            &format!("/v1/subjects/me/events/{}", ev[0].id),
            &ann,
            None,
        )
        .await;
        assert_eq!(status, 204);
        let (status, _) = send(
            &s,
            "DELETE",
            &format!("/v1/subjects/me/events/{}", ev[0].id),
            &ann,
            None,
        )
        .await;
        assert_eq!(status, 404);
        let (status, _) = send(&s, "DELETE", "/v1/subjects/me/events/x", &ann, None).await;
        assert_eq!(status, 400);
        let (_, doc) = s.get("/v1/subjects/me/export", &ann).await;
        assert_eq!(doc["events"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn erasure_reaches_everything_and_later_events_are_refused() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        two_people(&s).await;
        let forgotten: Arc<Mutex<Vec<Pseudonym>>> = Arc::default();
        let seen = forgotten.clone();
        s.state
            .on_erasure(Arc::new(move |p: &Pseudonym| seen.lock().unwrap().push(*p)));
        let ann_p = s.state.pseudonymize(ANN);
        let ann = token_for(&s, ANN);

        let (status, body) = send(&s, "DELETE", "/v1/subjects/me", &ann, None).await;
        assert_eq!(status, 200, "{body}");
        // 2 events + 2 consent records + 1 interest + the key.
        assert_eq!(body["rows_deleted"], 6, "{backend:?}");
        let receipt: fineline_ledger::Receipt =
            serde_json::from_value(body["receipt"].clone()).unwrap();
        assert!(matches!(
            receipt.entry,
            fineline_ledger::LedgerEntry::Erasure { .. }
        ));
        let key = s.state.ledger_key();
        fineline_ledger::verify_receipt_for_subject(&receipt, Some(&key), &ann_p).unwrap();
        let (_, entry) = s
            .get(
                &format!("/v1/ledger/entries/{}", receipt.leaf_index),
                &s.admin,
            )
            .await;
        assert_eq!(entry["entry"]["kind"], "erasure");
        assert!(!entry.to_string().contains(ANN));

        // Primary rows, derived profile, keys, the consent index, listeners.
        let database = s.state.database();
        assert!(database.events_for(&ann_p).await.unwrap().is_empty());
        assert!(database.consents_for(&ann_p).await.unwrap().is_empty());
        assert!(database.interests_for(&ann_p).await.unwrap().is_empty());
        assert!(!s
            .state
            .internals()
            .vault
            .key_store()
            .contains(&ann_p)
            .unwrap());
        assert!(s.state.subject_keys(&ann_p).await.unwrap().is_none());
        assert!(s
            .state
            .internals()
            .consents
            .read()
            .unwrap()
            .current(&ann_p)
            .is_empty());
        // Ann only; on a shared database the replica catch-up may replay
        // this process's own erasure note and tell the listeners again
        // (forgetting is idempotent), as a loaded CI run once showed.
        let told = forgotten.lock().unwrap().clone();
        assert!(
            !told.is_empty() && told.iter().all(|p| *p == ann_p),
            "{told:?}"
        );

        // Events arriving afterwards are refused: no consent exists.
        let now = Timestamp::now().millis();
        let r = s
            .ingest_events(&json!([
                event(ANN, "personalization", now),
                event(BOB, "personalization", now)
            ]))
            .await;
        assert_eq!(r["accepted"], 1, "{r}");
        assert_eq!(r["rejected"][0]["reason"], "no_consent");
        assert_eq!(r["rejected"][0]["index"], 0);
        for path in ["/v1/subjects/me", "/v1/subjects/me/export"] {
            let (status, _) = s.get(path, &ann).await;
            assert_eq!(status, 404, "{path}");
        }
        let (status, _) = send(&s, "DELETE", "/v1/subjects/me", &ann, None).await;
        assert_eq!(status, 404, "already erased");
        // Bob is untouched.
        let bob_p = s.state.pseudonymize(BOB);
        assert_eq!(database.events_for(&bob_p).await.unwrap().len(), 2);
        assert_eq!(database.interests_for(&bob_p).await.unwrap().len(), 1);
        // The erased person may start afresh: new keys, new consent.
        s.grant(ANN, &["analytics"]).await;
        assert!(s
            .state
            .internals()
            .vault
            .key_store()
            .contains(&ann_p)
            .unwrap());
        // A row sealed under the destroyed key (an ingestion batch that
        // raced the erasure) is listed as unreadable, not an error.
        let old_key = fineline_vault::DataKey::generate();
        database
            .put_events(vec![fineline_db::NewEvent {
                subject: ann_p,
                kind: fineline_core::EventKind::new("view").unwrap(),
                item: None,
                purpose: fineline_core::Purpose::Analytics,
                at: Timestamp::now(),
                sealed_properties: old_key.seal(b"{}", &fineline_vault::subject_aad(&ann_p)),
            }])
            .await
            .unwrap();
        let (status, doc) = s.get("/v1/subjects/me/export", &ann).await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["events"][0]["unreadable"], true);
        assert!(doc["events"][0]["properties"].is_null());
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file the embedded deployment writes: the database and, apart
/// from it, the key store.
const DATA_FILES: [&str; 6] = [
    "fineline.db",
    "fineline.db-wal",
    "fineline.db-shm",
    "datakeys.db",
    "datakeys.db-wal",
    "datakeys.db-shm",
];

fn read_all(dir: &std::path::Path, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .filter_map(|f| Some((f.to_string(), std::fs::read(dir.join(f)).ok()?)))
        .collect()
}

/// A shred is durable before the erasure answers; the key store's WAL is
/// truncated beside it, off the request path. Wait for that (bounded).
async fn key_store_wal_truncated(dir: &std::path::Path) {
    let wal = dir.join("datakeys.db-wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the key store's WAL was never truncated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn erasure_shreds_the_key_so_files_and_backups_hold_nothing_readable() {
    let s = TestServer::start(Backend::Sqlite).await;
    two_people(&s).await;
    let (ann_p, bob_p) = (s.state.pseudonymize(ANN), s.state.pseudonymize(BOB));
    let ann_salt = s.state.subject_keys(&ann_p).await.unwrap().unwrap().salt;
    let bob_salt = s.state.subject_keys(&bob_p).await.unwrap().unwrap().salt;
    // Sealed from the start: the plaintext never reaches the files; the
    // keys live only in the key store.
    for (f, bytes) in read_all(s.dir.path(), &DATA_FILES) {
        assert!(!contains(&bytes, b"teal-secret-property"), "{f}");
        if f.starts_with("fineline.db") {
            assert!(!contains(&bytes, &ann_salt), "a key row in {f}");
        }
    }
    // Two backups taken before erasure: an online one, and a copy of the
    // database's files as a file-level backup would take them.
    let backup = tempfile::tempdir().unwrap();
    let online = backup.path().join("online.db");
    fineline_db::SqliteDatabase::open(s.dir.path().join("fineline.db"))
        .await
        .unwrap()
        .backup_into(&online)
        .await
        .unwrap();
    for f in ["fineline.db", "fineline.db-wal", "fineline.db-shm"] {
        let _ = std::fs::copy(s.dir.path().join(f), backup.path().join(f));
    }

    let ann = token_for(&s, ANN);
    let (status, _) = send(&s, "DELETE", "/v1/subjects/me", &ann, None).await;
    assert_eq!(status, 200);
    assert!(!s
        .state
        .internals()
        .vault
        .key_store()
        .contains(&ann_p)
        .unwrap());
    key_store_wal_truncated(s.dir.path()).await;

    // The live files (data store and key store, WALs included) hold no
    // plaintext and no trace of Ann's key row; Bob's is still there.
    let live = read_all(s.dir.path(), &DATA_FILES);
    for (f, bytes) in &live {
        assert!(!contains(bytes, b"teal-secret-property"), "{f}");
        assert!(!contains(bytes, &ann_salt), "Ann's key row left in {f}");
    }
    assert!(live.iter().any(|(_, b)| contains(b, &bob_salt)));
    // The backups still hold Ann's sealed events, but no key for anyone:
    // restored, nothing of hers opens, while Bob's events still do.
    let backup_files = read_all(
        backup.path(),
        &["online.db", "fineline.db", "fineline.db-wal"],
    );
    for (f, bytes) in &backup_files {
        assert!(
            !contains(bytes, &ann_salt) && !contains(bytes, &bob_salt),
            "a key in {f}"
        );
        assert!(!contains(bytes, b"teal-secret-property"), "{f}");
    }
    for path in [online, backup.path().join("fineline.db")] {
        let restored = fineline_db::SqliteDatabase::open(&path).await.unwrap();
        let old = fineline_db::EventTables::events_for(&restored, &ann_p)
            .await
            .unwrap();
        assert_eq!(old.len(), 2, "the backup predates the erasure");
        assert!(s.state.subject_keys(&ann_p).await.unwrap().is_none());
        let bob_keys = s.state.subject_keys(&bob_p).await.unwrap().unwrap();
        for e in &old {
            assert!(bob_keys
                .data_key
                .open(&e.sealed_properties, &fineline_vault::subject_aad(&ann_p))
                .is_err());
        }
        let bobs = fineline_db::EventTables::events_for(&restored, &bob_p)
            .await
            .unwrap();
        assert_eq!(bobs.len(), 1);
        let opened = bob_keys
            .data_key
            .open(
                &bobs[0].sealed_properties,
                &fineline_vault::subject_aad(&bob_p),
            )
            .unwrap();
        assert!(contains(&opened, b"teal-secret-property"));
    }
}

#[tokio::test]
async fn the_retention_sweep_deletes_what_the_policy_no_longer_allows() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let mut policy = fineline_consent::demo_policy(1, Timestamp::now());
        for d in &mut policy.purposes {
            if d.purpose == fineline_core::Purpose::Analytics {
                d.retention_days = 1;
            }
        }
        let (status, body) = s
            .post(
                "/v1/policy",
                &s.admin,
                &serde_json::to_value(&policy).unwrap(),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        s.grant(ANN, &["personalization", "analytics"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let now = Timestamp::now().millis();
        s.ingest_events(&json!([
            event(ANN, "analytics", now),
            event(ANN, "personalization", now)
        ]))
        .await;

        let report = fineline_app::retention::sweep(&s.state, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(report.deleted(), 0, "nothing has expired yet");
        // Two days on, the 1-day analytics events have expired; the 365-day
        // personalization one has not.
        let later = Timestamp::now().plus_millis(2 * 86_400_000);
        let report = fineline_app::retention::sweep(&s.state, later)
            .await
            .unwrap();
        assert_eq!(report.deleted(), 1, "{report:?}");
        assert!(report
            .purposes
            .contains(&(fineline_core::Purpose::Analytics, 1, 1)));
        let left = s
            .state
            .database()
            .events_for(&s.state.pseudonymize(ANN))
            .await
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].purpose, fineline_core::Purpose::Personalization);
    }
}

#[tokio::test]
async fn the_privacy_center_is_self_contained_and_locked_down() {
    let s = TestServer::start(Backend::Sqlite).await;
    let mut all = String::new();
    for path in ["/privacy", "/privacy/app.js", "/privacy/app.css"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        all.push_str(&r.text().await.unwrap());
    }
    // No external resource, no inline script or style (the CSP forbids them).
    assert!(!all.contains("http://") && !all.contains("https://"));
    assert!(!all.contains("<script>") && !all.contains("style=\""));
    assert!(all.contains("aria-live") && all.contains("<label for="));
}

/// Shredding is durable at once and, within one checkpoint, leaves no copy
/// of the key row in the key store's WAL (which SQLite would otherwise
/// keep until its next automatic checkpoint, up to 1000 pages later).
#[tokio::test]
async fn no_wal_frame_keeps_an_erased_persons_key() {
    let s = TestServer::start(Backend::Sqlite).await;
    two_people(&s).await;
    let ann_p = s.state.pseudonymize(ANN);
    let salt = s.state.subject_keys(&ann_p).await.unwrap().unwrap().salt;
    let key_files = &DATA_FILES[3..];
    assert!(read_all(s.dir.path(), key_files)
        .iter()
        .any(|(_, b)| contains(b, &salt)));
    let ann = token_for(&s, ANN);
    let (status, _) = send(&s, "DELETE", "/v1/subjects/me", &ann, None).await;
    assert_eq!(status, 200);
    key_store_wal_truncated(s.dir.path()).await;
    for (f, bytes) in read_all(s.dir.path(), key_files) {
        assert!(!contains(&bytes, &salt), "key row still in {f}");
    }
}

#[tokio::test]
async fn the_rights_routes_are_documented() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc: Value = s
        .http
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/admin/tokens",
        "/v1/subjects/{id}",
        "/v1/subjects/{id}/export",
        "/v1/subjects/{id}/interests",
        "/v1/subjects/{id}/interests/{category}",
        "/v1/subjects/{id}/events/{event_id}",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Export"].is_object());
}
