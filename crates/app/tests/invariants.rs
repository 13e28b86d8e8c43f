//! ARCHITECTURE.md's invariants checked at the application boundary: no
//! HTTP, no TCP, the use cases called as the server and the CLI call them.

use std::sync::Arc;

use fineline_app::consent::ConsentChange;
use fineline_app::{App, AppError};
use fineline_consent::ConsentSource;
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_insights::Cost;

async fn app(dir: &std::path::Path) -> App {
    let database = fineline_app::open_database(dir, None).await.unwrap();
    let vault = fineline_vault::Vault::open_or_create(dir).unwrap();
    let app = App::load(database, vault).await.unwrap();
    app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
        .await
        .unwrap();
    app
}

fn grant(purposes: &[Purpose]) -> ConsentChange {
    ConsentChange {
        policy_version: None,
        source: ConsentSource::Api,
        grant: purposes.to_vec(),
        withdraw: Vec::new(),
        tc_string: None,
        gpc: false,
    }
}

/// Every consent change is a ledger entry written with it: the ledger
/// grows by exactly the records written, each receipt verifies and names
/// the person, and the index allows the purpose from then on.
#[tokio::test]
async fn a_consent_change_and_its_ledger_entries_land_together() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let person = app.pseudonymize("ada@example.com");
    let before = app.database().ledger_size().await.unwrap();
    let done = app
        .change_consent(
            person,
            grant(&[Purpose::Personalization, Purpose::Analytics]),
        )
        .await
        .unwrap();
    assert_eq!(done.records.len(), 2);
    assert_eq!(app.database().ledger_size().await.unwrap(), before + 2);
    for r in &done.receipts {
        fineline_ledger::verify_receipt_for_subject(r, None, &person).unwrap();
    }
    assert_eq!(app.stored_consents(&person).await.unwrap().len(), 2);
    assert!(app.internals().consents.read().unwrap().allowed(
        &person,
        Purpose::Personalization,
        Timestamp::now()
    ));

    // A refused change writes nothing, in the ledger or beside it.
    let bad = ConsentChange {
        policy_version: Some(9),
        ..grant(&[Purpose::Analytics])
    };
    let err = app.change_consent(person, bad).await.unwrap_err();
    assert!(matches!(err, AppError::InvalidField { ref field, .. } if field == "policy_version"));
    assert_eq!(app.database().ledger_size().await.unwrap(), before + 2);
}

/// Erasure reaches everything: rows, key, consent index; its receipt
/// verifies; a second erasure finds nothing.
#[tokio::test]
async fn erasure_reaches_rows_keys_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let person = app.pseudonymize("grace@example.com");
    app.change_consent(person, grant(&[Purpose::Personalization]))
        .await
        .unwrap();
    let erased = app.erase(&person).await.unwrap();
    assert!(
        erased.rows_deleted >= 2,
        "consent row and key: {}",
        erased.rows_deleted
    );
    fineline_ledger::verify_receipt_for_subject(&erased.receipt, None, &person).unwrap();
    assert!(app.stored_consents(&person).await.unwrap().is_empty());
    assert!(app.database().events_for(&person).await.unwrap().is_empty());
    assert!(app.subject_keys(&person).await.unwrap().is_none());
    assert!(!app.internals().consents.read().unwrap().allowed(
        &person,
        Purpose::Personalization,
        Timestamp::now()
    ));
    assert!(matches!(
        app.erase(&person).await.unwrap_err(),
        AppError::NotFound(_)
    ));
}

/// Budgets are never overspent: 50 charges race for a budget of 10, and
/// exactly 10 are granted; the others are refused with what remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_charges_never_overspend_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let cost = Cost {
        nano_rho: 1_000,
        femto_delta: 0,
    };
    let total = Cost {
        nano_rho: 10 * cost.nano_rho,
        femto_delta: 0,
    };
    let period = fineline_app::budget::period_of(Timestamp::now());
    fineline_app::budget::set_total(&app, "a_test", &period, total)
        .await
        .unwrap();
    let app = Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            fineline_app::budget::charge_cost(&app, "a_test", cost, [i; 32]).await
        }));
    }
    let (mut granted, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => granted += 1,
            Err(AppError::BudgetExhausted { remaining, .. }) => {
                refused += 1;
                assert!(remaining.is_some_and(|r| r.remaining_nano_rho < cost.nano_rho));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((granted, refused), (10, 40));
    let left = fineline_app::budget::account(&app, "a_test", &period)
        .await
        .unwrap();
    assert_eq!(left.spent_nano_rho, total.nano_rho);
    let releases = fineline_app::budget::releases(&app, "a_test", &period)
        .await
        .unwrap();
    assert_eq!(releases.len(), 10, "each granted charge is in the history");
}

/// The pseudonym is keyed: the same raw id names the same person, another
/// raw id another one, and neither text appears in it.
#[tokio::test]
async fn raw_ids_become_keyed_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let a: Pseudonym = app.pseudonymize("ada@example.com");
    assert_eq!(a, app.pseudonymize("ada@example.com"));
    assert_ne!(a, app.pseudonymize("grace@example.com"));
    // Only `k<key id>_` and the digest's 64 hex digits: nothing of the raw
    // id (a hex digest may hold "ada" by chance, ~1.5% of keys, so the
    // check is on the form, not on a substring).
    let text = a.to_text();
    let (prefix, digest) = text.split_once('_').unwrap();
    assert_eq!(prefix, format!("k{}", a.key_id));
    assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!text.contains("@example.com"));
}

fn event(subject_id: &str, purpose: Purpose, at: Timestamp) -> fineline_app::ingest::IncomingEvent {
    fineline_app::ingest::IncomingEvent {
        subject_id: subject_id.into(),
        kind: fineline_core::EventKind::new("view").unwrap(),
        item: Some(fineline_core::ItemId::new("sku-1").unwrap()),
        properties: None,
        at,
        purpose,
    }
}

/// No event without consent: only the events whose person granted their
/// purpose at their time are stored; the others are refused by position
/// with the reason, and nothing of them reaches the database.
#[tokio::test]
async fn no_event_is_stored_without_consent_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let ada = app.pseudonymize("ada@example.com");
    let before_consent = Timestamp(Timestamp::now().millis() - 60_000);
    app.change_consent(ada, grant(&[Purpose::Personalization]))
        .await
        .unwrap();
    let now = Timestamp::now();
    let far_future = now.plus_millis(fineline_core::MAX_FUTURE_MS + 60_000);
    let done = app
        .ingest(vec![
            (0, event("ada@example.com", Purpose::Personalization, now)),
            (1, event("ada@example.com", Purpose::Analytics, now)),
            (
                2,
                event("ada@example.com", Purpose::Personalization, before_consent),
            ),
            (
                3,
                event("nobody@example.com", Purpose::Personalization, now),
            ),
            (
                4,
                event("ada@example.com", Purpose::Personalization, far_future),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(done.accepted, 1);
    let reasons: Vec<(usize, &str)> = done.refused.iter().map(|r| (r.index, r.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            (1, "no_consent"),
            (2, "no_consent"),
            (3, "no_consent"),
            (4, "future_timestamp")
        ]
    );
    let stored = app.database().events_for(&ada).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].purpose, Purpose::Personalization);
    let nobody = app.pseudonymize("nobody@example.com");
    assert!(app.database().events_for(&nobody).await.unwrap().is_empty());
}
