//! Upgrading a data dir whose per-person keys are still in the database:
//! the first start moves them into the vault's key store and removes them
//! from the database, on both backends; a later-restored old backup does
//! not bring an erased person's key back.

use std::sync::Arc;

use fineline_app::subject_keys::{move_keys_out_of_database, KeyMove};
use fineline_core::{EventKind, Pseudonym, Purpose, Timestamp};
use fineline_db::{ConsentRow, Database, LegacyKeyRow, NewEvent, WriteOp, WriteSet};
use fineline_server::AppState;
use fineline_vault::{subject_aad, DataKey, Vault};

async fn databases(dir: &std::path::Path) -> Vec<(&'static str, Arc<dyn Database>)> {
    let mut out: Vec<(&'static str, Arc<dyn Database>)> = vec![(
        "sqlite",
        Arc::new(
            fineline_db::SqliteDatabase::open(dir.join("fineline.db"))
                .await
                .unwrap(),
        ),
    )];
    match std::env::var("FINELINE_TEST_DATABASE_URL") {
        Ok(url) => out.push((
            "postgres",
            Arc::new(
                fineline_db::PostgresDatabase::open_isolated(&url)
                    .await
                    .unwrap(),
            ),
        )),
        Err(_) => eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped"),
    }
    out
}

/// What a version before the key store wrote for one person: a key row
/// and an event sealed under the key.
fn legacy_person(vault: &Vault, raw: &str) -> (Pseudonym, DataKey, WriteSet) {
    let p = vault.keyring().pseudonymize(raw);
    let key = DataKey::generate();
    let set = WriteSet::new()
        .with(WriteOp::PutLegacySubjectKeys(LegacyKeyRow {
            subject: p,
            wrapped_data_key: vault.master_key().wrap(&key, &subject_aad(&p)),
            commitment_salt: vec![7; 32],
        }))
        .with(WriteOp::PutEvents(vec![NewEvent {
            subject: p,
            kind: EventKind::new("view").unwrap(),
            item: None,
            purpose: Purpose::Analytics,
            at: Timestamp(2),
            sealed_properties: key.seal(b"{\"note\":\"old\"}", &subject_aad(&p)),
        }]));
    (p, key, set)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_start_moves_keys_out_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, database) in databases(dir.path()).await {
        let vault_dir = dir.path().join(backend);
        let vault = Vault::open_or_create(&vault_dir).unwrap();
        let (ann, ann_key, set) = legacy_person(&vault, "ann@example.com");
        database.apply(set).await.unwrap();
        assert!(!vault.key_store().moved_from_data_store().unwrap());

        let state = AppState::load(database.clone(), vault).await.unwrap();
        assert!(
            database.legacy_subject_keys().await.unwrap().is_empty(),
            "{backend}: the database keeps no key"
        );
        assert_eq!(
            state.internals().vault.key_store().count().unwrap(),
            1,
            "{backend}"
        );
        let keys = state.subject_keys(&ann).await.unwrap().unwrap();
        assert_eq!(keys.data_key, ann_key, "{backend}");
        assert_eq!(keys.salt, [7; 32]);
        let events = database.events_for(&ann).await.unwrap();
        let opened = keys
            .data_key
            .open(&events[0].sealed_properties, &subject_aad(&ann))
            .unwrap();
        assert_eq!(opened, b"{\"note\":\"old\"}");

        // Ann is erased; then an old backup's key row for her turns up in
        // the database again. Another start drops it instead of moving it.
        assert!(state.shred_subject_keys(&ann).await.unwrap());
        let (_, _, old) = legacy_person(state.internals().vault, "ann@example.com");
        let key_row = old.ops.into_iter().next().unwrap();
        assert!(matches!(key_row, WriteOp::PutLegacySubjectKeys(_)));
        database.apply(WriteSet::from(key_row)).await.unwrap();
        let again = move_keys_out_of_database(database.as_ref(), state.internals().vault)
            .await
            .unwrap();
        assert_eq!(
            again,
            KeyMove {
                moved: 0,
                dropped: 1
            },
            "{backend}"
        );
        assert!(database.legacy_subject_keys().await.unwrap().is_empty());
        assert!(!state.internals().vault.key_store().contains(&ann).unwrap());
        // The old backup also held her consent record: the purge after a
        // restore removes everything of a person without a key.
        database
            .apply(WriteSet::from(WriteOp::PutConsent(ConsentRow {
                record_id: "r-ann".into(),
                subject: ann,
                purpose: Purpose::Analytics,
                state: "granted".into(),
                policy_version: 1,
                source: "api".into(),
                at: Timestamp(1),
                body: b"{}".to_vec(),
            })))
            .await
            .unwrap();
        let purged = fineline_app::subject_keys::purge_people_without_keys(
            database.as_ref(),
            state.internals().vault,
        )
        .await
        .unwrap();
        assert_eq!(purged, 1, "{backend}");
        assert!(database.consents_for(&ann).await.unwrap().is_empty());
        assert!(database.events_for(&ann).await.unwrap().is_empty());
    }
}
