//! The analytic dataset wired into the application (`serve --analytics`):
//! events ingested through the use case reach the Parquet copy, and an
//! insights query answered there has the same figures before noise as the
//! same query on the database, on SQLite and (with
//! `FINELINE_TEST_DATABASE_URL`) PostgreSQL, after a withdrawal, an
//! erasure, a deleted event and a re-categorised item. An erased person's
//! number is out of the Parquet bytes after compaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use fineline_app::analytics::{person_number, Analytics, Engine, Scanned};
use fineline_app::consent::ConsentChange;
use fineline_app::ingest::IncomingEvent;
use fineline_app::App;
use fineline_consent::ConsentSource;
use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::{ItemRow, PostgresDatabase};
use fineline_insights::rows::{bound_and_aggregate, Accumulate, Aggregates};
use fineline_insights::{Bounds, DeclaredKeys, Dimension, Filter, GroupKey, Metric, Query, RowSet};

const PEOPLE: usize = 24;
const DAY: i64 = 86_400_000;

fn change(grant: &[Purpose], withdraw: &[Purpose]) -> ConsentChange {
    ConsentChange {
        policy_version: None,
        source: ConsentSource::Api,
        grant: grant.to_vec(),
        withdraw: withdraw.to_vec(),
        tc_string: None,
        gpc: false,
    }
}

fn item(category: &str, n: usize) -> ItemRow {
    ItemRow {
        item: ItemId::new(&format!("sku-{category}-{n}")).unwrap(),
        category: category.into(),
        title: format!("{category} {n}"),
        repeatable: false,
    }
}

/// Turns on the dataset in `dir`; how many rows it was filled with, if any.
async fn enable(app: &App, dir: &std::path::Path) -> Option<u64> {
    enable_on(app, dir, Engine::InProcess).await
}

async fn enable_on(app: &App, dir: &std::path::Path, engine: Engine) -> Option<u64> {
    enable_with(app, dir, engine, fineline_app::analytics::STALE_AFTER).await
}

async fn enable_with(
    app: &App,
    dir: &std::path::Path,
    engine: Engine,
    stale_after: std::time::Duration,
) -> Option<u64> {
    let dataset = Analytics::open(dir.to_str().unwrap(), engine)
        .await
        .unwrap()
        .with_stale_after(stale_after);
    app.enable_analytics(dataset).await.unwrap()
}

async fn seed(app: &App, analytics_dir: &std::path::Path, engine: Engine) -> Vec<Pseudonym> {
    seed_with(
        app,
        analytics_dir,
        engine,
        fineline_app::analytics::STALE_AFTER,
    )
    .await
}

async fn seed_with(
    app: &App,
    analytics_dir: &std::path::Path,
    engine: Engine,
    stale_after: std::time::Duration,
) -> Vec<Pseudonym> {
    app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
        .await
        .unwrap();
    let filled = enable_with(app, analytics_dir, engine, stale_after).await;
    assert_eq!(filled, Some(0), "a new dataset is filled from no events");
    let cats = ["games", "news", "maps"];
    app.put_items(
        cats.iter()
            .flat_map(|c| (0..3).map(move |n| item(c, n)))
            .collect(),
    )
    .await
    .unwrap();
    let mut people = Vec::new();
    for p in 0..PEOPLE {
        let person = app.pseudonymize(&format!("person-{p}@example.com"));
        let mut grant = vec![Purpose::PartnerInsights, Purpose::Analytics];
        if p % 2 == 0 {
            grant.push(Purpose::Location);
        }
        app.change_consent(person, change(&grant, &[]))
            .await
            .unwrap();
        people.push(person);
    }
    // Events after the grants (earlier ones are refused), a few ms apart.
    let now = Timestamp::now().0;
    // Three batches, so the copy spans several flushes and files.
    for batch in 0..3 {
        let mut events = Vec::new();
        for (p, _) in people.iter().enumerate() {
            for e in 0..(2 + (p + batch) % 5) {
                let n = events.len();
                let at = Timestamp(now + ((p * 7 + e * 3 + batch) % 50) as i64);
                let (kind, props) = match (p + e + batch) % 4 {
                    0 => (
                        "location",
                        format!(
                            r#"{{"lat":{},"lng":{},"region":"North"}}"#,
                            51.50 + (e % 3) as f64 * 0.2,
                            -0.12
                        ),
                    ),
                    1 => (
                        "purchase",
                        format!(r#"{{"value":{},"region":"south"}}"#, 50 * e + p),
                    ),
                    _ => ("app_open", r#"{"region":"north"}"#.to_string()),
                };
                let cat = ["games", "news", "maps"][(p + e) % 3];
                events.push((
                    n,
                    IncomingEvent {
                        subject_id: format!("person-{p}@example.com"),
                        kind: EventKind::new(kind).unwrap(),
                        item: (kind != "location")
                            .then(|| ItemId::new(&format!("sku-{cat}-{}", e % 3)).unwrap()),
                        properties: Some(serde_json::value::RawValue::from_string(props).unwrap()),
                        at,
                        purpose: Purpose::Analytics,
                    },
                ));
            }
        }
        let done = app.ingest(events).await.unwrap();
        assert!(done.refused.is_empty(), "{:?}", done.refused);
    }
    people
}

fn queries(now: i64) -> Vec<(Query, DeclaredKeys)> {
    let loose = Bounds {
        max_groups: 1000,
        max_rows_per_group: 1000,
    };
    let base = |metric, kinds: &[&str], group_by| Query {
        metric,
        event_types: kinds.iter().map(|k| k.to_string()).collect(),
        filters: vec![Filter::TimeRange {
            from: now - 10 * DAY,
            to: now + DAY,
        }],
        group_by,
        cost_nano_rho: None,
        mechanism: fineline_insights::Mechanism::Gaussian,
        bounds: loose,
        min_subjects: None,
    };
    let cats = DeclaredKeys {
        item_categories: Some(vec!["games".into(), "news".into(), "maps".into()]),
        ..DeclaredKeys::default()
    };
    vec![
        (
            base(
                Metric::Count,
                &["app_open", "purchase"],
                vec![Dimension::ItemCategory],
            ),
            cats.clone(),
        ),
        (
            base(
                Metric::Sum {
                    lower: Some(0),
                    upper: Some(200),
                },
                &["purchase"],
                vec![Dimension::Region, Dimension::Day],
            ),
            DeclaredKeys::default(),
        ),
        (
            base(
                Metric::Histogram {
                    lower: Some(0),
                    upper: Some(400),
                    bins: 4,
                },
                &["purchase"],
                vec![Dimension::ItemCategory],
            ),
            cats,
        ),
        (
            Query::heatmap(5, vec!["location".into()], None),
            DeclaredKeys::default(),
        ),
        (
            base(
                Metric::DistinctSubjects,
                &["app_open", "location", "purchase"],
                vec![Dimension::Hour],
            ),
            DeclaredKeys::default(),
        ),
    ]
}

type Figures = BTreeMap<GroupKey, (i64, i64, i64, Vec<i64>)>;

fn figures(keys: &RowSet, agg: &Aggregates) -> Figures {
    (0..keys.num_keys())
        .filter(|&i| agg.distinct[i] > 0)
        .map(|i| {
            (
                keys.key(i as u32).clone(),
                (
                    agg.count[i],
                    agg.distinct[i],
                    agg.sum[i],
                    agg.bins.get(i).cloned().unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// Both paths' figures for `q` before noise.
async fn both(app: &App, q: &Query, declared: &DeclaredKeys) -> (Figures, Figures) {
    let rows = fineline_app::insights_data::load_rows(app, q)
        .await
        .unwrap();
    let allowed = declared.public_keys(&q.group_by).map(|keys| {
        let mut a = vec![false; rows.num_keys()];
        keys.iter()
            .filter_map(|k| rows.lookup_key(k))
            .for_each(|i| a[i as usize] = true);
        a
    });
    let bins = match q.metric {
        Metric::Histogram { bins, .. } => Some(bins),
        _ => None,
    };
    let acc = Accumulate {
        clamp: q.clamp(),
        bins,
    };
    let want = figures(
        &rows,
        &bound_and_aggregate(&rows, q.bounds, acc, allowed.as_deref(), 3),
    );
    let Scanned::Aggregated(keys, agg) = app.scan_insights(q, declared, 3).await.unwrap() else {
        panic!("the analytic dataset must answer");
    };
    (want, figures(&keys, &agg))
}

async fn assert_same(app: &App, when: &str) {
    let now = Timestamp::now().0;
    for (q, declared) in queries(now) {
        let (want, got) = both(app, &q, &declared).await;
        assert!(!want.is_empty(), "{when}: {:?} found nothing", q.metric);
        assert_eq!(got, want, "{when}: {:?} by {:?}", q.metric, q.group_by);
    }
}

async fn the_two_paths_agree(app: App, analytics_dir: &std::path::Path, engine: Engine) {
    let people = seed(&app, analytics_dir, engine).await;
    assert_same(&app, "as ingested").await;

    // A withdrawal: out of both at once.
    app.change_consent(people[1], change(&[], &[Purpose::PartnerInsights]))
        .await
        .unwrap();
    // A location withdrawal: their location rows out, the rest kept.
    app.change_consent(people[2], change(&[], &[Purpose::Location]))
        .await
        .unwrap();
    // A deleted event (a purchase, so sums move).
    let events = app.database().events_for(&people[3]).await.unwrap();
    let purchase = events
        .iter()
        .find(|e| e.kind.as_str() == "purchase")
        .expect("person 3 bought something");
    app.delete_event(&people[3], purchase.id).await.unwrap();
    // Someone else's event: not found, and still counted (the mark written
    // before the record refused names a row that is not theirs).
    let theirs = app.database().events_for(&people[6]).await.unwrap();
    let refused = app.delete_event(&people[5], theirs[0].id).await;
    assert!(
        matches!(refused, Err(fineline_app::AppError::NotFound(_))),
        "{refused:?}"
    );
    // An erasure.
    let salt = app.subject_keys(&people[4]).await.unwrap().unwrap().salt;
    let erased = person_number(&salt);
    app.erase(&people[4]).await.unwrap();
    // A re-categorised item: both paths count it under its category now.
    app.put_items(vec![ItemRow {
        category: "news".into(),
        ..item("games", 0)
    }])
    .await
    .unwrap();
    assert_same(&app, "after the changes").await;

    // In the files until compaction, out of them after.
    let analytics = app.analytics().unwrap().clone();
    let stored = analytics.dataset().stored_people().await.unwrap();
    assert!(stored.contains(&erased));
    let done = analytics.compact().await.unwrap();
    assert!(done.rows_dropped > 0, "{done:?}");
    assert!(analytics
        .dataset()
        .pending_marks()
        .await
        .unwrap()
        .0
        .is_empty());
    let stored = analytics.dataset().stored_people().await.unwrap();
    assert!(!stored.contains(&erased));
    assert!(stored.len() >= PEOPLE - 2, "others kept: {}", stored.len());
    assert_same(&app, "after compaction").await;
}

async fn embedded(dir: &std::path::Path) -> App {
    let database = fineline_app::open_database(dir, None).await.unwrap();
    let vault = fineline_vault::Vault::open_or_create(dir).unwrap();
    App::load(database, vault).await.unwrap()
}

#[tokio::test]
async fn on_the_embedded_store_both_paths_give_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let app = embedded(dir.path()).await;
    let analytics_dir = dir.path().join("analytics");
    the_two_paths_agree(app.clone(), &analytics_dir, Engine::InProcess).await;

    // Rows queued when a process dies are lost from the copy: the next
    // start makes the dataset again from the stored events.
    let now = Timestamp::now().0;
    app.ingest(vec![(
        0,
        IncomingEvent {
            subject_id: "person-0@example.com".into(),
            kind: EventKind::new("app_open").unwrap(),
            item: Some(ItemId::new("sku-maps-1").unwrap()),
            properties: None,
            at: Timestamp(now - 5000),
            purpose: Purpose::Analytics,
        },
    )])
    .await
    .unwrap();
    drop(app); // no shut_down, and the row still queued: a crash
    let app = embedded(dir.path()).await;
    let rebuilt = enable(&app, &analytics_dir)
        .await
        .expect("an unclean stop makes the dataset again");
    assert!(rebuilt > 100, "{rebuilt}");
    assert_same(&app, "after a rebuild").await;

    // A clean stop leaves the copy as it is.
    app.shut_down().await;
    drop(app);
    let app = embedded(dir.path()).await;
    let again = enable(&app, &analytics_dir).await;
    assert_eq!(again, None);
    assert_same(&app, "after a clean restart").await;
}

/// A retention sweep whose mark the dataset's store cannot take still
/// deletes from the record; insights from the dataset are refused (503)
/// until the mark is recorded, then count none of the expired rows.
#[tokio::test]
async fn a_retention_mark_the_dataset_cannot_take_holds_insights_back() {
    let dir = tempfile::tempdir().unwrap();
    let app = embedded(dir.path()).await;
    let analytics_dir = dir.path().join("analytics");
    seed(&app, &analytics_dir, Engine::InProcess).await;
    let (q, declared) = queries(Timestamp::now().0).remove(0);
    assert!(!both(&app, &q, &declared).await.0.is_empty());

    // A file where the marks directory goes: no mark can be written.
    let marks = analytics_dir.join("marks");
    let _ = std::fs::remove_dir_all(&marks);
    std::fs::write(&marks, b"in the way").unwrap();
    let later = Timestamp(Timestamp::now().0 + 3650 * DAY);
    let report = fineline_app::retention::sweep(&app, later).await.unwrap();
    assert!(report.deleted() > 0, "{report:?}");
    match app.scan_insights(&q, &declared, 3).await {
        Err(fineline_app::AppError::Unavailable(why)) => assert!(why.contains("retention")),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("answered while a retention mark is not recorded"),
    }

    std::fs::remove_file(&marks).unwrap();
    let (want, got) = both(&app, &q, &declared).await;
    assert!(want.is_empty(), "the record kept {want:?}");
    assert_eq!(got, want, "the dataset counts expired rows");
}

#[tokio::test]
async fn on_postgresql_both_paths_give_the_same_figures() {
    let Ok(base) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
        eprintln!("skipped: FINELINE_TEST_DATABASE_URL is not set");
        return;
    };
    let schema = PostgresDatabase::open_isolated(&base).await.unwrap();
    let url = schema.isolated_url(&base).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = Arc::new(PostgresDatabase::connect(&url).await.unwrap());
    let vault = fineline_vault::Vault::open_or_create(dir.path()).unwrap();
    let app = App::load(database, vault).await.unwrap();
    // The plan a cluster runs (bounding by window functions), here on
    // PostgreSQL; in-process bounding on the embedded store above.
    the_two_paths_agree(app.clone(), &dir.path().join("analytics"), Engine::Plan).await;
    app.resign_leadership().await;
    drop(app);
    schema.drop_isolated().await.unwrap();
}

/// Against a running cluster (scripts/ballista.sh): its scheduler, and the
/// dataset directory its processes opened, which this test starts afresh.
#[cfg(feature = "ballista")]
#[tokio::test]
async fn on_a_ballista_cluster_both_paths_give_the_same_figures() {
    let (Ok(url), Ok(data)) = (
        std::env::var("FINELINE_TEST_BALLISTA_URL"),
        std::env::var("FINELINE_TEST_BALLISTA_DATA"),
    ) else {
        eprintln!("skipped: FINELINE_TEST_BALLISTA_URL/_DATA are not set");
        return;
    };
    let data = std::path::PathBuf::from(data);
    let _ = std::fs::remove_dir_all(&data);
    let dir = tempfile::tempdir().unwrap();
    let app = embedded(dir.path()).await;
    let engine = Engine::Ballista {
        url,
        deadline: std::time::Duration::from_secs(120),
    };
    the_two_paths_agree(app, &data, engine).await;
}

/// Three replicas on one PostgreSQL database copy into one dataset. The
/// second starts without clearing what the first wrote; the second dies
/// with rows queued; the third, starting after, asks for a repair and
/// answers from the record meanwhile; the leader repairs while the third
/// keeps writing, and then every replica's figures are the record's.
#[tokio::test]
async fn replicas_share_one_dataset_and_the_leader_repairs_a_dead_writers_loss() {
    let Ok(base) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
        eprintln!("skipped: FINELINE_TEST_DATABASE_URL is not set");
        return;
    };
    const STALE: std::time::Duration = std::time::Duration::from_secs(5);
    let schema = PostgresDatabase::open_isolated(&base).await.unwrap();
    let url = schema.isolated_url(&base).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("analytics");
    let replica = || async {
        let database = Arc::new(PostgresDatabase::connect(&url).await.unwrap());
        let vault = fineline_vault::Vault::open_or_create(dir.path()).unwrap();
        App::load(database, vault).await.unwrap()
    };
    let enable = |app: App| {
        let data = data.clone();
        async move {
            let filled = enable_with(&app, &data, Engine::InProcess, STALE).await;
            // What the server's loop does every second: flush and record it.
            let writer = app.analytics().unwrap().clone();
            let beat = tokio::spawn(async move {
                loop {
                    let _ = writer.flush().await;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
            });
            (filled, beat)
        }
    };
    let ingest = |app: App, round: usize| async move {
        let now = Timestamp::now().0;
        let events = (0..PEOPLE)
            .map(|p| {
                (
                    p,
                    IncomingEvent {
                        subject_id: format!("person-{p}@example.com"),
                        kind: EventKind::new("purchase").unwrap(),
                        item: Some(ItemId::new(&format!("sku-news-{}", (p + round) % 3)).unwrap()),
                        properties: Some(
                            serde_json::value::RawValue::from_string(format!(
                                r#"{{"value":{},"region":"south"}}"#,
                                10 * round + p
                            ))
                            .unwrap(),
                        ),
                        at: Timestamp(now),
                        purpose: Purpose::Analytics,
                    },
                )
            })
            .collect();
        let done = app.ingest(events).await.unwrap();
        assert!(done.refused.is_empty(), "{:?}", done.refused);
    };

    let a = replica().await;
    assert!(a.contend_for_leadership().await.unwrap());
    seed_with(&a, &data, Engine::InProcess, STALE).await;
    a.analytics().unwrap().flush().await.unwrap();
    let a_beat = {
        let writer = a.analytics().unwrap().clone();
        tokio::spawn(async move {
            loop {
                let _ = writer.flush().await;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        })
    };
    let files = a.analytics().unwrap().dataset().files().await.unwrap();
    assert!(!files.is_empty());

    // A second replica: the copy is whole and its writer alive, so nothing
    // is cleared or copied again.
    let b = replica().await;
    let (filled, b_beat) = enable(b.clone()).await;
    assert_eq!(filled, None);
    let kept = a.analytics().unwrap().dataset().files().await.unwrap();
    assert!(
        files.iter().all(|f| kept.contains(f)),
        "a start cleared files"
    );
    assert_same(&a, "with a second replica").await;

    // It dies with rows queued: committed to the record, not to the copy.
    b_beat.abort();
    ingest(b.clone(), 1).await;
    drop(b);
    let (q, declared) = queries(Timestamp::now().0).remove(0);
    let (want, got) = both(&a, &q, &declared).await;
    assert_ne!(
        got, want,
        "the dead replica's queued rows should be missing"
    );

    // A third starts once the second is taken for dead: it asks for a
    // repair and answers from the record until it is done.
    tokio::time::sleep(STALE + std::time::Duration::from_millis(500)).await;
    let c = replica().await;
    let (filled, _c_beat) = enable(c.clone()).await;
    assert_eq!(filled, None, "others are writing: the leader repairs");
    assert!(matches!(
        c.scan_insights(&q, &declared, 3).await.unwrap(),
        Scanned::Rows(_)
    ));

    // Only the leader repairs: two at once would compact each other's copy
    // in. A non-leader neither clears nor copies.
    let before = c.analytics().unwrap().dataset().files().await.unwrap();
    assert_eq!(c.tend_analytics().await.unwrap(), None);
    assert_eq!(
        c.analytics().unwrap().dataset().files().await.unwrap(),
        before,
        "a replica that does not lead rewrote the copy"
    );
    assert!(c
        .analytics()
        .unwrap()
        .dataset()
        .repair_pending()
        .await
        .unwrap());

    // The leader repairs while the third keeps writing rows of its own.
    ingest(c.clone(), 2).await;
    let mut repaired = None;
    for _ in 0..20 {
        if let Some(r) = a.tend_analytics().await.unwrap() {
            repaired = Some(r);
        }
        if !a
            .analytics()
            .unwrap()
            .dataset()
            .repair_pending()
            .await
            .unwrap()
        {
            break;
        }
    }
    let repaired = repaired.expect("the leader repairs");
    assert!(
        repaired.dead_writers >= 1 && repaired.copied > 0,
        "{repaired:?}"
    );
    assert_same(&a, "after the repair, on the leader").await;
    assert_same(&c, "after the repair, on the third replica").await;
    assert_eq!(
        a.analytics()
            .unwrap()
            .dataset()
            .writers()
            .await
            .unwrap()
            .len(),
        2,
        "the dead writer's record is gone"
    );

    a_beat.abort();
    for app in [&a, &c] {
        app.resign_leadership().await;
    }
    drop((a, c));
    schema.drop_isolated().await.unwrap();
}
