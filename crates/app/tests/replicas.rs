//! Several fineline processes on one PostgreSQL database (issue 16), each
//! an `App` with its own connection pool and leader connection, as
//! separate processes would have, sharing the vault's key directory as
//! replicas on one host share a mounted key directory. Skipped without
//! `FINELINE_TEST_DATABASE_URL`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_app::consent::ConsentChange;
use fineline_app::{App, AppError};
use fineline_consent::ConsentSource;
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_db::PostgresDatabase;

struct Deployment {
    replicas: Vec<App>,
    schema: PostgresDatabase,
    url: String,
    _dir: tempfile::TempDir,
}

impl Deployment {
    /// `n` replicas on a fresh schema; the first publishes the policy.
    async fn start(n: usize) -> Option<Deployment> {
        let Ok(base) = std::env::var("FINELINE_TEST_DATABASE_URL") else {
            eprintln!("skipped: FINELINE_TEST_DATABASE_URL is not set");
            return None;
        };
        let schema = PostgresDatabase::open_isolated(&base).await.unwrap();
        let url = schema.isolated_url(&base).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut deployment = Deployment {
            replicas: Vec::new(),
            schema,
            url,
            _dir: dir,
        };
        for _ in 0..n {
            deployment.add_replica().await;
        }
        deployment.replicas[0]
            .publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
            .await
            .unwrap();
        Some(deployment)
    }

    async fn add_replica(&mut self) -> App {
        let database = Arc::new(PostgresDatabase::connect(&self.url).await.unwrap());
        let vault = fineline_vault::Vault::open_or_create(self._dir.path()).unwrap();
        let app = App::load(database, vault).await.unwrap();
        self.replicas.push(app.clone());
        app
    }

    async fn stop(self) {
        for app in &self.replicas {
            app.resign_leadership().await;
        }
        drop(self.replicas);
        self.schema.drop_isolated().await.unwrap();
    }
}

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

/// A store open around the clock, in UTC, with one sensor.
fn store(id: &str, sensor: &str) -> fineline_footfall::StoreConfig {
    fineline_footfall::StoreConfig {
        store_id: id.into(),
        sensors: vec![sensor.into()],
        opening_hours: [Some(fineline_footfall::OpeningHours::hours(0, 24)); 7],
        time_zone: "UTC".into(),
    }
}

fn event(subject_id: &str, at: Timestamp) -> fineline_app::ingest::IncomingEvent {
    fineline_app::ingest::IncomingEvent {
        subject_id: subject_id.into(),
        kind: fineline_core::EventKind::new("view").unwrap(),
        item: Some(fineline_core::ItemId::new("sku-1").unwrap()),
        properties: None,
        at,
        purpose: Purpose::Personalization,
    }
}

/// Once one replica acknowledged a withdrawal, an event for that purpose
/// sent to another is refused, with both racing: ingestion runs on two
/// replicas without pause while a third grants and withdraws, and no
/// event sent after a withdrawal's acknowledgement (and before the next
/// grant) is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_withdrawal_acknowledged_anywhere_refuses_events_everywhere() {
    let Some(d) = Deployment::start(3).await else {
        return;
    };
    let ada = "ada@example.com";
    let person = d.replicas[0].pseudonymize(ada);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // (replica, sent, answered, accepted)
    type Sent = (usize, Instant, Instant, bool);
    let mut senders = Vec::new();
    for r in [1usize, 2] {
        let app = d.replicas[r].clone();
        let stop = stop.clone();
        senders.push(tokio::spawn(async move {
            let mut log: Vec<Sent> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let done = app
                    .ingest(vec![(0, event(ada, Timestamp::now()))])
                    .await
                    .unwrap();
                log.push((r, sent, Instant::now(), done.accepted == 1));
            }
            log
        }));
    }
    // (grant asked, withdrawal acknowledged): between a withdrawal's
    // acknowledgement and the next grant's request nothing may be stored.
    let mut windows: Vec<(Instant, Instant)> = Vec::new();
    tokio::time::sleep(Duration::from_millis(15)).await;
    for _ in 0..15 {
        let asked = Instant::now();
        d.replicas[0]
            .change_consent(person, change(&[Purpose::Personalization], &[]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        d.replicas[0]
            .change_consent(person, change(&[], &[Purpose::Personalization]))
            .await
            .unwrap();
        windows.push((asked, Instant::now()));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut log = Vec::new();
    for s in senders {
        log.extend(s.await.unwrap());
    }
    let mut accepted = 0;
    for &(replica, sent, _, ok) in &log {
        if !ok {
            continue;
        }
        accepted += 1;
        assert!(
            sent > windows[0].0,
            "replica {replica} stored an event sent before any grant"
        );
        // Accepted: it must not have been sent after a withdrawal was
        // acknowledged and before the next grant was asked for.
        for (i, &(_, withdrawn)) in windows.iter().enumerate() {
            let next_grant = windows.get(i + 1).map(|w| w.0);
            let after = sent > withdrawn && next_grant.is_none_or(|g| sent < g);
            assert!(
                !after,
                "replica {replica} stored an event sent {:?} after a withdrawal was acknowledged",
                sent - withdrawn
            );
        }
    }
    assert!(accepted > 0, "some events fell in granted windows");
    assert!(log.len() > accepted, "some were refused");
    let stored = d.replicas[1].database().events_for(&person).await.unwrap();
    assert_eq!(
        stored.len(),
        accepted,
        "every accepted event is stored, once"
    );
    d.stop().await;
}

/// Appends from every replica land in one tree: no gap, no fork; after
/// catching up every replica serves the same signed head, and a receipt
/// handed out by one verifies against the proofs another serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_every_replica_land_in_one_tree() {
    let Some(d) = Deployment::start(3).await else {
        return;
    };
    let before = d.replicas[0].database().ledger_size().await.unwrap();
    let mut tasks = Vec::new();
    for (r, app) in d.replicas.iter().enumerate() {
        for i in 0..12 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let person = app.pseudonymize(&format!("p{r}-{i}@example.com"));
                let done = app
                    .change_consent(
                        person,
                        change(&[Purpose::Personalization, Purpose::Analytics], &[]),
                    )
                    .await
                    .unwrap();
                (person, done.receipts)
            }));
        }
    }
    let mut receipts: Vec<(Pseudonym, fineline_ledger::Receipt)> = Vec::new();
    for t in tasks {
        let (p, rs) = t.await.unwrap();
        receipts.extend(rs.into_iter().map(|r| (p, r)));
    }
    let size = d.replicas[0].database().ledger_size().await.unwrap();
    assert_eq!(size, before + 3 * 12 * 2, "every entry, once");
    let mut indices: Vec<u64> = receipts.iter().map(|(_, r)| r.leaf_index).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), 72, "no two receipts share an index");
    for app in &d.replicas {
        app.catch_up().await.unwrap();
    }
    let head = d.replicas[0].tree_head();
    assert_eq!(head.tree_head.size, size);
    for app in &d.replicas[1..] {
        assert_eq!(app.tree_head(), head, "one tree, one head");
    }
    for (i, (person, receipt)) in receipts.iter().enumerate() {
        fineline_ledger::verify_receipt_for_subject(receipt, None, person).unwrap();
        // The same entry, proved by another replica against its head.
        let other = &d.replicas[(i + 1) % 3];
        let entry = other.ledger_entry(receipt.leaf_index).await.unwrap();
        assert_eq!(fineline_ledger::leaf_hash(&entry), receipt.leaf_hash);
        let proof = other
            .consistency_proof(receipt.tree_head.tree_head.size, head.tree_head.size)
            .unwrap();
        fineline_ledger::verify_consistency(
            receipt.tree_head.tree_head.size,
            head.tree_head.size,
            &receipt.tree_head.tree_head.root_hash,
            &head.tree_head.root_hash,
            &proof,
        )
        .unwrap();
    }
    d.stop().await;
}

/// Budgets stay atomic across replicas: 50 charges spread over three
/// replicas against a budget of 10 are exactly 10 granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn budgets_are_not_overspent_across_replicas() {
    let Some(d) = Deployment::start(3).await else {
        return;
    };
    let cost = fineline_insights::Cost {
        nano_rho: 1_000,
        femto_delta: 0,
    };
    let period = fineline_app::budget::period_of(Timestamp::now());
    fineline_app::budget::set_total(
        &d.replicas[0],
        "a_test",
        &period,
        fineline_insights::Cost {
            nano_rho: 10 * cost.nano_rho,
            femto_delta: 0,
        },
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50u8 {
        let app = d.replicas[usize::from(i) % 3].clone();
        tasks.push(tokio::spawn(async move {
            fineline_app::budget::charge_cost(&app, "a_test", cost, [i; 32]).await
        }));
    }
    let mut granted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => granted += 1,
            Err(AppError::BudgetExhausted { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(granted, 10);
    let left = fineline_app::budget::account(&d.replicas[2], "a_test", &period)
        .await
        .unwrap();
    assert_eq!(left.spent_nano_rho, 10 * cost.nano_rho);
    // Every release granted is in the analyst's history, whichever
    // replica charged it, in ledger order.
    let history = fineline_app::budget::releases(&d.replicas[1], "a_test", &period)
        .await
        .unwrap();
    assert_eq!(history.len(), 10);
    assert!(history
        .windows(2)
        .all(|w| w[0].ledger_index < w[1].ledger_index));
    d.stop().await;
}

/// An erasure on one replica reaches the others' memory: their consent
/// index, their cache of the person's unwrapped key, their recommender;
/// an event for the person sent to another replica afterwards is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erasure_reaches_every_replica() {
    let Some(d) = Deployment::start(2).await else {
        return;
    };
    let (a, b) = (&d.replicas[0], &d.replicas[1]);
    let ada = "ada@example.com";
    let person = a.pseudonymize(ada);
    a.change_consent(person, change(&[Purpose::Personalization], &[]))
        .await
        .unwrap();
    // B stores an event for her, so it holds her unwrapped key.
    let done = b
        .ingest(vec![(0, event(ada, Timestamp::now()))])
        .await
        .unwrap();
    assert_eq!(done.accepted, 1);
    assert!(b.subject_keys(&person).await.unwrap().is_some());

    a.erase(&person).await.unwrap();
    let done = b
        .ingest(vec![(0, event(ada, Timestamp::now()))])
        .await
        .unwrap();
    assert_eq!(done.accepted, 0, "B refuses her events at once");
    assert!(
        b.subject_keys(&person).await.unwrap().is_none(),
        "B's cached key went with the erasure"
    );
    assert!(
        b.current_consents(&person).values().all(|s| s == "none"),
        "B's consent index forgot her"
    );
    assert!(b.database().events_for(&person).await.unwrap().is_empty());
    d.stop().await;
}

/// Exactly one replica leads; when its session dies (as when its process
/// is killed) another takes over at its next try, and the old one, back,
/// does not lead beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_leader_and_a_successor_when_it_dies() {
    let Some(d) = Deployment::start(3).await else {
        return;
    };
    let mut leading = Vec::new();
    for app in &d.replicas {
        leading.push(app.contend_for_leadership().await.unwrap());
    }
    assert_eq!(leading.iter().filter(|l| **l).count(), 1, "{leading:?}");
    let old = leading.iter().position(|l| *l).unwrap();

    // Kill the leader's session from outside, as a dead process's would end.
    let admin = PostgresDatabase::connect(&d.url).await.unwrap();
    assert_eq!(admin.terminate_leader_session().await.unwrap(), 1);
    let started = Instant::now();
    let successor = loop {
        let mut now_leading = Vec::new();
        for (i, app) in d.replicas.iter().enumerate() {
            if i != old && app.contend_for_leadership().await.unwrap() {
                now_leading.push(i);
            }
        }
        if let Some(&i) = now_leading.first() {
            assert_eq!(now_leading.len(), 1);
            break i;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no successor");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(successor, old);
    assert!(
        !d.replicas[old].contend_for_leadership().await.unwrap(),
        "the old leader finds its lock gone and does not lead again"
    );
    assert!(d.replicas[successor].is_leader());
    d.stop().await;
}

/// Each replica counts the events it accepted and refused into the day's
/// counters; the day sealed into the ledger holds all of them, not only
/// the last writer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_replicas_counts_reach_the_daily_summary() {
    let Some(d) = Deployment::start(3).await else {
        return;
    };
    let grant = change(&[Purpose::Personalization], &[]);
    for i in 0..6 {
        let person = d.replicas[0].pseudonymize(&format!("p{i}@example.com"));
        d.replicas[0]
            .change_consent(person, grant.clone())
            .await
            .unwrap();
    }
    let mut senders = Vec::new();
    for (r, app) in d.replicas.iter().enumerate() {
        let app = app.clone();
        senders.push(tokio::spawn(async move {
            for round in 0..20 {
                // Two with consent, one without: 2 accepted, 1 refused.
                let batch = vec![
                    (
                        0,
                        event(&format!("p{}@example.com", 2 * r), Timestamp::now()),
                    ),
                    (
                        1,
                        event(&format!("p{}@example.com", 2 * r + 1), Timestamp::now()),
                    ),
                    (
                        2,
                        event(&format!("nobody{r}-{round}@example.com"), Timestamp::now()),
                    ),
                ];
                let done = app.ingest(batch).await.unwrap();
                assert_eq!(done.accepted, 2);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let today = Timestamp::now().day();
    for app in &d.replicas {
        let days = fineline_app::daily::unsealed_days(app).await.unwrap();
        assert_eq!(days[&today].accepted, 3 * 20 * 2);
        assert_eq!(
            days[&today].refused_by_purpose[&Purpose::Personalization],
            3 * 20
        );
    }
    assert_eq!(
        fineline_app::daily::seal_days_before(&d.replicas[1], today + 1)
            .await
            .unwrap(),
        1
    );
    let sealed = fineline_app::daily::sealed_days(&d.replicas[2])
        .await
        .unwrap();
    assert_eq!(sealed[&today].accepted, 120);
    assert!(fineline_app::daily::unsealed_days(&d.replicas[0])
        .await
        .unwrap()
        .is_empty());
    d.stop().await;
}

/// A device opted out on one replica is dropped by another that had it
/// in an open session: its later sightings there are refused, and the
/// session it held is never stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_opt_out_reaches_every_replica() {
    use fineline_db::FootfallTables;
    use fineline_footfall::{Mac, Sighting};
    let Some(mut d) = Deployment::start(1).await else {
        return;
    };
    // Stores are read at start: register before the second replica starts.
    d.replicas[0]
        .add_footfall_store(store("berlin", "s1"))
        .await
        .unwrap();
    let other = d.add_replica().await;
    let phone = Mac::parse("3c:22:fb:00:00:01").unwrap();
    let passer = Mac::parse("3c:22:fb:00:00:02").unwrap();
    let start = Timestamp::now().millis() - 30 * 60_000;
    let sighting = |mac: Mac, minute: i64| Sighting {
        sensor_id: "s1".into(),
        mac,
        rssi: -55,
        at: Timestamp(start + minute * 60_000),
    };
    let seen = other
        .ingest_sightings(vec![
            sighting(phone, 0),
            sighting(passer, 0),
            sighting(phone, 5),
        ])
        .await
        .unwrap();
    assert_eq!(seen.accepted, 3);
    // The first replica to take sightings leads; only it sessionizes.
    assert!(matches!(
        d.replicas[0]
            .ingest_sightings(vec![sighting(passer, 1)])
            .await,
        Err(AppError::NotLeader(_))
    ));
    // The opt-out is taken by a replica that holds none of the sessions.
    d.replicas[0].opt_out_device(&phone).await.unwrap();
    let later = other
        .ingest_sightings(vec![sighting(phone, 10), sighting(passer, 10)])
        .await
        .unwrap();
    assert_eq!(
        later.dropped.opted_out, 1,
        "the other replica still took the phone"
    );
    assert_eq!(later.accepted, 1);
    other.flush_sessions().await.unwrap();
    let stored = d
        .schema
        .visit_sessions("berlin", Timestamp(0), Timestamp(i64::MAX))
        .await
        .unwrap();
    // The passer-by's two sightings (two sessions: 10 minutes apart);
    // nothing of the phone.
    assert!(!stored.is_empty());
    assert!(
        stored.iter().all(|s| s.device == stored[0].device),
        "{stored:?}"
    );
    assert_eq!(stored.iter().map(|s| s.sightings).sum::<u32>(), 2);
    d.stop().await;
}

/// Two replicas asked at once to publish the same store-day: one draw of
/// noise, one ledger entry; both answer with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_day_is_published_once_across_replicas() {
    let Some(mut d) = Deployment::start(1).await else {
        return;
    };
    d.replicas[0]
        .add_footfall_store(store("berlin", "s1"))
        .await
        .unwrap();
    let other = d.add_replica().await;
    let now = Timestamp::now();
    let later = Timestamp(now.millis() + 2 * 86_400_000);
    let today = jiff::Timestamp::from_millisecond(now.millis())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    for back in 0..8 {
        let day = today.checked_sub(jiff::Span::new().days(back)).unwrap();
        let (a, b) = tokio::join!(
            d.replicas[0].publish_footfall("berlin", day, day, later),
            other.publish_footfall("berlin", day, day, later)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.newly_published + b.newly_published, 1, "day {day}");
        assert_eq!(a.days[0].ledger_index, b.days[0].ledger_index, "day {day}");
        assert_eq!(
            serde_json::to_value(&a.days[0].release).unwrap(),
            serde_json::to_value(&b.days[0].release).unwrap()
        );
    }
    d.stop().await;
}

/// Kiosk check-ins sent to two replicas at once all count: the day's
/// counts are one row both update, in turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_at_two_replicas_all_count() {
    use fineline_persona::Persona;
    let Some(mut d) = Deployment::start(1).await else {
        return;
    };
    d.replicas[0]
        .add_footfall_store(store("berlin", "s1"))
        .await
        .unwrap();
    let other = d.add_replica().await;
    let business = other.persona_config().business;
    let now = Timestamp::now();
    let token = other.checkin_token("berlin", now).unwrap().token;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let app = d.replicas[(i % 2) as usize].clone();
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&i.to_be_bytes());
        let c = Persona::new("everyday", secret)
            .check_in(&business, "berlin", &token, now, &[i as u8; 16])
            .unwrap();
        tasks.push(tokio::spawn(async move { app.check_in(c, now).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let day = jiff::Timestamp::from_millisecond(now.millis())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let counted = d.replicas[0].checkin_day("berlin", day).await.unwrap();
    assert_eq!(counted.by_level.iter().sum::<u64>(), 40, "{counted:?}");
    d.stop().await;
}

/// A store registered through one replica reaches another that started
/// before it, so the leader sessionizes its sensors without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_registered_elsewhere_is_taken_in() {
    use fineline_footfall::{Mac, Sighting};
    let Some(mut d) = Deployment::start(1).await else {
        return;
    };
    let leader = d.add_replica().await;
    d.replicas[0]
        .add_footfall_store(store("hamburg", "h1"))
        .await
        .unwrap();
    let sighting = Sighting {
        sensor_id: "h1".into(),
        mac: Mac::parse("3c:22:fb:00:00:09").unwrap(),
        rssi: -55,
        at: Timestamp::now(),
    };
    let before = leader
        .ingest_sightings(vec![sighting.clone()])
        .await
        .unwrap();
    assert_eq!(before.dropped.unknown_sensor, 1);
    assert_eq!(leader.adopt_footfall_stores().await.unwrap(), 1);
    assert_eq!(leader.adopt_footfall_stores().await.unwrap(), 0);
    let after = leader.ingest_sightings(vec![sighting]).await.unwrap();
    assert_eq!(after.accepted, 1);
    d.stop().await;
}
