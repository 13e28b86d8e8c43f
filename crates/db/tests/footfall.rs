//! The footfall area on both backends (PostgreSQL when
//! `FINELINE_TEST_DATABASE_URL` is set).

#[macro_use]
mod common;

use std::sync::Arc;

use fineline_core::{Pseudonym, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{DatabaseError, FootfallStoreRow, VisitSessionRow, WriteOp, WriteSet};

fn device(period: u32, n: u8) -> Pseudonym {
    Pseudonym::new(period, [n; 32])
}

fn session(store: &str, dev: Pseudonym, first: i64, is_visit: bool) -> VisitSessionRow {
    VisitSessionRow {
        store_id: store.into(),
        device: dev,
        randomized: dev.digest[0] % 2 == 1,
        first: Timestamp(first),
        last: Timestamp(first + 600_000),
        max_rssi: -61,
        sightings: 12,
        is_visit,
        opt_out_digest: None,
    }
}

async fn stores_sessions_and_opt_outs(s: Arc<dyn Database>) {
    assert!(s.footfall_stores().await.unwrap().is_empty());
    let row = |id: &str| FootfallStoreRow {
        store_id: id.into(),
        config: format!("{{\"store_id\":\"{id}\"}}").into_bytes(),
        created_at: Timestamp(5),
    };
    s.put_footfall_store(row("b-store")).await.unwrap();
    s.put_footfall_store(row("a-store")).await.unwrap();
    assert!(matches!(
        s.put_footfall_store(row("a-store")).await,
        Err(DatabaseError::Conflict(_))
    ));
    let ids: Vec<_> = s
        .footfall_stores()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.store_id)
        .collect();
    assert_eq!(ids, ["a-store", "b-store"]);

    let sessions = vec![
        session("a-store", device(1, 1), 1_000, true),
        session("a-store", device(1, 2), 2_000, false),
        session("b-store", device(1, 1), 3_000, true),
        session("a-store", device(0, 3), 4_000, true),
    ];
    s.put_visit_sessions(sessions.clone()).await.unwrap();
    // Re-persisting the same sessions changes nothing.
    s.put_visit_sessions(sessions[..1].to_vec()).await.unwrap();
    let a = s
        .visit_sessions("a-store", Timestamp(0), Timestamp(10_000))
        .await
        .unwrap();
    assert_eq!(
        a,
        vec![
            sessions[0].clone(),
            sessions[1].clone(),
            sessions[3].clone()
        ]
    );
    let window = s
        .visit_sessions("a-store", Timestamp(1_500), Timestamp(4_000))
        .await
        .unwrap();
    assert_eq!(window, vec![sessions[1].clone()]);
    assert_eq!(s.visit_sessions_of(&device(1, 1)).await.unwrap().len(), 2);

    // An opt-out: digest and deletion of the device's sessions land together.
    let out = s
        .apply(
            WriteSet::new()
                .with(WriteOp::PutDeviceOptOut {
                    digest: [9; 32],
                    at: Timestamp(7),
                })
                .with(WriteOp::PutDeviceOptOut {
                    digest: [9; 32],
                    at: Timestamp(8),
                })
                .with(WriteOp::DeleteDeviceSessions(vec![
                    device(1, 1),
                    device(2, 1),
                ])),
        )
        .await
        .unwrap();
    assert_eq!(out.rows_deleted, 2);
    assert!(s.visit_sessions_of(&device(1, 1)).await.unwrap().is_empty());
    assert_eq!(s.device_opt_outs().await.unwrap(), vec![[9u8; 32]]);
    // A session sessionized before the opt-out, written after it (by a
    // replica not yet told): refused by its digest; another device's lands.
    let late = VisitSessionRow {
        opt_out_digest: Some([9; 32]),
        ..session("a-store", device(1, 1), 5_000, true)
    };
    let other = VisitSessionRow {
        opt_out_digest: Some([8; 32]),
        ..session("b-store", device(1, 5), 5_000, true)
    };
    s.put_visit_sessions(vec![late, other.clone()])
        .await
        .unwrap();
    assert!(s.visit_sessions_of(&device(1, 1)).await.unwrap().is_empty());
    assert_eq!(
        s.visit_sessions_of(&device(1, 5)).await.unwrap(),
        vec![VisitSessionRow {
            opt_out_digest: None,
            ..other
        }]
    );

    // Retiring key period 1 deletes the sessions keyed in period 0 only.
    let out = s
        .apply(WriteOp::DeleteVisitSessionsBefore { period: 1 }.into())
        .await
        .unwrap();
    assert_eq!(out.rows_deleted, 1);
    let left = s
        .visit_sessions("a-store", Timestamp(0), Timestamp(10_000))
        .await
        .unwrap();
    assert_eq!(left, vec![sessions[1].clone()]);
}

async fn failed_write_set_keeps_no_sessions(s: Arc<dyn Database>) {
    let row = FootfallStoreRow {
        store_id: "x".into(),
        config: b"{}".to_vec(),
        created_at: Timestamp(1),
    };
    s.put_footfall_store(row.clone()).await.unwrap();
    let set = WriteSet::new()
        .with(WriteOp::PutVisitSessions(vec![session(
            "x",
            device(1, 4),
            1,
            true,
        )]))
        .with(WriteOp::PutFootfallStore(row));
    assert!(s.apply(set).await.is_err());
    assert!(s.visit_sessions_of(&device(1, 4)).await.unwrap().is_empty());
}

both_backends!(
    stores_sessions_and_opt_outs,
    failed_write_set_keeps_no_sessions
);
