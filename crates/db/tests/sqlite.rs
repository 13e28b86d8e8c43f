//! Embedded-backend specifics: data outlives the process, and bulk
//! ingestion is fast enough.

use std::time::Instant;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{NewEvent, SqliteDatabase, WriteOp, WriteSet};

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
        let database = SqliteDatabase::open(&path).await.unwrap();
        database
            .put_policy(1, Timestamp(1), b"p".to_vec())
            .await
            .unwrap();
        database
            .apply(WriteSet::from(WriteOp::AppendLedger {
                index: 0,
                leaf_hash: [9; 32],
                entry: b"e".to_vec(),
            }))
            .await
            .unwrap();
        database.put_events(events(10)).await.unwrap()
    };
    let database = SqliteDatabase::open(&path).await.unwrap();
    assert_eq!(database.policies().await.unwrap().len(), 1);
    assert_eq!(database.ledger_leaves().await.unwrap(), vec![(0, [9; 32])]);
    assert_eq!(database.count_events().await.unwrap(), 10);
    let more = database.put_events(events(1)).await.unwrap();
    assert!(more[0] > *ids.last().unwrap());
}

#[tokio::test]
async fn bulk_ingestion_is_one_transaction_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(dir.path().join("fineline.db"))
        .await
        .unwrap();
    let n = 50_000;
    let batch = events(n);
    let started = Instant::now();
    for chunk in batch.chunks(5_000) {
        database.put_events(chunk.to_vec()).await.unwrap();
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    eprintln!("sqlite bulk insert: {rate:.0} events/s");
    assert_eq!(database.count_events().await.unwrap(), n as u64);
}

/// Child half of `acknowledged_writes_survive_sigkill`: writes batches
/// forever, printing each acknowledged id, until killed.
async fn write_until_killed(path: &str) {
    use std::io::Write;
    let database = SqliteDatabase::open(path).await.unwrap();
    let mut index = database.ledger_size().await.unwrap();
    loop {
        let set =
            WriteSet::new()
                .with(WriteOp::PutEvents(events(100)))
                .with(WriteOp::AppendLedger {
                    index,
                    leaf_hash: [1; 32],
                    entry: b"batch".to_vec(),
                });
        let out = database.apply(set).await.unwrap();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ack {} {index}", out.event_ids.last().unwrap()).unwrap();
        stdout.flush().unwrap();
        index += 1;
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    use std::io::BufRead;
    if let Ok(path) = std::env::var("FINELINE_STORE_CHILD_DB") {
        return write_until_killed(&path).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fineline.db");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "acknowledged_writes_survive_sigkill",
            "--nocapture",
        ])
        .env("FINELINE_STORE_CHILD_DB", &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_ack = None;
    for line in lines {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ack ") {
            let (id, index) = rest.split_once(' ').unwrap();
            last_ack = Some((id.parse::<i64>().unwrap(), index.parse::<u64>().unwrap()));
            if index == "30" {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no checkpoint.
    child.wait().unwrap();
    let (last_id, last_index) = last_ack.expect("child acknowledged writes");
    let database = SqliteDatabase::open(&path).await.unwrap();
    let size = database.ledger_size().await.unwrap();
    assert!(size > last_index, "ledger lost acknowledged entries");
    assert_eq!(
        database.count_events().await.unwrap(),
        size * 100,
        "batches are whole"
    );
    let all = database
        .scan_events(fineline_db::EventScan::all(), None, 1_000_000)
        .await
        .unwrap()
        .rows;
    assert!(
        all.iter().any(|e| e.id == last_id),
        "the last acknowledged event is stored"
    );
}

/// An erasure rewrites the pages of one person's events, not a page per
/// event: settled events are stored side by side by person, however they
/// arrived, and only the recent tail is in arrival order. 200 people, 110
/// interleaved events each (22,000: most of them get moved). In
/// arrival order with a per-person index over all events, erasing one of
/// them wrote a page per event and per index leaf (113 pages; 27 now).
#[tokio::test]
async fn erasure_deletes_one_contiguous_range() {
    let dir = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(dir.path().join("fineline.db"))
        .await
        .unwrap();
    let people: Vec<Pseudonym> = (0..200u8).map(|i| Pseudonym::new(1, [i; 32])).collect();
    for round in 0..110 {
        let batch = people
            .iter()
            .map(|&subject| NewEvent {
                subject,
                kind: EventKind::new("view").unwrap(),
                item: Some(ItemId::new(&format!("sku-{round}")).unwrap()),
                purpose: Purpose::Personalization,
                at: Timestamp(1_700_000_000_000 + round),
                sealed_properties: vec![7; 60],
            })
            .collect();
        database.put_events(batch).await.unwrap();
    }
    database.checkpoint_truncate().await.unwrap();
    let before = database.erasure_wal_frames();
    let out = database
        .apply(WriteSet::from(WriteOp::EraseSubject(people[77])))
        .await
        .unwrap();
    assert_eq!(out.rows_deleted, 110);
    let pages = database.erasure_wal_frames() - before;
    assert!(pages <= 30, "one erasure wrote {pages} pages");
    assert!(database.events_for(&people[77]).await.unwrap().is_empty());
    assert_eq!(database.events_for(&people[78]).await.unwrap().len(), 110);
}
