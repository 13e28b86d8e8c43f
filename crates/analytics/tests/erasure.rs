//! An erased person is out of every answer at once (the consenting set), and
//! out of the Parquet bytes after compaction.

use std::collections::HashSet;

use fineline_analytics::{
    AnalyticDataset, Capture, Catalogue, Consenting, GroupAggregate, Marks, Options,
};
use fineline_insights::{DeclaredKeys, Dimension, KeyValue, Query};

const DAY: i64 = 86_400_000;
/// Person numbers with no byte in common with small integers, so finding
/// their 8 bytes in a file means finding them.
const BASE: u64 = 0x5EC7_0A1B_2C3D_4E00;

fn capture(person: u64, day: i64, region: &str) -> Capture {
    Capture {
        person,
        at: 20_000 * DAY + day * DAY + 3_600_000,
        event: 1,
        purpose: "analytics".into(),
        kind: "app_open".into(),
        item: Some("g-1".into()),
        region: Some(region.into()),
        h3_cell: None,
        location: false,
        value: Some(100),
    }
}

fn all_files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn holds(files: &[Vec<u8>], person: u64) -> bool {
    let (le, be) = (person.to_le_bytes(), person.to_be_bytes());
    files
        .iter()
        .any(|f| f.windows(8).any(|w| w == le || w == be))
}

async fn counts(store: &AnalyticDataset, consenting: &Consenting) -> Vec<GroupAggregate> {
    let mut q = Query::app_insights(None);
    q.group_by = vec![Dimension::Region];
    store
        .aggregate(
            &q,
            &DeclaredKeys::default(),
            consenting,
            &Catalogue::default(),
            7,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn erased_people_are_out_of_answers_at_once_and_out_of_files_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    // Uncompressed, so the bytes of a person number are visible if present.
    let opts = Options {
        buckets: 2,
        compress: false,
    };
    let store = AnalyticDataset::open_dir(dir.path(), opts).await.unwrap();
    let people: Vec<u64> = (0..6).map(|i| BASE + i).collect();
    // Three appends over two days: several files per partition, as
    // continuous capture leaves them.
    for round in 0..3 {
        let batch: Vec<Capture> = people
            .iter()
            .enumerate()
            .flat_map(|(i, &p)| {
                let region = if i % 3 == 0 { "north" } else { "south" };
                (0..2).map(move |d| capture(p, d, region))
            })
            .collect();
        assert!(store.append(&batch).await.unwrap() > 0, "round {round}");
    }
    let erased: HashSet<u64> = [people[0], people[3]].into();
    let before = all_files(dir.path());
    for p in &erased {
        assert!(holds(&before, *p), "the check must see a stored person");
    }

    // At once: the consenting set no longer has them, and the store's mark
    // takes them out of answers even for a caller whose set still does.
    let everyone = Consenting::new(people.iter().map(|&p| (p, false)));
    let remaining = Consenting::new(
        people
            .iter()
            .filter(|p| !erased.contains(p))
            .map(|&p| (p, false)),
    );
    let all = counts(&store, &everyone).await;
    let after_erasure = counts(&store, &remaining).await;
    store
        .record(&Marks {
            erased: erased.iter().copied().collect(),
            ..Marks::default()
        })
        .await
        .unwrap();
    assert_eq!(counts(&store, &everyone).await, after_erasure);
    let north = |g: &[GroupAggregate]| {
        g.iter()
            .find(|g| g.key.0 == vec![KeyValue::Region("north".into())])
            .map(|g| (g.count, g.distinct))
    };
    assert_eq!(
        north(&all),
        Some((12, 2)),
        "two north people, 6 events each"
    );
    assert_eq!(north(&after_erasure), None, "both north people erased");

    // Only the marks make partitions worth rewriting here (no merge bound).
    let done = store.compact(usize::MAX).await.unwrap();
    assert_eq!(done.rows_dropped, 2 * 6);
    assert_eq!(done.marks_applied, 1);
    assert!(store.pending_marks().await.unwrap().0.is_empty());
    let after = all_files(dir.path());
    for p in &erased {
        assert!(
            !holds(&after, *p),
            "person {p:#x} still in the Parquet bytes"
        );
    }
    for p in people.iter().filter(|p| !erased.contains(p)) {
        assert!(holds(&after, *p), "compaction lost person {p:#x}");
    }
    // One file per partition now, and the same answers for those who remain.
    assert_eq!(store.files().await.unwrap().len(), 2 * 2);
    assert_eq!(counts(&store, &remaining).await, after_erasure);
    assert_eq!(counts(&store, &everyone).await, after_erasure);

    // A reopened store reads its dictionary back: the same answers.
    drop(store);
    let store = AnalyticDataset::open_dir(dir.path(), opts).await.unwrap();
    assert_eq!(counts(&store, &remaining).await, after_erasure);
}
