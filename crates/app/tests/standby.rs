//! Reads a hot standby serves (issue 16: PostgreSQL streaming
//! replication), against the primary + standby pair
//! `scripts/ensure-standby.sh` starts on loopback: a caught-up standby
//! serves exports and summaries; a stale one (replay paused with
//! `pg_wal_replay_pause()`) never shows what the primary already erased
//! or deleted, the primary serving instead; a standby that does not
//! answer costs a fallback, not an error; a read failing there is
//! answered by the primary. Skipped without
//! `FINELINE_TEST_PRIMARY_URL` and `FINELINE_TEST_STANDBY_URL`
//! (`scripts/test.sh` always sets them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_app::consent::ConsentChange;
use fineline_app::App;
use fineline_consent::ConsentSource;
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_db::PostgresDatabase;
use fineline_ledger::Actor;
use sqlx::Connection;

/// Pausing replay pauses it for every test: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn urls() -> Option<(String, String)> {
    match (
        std::env::var("FINELINE_TEST_PRIMARY_URL"),
        std::env::var("FINELINE_TEST_STANDBY_URL"),
    ) {
        (Ok(p), Ok(s)) => Some((p, s)),
        _ => {
            eprintln!(
                "skipped: FINELINE_TEST_PRIMARY_URL / FINELINE_TEST_STANDBY_URL are not set \
                 (scripts/ensure-standby.sh starts the pair)"
            );
            None
        }
    }
}

struct Pair {
    app: App,
    primary: PostgresDatabase,
    standby_url: String,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// An app on a fresh schema of the primary, reading from `standby_url`.
    async fn start(primary_url: &str, standby_url: &str) -> Pair {
        let primary = PostgresDatabase::open_isolated(primary_url).await.unwrap();
        let standby = primary.standby(standby_url).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let vault = fineline_vault::Vault::open_or_create(dir.path()).unwrap();
        let app = App::load(Arc::new(primary.clone()), vault).await.unwrap();
        // Generous: a loaded test machine may replay late; a read on a
        // paused standby waits this long before the primary serves it.
        app.set_standby(Arc::new(standby), Duration::from_millis(500))
            .await
            .unwrap();
        app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
            .await
            .unwrap();
        Pair {
            app,
            primary,
            standby_url: standby_url.to_string(),
            _dir: dir,
        }
    }

    async fn stop(self) {
        replay(&self.standby_url, true).await;
        self.app.resign_leadership().await;
        drop(self.app);
        self.primary.drop_isolated().await.unwrap();
    }

    fn reads(&self, outcome: &str) -> u64 {
        self.app
            .standby_reads()
            .into_iter()
            .find(|(o, _)| *o == outcome)
            .map_or(0, |(_, n)| n)
    }

    async fn grant(&self, who: &str) -> Pseudonym {
        let subject = self.app.pseudonymize(who);
        let change = ConsentChange {
            policy_version: None,
            source: ConsentSource::Api,
            grant: vec![Purpose::Personalization],
            withdraw: vec![],
            tc_string: None,
            gpc: false,
        };
        self.app.change_consent(subject, change).await.unwrap();
        subject
    }

    async fn send(&self, who: &str, items: &[&str]) {
        let events = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let e = fineline_app::ingest::IncomingEvent {
                    subject_id: who.into(),
                    kind: fineline_core::EventKind::new("view").unwrap(),
                    item: Some(fineline_core::ItemId::new(item).unwrap()),
                    properties: None,
                    at: Timestamp::now(),
                    purpose: Purpose::Personalization,
                };
                (i, e)
            })
            .collect();
        let done = self.app.ingest(events).await.unwrap();
        assert_eq!(done.accepted, items.len());
    }

    /// Items of the person's exported events, in order.
    async fn exported_items(&self, subject: &Pseudonym) -> Vec<String> {
        let data = self.app.export(subject, Actor::Subject).await.unwrap();
        data.events.into_iter().filter_map(|e| e.item).collect()
    }
}

/// Pause (`false`) or resume (`true`) replay on the standby.
async fn replay(standby_url: &str, resume: bool) {
    let mut c = sqlx::PgConnection::connect(standby_url).await.unwrap();
    let f = if resume {
        "pg_wal_replay_resume"
    } else {
        "pg_wal_replay_pause"
    };
    sqlx::query(&format!("SELECT {f}()"))
        .execute(&mut c)
        .await
        .unwrap();
    if !resume {
        // Paused means replayed no further: wait for the pause to take.
        let started = Instant::now();
        loop {
            let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
                .fetch_one(&mut c)
                .await
                .unwrap();
            if state == "paused" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "replay not paused"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A caught-up standby serves a person's export and summary and an
/// analyst's scan, and what it serves is what the primary holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_up_standby_serves_exports() {
    let Some((primary_url, standby_url)) = urls() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    replay(&standby_url, true).await;
    let pair = Pair::start(&primary_url, &standby_url).await;
    let ada = pair.grant("ada@example.com").await;
    pair.send("ada@example.com", &["sku-1", "sku-2", "sku-3"])
        .await;

    assert_eq!(pair.exported_items(&ada).await, ["sku-1", "sku-2", "sku-3"]);
    let data = pair.app.export(&ada, Actor::Subject).await.unwrap();
    assert_eq!(data.records.len(), 1, "the grant");
    // One receipt per record and one for the read, each verifiable.
    assert_eq!(data.receipts.len(), 2);
    for r in &data.receipts {
        fineline_ledger::verify_receipt(r, None).unwrap();
    }
    let summary = pair.app.summary(&ada, Actor::Subject).await.unwrap();
    assert_eq!(summary.events_total, 3);
    // An analyst's scan goes there too.
    let query = fineline_insights::query::Query::app_insights(None);
    fineline_app::insights_data::load_rows(&pair.app, &query)
        .await
        .unwrap();
    assert_eq!(
        pair.reads("standby"),
        4,
        "every read served by the standby: {:?}",
        pair.app.standby_reads()
    );
    let metrics = pair.app.standby_metrics().await;
    assert!(metrics.contains("fineline_standby_reads_total{outcome=\"standby\"} 4"));
    assert!(metrics.contains("fineline_standby_up 1"));
    assert!(metrics.contains("fineline_standby_lag_bytes "));
    pair.stop().await;
}

/// With replay paused, the standby still holds what the primary erased
/// and deleted: an export must not show it. The reads fall back to the
/// primary (counted as `behind`), the lag shows on the metrics, and once
/// replay resumes the standby serves again with the same answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_standby_never_shows_what_the_primary_erased() {
    let Some((primary_url, standby_url)) = urls() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    replay(&standby_url, true).await;
    let pair = Pair::start(&primary_url, &standby_url).await;
    let ada = pair.grant("ada@example.com").await;
    pair.send("ada@example.com", &["sku-secret-1", "sku-secret-2"])
        .await;
    let bob = pair.grant("bob@example.com").await;
    pair.send("bob@example.com", &["sku-kept", "sku-deleted"])
        .await;
    // The standby has all of it.
    assert_eq!(pair.exported_items(&ada).await.len(), 2);
    let bob_events = pair.app.export(&bob, Actor::Subject).await.unwrap().events;
    assert_eq!(pair.reads("standby"), 2);

    replay(&standby_url, false).await;
    // Ada is erased and comes back as a new person; Bob deletes an event.
    pair.app.erase(&ada).await.unwrap();
    pair.grant("ada@example.com").await;
    pair.app.delete_event(&bob, bob_events[1].id).await.unwrap();

    let lag = pair.app.standby_lag().await.expect("both answer");
    assert!(lag.bytes > 0, "the paused standby is behind: {lag:?}");
    let after = pair.app.export(&ada, Actor::Subject).await.unwrap();
    assert!(
        after.events.is_empty(),
        "an erased person's events came back: {:?}",
        after.events
    );
    assert_eq!(
        after.records.len(),
        1,
        "only the new grant: {:?}",
        after.records
    );
    assert_eq!(pair.exported_items(&bob).await, ["sku-kept"]);
    let summary = pair.app.summary(&bob, Actor::Subject).await.unwrap();
    assert_eq!(summary.events_total, 1);
    let query = fineline_insights::query::Query::app_insights(None);
    fineline_app::insights_data::load_rows(&pair.app, &query)
        .await
        .unwrap();
    assert_eq!(pair.reads("behind"), 4, "{:?}", pair.app.standby_reads());
    assert_eq!(pair.reads("standby"), 2);

    replay(&standby_url, true).await;
    assert!(pair.exported_items(&ada).await.is_empty());
    assert_eq!(pair.exported_items(&bob).await, ["sku-kept"]);
    assert_eq!(pair.reads("standby"), 4, "{:?}", pair.app.standby_reads());
    pair.stop().await;
}

/// A standby that does not answer: the server starts, reads are answered
/// by the primary, and after the first failure reads skip the standby
/// rather than wait on it each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_that_does_not_answer_costs_a_fallback_not_an_error() {
    let Some((primary_url, _)) = urls() else {
        return;
    };
    // Nothing listens on port 1.
    let pair = Pair::start(&primary_url, "postgres://postgres@127.0.0.1:1/test").await;
    let ada = pair.grant("ada@example.com").await;
    pair.send("ada@example.com", &["sku-1"]).await;
    assert_eq!(pair.exported_items(&ada).await, ["sku-1"]);
    let started = Instant::now();
    assert_eq!(pair.exported_items(&ada).await, ["sku-1"]);
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the second read waited on the dead standby: {:?}",
        started.elapsed()
    );
    assert_eq!(
        pair.reads("unreachable"),
        2,
        "{:?}",
        pair.app.standby_reads()
    );
    assert_eq!(pair.reads("standby"), 0);
    assert!(pair
        .app
        .standby_metrics()
        .await
        .contains("fineline_standby_up 0"));
    pair.app.resign_leadership().await;
    pair.primary.drop_isolated().await.unwrap();
}

/// A read that fails on the standby (here: a standby handle on a schema
/// it lacks) is answered by the primary and counted as `failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_failing_on_the_standby_is_answered_by_the_primary() {
    let Some((primary_url, standby_url)) = urls() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().await;
    replay(&standby_url, true).await;
    let primary = PostgresDatabase::open_isolated(&primary_url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = fineline_vault::Vault::open_or_create(dir.path()).unwrap();
    let app = App::load(Arc::new(primary.clone()), vault).await.unwrap();
    let wrong = PostgresDatabase::standby_at(&standby_url, Some("fl_no_such_schema")).unwrap();
    app.set_standby(Arc::new(wrong), Duration::from_millis(500))
        .await
        .unwrap();
    app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
        .await
        .unwrap();
    let pair = Pair {
        app,
        primary,
        standby_url,
        _dir: dir,
    };
    let ada = pair.grant("ada@example.com").await;
    pair.send("ada@example.com", &["sku-1", "sku-2"]).await;
    assert_eq!(pair.exported_items(&ada).await, ["sku-1", "sku-2"]);
    assert_eq!(pair.reads("failed"), 1, "{:?}", pair.app.standby_reads());
    pair.stop().await;
}
