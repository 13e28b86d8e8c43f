//! Throughput and memory of ingestion: pseudonymization (opt-out check,
//! HMAC device key) plus sessionization, for one busy store.
//!
//! Sightings are generated on the fly in time order, in chunks, so the
//! input never sits in memory whole: peak memory is the engine's (open
//! sessions, keys) plus one chunk. Closed sessions are handed over and
//! dropped each chunk, as the server would persist them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use fineline_core::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ingest::{Footfall, Sighting};
use crate::keys::{DeviceKeyring, OptOutList};
use crate::mac::Mac;
use crate::session::SessionConfig;
use crate::store::{OpeningHours, StoreConfig};

/// What the ingestion benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Sightings in the simulated day.
    pub sightings: u64,
    /// Seeds the simulated devices, so runs repeat.
    pub seed: u64,
    /// Sightings generated per timed batch.
    pub chunk: usize,
    /// Opted-out devices on the list (the check runs for every sighting).
    pub opt_outs: u32,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            sightings: 10_000_000,
            seed: 1,
            chunk: 1 << 16,
            opt_outs: 1_000,
        }
    }
}

/// What one ingestion benchmark run measured.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Sightings ingested.
    pub sightings: u64,
    /// Time inside `Footfall::ingest` only (generation excluded).
    pub ingest_time: Duration,
    /// Sightings ingested per second of `ingest_time`.
    pub per_second: f64,
    /// Distinct devices simulated.
    pub devices: u64,
    /// Sessions closed.
    pub sessions: u64,
    /// Sessions that were visits.
    pub visits: u64,
    /// Most sessions open at once, which bounds memory.
    pub max_open_sessions: usize,
    /// VmHWM before the engine was built and at the end, in KiB.
    pub peak_rss_kib_before: Option<u64>,
    /// Peak RSS (`VmHWM`) at the end, in KiB; `None` off Linux.
    pub peak_rss_kib_after: Option<u64>,
}

/// Peak resident set size of this process so far (Linux `VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Device {
    mac: Mac,
    end: i64,
    step: (i64, i64),
}

/// Run the benchmark: one store, one day, `cfg.sightings` sightings.
pub fn run(cfg: &BenchConfig) -> BenchResult {
    let before = peak_rss_kib();
    let sensors: Vec<String> = (0..4).map(|i| format!("bench-s{i}")).collect();
    let store = StoreConfig {
        store_id: "bench-store".into(),
        sensors: sensors.clone(),
        opening_hours: [Some(OpeningHours::hours(0, 24)); 7],
        time_zone: "Europe/Berlin".into(),
    };
    let mut opt = OptOutList::new(&[7u8; 32]).expect("32-byte secret");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    for _ in 0..cfg.opt_outs {
        opt.opt_out(&Mac::from_octets(rng.gen()));
    }
    let mut ff = Footfall::new(
        vec![store],
        SessionConfig::default(),
        DeviceKeyring::new(&[9u8; 32], 90).expect("32-byte secret"),
        opt,
    )
    .expect("valid store");

    // Device mix: 40% pass by (0–4 min), 60% shop (5–120 min); each is seen
    // every 10–60 s, so about 62 sightings per device on average.
    let day_ms = 86_400_000i64;
    let start = 1_774_220_400_000i64; // 2026-03-23 00:00 Berlin
    let arrivals_per_ms = cfg.sightings as f64 / 62.0 / day_ms as f64;
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut devices: Vec<Device> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut chunk: Vec<Sighting> = Vec::with_capacity(cfg.chunk);
    let mut res = BenchResult {
        sightings: 0,
        ingest_time: Duration::ZERO,
        per_second: 0.0,
        devices: 0,
        sessions: 0,
        visits: 0,
        max_open_sessions: 0,
        peak_rss_kib_before: before,
        peak_rss_kib_after: None,
    };
    let mut now = start;
    let mut next_arrival = start;
    while res.sightings + (chunk.len() as u64) < cfg.sightings {
        // Arrivals up to `now`.
        while next_arrival <= now {
            let mut o: [u8; 6] = rng.gen();
            o[0] &= !0x01;
            let stay = if rng.gen_bool(0.4) {
                rng.gen_range(0..240_000)
            } else {
                rng.gen_range(300_000..7_200_000)
            };
            let d = Device {
                mac: Mac::from_octets(o),
                end: next_arrival + stay,
                step: (10_000, 60_000),
            };
            let idx = match free.pop() {
                Some(i) => {
                    devices[i] = d;
                    i
                }
                None => {
                    devices.push(d);
                    devices.len() - 1
                }
            };
            heap.push(Reverse((next_arrival, idx)));
            res.devices += 1;
            let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
            next_arrival += (-u.ln() / arrivals_per_ms).ceil() as i64;
        }
        // Sightings in time order until the next arrival.
        while let Some(&Reverse((at, idx))) = heap.peek() {
            if at > next_arrival {
                break;
            }
            heap.pop();
            let d = &devices[idx];
            chunk.push(Sighting {
                sensor_id: sensors[rng.gen_range(0..sensors.len())].clone(),
                mac: d.mac,
                rssi: rng.gen_range(-90..=-40),
                at: Timestamp(at),
            });
            let next = at + rng.gen_range(d.step.0..=d.step.1);
            if next <= d.end {
                heap.push(Reverse((next, idx)));
            } else {
                free.push(idx);
            }
            if chunk.len() == cfg.chunk {
                ingest_chunk(&mut ff, &mut chunk, &mut res);
            }
        }
        now = next_arrival;
    }
    ingest_chunk(&mut ff, &mut chunk, &mut res);
    ff.flush();
    count_closed(&mut ff, &mut res);
    res.per_second = res.sightings as f64 / res.ingest_time.as_secs_f64().max(1e-9);
    res.peak_rss_kib_after = peak_rss_kib();
    res
}

fn ingest_chunk(ff: &mut Footfall, chunk: &mut Vec<Sighting>, res: &mut BenchResult) {
    let t = Instant::now();
    for s in chunk.iter() {
        // Bench keys never retire, so ingest cannot fail here.
        let _ = ff.ingest(s);
    }
    res.ingest_time += t.elapsed();
    res.sightings += chunk.len() as u64;
    chunk.clear();
    res.max_open_sessions = res.max_open_sessions.max(ff.open_sessions());
    count_closed(ff, res);
}

fn count_closed(ff: &mut Footfall, res: &mut BenchResult) {
    for s in ff.take_closed() {
        res.sessions += 1;
        res.visits += s.is_visit as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_run_counts_every_sighting() {
        let r = run(&BenchConfig {
            sightings: 20_000,
            chunk: 1000,
            opt_outs: 10,
            seed: 3,
        });
        assert!(r.sightings >= 20_000 && r.sightings < 21_000, "{r:?}");
        assert!(r.sessions > 0 && r.visits > 0 && r.visits < r.sessions);
        assert!(peak_rss_kib().is_some());
    }
}
