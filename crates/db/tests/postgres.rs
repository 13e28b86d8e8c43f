//! PostgreSQL specifics (skipped unless `FINELINE_TEST_DATABASE_URL` is set).

use std::time::Instant;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{NewEvent, PostgresDatabase};

#[tokio::test]
async fn bulk_ingestion_and_reconnect() {
    let Ok(url) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
        eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped");
        return;
    };
    let database = PostgresDatabase::open_isolated(&url).await.unwrap();
    let n = 20_000;
    let batch: Vec<NewEvent> = (0..n)
        .map(|i| NewEvent {
            subject: Pseudonym::new(1, [(i % 251) as u8; 32]),
            kind: EventKind::new("view").unwrap(),
            item: Some(ItemId::new(&format!("sku-{}", i % 1000)).unwrap()),
            purpose: Purpose::Analytics,
            at: Timestamp(1_700_000_000_000 + i as i64),
            sealed_properties: vec![7; 60],
        })
        .collect();
    let started = Instant::now();
    for chunk in batch.chunks(5_000) {
        database.put_events(chunk.to_vec()).await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("postgres bulk insert: {rate:.0} events/s");
    assert_eq!(database.count_events().await.unwrap(), n as u64);

    // Migrations are idempotent: a second store on the same schema sees the data.
    let again_url = database.isolated_url(&url).unwrap();
    let again = PostgresDatabase::connect(&again_url).await.unwrap();
    assert_eq!(again.count_events().await.unwrap(), n as u64);
    database.drop_isolated().await.unwrap();
}
