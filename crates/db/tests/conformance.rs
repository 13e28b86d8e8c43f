//! One behaviour, two backends: every test here runs against SQLite and,
//! when `FINELINE_TEST_DATABASE_URL` is set, against PostgreSQL in a fresh
//! schema of its own.

#[macro_use]
mod common;

use std::sync::Arc;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{
    ConsentRow, DatabaseError, EventScan, InterestRow, ItemRow, LegacyKeyRow, NewEvent, WriteOp,
    WriteSet,
};

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

fn event(who: Pseudonym, purpose: Purpose, at: i64) -> NewEvent {
    NewEvent {
        subject: who,
        kind: EventKind::new("view").unwrap(),
        item: Some(ItemId::new(&format!("sku-{at}")).unwrap()),
        purpose,
        at: Timestamp(at),
        sealed_properties: vec![at as u8; 40],
    }
}

fn consent(who: Pseudonym, id: &str, purpose: Purpose, at: i64) -> ConsentRow {
    ConsentRow {
        record_id: id.to_string(),
        subject: who,
        purpose,
        state: "granted".into(),
        policy_version: 1,
        source: "privacy_center".into(),
        at: Timestamp(at),
        body: b"{}".to_vec(),
    }
}

fn keys(who: Pseudonym) -> LegacyKeyRow {
    LegacyKeyRow {
        subject: who,
        wrapped_data_key: vec![1; 60],
        commitment_salt: vec![2; 32],
    }
}

fn interest(who: Pseudonym, category: &str, weight: f64) -> InterestRow {
    InterestRow {
        subject: who,
        category: category.into(),
        weight,
        removed: false,
    }
}

fn append(index: u64) -> WriteOp {
    WriteOp::AppendLedger {
        index,
        leaf_hash: [index as u8; 32],
        entry: format!("entry {index}").into_bytes(),
    }
}

async fn round_trips(s: Arc<dyn Database>) {
    s.put_policy(1, Timestamp(10), b"v1".to_vec())
        .await
        .unwrap();
    s.put_policy(2, Timestamp(20), b"v2".to_vec())
        .await
        .unwrap();
    assert!(matches!(
        s.put_policy(2, Timestamp(30), b"again".to_vec()).await,
        Err(DatabaseError::Conflict(_))
    ));
    let policies = s.policies().await.unwrap();
    assert_eq!(
        policies.iter().map(|p| p.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(policies[1].body, b"v2");

    let (a, b) = (subject(1), subject(2));
    let c1 = consent(a, "r2", Purpose::Analytics, 5);
    let c2 = consent(a, "r1", Purpose::Personalization, 7);
    let c3 = consent(b, "r3", Purpose::Location, 1);
    let set = WriteSet::new()
        .with(WriteOp::PutLegacySubjectKeys(keys(a)))
        .with(WriteOp::PutConsent(c1.clone()))
        .with(WriteOp::PutConsent(c2.clone()))
        .with(WriteOp::PutConsent(c3.clone()));
    s.apply(set).await.unwrap();
    assert_eq!(
        s.consents_for(&a).await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    assert_eq!(
        s.all_consents().await.unwrap(),
        vec![c2.clone(), c1.clone(), c3.clone()]
    );
    let page = s.consents_page(None, 2).await.unwrap();
    assert_eq!(page, vec![c2.clone(), c1.clone()]);
    let cursor = fineline_db::ConsentCursor {
        subject: a,
        record_id: "r2".into(),
    };
    assert_eq!(s.consents_page(Some(cursor), 10).await.unwrap(), vec![c3]);

    assert_eq!(s.legacy_subject_keys().await.unwrap(), vec![keys(a)]);

    let item = ItemRow {
        item: ItemId::new("sku-1").unwrap(),
        category: "tea".into(),
        title: "Green tea".into(),
        repeatable: true,
    };
    s.put_item(item.clone()).await.unwrap();
    let renamed = ItemRow {
        title: "Sencha".into(),
        ..item.clone()
    };
    s.put_item(renamed.clone()).await.unwrap();
    assert_eq!(s.item(&item.item).await.unwrap(), Some(renamed.clone()));
    assert_eq!(s.item(&ItemId::new("nope").unwrap()).await.unwrap(), None);
    assert_eq!(s.items().await.unwrap(), vec![renamed]);

    s.put_interest(interest(a, "tea", 0.75)).await.unwrap();
    s.put_interest(interest(a, "coffee", 0.5)).await.unwrap();
    s.remove_interest(&a, "tea").await.unwrap();
    s.remove_interest(&a, "wine").await.unwrap();
    let got = s.interests_for(&a).await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[0].category.as_str(), got[0].removed),
        ("coffee", false)
    );
    assert_eq!(
        (got[1].category.as_str(), got[1].weight, got[1].removed),
        ("tea", 0.75, true)
    );
    assert_eq!((got[2].category.as_str(), got[2].removed), ("wine", true));

    assert_eq!(s.setting("x").await.unwrap(), None);
    s.put_setting("x", b"1".to_vec()).await.unwrap();
    s.put_setting("x", b"2".to_vec()).await.unwrap();
    assert_eq!(s.setting("x").await.unwrap(), Some(b"2".to_vec()));
    s.put_setting("key/b", b"B".to_vec()).await.unwrap();
    s.put_setting("key/a", b"A".to_vec()).await.unwrap();
    s.put_setting("keys", b"not under key/".to_vec())
        .await
        .unwrap();
    assert_eq!(
        s.settings_under("key/").await.unwrap(),
        vec![
            ("key/a".to_string(), b"A".to_vec()),
            ("key/b".to_string(), b"B".to_vec())
        ]
    );
    assert!(s.settings_under("%").await.unwrap().is_empty());
    // Deleting removes one setting; deleting an absent one changes nothing.
    for name in ["key/a", "key/a", "never-set"] {
        s.apply(WriteSet::from(WriteOp::DeleteSetting { name: name.into() }))
            .await
            .unwrap();
    }
    assert_eq!(s.setting("key/a").await.unwrap(), None);
    assert_eq!(s.setting("key/b").await.unwrap(), Some(b"B".to_vec()));
}

async fn events_round_trip_and_scan(s: Arc<dyn Database>) {
    let (a, b) = (subject(1), subject(2));
    let mut batch: Vec<NewEvent> = (0..250)
        .map(|i| event(if i % 2 == 0 { a } else { b }, Purpose::Analytics, i))
        .collect();
    batch[3].item = None;
    batch[4].purpose = Purpose::Location;
    let ids = s.put_events(batch.clone()).await.unwrap();
    assert_eq!(ids.len(), 250);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids follow input order"
    );
    assert_eq!(s.count_events().await.unwrap(), 250);

    let of_b = s.events_for(&b).await.unwrap();
    assert_eq!(of_b.len(), 125);
    assert_eq!(of_b[1].id, ids[3]);
    assert_eq!(of_b[1].item, None);
    assert_eq!(of_b[1].sealed_properties, batch[3].sealed_properties);
    assert_eq!(of_b[1].kind.as_str(), "view");

    // Paged scan over a time window and one purpose.
    let scan = EventScan {
        purpose: Some(Purpose::Analytics),
        from: Timestamp(2),
        to: Timestamp(200),
    };
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = s.scan_events(scan, after, 37).await.unwrap();
        assert!(page.rows.len() <= 37);
        seen.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Each event once, in whatever order the store pages in.
    let mut ats: Vec<i64> = seen.iter().map(|e| e.at.0).collect();
    ats.sort();
    let expected: Vec<i64> = (2..200).filter(|&i| i != 4).collect();
    assert_eq!(ats, expected);
    assert_eq!(
        s.scan_events(EventScan::all(), None, 1000)
            .await
            .unwrap()
            .rows
            .len(),
        250
    );

    assert!(!s.delete_event(&b, ids[0]).await.unwrap(), "not b's event");
    assert!(s.delete_event(&a, ids[0]).await.unwrap());
    assert!(!s.delete_event(&a, ids[0]).await.unwrap());
    assert_eq!(s.count_events().await.unwrap(), 249);

    // Ids are never reused, even after deleting the newest.
    let last = *ids.last().unwrap();
    assert!(s.delete_event(&b, last).await.unwrap());
    let more = s
        .put_events(vec![event(a, Purpose::Analytics, 1)])
        .await
        .unwrap();
    assert!(more[0] > last);
    assert_eq!(s.put_events(Vec::new()).await.unwrap(), Vec::<i64>::new());
}

async fn duplicate_ledger_index_leaves_nothing_written(s: Arc<dyn Database>) {
    let a = subject(1);
    s.apply(WriteSet::from(append(0))).await.unwrap();
    let set = WriteSet::new()
        .with(WriteOp::PutLegacySubjectKeys(keys(a)))
        .with(WriteOp::PutConsent(consent(a, "r1", Purpose::Analytics, 1)))
        .with(WriteOp::PutEvents(vec![event(a, Purpose::Analytics, 1)]))
        .with(WriteOp::PutSetting {
            name: "n".into(),
            value: vec![1],
        })
        .with(append(1))
        .with(WriteOp::PutTreeHead {
            size: 2,
            bytes: b"head".to_vec(),
        })
        .with(append(1));
    assert!(matches!(
        s.apply(set).await,
        Err(DatabaseError::Conflict(_))
    ));
    assert!(s.legacy_subject_keys().await.unwrap().is_empty());
    assert!(s.consents_for(&a).await.unwrap().is_empty());
    assert_eq!(s.count_events().await.unwrap(), 0);
    assert_eq!(s.setting("n").await.unwrap(), None);
    assert_eq!(s.ledger_size().await.unwrap(), 1);
    assert_eq!(s.latest_tree_head().await.unwrap(), None);

    // A gap is refused too: the ledger stays dense.
    assert!(matches!(
        s.apply(WriteSet::from(append(5))).await,
        Err(DatabaseError::Conflict(_))
    ));
    assert!(matches!(
        s.apply(WriteSet::from(append(0))).await,
        Err(DatabaseError::Conflict(_))
    ));

    let ok = WriteSet::new()
        .with(append(1))
        .with(append(2))
        .with(WriteOp::PutTreeHead {
            size: 3,
            bytes: b"head3".to_vec(),
        })
        .with(WriteOp::PutTreeHead {
            size: 1,
            bytes: b"head1".to_vec(),
        });
    s.apply(ok).await.unwrap();
    assert_eq!(s.ledger_size().await.unwrap(), 3);
    let leaves = s.ledger_leaves().await.unwrap();
    assert_eq!(leaves, vec![(0, [0; 32]), (1, [1; 32]), (2, [2; 32])]);
    assert_eq!(s.ledger_entry(2).await.unwrap(), Some(b"entry 2".to_vec()));
    assert_eq!(s.ledger_entry(3).await.unwrap(), None);
    assert_eq!(
        s.latest_tree_head().await.unwrap(),
        Some((3, b"head3".to_vec()))
    );
}

async fn erasure_removes_every_row_of_the_subject_only(s: Arc<dyn Database>) {
    let (a, b) = (subject(1), subject(2));
    let mut set = WriteSet::new();
    for who in [a, b] {
        set.push(WriteOp::PutLegacySubjectKeys(keys(who)));
        set.push(WriteOp::PutConsent(consent(
            who,
            &format!("r{who}"),
            Purpose::Analytics,
            1,
        )));
        set.push(WriteOp::PutEvents(vec![
            event(who, Purpose::Analytics, 1),
            event(who, Purpose::Personalization, 2),
        ]));
        set.push(WriteOp::PutInterest(interest(who, "tea", 1.0)));
    }
    s.apply(set).await.unwrap();
    let out = s
        .apply(
            WriteSet::new()
                .with(WriteOp::EraseSubject(a))
                .with(append(0)),
        )
        .await
        .unwrap();
    assert_eq!(
        out.rows_deleted, 5,
        "2 events, 1 consent, 1 interest, 1 key row"
    );
    assert!(s.events_for(&a).await.unwrap().is_empty());
    assert!(s.consents_for(&a).await.unwrap().is_empty());
    assert!(s.interests_for(&a).await.unwrap().is_empty());
    assert_eq!(s.legacy_subject_keys().await.unwrap(), vec![keys(b)]);
    assert!(s
        .scan_events(EventScan::all(), None, 100)
        .await
        .unwrap()
        .rows
        .iter()
        .all(|e| e.subject == b));
    assert_eq!(s.events_for(&b).await.unwrap().len(), 2);
    assert_eq!(s.consents_for(&b).await.unwrap().len(), 1);
    assert_eq!(s.interests_for(&b).await.unwrap().len(), 1);
    assert_eq!(s.ledger_size().await.unwrap(), 1);
}

async fn legacy_key_rows_leave_by_subject_and_nothing_else_goes(s: Arc<dyn Database>) {
    let (a, b) = (subject(1), subject(2));
    let mut set = WriteSet::new();
    for who in [b, a] {
        set.push(WriteOp::PutLegacySubjectKeys(keys(who)));
        set.push(WriteOp::PutConsent(consent(
            who,
            &format!("r{who}"),
            Purpose::Analytics,
            1,
        )));
    }
    s.apply(set).await.unwrap();
    assert_eq!(
        s.legacy_subject_keys().await.unwrap(),
        vec![keys(a), keys(b)]
    );
    let out = s
        .apply(WriteSet::from(WriteOp::DropLegacySubjectKeys(vec![
            a,
            subject(9),
        ])))
        .await
        .unwrap();
    assert_eq!(out.rows_deleted, 1);
    assert_eq!(s.legacy_subject_keys().await.unwrap(), vec![keys(b)]);
    assert_eq!(
        s.consents_for(&a).await.unwrap().len(),
        1,
        "only the key row goes"
    );
}

async fn retention_sweep_deletes_only_old_events_of_the_purpose(s: Arc<dyn Database>) {
    let a = subject(1);
    let events = vec![
        event(a, Purpose::Location, 10),
        event(a, Purpose::Location, 99),
        event(a, Purpose::Location, 100),
        event(a, Purpose::Analytics, 10),
    ];
    s.put_events(events).await.unwrap();
    let n = s
        .delete_events_before(Purpose::Location, Timestamp(100))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let left: Vec<(Purpose, i64)> = s
        .events_for(&a)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.purpose, e.at.0))
        .collect();
    assert_eq!(left, [(Purpose::Location, 100), (Purpose::Analytics, 10)]);
}

async fn concurrent_writers_and_readers(s: Arc<dyn Database>) {
    let mut tasks = Vec::new();
    for t in 0..8u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                s.put_events(vec![event(subject(t), Purpose::Analytics, i); 5])
                    .await
                    .unwrap();
                s.events_for(&subject(t)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.count_events().await.unwrap(), 8 * 20 * 5);
}

both_backends!(
    round_trips,
    events_round_trip_and_scan,
    duplicate_ledger_index_leaves_nothing_written,
    erasure_removes_every_row_of_the_subject_only,
    legacy_key_rows_leave_by_subject_and_nothing_else_goes,
    retention_sweep_deletes_only_old_events_of_the_purpose,
    concurrent_writers_and_readers,
);
