//! Sessionizer edge cases at the documented thresholds.

use fineline_core::Timestamp;
use fineline_footfall::{DeviceKey, Outcome, Session, SessionConfig, Sessionizer};

const MIN: i64 = 60_000;
const T0: i64 = 1_774_258_200_000;

fn dev(n: u8) -> DeviceKey {
    DeviceKey {
        period: 1,
        digest: [n; 32],
    }
}

/// Feed (device, rssi, minute offset in ms) and flush.
fn run(feed: &[(u8, i16, i64)]) -> Vec<Session> {
    let mut s = Sessionizer::new("st", SessionConfig::default());
    for &(d, rssi, at) in feed {
        s.push(dev(d), false, rssi, Timestamp(T0 + at));
    }
    s.flush();
    let mut out = s.take_closed();
    out.sort_by_key(|s| (s.first, s.device));
    out
}

#[test]
fn exactly_five_minutes_is_a_visit() {
    let out = run(&[(1, -60, 0), (1, -70, 5 * MIN)]);
    assert_eq!(out.len(), 1);
    assert!(out[0].is_visit);
    assert_eq!(out[0].dwell_ms(), 5 * MIN);
    let out = run(&[(1, -60, 0), (1, -70, 5 * MIN - 1)]);
    assert!(!out[0].is_visit, "one ms short is a passer-by");
}

#[test]
fn gap_of_exactly_five_minutes_keeps_the_session() {
    let out = run(&[(1, -60, 0), (1, -60, 5 * MIN), (1, -60, 10 * MIN)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dwell_ms(), 10 * MIN);
    let out = run(&[(1, -60, 0), (1, -60, 5 * MIN + 1), (1, -60, 10 * MIN + 1)]);
    assert_eq!(out.len(), 2, "a gap over 5 min ends it");
    assert!(!out[0].is_visit && out[1].is_visit);
}

#[test]
fn rssi_thresholds() {
    // -75 is strong enough for a visit, -76 is not.
    assert!(run(&[(1, -75, 0), (1, -85, 5 * MIN)])[0].is_visit);
    assert!(!run(&[(1, -76, 0), (1, -80, 5 * MIN)])[0].is_visit);
    // -85 counts as presence, -86 is ignored entirely.
    let out = run(&[(1, -60, 0), (1, -85, 5 * MIN)]);
    assert!(out[0].is_visit);
    let mut s = Sessionizer::new("st", SessionConfig::default());
    assert_eq!(s.push(dev(1), false, -60, Timestamp(T0)), Outcome::Accepted);
    assert_eq!(
        s.push(dev(1), false, -86, Timestamp(T0 + 5 * MIN)),
        Outcome::TooWeak
    );
    s.flush();
    let out = s.take_closed();
    assert_eq!(out.len(), 1);
    assert!(
        !out[0].is_visit,
        "the ignored sighting did not extend the dwell"
    );
    assert_eq!(out[0].dwell_ms(), 0);
}

#[test]
fn weak_sightings_do_not_bridge_gaps() {
    let mut s = Sessionizer::new("st", SessionConfig::default());
    s.push(dev(1), false, -60, Timestamp(T0));
    s.push(dev(1), false, -90, Timestamp(T0 + 3 * MIN));
    s.push(dev(1), false, -60, Timestamp(T0 + 6 * MIN));
    s.flush();
    assert_eq!(s.take_closed().len(), 2);
}

#[test]
fn devices_are_separate_and_memory_is_released() {
    let mut s = Sessionizer::new("st", SessionConfig::default());
    for i in 0..100u8 {
        s.push(dev(i), false, -60, Timestamp(T0 + i as i64 * 1000));
    }
    assert_eq!(s.open_sessions(), 100);
    // Time passes: once past gap + lateness, sessions close without a flush.
    s.advance_to(Timestamp(T0 + 100_000 + 7 * MIN + 1));
    assert_eq!(s.open_sessions(), 0);
    assert_eq!(s.take_closed().len(), 100);
}

#[test]
fn late_and_out_of_order_sightings() {
    let cfg = SessionConfig::default();
    let mut s = Sessionizer::new("st", cfg);
    s.push(dev(1), false, -60, Timestamp(T0 + 10 * MIN));
    // Within the lateness window and before the session: extends it backwards.
    assert_eq!(
        s.push(dev(1), false, -60, Timestamp(T0 + 9 * MIN)),
        Outcome::Accepted
    );
    s.push(dev(2), false, -60, Timestamp(T0 + 20 * MIN));
    // Older than the lateness window allows.
    let late = T0 + 20 * MIN - cfg.max_lateness_ms - 1;
    assert_eq!(s.push(dev(3), false, -60, Timestamp(late)), Outcome::Late);
    s.flush();
    let out = s.take_closed();
    let d1 = out.iter().find(|x| x.device == dev(1)).unwrap();
    assert_eq!(d1.dwell_ms(), MIN);
}
