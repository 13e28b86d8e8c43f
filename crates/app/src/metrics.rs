//! Prometheus text metrics, kept as plain atomics: a handful of counters
//! and fixed-bucket latency histograms need no registry crate.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::sync::Mutex;

const BUCKETS_MS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 500.0, 2000.0];

/// The server's counters and latency histograms, as `GET /metrics` shows
/// them. They count requests, events and sightings, never people.
#[derive(Default)]
pub struct Metrics {
    /// Events stored after a consent check.
    pub events_accepted: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    latencies: Mutex<BTreeMap<String, Histogram>>,
    /// Footfall sightings the engine took in.
    pub sightings_accepted: AtomicU64,
    /// Footfall sightings dropped (too weak, opted out, unknown sensor, late,
    /// expired).
    pub sightings_dropped: AtomicU64,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS_MS.len()],
    count: u64,
    sum_ms: f64,
}

impl Metrics {
    /// Counts `n` events refused for `reason` (a fixed word such as
    /// `no_consent`, never input text).
    pub fn reject(&self, reason: &'static str, n: u64) {
        *self.rejected.lock().unwrap().entry(reason).or_default() += n;
    }

    /// Events refused so far for `reason`.
    pub fn rejected(&self, reason: &str) -> u64 {
        self.rejected
            .lock()
            .unwrap()
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Every rejection reason seen so far and its count.
    pub fn rejections(&self) -> BTreeMap<&'static str, u64> {
        self.rejected.lock().unwrap().clone()
    }

    /// `route` is the matched route template (never the raw path, which
    /// may carry a subject id).
    pub fn observe(&self, route: &str, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1e3;
        let mut map = self.latencies.lock().unwrap();
        let h = map.entry(route.to_string()).or_default();
        h.count += 1;
        h.sum_ms += ms;
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                h.buckets[i] += 1;
            }
        }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP fineline_events_accepted_total Events stored after a consent check.\n",
        );
        out.push_str("# TYPE fineline_events_accepted_total counter\n");
        let _ = writeln!(
            out,
            "fineline_events_accepted_total {}",
            self.events_accepted.load(Ordering::Relaxed)
        );
        out.push_str("# HELP fineline_events_rejected_total Events refused, by reason.\n");
        out.push_str("# TYPE fineline_events_rejected_total counter\n");
        for (reason, n) in self.rejected.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "fineline_events_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out.push_str("# TYPE fineline_sightings_accepted_total counter\n");
        let _ = writeln!(
            out,
            "fineline_sightings_accepted_total {}",
            self.sightings_accepted.load(Ordering::Relaxed)
        );
        out.push_str("# TYPE fineline_sightings_dropped_total counter\n");
        let _ = writeln!(
            out,
            "fineline_sightings_dropped_total {}",
            self.sightings_dropped.load(Ordering::Relaxed)
        );
        out.push_str("# HELP fineline_request_duration_ms Request latency by route.\n");
        out.push_str("# TYPE fineline_request_duration_ms histogram\n");
        for (route, h) in self.latencies.lock().unwrap().iter() {
            for (i, b) in BUCKETS_MS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fineline_request_duration_ms_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "fineline_request_duration_ms_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "fineline_request_duration_ms_sum{{route=\"{route}\"}} {}",
                h.sum_ms
            );
            let _ = writeln!(
                out,
                "fineline_request_duration_ms_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out
    }
}
