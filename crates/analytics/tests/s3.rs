//! The dataset on an S3-compatible bucket: the same writes, answers, marks
//! and compaction as on a directory. Skipped unless `FINELINE_TEST_S3_URL`
//! (`s3://BUCKET/PREFIX`, credentials and endpoint in the `AWS_*`
//! variables) is set: `scripts/analytics-s3-test.sh` starts a local S3
//! server (moto) and runs this.

use fineline_analytics::{
    AnalyticDataset, Capture, Catalogue, Consenting, CopyState, Marks, Options,
};
use fineline_insights::{DeclaredKeys, Dimension, KeyValue, Query};

const DAY: i64 = 86_400_000;

fn capture(person: u64, day: i64, event: i64) -> Capture {
    Capture {
        person,
        at: 20_000 * DAY + day * DAY + 7,
        event,
        purpose: "analytics".into(),
        kind: "app_open".into(),
        item: None,
        region: Some(
            if person.is_multiple_of(2) {
                "north"
            } else {
                "south"
            }
            .into(),
        ),
        h3_cell: None,
        location: false,
        value: Some(3),
    }
}

async fn north(dataset: &AnalyticDataset, consenting: &Consenting) -> Option<(i64, i64)> {
    let mut q = Query::app_insights(None);
    q.group_by = vec![Dimension::Region];
    let groups = dataset
        .aggregate(
            &q,
            &DeclaredKeys::default(),
            consenting,
            &Catalogue::default(),
            1,
        )
        .await
        .unwrap();
    groups
        .iter()
        .find(|g| g.key.0 == vec![KeyValue::Region("north".into())])
        .map(|g| (g.count, g.distinct))
}

#[tokio::test]
async fn a_bucket_holds_the_dataset_as_a_directory_does() {
    let Ok(url) = std::env::var("FINELINE_TEST_S3_URL") else {
        eprintln!("skipped: FINELINE_TEST_S3_URL is not set");
        return;
    };
    let url = format!(
        "{}/{:016x}",
        url.trim_end_matches('/'),
        rand::random::<u64>()
    );
    let opts = Options {
        buckets: 2,
        compress: true,
    };
    let dataset = AnalyticDataset::open_url(&url, opts).await.unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Never);
    let people: Vec<u64> = (1..=6).collect();
    for round in 0..2 {
        let rows: Vec<Capture> = people
            .iter()
            .flat_map(|&p| {
                (0..2).map(move |d| capture(p, d, (round * 100 + p * 10 + d as u64) as i64))
            })
            .collect();
        dataset.append(&rows).await.unwrap();
    }
    let everyone = Consenting::new(people.iter().map(|&p| (p, false)));
    assert_eq!(north(&dataset, &everyone).await, Some((12, 3)));

    // Person 2 erased: out of answers at once, out of the objects after compaction.
    dataset
        .record(&Marks {
            erased: [2].into(),
            ..Marks::default()
        })
        .await
        .unwrap();
    assert_eq!(north(&dataset, &everyone).await, Some((8, 2)));
    let done = dataset.compact(1).await.unwrap();
    assert_eq!((done.rows_dropped, done.marks_applied), (4, 1));
    let stored = dataset.stored_people().await.unwrap();
    assert!(!stored.contains(&2) && stored.contains(&4), "{stored:?}");

    // Reopened: the dictionary and the copy state read back from the bucket.
    dataset.set_copy_state(CopyState::Filled).await.unwrap();
    drop(dataset);
    let dataset = AnalyticDataset::open_url(&url, opts).await.unwrap();
    assert_eq!(dataset.copy_state().await.unwrap(), CopyState::Filled);
    assert_eq!(north(&dataset, &everyone).await, Some((8, 2)));
    dataset.clear().await.unwrap();
    assert!(dataset.files().await.unwrap().is_empty());
}
