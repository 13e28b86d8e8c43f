//! Several processes copying into one dataset: their writer records, the
//! repairs asked for, and the compaction that keeps one row per
//! (person, event) after a repair copied rows a live writer wrote too.

use fineline_analytics::{
    AnalyticDataset, Capture, Catalogue, Consenting, CopyState, Marks, Options,
};
use fineline_insights::{DeclaredKeys, Dimension, Query};

const DAY: i64 = 86_400_000;

fn capture(person: u64, event: i64) -> Capture {
    Capture {
        person,
        at: 20_000 * DAY + (event % 3) * DAY,
        event,
        purpose: "analytics".into(),
        kind: "app_open".into(),
        item: Some("g-1".into()),
        region: Some("north".into()),
        h3_cell: None,
        location: false,
        value: Some(10),
    }
}

/// Rows per region over everyone, before noise.
async fn rows(dataset: &AnalyticDataset, people: &[u64]) -> i64 {
    let mut q = Query::app_insights(None);
    q.group_by = vec![Dimension::Region];
    q.bounds.max_groups = 100;
    q.bounds.max_rows_per_group = 1_000;
    let everyone = Consenting::new(people.iter().map(|&p| (p, false)));
    dataset
        .aggregate(
            &q,
            &DeclaredKeys::default(),
            &everyone,
            &Catalogue::default(),
            7,
        )
        .await
        .unwrap()
        .iter()
        .map(|g| g.count)
        .sum()
}

#[tokio::test]
async fn writers_and_repairs_read_back_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = AnalyticDataset::open_dir(dir.path(), Options::default())
        .await
        .unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Never);
    assert!(dataset.writers().await.unwrap().is_empty());

    dataset.writer_flushed("a1", 100).await.unwrap();
    dataset.writer_flushed("b2", 200).await.unwrap();
    dataset.writer_flushed("a1", 300).await.unwrap();
    let writers = dataset.writers().await.unwrap();
    let seen: Vec<(&str, i64)> = writers
        .iter()
        .map(|w| (w.id.as_str(), w.flushed_through))
        .collect();
    assert_eq!(seen, [("a1", 300), ("b2", 200)]);
    dataset.writer_gone("a1").await.unwrap();
    dataset.writer_gone("a1").await.unwrap(); // twice: already gone is fine
    assert_eq!(dataset.writers().await.unwrap().len(), 1);
    assert!(dataset.writer_flushed("../x", 1).await.is_err());

    // A repair deletes the requests it listed, not one made meanwhile.
    assert!(!dataset.repair_pending().await.unwrap());
    dataset.request_repair("b2 died").await.unwrap();
    let listed = dataset.repairs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reason, "b2 died");
    dataset.request_repair("c3 silent").await.unwrap();
    dataset.repaired(&listed).await.unwrap();
    let left = dataset.repairs().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].reason, "c3 silent");
    dataset.repaired(&left).await.unwrap();
    assert!(!dataset.repair_pending().await.unwrap());

    // "closed" is what the single-state version wrote on a clean stop.
    std::fs::write(dir.path().join("state/copy.txt"), b"closed").unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Filled);
    std::fs::write(dir.path().join("state/copy.txt"), b"running").unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Interrupted);
    dataset.set_copy_state(CopyState::Filled).await.unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Filled);
}

/// A repair copies every stored row again while a live writer appends
/// some of the same rows: the dedupe compaction keeps each once, and
/// marks recorded before the repair's clear still apply.
#[tokio::test]
async fn a_compaction_after_a_repair_keeps_each_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        buckets: 2,
        compress: true,
    };
    let dataset = AnalyticDataset::open_dir(dir.path(), opts).await.unwrap();
    let people: Vec<u64> = (1..=8).collect();
    let all: Vec<Capture> = people
        .iter()
        .flat_map(|&p| (0..5).map(move |e| capture(p, p as i64 * 100 + e)))
        .collect();
    dataset.append(&all).await.unwrap();
    assert_eq!(rows(&dataset, &people).await, 40);

    // Person 3 erased before the repair; the repair clears the files and
    // copies everything again, and a live writer's flush lands after the
    // clear with the last two rows of each person.
    dataset
        .record(&Marks {
            erased: [3].into(),
            ..Marks::default()
        })
        .await
        .unwrap();
    dataset.clear().await.unwrap();
    dataset.append(&all).await.unwrap();
    let late: Vec<Capture> = all.iter().filter(|c| c.event % 100 >= 3).cloned().collect();
    dataset.append(&late).await.unwrap();
    assert_eq!(
        rows(&dataset, &people).await,
        35 + 14,
        "counted twice until compacted"
    );

    // The dedupe pass: each (person, event) once, the erased person gone.
    let done = dataset.compact_with(16, true).await.unwrap();
    assert_eq!(done.duplicates_dropped, 14, "{done:?}");
    assert_eq!(done.rows_dropped, 5 + 2, "{done:?}");
    assert_eq!(rows(&dataset, &people).await, 35);
    // Nothing left to drop: a second pass rewrites nothing.
    let again = dataset.compact_with(16, true).await.unwrap();
    assert_eq!((again.partitions, again.duplicates_dropped), (0, 0));
    assert!(!dataset.stored_people().await.unwrap().contains(&3));
}
