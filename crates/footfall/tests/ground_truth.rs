//! The whole pipeline against the simulator's ground truth.

use fineline_footfall::dp::{release, DpConfig};
use fineline_footfall::simulate::{simulate, SimConfig};
use fineline_footfall::{
    build_reports, DailyReport, DeviceKeyring, Footfall, Mac, OptOutList, Outcome, Session,
    SessionConfig, Store,
};

const ROOT: &[u8] = b"footfall test root secret, 32+ bytes long";
const OPT: &[u8] = b"footfall test opt-out secret, 32+ bytes";

fn pipeline(cfg: &SimConfig) -> Footfall {
    Footfall::new(
        vec![cfg.store.clone()],
        cfg.session,
        DeviceKeyring::new(ROOT, cfg.rotation_days).unwrap(),
        OptOutList::new(OPT).unwrap(),
    )
    .unwrap()
}

fn run(seed: u64, cfg: &SimConfig) -> (Vec<DailyReport>, Vec<DailyReport>, Vec<Session>) {
    let (sightings, truth) = simulate(seed, cfg).unwrap();
    let mut ff = pipeline(cfg);
    let stats = ff.ingest_batch(&sightings).unwrap();
    assert_eq!(stats.late, 0);
    assert!(stats.too_weak > 0 && stats.unknown_sensor > 0, "{stats:?}");
    ff.flush();
    let sessions = ff.take_closed();
    let store = Store::new(cfg.store.clone()).unwrap();
    let last = truth.days.last().unwrap().day;
    let reports = build_reports(&store, &cfg.session, &sessions, cfg.first_day, last);
    (reports, truth.days, sessions)
}

#[test]
fn exact_reports_equal_ground_truth() {
    let cfg = SimConfig::default();
    for seed in [1, 2] {
        let (reports, truth, _) = run(seed, &cfg);
        assert_eq!(reports.len(), cfg.days as usize);
        for (r, t) in reports.iter().zip(&truth) {
            assert_eq!(r, t, "seed {seed} day {}", r.day);
        }
        let busy = truth.iter().filter(|t| t.visitors > 0).count();
        assert!(busy >= 10, "the simulation should cover open days");
        assert!(truth.iter().map(|t| t.repeat_visitors).sum::<u64>() > 50);
        assert!(truth.iter().map(|t| t.dwell_buckets[3]).sum::<u64>() > 0);
        assert!(truth
            .iter()
            .all(|t| t.visitors_by_hour.iter().sum::<u64>() == t.visitors));
    }
}

#[test]
fn same_seed_same_sightings() {
    let cfg = SimConfig {
        days: 2,
        ..SimConfig::default()
    };
    let (a, _) = simulate(7, &cfg).unwrap();
    let (b, _) = simulate(7, &cfg).unwrap();
    let (c, _) = simulate(8, &cfg).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn randomized_macs_never_count_as_new_or_repeat() {
    // Only randomized shoppers, coming every day: still no new or repeat visitors.
    let cfg = SimConfig {
        regulars: 0,
        staff: 0,
        days: 7,
        randomized_visitors_per_day: 80,
        ..SimConfig::default()
    };
    let (reports, truth, sessions) = run(3, &cfg);
    assert_eq!(reports, truth);
    assert!(sessions.iter().filter(|s| s.is_visit).all(|s| s.randomized));
    for r in &reports {
        assert_eq!(r.new_visitors + r.repeat_visitors, 0);
        assert_eq!(r.randomized_visitors, r.visitors);
    }
    assert!(reports.iter().map(|r| r.visitors).sum::<u64>() >= 6 * 80);

    // Even if the same randomized MAC came back, it would not be a repeat visitor.
    let mut ff = pipeline(&cfg);
    let mac = Mac::parse("da:00:00:00:00:01").unwrap();
    let store = Store::new(cfg.store.clone()).unwrap();
    for day in [cfg.first_day, cfg.first_day.tomorrow().unwrap()] {
        let at = store.instant(day, jiff::civil::time(10, 0, 0, 0));
        for m in 0..7 {
            let s = fineline_footfall::Sighting {
                sensor_id: cfg.store.sensors[0].clone(),
                mac,
                rssi: -60,
                at: at.plus_millis(m * 60_000),
            };
            ff.ingest(&s).unwrap();
        }
    }
    ff.flush();
    let day2 = cfg.first_day.tomorrow().unwrap();
    let r = build_reports(&store, &cfg.session, &ff.take_closed(), day2, day2);
    assert_eq!(
        (
            r[0].visitors,
            r[0].randomized_visitors,
            r[0].repeat_visitors
        ),
        (1, 1, 0)
    );
}

#[test]
fn opted_out_devices_leave_no_trace() {
    let cfg = SimConfig {
        days: 2,
        ..SimConfig::default()
    };
    let (sightings, _) = simulate(5, &cfg).unwrap();
    let victim = sightings
        .iter()
        .find(|s| s.rssi > -70 && cfg.store.sensors.contains(&s.sensor_id))
        .unwrap()
        .mac;
    let mut ff = pipeline(&cfg);
    let now = sightings[0].at;
    let record = ff.opt_out(&victim, now);
    let mut ring = DeviceKeyring::new(ROOT, cfg.rotation_days).unwrap();
    let key = ring.device_key(&victim, now).unwrap();
    // The run sits mid-period: the lookback reaches into the period before.
    assert_eq!(record.device_keys.len(), 2);
    assert_eq!(record.device_keys[1], key);
    let mut dropped = 0;
    for s in &sightings {
        if ff.ingest(s).unwrap() == Outcome::OptedOut {
            assert_eq!(s.mac, victim);
            dropped += 1;
        }
    }
    assert!(dropped > 0);
    ff.flush();
    let sessions = ff.take_closed();
    assert!(sessions.iter().all(|s| s.device != key));
    assert_no_mac_in(&sessions, &sightings);
}

/// Nothing the engine hands on (sessions, reports) contains a raw MAC in any spelling.
fn assert_no_mac_in(sessions: &[Session], sightings: &[fineline_footfall::Sighting]) {
    let cfg = SimConfig::default();
    let store = Store::new(cfg.store.clone()).unwrap();
    let reports = build_reports(&store, &cfg.session, sessions, cfg.first_day, cfg.first_day);
    let mut out = serde_json::to_string(sessions).unwrap();
    out += &serde_json::to_string(&reports).unwrap();
    out += &format!("{sessions:?}{reports:?}{:?}", &sightings[..100]);
    let out = out.to_lowercase();
    let macs: std::collections::HashSet<_> = sightings.iter().map(|s| s.mac).collect();
    for m in macs {
        let colon = m.to_canonical();
        for spelling in [
            colon.clone(),
            colon.replace(':', "-"),
            colon.replace(':', ""),
        ] {
            assert!(!out.contains(&spelling), "a MAC leaked");
        }
    }
}

#[test]
fn repeat_needs_an_earlier_day_within_the_lookback() {
    let cfg = SimConfig {
        regular_visit_prob: 0.5,
        days: 5,
        ..SimConfig::default()
    };
    let (reports, truth, sessions) = run(9, &cfg);
    assert_eq!(reports, truth);
    // With a lookback of zero days nobody is a repeat visitor.
    let store = Store::new(cfg.store.clone()).unwrap();
    let none = SessionConfig {
        repeat_lookback_days: 0,
        ..cfg.session
    };
    let last = truth.last().unwrap().day;
    for r in build_reports(&store, &none, &sessions, cfg.first_day, last) {
        assert_eq!(r.repeat_visitors, 0);
    }
}

#[test]
fn dp_figures_fall_within_their_intervals() {
    let cfg = SimConfig::default();
    let (reports, _, _) = run(1, &cfg);
    // At very high confidence every interval must hold the truth.
    let sure = DpConfig {
        confidence: 1.0 - 1e-9,
        ..DpConfig::default()
    };
    let mut outside_95 = 0;
    let mut total = 0;
    for r in &reports {
        let d = release(r, &sure).unwrap();
        let mut pairs = vec![
            (d.visitors, r.visitors),
            (d.passers_by, r.passers_by),
            (d.new_visitors, r.new_visitors),
            (d.repeat_visitors, r.repeat_visitors),
            (d.randomized_visitors, r.randomized_visitors),
            (d.dwell_min_clamped_sum, r.dwell_min_clamped_sum),
        ];
        pairs.extend(d.dwell_buckets.iter().copied().zip(r.dwell_buckets));
        pairs.extend(d.visitors_by_hour.iter().copied().zip(r.visitors_by_hour));
        for (n, t) in pairs {
            assert!(n.contains(t as i64), "{n:?} vs {t} on {}", r.day);
        }
        let d95 = release(r, &DpConfig::default()).unwrap();
        assert!((d95.epsilon - 1.0).abs() < 1e-9);
        for (n, t) in [(d95.visitors, r.visitors), (d95.passers_by, r.passers_by)]
            .into_iter()
            .chain(d95.visitors_by_hour.iter().copied().zip(r.visitors_by_hour))
        {
            total += 1;
            outside_95 += !n.contains(t as i64) as u32;
        }
    }
    // 95% intervals: about 5% miss. Over 364 values, more than 15% missing
    // has probability far below 1e-9 if the intervals are right.
    assert!(total > 300);
    assert!(outside_95 * 100 <= total * 15, "{outside_95} of {total}");
}

#[test]
fn key_rotation_splits_repeat_history() {
    // 2026-06-06 starts a new 90-day key period: regulars seen before it are
    // strangers after it, and the pipeline agrees with the truth about that.
    let cfg = SimConfig {
        first_day: jiff::civil::date(2026, 5, 30),
        regular_visit_prob: 0.3,
        ..SimConfig::default()
    };
    let (reports, truth, sessions) = run(11, &cfg);
    assert_eq!(reports, truth);
    let periods: std::collections::BTreeSet<u32> =
        sessions.iter().map(|s| s.device.period).collect();
    assert_eq!(periods.len(), 2);
    let first_after = reports
        .iter()
        .find(|r| r.day == jiff::civil::date(2026, 6, 6))
        .unwrap();
    assert!(first_after.visitors > 0);
    assert_eq!(first_after.repeat_visitors, 0, "{first_after:?}");
}
