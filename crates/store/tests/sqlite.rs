//! Embedded-backend specifics: data outlives the process, and bulk
//! ingestion is fast enough.

use std::time::Instant;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_store::prelude::*;
use fineline_store::{NewEvent, SqliteStore, WriteOp, WriteSet};

fn events(n: usize) -> Vec<NewEvent> {
    (0..n)
        .map(|i| NewEvent {
            subject: Pseudonym::new(1, [(i % 251) as u8; 32]),
            kind: EventKind::new("view").unwrap(),
            item: Some(ItemId::new(&format!("sku-{}", i % 1000)).unwrap()),
            purpose: Purpose::Analytics,
            at: Timestamp(1_700_000_000_000 + i as i64),
            sealed_properties: vec![7; 60],
        })
        .collect()
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("fineline.db");
    let ids = {
        let store = SqliteStore::open(&path).await.unwrap();
        store
            .put_policy(1, Timestamp(1), b"p".to_vec())
            .await
            .unwrap();
        store
            .apply(WriteSet::from(WriteOp::AppendLedger {
                index: 0,
                leaf_hash: [9; 32],
                entry: b"e".to_vec(),
            }))
            .await
            .unwrap();
        store.put_events(events(10)).await.unwrap()
    };
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.policies().await.unwrap().len(), 1);
    assert_eq!(store.ledger_leaves().await.unwrap(), vec![(0, [9; 32])]);
    assert_eq!(store.count_events().await.unwrap(), 10);
    let more = store.put_events(events(1)).await.unwrap();
    assert!(more[0] > *ids.last().unwrap());
}

#[tokio::test]
async fn bulk_ingestion_is_one_transaction_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("fineline.db"))
        .await
        .unwrap();
    let n = 50_000;
    let batch = events(n);
    let started = Instant::now();
    for chunk in batch.chunks(5_000) {
        store.put_events(chunk.to_vec()).await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("sqlite bulk insert: {rate:.0} events/s");
    assert_eq!(store.count_events().await.unwrap(), n as u64);
}
