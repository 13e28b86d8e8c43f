//! Exact daily store reports from closed sessions.
//!
//! The unit is the visitor-day: a device counts once per store per local
//! day. Its dwell is the sum of its visits that day; its hour is the local
//! hour its first visit began. A device with only passer-by sessions that
//! day is a passer-by. Sessions are placed on the local day they began, and
//! sessions that began while the store was closed (staff, cleaners, night
//! traffic) are left out and only counted. These figures are exact: they
//! are for the store's own checks and tests, and are what [`crate::dp`] noises.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;

use crate::keys::DeviceKey;
use crate::session::{Session, SessionConfig};
use crate::store::Store;

const MINUTE_MS: i64 = 60_000;

/// Lower edges of the dwell buckets in minutes: 5–20, 20–60, 60–360, 360+.
/// (A visit under 5 min only happens with a lowered `min_dwell_ms`; it goes in the first bucket.)
pub const DWELL_BUCKET_EDGES_MIN: [i64; 4] = [5, 20, 60, 360];

/// Dwell clamp for the DP sum: one visitor adds at most this many minutes.
pub const DWELL_CAP_MIN: i64 = 240;

/// One store's figures for one local day.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DailyReport {
    /// Which store the figures are for.
    pub store_id: String,
    /// The store's local calendar day.
    pub day: Date,
    /// Sessions that were visits (a visitor may make several).
    pub visits: u64,
    /// Devices with at least one visit.
    pub visitors: u64,
    /// Devices seen that day without any visit.
    pub passers_by: u64,
    /// visitors / (visitors + passers_by).
    pub capture_rate: Option<f64>,
    /// Median visitor dwell in minutes; `None` with no visitors.
    pub median_dwell_min: Option<f64>,
    /// Mean visitor dwell in minutes; `None` with no visitors.
    pub mean_dwell_min: Option<f64>,
    /// Visitors per dwell bucket, see [`DWELL_BUCKET_EDGES_MIN`].
    pub dwell_buckets: [u64; 4],
    /// Visitors with a global MAC and no visit in the lookback.
    pub new_visitors: u64,
    /// Visitors with a global MAC who visited on an earlier day within the lookback.
    pub repeat_visitors: u64,
    /// Visitors with a randomized MAC: neither new nor repeat.
    pub randomized_visitors: u64,
    /// Visitors by the local hour their first visit began.
    pub visitors_by_hour: [u64; 24],
    /// Sum over visitors of whole dwell minutes, each clamped to [`DWELL_CAP_MIN`]: the DP sum's input.
    pub dwell_min_clamped_sum: u64,
    /// Sessions that began while the store was closed, left out above.
    pub outside_hours_sessions: u64,
    /// Phones that checked in at the kiosk at trust level 0 or 1 (no
    /// identifier): filled in by the server from its check-in counts, not
    /// by [`build_reports`], which sees Wi-Fi sessions only.
    pub checkins_anonymous: u64,
    /// Phones that checked in under their pseudonym (level 2 and above).
    pub checkins_pseudonymous: u64,
}

impl DailyReport {
    /// A report of nothing, for a day without sessions.
    pub fn empty(store_id: &str, day: Date) -> Self {
        Self {
            store_id: store_id.to_owned(),
            day,
            visits: 0,
            visitors: 0,
            passers_by: 0,
            capture_rate: None,
            median_dwell_min: None,
            mean_dwell_min: None,
            dwell_buckets: [0; 4],
            new_visitors: 0,
            repeat_visitors: 0,
            randomized_visitors: 0,
            visitors_by_hour: [0; 24],
            dwell_min_clamped_sum: 0,
            outside_hours_sessions: 0,
            checkins_anonymous: 0,
            checkins_pseudonymous: 0,
        }
    }

    /// Fill the dwell figures from each visitor's dwell in ms.
    pub fn set_dwell(&mut self, dwells_ms: &mut [i64]) {
        dwells_ms.sort_unstable();
        self.median_dwell_min = median_minutes(dwells_ms);
        self.mean_dwell_min = mean_minutes(dwells_ms);
        for &d in dwells_ms.iter() {
            self.dwell_buckets[dwell_bucket(d)] += 1;
            self.dwell_min_clamped_sum += (d / MINUTE_MS).clamp(0, DWELL_CAP_MIN) as u64;
        }
        let seen = self.visitors + self.passers_by;
        self.capture_rate = (seen > 0).then(|| self.visitors as f64 / seen as f64);
    }
}

/// Index into [`DWELL_BUCKET_EDGES_MIN`] of a dwell in ms.
pub fn dwell_bucket(dwell_ms: i64) -> usize {
    DWELL_BUCKET_EDGES_MIN[1..]
        .iter()
        .take_while(|&&edge| dwell_ms >= edge * MINUTE_MS)
        .count()
}

/// Median of sorted dwells, in minutes (mean of the middle two for even counts).
pub fn median_minutes(sorted_ms: &[i64]) -> Option<f64> {
    let n = sorted_ms.len();
    if n == 0 {
        return None;
    }
    let mid = if n % 2 == 1 {
        sorted_ms[n / 2] as f64
    } else {
        (sorted_ms[n / 2 - 1] as f64 + sorted_ms[n / 2] as f64) / 2.0
    };
    Some(mid / MINUTE_MS as f64)
}

/// Mean of dwells in ms, in minutes; `None` if there are none.
pub fn mean_minutes(ms: &[i64]) -> Option<f64> {
    if ms.is_empty() {
        return None;
    }
    let sum: i64 = ms.iter().sum();
    Some(sum as f64 / ms.len() as f64 / MINUTE_MS as f64)
}

/// Days from `earlier` to `later`.
pub fn days_between(earlier: Date, later: Date) -> i64 {
    later
        .since(earlier)
        .map(|s| s.get_days() as i64)
        .unwrap_or(i64::MAX)
}

#[derive(Default)]
struct DeviceDay {
    visit_dwell_ms: i64,
    first_visit: Option<(i64, u8)>,
    randomized: bool,
}

/// Reports for every local day in `from..=to` for one store. `sessions` may
/// hold any stores' sessions; pass those from `repeat_lookback_days` before
/// `from` too, or early visitors will look new.
pub fn build_reports(
    store: &Store,
    cfg: &SessionConfig,
    sessions: &[Session],
    from: Date,
    to: Date,
) -> Vec<DailyReport> {
    let mut days: BTreeMap<Date, HashMap<DeviceKey, DeviceDay>> = BTreeMap::new();
    let mut outside: BTreeMap<Date, u64> = BTreeMap::new();
    let mut visits: BTreeMap<Date, u64> = BTreeMap::new();
    // Days on which each global-MAC device visited: the repeat-visitor history.
    let mut history: HashMap<DeviceKey, Vec<Date>> = HashMap::new();
    for s in sessions.iter().filter(|s| s.store_id == store.id()) {
        let (day, hour) = store.local_day_hour(s.first);
        let in_range = from <= day && day <= to;
        if !store.is_open(s.first) {
            if in_range {
                *outside.entry(day).or_default() += 1;
            }
            continue;
        }
        if s.is_visit && !s.randomized {
            history.entry(s.device).or_default().push(day);
        }
        if !in_range {
            continue;
        }
        let dd = days.entry(day).or_default().entry(s.device).or_default();
        dd.randomized = s.randomized;
        if s.is_visit {
            *visits.entry(day).or_default() += 1;
            dd.visit_dwell_ms += s.dwell_ms();
            let start = (s.first.0, hour);
            dd.first_visit = Some(dd.first_visit.map_or(start, |f| f.min(start)));
        }
    }
    for v in history.values_mut() {
        v.sort_unstable();
        v.dedup();
    }

    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        let mut r = DailyReport::empty(store.id(), day);
        r.outside_hours_sessions = outside.get(&day).copied().unwrap_or(0);
        r.visits = visits.get(&day).copied().unwrap_or(0);
        let mut dwells = Vec::new();
        for (device, dd) in days.get(&day).into_iter().flatten() {
            let Some((_, hour)) = dd.first_visit else {
                r.passers_by += 1;
                continue;
            };
            r.visitors += 1;
            r.visitors_by_hour[hour as usize] += 1;
            dwells.push(dd.visit_dwell_ms);
            if dd.randomized {
                r.randomized_visitors += 1;
            } else if is_repeat(&history, device, day, cfg.repeat_lookback_days) {
                r.repeat_visitors += 1;
            } else {
                r.new_visitors += 1;
            }
        }
        r.set_dwell(&mut dwells);
        out.push(r);
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out
}

fn is_repeat(
    history: &HashMap<DeviceKey, Vec<Date>>,
    device: &DeviceKey,
    day: Date,
    lookback: u32,
) -> bool {
    let Some(days) = history.get(device) else {
        return false;
    };
    let earlier = days.partition_point(|d| *d < day);
    earlier > 0 && days_between(days[earlier - 1], day) <= lookback as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_middles() {
        assert_eq!(dwell_bucket(5 * MINUTE_MS), 0);
        assert_eq!(dwell_bucket(20 * MINUTE_MS - 1), 0);
        assert_eq!(dwell_bucket(20 * MINUTE_MS), 1);
        assert_eq!(dwell_bucket(60 * MINUTE_MS), 2);
        assert_eq!(dwell_bucket(360 * MINUTE_MS), 3);
        assert_eq!(median_minutes(&[60_000, 180_000]), Some(2.0));
        assert_eq!(median_minutes(&[60_000, 120_000, 900_000]), Some(2.0));
        assert_eq!(mean_minutes(&[60_000, 180_000]), Some(2.0));
        assert_eq!(median_minutes(&[]), None);
    }
}
