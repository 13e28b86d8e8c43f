//! Crypto-shredding reaches backups, with the real binary: a backup taken
//! before a person's erasure holds their sealed events but no key, so after
//! the erasure nothing of theirs can be read from it, while everyone else
//! restores intact.

use std::path::Path;

use serde_json::{json, Value};

mod common;

use common::{cli, ok_stdout as ok, Server};
const P: &str = "person-p@example.com";
const Q: &str = "person-q@example.com";
const P_SECRET: &str = "p-only-crimson-umbrella-7731";
const Q_SECRET: &str = "q-only-olive-teapot-4402";

fn create_key(dir: &Path, role: &str) -> String {
    common::create_key(dir, role, &[])
}

/// The server on `dir`, its log discarded.
fn start(dir: &Path) -> Server {
    Server::start_logged(
        dir,
        Path::new("/dev/null"),
        "warn",
        &["--recs-train-every", "0"],
    )
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file in `dir` (data store, its WAL, key store, key file, backups).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn export_properties(server: &Server, admin: &str, who: &str) -> (u16, Vec<Value>) {
    let (status, doc) = server.call("GET", &format!("/v1/subjects/{who}/export"), admin, None);
    let props = doc["events"]
        .as_array()
        .map(|evs| evs.iter().map(|e| e["properties"].clone()).collect())
        .unwrap_or_default();
    (status, props)
}

#[test]
fn a_backup_taken_before_an_erasure_reveals_nothing_of_the_erased_person() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let admin = create_key(&live, "admin");
    let ingest = create_key(&live, "ingest");
    let mut server = start(&live);
    let policy = fineline_consent::demo_policy(1, fineline_core::Timestamp::now());
    let (status, _) = server.call("POST", "/v1/policy", &admin, Some(json!(policy)));
    assert_eq!(status, 201);
    for who in [P, Q] {
        let body = json!({"source": "web", "grant": ["personalization"]});
        let path = format!("/v1/subjects/{who}/consents");
        assert_eq!(server.call("POST", &path, &admin, Some(body)).0, 201);
    }
    let now = fineline_core::Timestamp::now().millis() + 1;
    let events: Vec<Value> = [(P, P_SECRET), (Q, Q_SECRET)]
        .iter()
        .flat_map(|(who, secret)| {
            (0..3).map(move |i| {
                json!({"subject_id": who, "type": "view", "item": format!("sku-{i}"),
                       "timestamp": now, "purpose": "personalization",
                       "properties": {"note": secret}})
            })
        })
        .collect();
    let (status, r) = server.call("POST", "/v1/events", &ingest, Some(json!(events)));
    assert_eq!((status, r["accepted"].as_u64()), (200, Some(6)), "{r}");

    // An online backup while the server runs.
    let backups = tmp.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let backup = backups.join("before-erasure.db");
    let live_s = live.to_str().unwrap();
    ok(cli(&[
        "backup",
        "create",
        backup.to_str().unwrap(),
        "--data-dir",
        live_s,
    ]));
    let again = cli(&[
        "backup",
        "create",
        backup.to_str().unwrap(),
        "--data-dir",
        live_s,
    ]);
    assert!(
        !again.status.success(),
        "an existing backup is never overwritten"
    );
    let backup_bytes = std::fs::read(&backup).unwrap();
    assert!(!contains(&backup_bytes, P_SECRET.as_bytes()), "sealed");
    // Before the erasure, the live keys open P's rows in the backup.
    let (p_id, q_id) = subjects_in_backup(&live, &backup, 3);
    // P's key row (wrapped key and ledger salt, side by side) is findable
    // by its salt; it must vanish from every file.
    let p_salt = fineline_vault::Vault::open_or_create(&live)
        .unwrap()
        .key_store()
        .get(&p_id)
        .unwrap()
        .unwrap()
        .salt;

    let (status, body) = server.call("DELETE", &format!("/v1/subjects/{P}"), &admin, None);
    assert_eq!(status, 200, "{body}");
    server.stop();

    // Restore the pre-erasure backup into a fresh data dir beside the
    // current key store (as an operator would after losing the data disk).
    let restored = tmp.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    for f in ["keys.json", "datakeys.db"] {
        std::fs::copy(live.join(f), restored.join(f)).unwrap();
    }
    let said = ok(cli(&[
        "backup",
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]));
    assert!(said.contains("purged 1 people"), "{said}");
    let server = start(&restored);
    let (status, q_props) = export_properties(&server, &admin, Q);
    assert_eq!(status, 200);
    assert_eq!(q_props.len(), 3);
    assert!(q_props.iter().all(|p| p["note"] == Q_SECRET), "{q_props:?}");
    assert_eq!(
        export_properties(&server, &admin, P).0,
        404,
        "P stays erased"
    );
    drop(server);

    // The backup file itself, read with the master key and the key store:
    // P's rows are there, sealed, and no key opens them any more.
    let vault = fineline_vault::Vault::open_or_create(&live).unwrap();
    assert!(
        vault.key_store().get(&p_id).unwrap().is_none(),
        "P's key is shredded"
    );
    assert!(vault.key_store().get(&q_id).unwrap().is_some());
    let (p_rows, q_rows) = read_backup(&backup, &p_id, &q_id);
    assert_eq!((p_rows.len(), q_rows.len()), (3, 3));
    let q_key = vault.key_store().get(&q_id).unwrap().unwrap().data_key;
    for sealed in &q_rows {
        let plain = q_key
            .open(sealed, &fineline_vault::subject_aad(&q_id))
            .unwrap();
        assert!(contains(&plain, Q_SECRET.as_bytes()));
    }
    for sealed in &p_rows {
        assert!(q_key
            .open(sealed, &fineline_vault::subject_aad(&p_id))
            .is_err());
    }

    // A raw byte scan: no file anywhere (live database and WAL, key
    // store and its WAL, key file, the backup, the restored database) holds
    // P's property in the clear, or P's key row.
    for dir in [&live, &backups, &restored] {
        for (name, bytes) in files(dir) {
            assert!(!contains(&bytes, &p_salt), "P's key row in {name}");
            assert!(
                !contains(&bytes, P_SECRET.as_bytes()),
                "P's plaintext in {name}"
            );
            assert!(
                !contains(&bytes, Q_SECRET.as_bytes()),
                "Q's plaintext in {name}"
            );
        }
    }
}

/// Analytic dimension values are kept in the clear for DP queries, and
/// only while a row uses them: a region (and an item) only P ever sent is
/// in no file of the data dir once P is erased, and none of a data dir
/// restored from a backup taken before the erasure.
#[test]
fn an_erased_persons_clear_dimension_values_leave_every_file() {
    const P_REGION: &str = "p-only-region-saffron-9917";
    const P_ITEM: &str = "p-only-sku-quartz-2261";
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let admin = create_key(&live, "admin");
    let ingest = create_key(&live, "ingest");
    let mut server = start(&live);
    let policy = fineline_consent::demo_policy(1, fineline_core::Timestamp::now());
    assert_eq!(
        server
            .call("POST", "/v1/policy", &admin, Some(json!(policy)))
            .0,
        201
    );
    for who in [P, Q] {
        let body = json!({"source": "web", "grant": ["analytics", "partner_insights"]});
        let path = format!("/v1/subjects/{who}/consents");
        assert_eq!(server.call("POST", &path, &admin, Some(body)).0, 201);
    }
    let now = fineline_core::Timestamp::now().millis() + 1;
    let events = json!([
        {"subject_id": P, "type": "app_open", "item": P_ITEM, "timestamp": now,
         "purpose": "analytics", "properties": {"region": P_REGION}},
        {"subject_id": Q, "type": "app_open", "item": "sku-1", "timestamp": now,
         "purpose": "analytics", "properties": {"region": "north"}},
    ]);
    let (status, r) = server.call("POST", "/v1/events", &ingest, Some(events));
    assert_eq!((status, r["accepted"].as_u64()), (200, Some(2)), "{r}");
    let backups = tmp.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let backup = backups.join("before-erasure.db");
    let live_s = live.to_str().unwrap();
    ok(cli(&[
        "backup",
        "create",
        backup.to_str().unwrap(),
        "--data-dir",
        live_s,
    ]));
    // The values are in the clear, so the scan below can find them: the
    // backup (taken before the erasure) keeps them until it expires.
    let backup_bytes = std::fs::read(&backup).unwrap();
    assert!(contains(&backup_bytes, P_REGION.as_bytes()));
    assert!(contains(&backup_bytes, P_ITEM.as_bytes()));

    let (status, body) = server.call("DELETE", &format!("/v1/subjects/{P}"), &admin, None);
    assert_eq!(status, 200, "{body}");
    let leftovers = |dir: &Path| -> Vec<String> {
        files(dir)
            .into_iter()
            .filter(|(_, bytes)| {
                contains(bytes, P_REGION.as_bytes()) || contains(bytes, P_ITEM.as_bytes())
            })
            .map(|(name, _)| name)
            .collect()
    };
    // While the server still runs (data store, its WAL, the key store)...
    assert!(leftovers(&live).is_empty(), "{:?}", leftovers(&live));
    server.stop();
    // ...and after it closed the database.
    assert!(leftovers(&live).is_empty(), "{:?}", leftovers(&live));

    let restored = tmp.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    for f in ["keys.json", "datakeys.db"] {
        std::fs::copy(live.join(f), restored.join(f)).unwrap();
    }
    let said = ok(cli(&[
        "backup",
        "restore",
        backup.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]));
    assert!(said.contains("purged 1 people"), "{said}");
    assert!(
        leftovers(&restored).is_empty(),
        "{:?}",
        leftovers(&restored)
    );
    let mut server = start(&restored);
    // Q's value is still there for queries.
    let q_export = server.call("GET", &format!("/v1/subjects/{Q}/export"), &admin, None);
    assert_eq!(q_export.0, 200);
    server.stop();
    assert!(
        leftovers(&restored).is_empty(),
        "{:?}",
        leftovers(&restored)
    );
    let kept = files(&restored)
        .into_iter()
        .any(|(_, bytes)| contains(&bytes, b"north"));
    assert!(kept, "Q's region is kept for insights");
}

/// P's and Q's pseudonyms, checking that the backup holds `n` events for
/// each that the live key store opens (so the later failure to open P's
/// is the shredding, not a broken backup).
fn subjects_in_backup(
    live: &Path,
    backup: &Path,
    n: usize,
) -> (fineline_core::Pseudonym, fineline_core::Pseudonym) {
    let vault = fineline_vault::Vault::open_or_create(live).unwrap();
    let (p, q) = (
        vault.keyring().pseudonymize(P),
        vault.keyring().pseudonymize(Q),
    );
    let (p_rows, q_rows) = read_backup(backup, &p, &q);
    for (who, rows, secret) in [(p, p_rows, P_SECRET), (q, q_rows, Q_SECRET)] {
        assert_eq!(rows.len(), n);
        let key = vault.key_store().get(&who).unwrap().unwrap().data_key;
        for sealed in rows {
            let plain = key
                .open(&sealed, &fineline_vault::subject_aad(&who))
                .unwrap();
            assert!(contains(&plain, secret.as_bytes()));
        }
    }
    (p, q)
}

/// The sealed properties of P's and Q's events in a copy of the backup
/// (opening a database may migrate it; the backup itself stays untouched).
fn read_backup(
    backup: &Path,
    p: &fineline_core::Pseudonym,
    q: &fineline_core::Pseudonym,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy.db");
    std::fs::copy(backup, &copy).unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let database = fineline_db::SqliteDatabase::open(&copy).await.unwrap();
        let sealed = |rows: Vec<fineline_db::EventRow>| {
            rows.into_iter()
                .map(|e| e.sealed_properties)
                .collect::<Vec<_>>()
        };
        use fineline_db::EventTables;
        (
            sealed(database.events_for(p).await.unwrap()),
            sealed(database.events_for(q).await.unwrap()),
        )
    })
}
