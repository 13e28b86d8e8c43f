//! What a query does when the Ballista cluster is not there to answer it:
//! it fails as `AnalyticsError::Cluster` (503 `analytics_unavailable` at
//! the API), within the deployment's deadline, rather than hang. The
//! answers a running cluster gives are held to the in-process ones by
//! tests/same_answers.rs and fineline-app's tests/analytics.rs, which
//! scripts/ballista.sh runs against a scheduler and two executors.

use std::time::{Duration, Instant};

use fineline_analytics::{
    AnalyticDataset, AnalyticsError, Capture, Catalogue, Consenting, Engine, GroupAggregate,
    Options,
};
use fineline_insights::{DeclaredKeys, Dimension, Filter, Metric, Query};

const DAY: i64 = 86_400_000;

fn rows() -> Vec<Capture> {
    (0..200)
        .map(|i| Capture {
            person: 1000 + i % 20,
            at: 20_100 * DAY + i as i64 * 60_000,
            event: i as i64,
            purpose: "analytics".into(),
            kind: "app_open".into(),
            item: None,
            region: Some(["north", "south"][i as usize % 2].into()),
            h3_cell: None,
            location: false,
            value: None,
        })
        .collect()
}

fn query() -> Query {
    Query {
        metric: Metric::Count,
        event_types: vec!["app_open".into()],
        filters: vec![Filter::TimeRange {
            from: 20_100 * DAY,
            to: 20_102 * DAY,
        }],
        group_by: vec![Dimension::Region],
        cost_nano_rho: None,
        mechanism: fineline_insights::Mechanism::Gaussian,
        bounds: fineline_insights::Bounds {
            max_groups: 2,
            max_rows_per_group: 5,
        },
        min_subjects: None,
    }
}

/// Asks `query()` of the rows written at `location` on `engine`.
async fn ask(
    location: &str,
    engine: Engine,
) -> (Result<Vec<GroupAggregate>, AnalyticsError>, Duration) {
    let dataset = AnalyticDataset::open_url(location, Options::default())
        .await
        .unwrap();
    dataset.clear().await.unwrap();
    dataset.append(&rows()).await.unwrap();
    let dataset = dataset.with_engine(engine);
    let consenting = Consenting::new((0..20).map(|i| (1000 + i, false)));
    let started = Instant::now();
    let got = dataset
        .aggregate(
            &query(),
            &DeclaredKeys::default(),
            &consenting,
            &Catalogue::default(),
            1,
        )
        .await;
    (got, started.elapsed())
}

#[tokio::test]
async fn no_scheduler_at_the_address_is_a_cluster_error() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 9 (discard) on loopback here.
    let engine = Engine::Ballista {
        url: "ballista://127.0.0.1:9".into(),
        deadline: Duration::from_secs(20),
    };
    let (got, took) = ask(dir.path().to_str().unwrap(), engine).await;
    assert!(
        matches!(got, Err(AnalyticsError::Cluster(_))),
        "{got:?} after {took:?}"
    );
}

/// scripts/ballista.sh runs this after killing both executors: the
/// scheduler accepts the job and waits for an executor that never comes.
#[tokio::test]
async fn a_cluster_without_executors_fails_at_the_deadline() {
    let (Ok(url), Ok(data), Ok(_)) = (
        std::env::var("FINELINE_TEST_BALLISTA_URL"),
        std::env::var("FINELINE_TEST_BALLISTA_DATA"),
        std::env::var("FINELINE_TEST_BALLISTA_EXECUTORS_GONE"),
    ) else {
        eprintln!("skipped: run by scripts/ballista.sh with its executors stopped");
        return;
    };
    let deadline = Duration::from_secs(15);
    let (got, took) = ask(&data, Engine::Ballista { url, deadline }).await;
    match got {
        Err(AnalyticsError::Cluster(why)) => assert!(why.contains("no answer within"), "{why}"),
        other => panic!("{other:?} after {took:?}"),
    }
    assert!(
        took >= deadline && took < deadline + Duration::from_secs(10),
        "{took:?}"
    );
}

/// The same query on a running cluster gives the in-process answer (the
/// cheap check scripts/ballista.sh makes before the property tests).
#[tokio::test]
async fn a_running_cluster_answers_as_in_process() {
    let (Ok(url), Ok(data)) = (
        std::env::var("FINELINE_TEST_BALLISTA_URL"),
        std::env::var("FINELINE_TEST_BALLISTA_DATA"),
    ) else {
        eprintln!("skipped: FINELINE_TEST_BALLISTA_URL/_DATA are not set");
        return;
    };
    if std::env::var("FINELINE_TEST_BALLISTA_EXECUTORS_GONE").is_ok() {
        return;
    }
    let (local, _) = ask(&data, Engine::InProcess).await;
    let deadline = Duration::from_secs(60);
    let (remote, took) = ask(&data, Engine::Ballista { url, deadline }).await;
    let local = local.unwrap();
    assert_eq!(local.len(), 2, "{local:?}");
    assert_eq!(remote.unwrap(), local, "after {took:?}");
}
