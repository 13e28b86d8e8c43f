//! Seeded simulator of a store's Wi-Fi sightings with known ground truth,
//! for tests and `fineline demo-data --kind sightings`.
//!
//! Regulars (global MACs) visit on some days, sometimes twice; shoppers with
//! randomized MACs get a new MAC every visit; passers-by are either brief
//! (under 5 min) or never close enough (below -75 dBm); staff arrive before
//! opening; and there is radio noise below the floor and unregistered
//! sensors. Every visit's sightings are at most 4 min apart, so the truth is
//! known by construction; [`GroundTruth::days`] works it out from who each
//! device really is, independently of the pipeline.

use std::collections::{BTreeMap, HashMap, HashSet};

use fineline_core::Timestamp;
use jiff::civil::{Date, Time};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ingest::Sighting;
use crate::keys::{period_of, DEFAULT_ROTATION_DAYS};
use crate::mac::Mac;
use crate::report::{days_between, DailyReport};
use crate::session::SessionConfig;
use crate::store::{OpeningHours, Store, StoreConfig, StoreError};

const MINUTE_MS: i64 = 60_000;

/// What the simulator generates: the store, the days and the crowd.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The simulated store, its sensors and opening hours.
    pub store: StoreConfig,
    /// The first simulated local day.
    pub first_day: Date,
    /// How many consecutive days are simulated.
    pub days: u32,
    /// Shoppers with a global MAC who may come back.
    pub regulars: u32,
    /// Chance a regular visits on a given day.
    pub regular_visit_prob: f64,
    /// Chance a regular comes back the same day, drawn again after each visit.
    pub second_visit_prob: f64,
    /// Shoppers with randomized MACs per day (a new MAC each visit).
    pub randomized_visitors_per_day: u32,
    /// People passing by per day, too briefly or too far to count as visits.
    pub passers_by_per_day: u32,
    /// Share of passers-by with a randomized MAC, from 0 to 1.
    pub randomized_passer_share: f64,
    /// Staff who arrive before opening every day.
    pub staff: u32,
    /// Radio noise sightings per day, below the RSSI floor or from unregistered sensors.
    pub noise_per_day: u32,
    /// Must match the keyring's rotation, as keys split repeat visitors at period ends.
    pub rotation_days: u32,
    /// Sessionization rules, also used to work out the ground truth.
    pub session: SessionConfig,
}

impl SimConfig {
    /// The key rotation period in milliseconds.
    fn rotation_ms(&self) -> i64 {
        self.rotation_days as i64 * 24 * 60 * MINUTE_MS
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        let h = Some(OpeningHours::hours(9, 20));
        Self {
            store: StoreConfig {
                store_id: "demo-store".into(),
                sensors: vec!["demo-s1".into(), "demo-s2".into(), "demo-s3".into()],
                opening_hours: [h, h, h, h, h, h, None],
                time_zone: "Europe/Berlin".into(),
            },
            // A Monday; the clocks change on 2026-03-29, mid-run.
            first_day: jiff::civil::date(2026, 3, 23),
            days: 14,
            regulars: 400,
            regular_visit_prob: 0.12,
            second_visit_prob: 0.1,
            randomized_visitors_per_day: 60,
            passers_by_per_day: 200,
            randomized_passer_share: 0.6,
            staff: 3,
            noise_per_day: 300,
            rotation_days: DEFAULT_ROTATION_DAYS,
            session: SessionConfig::default(),
        }
    }
}

/// One true visit, by who really made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueVisit {
    /// Who made it (simulator's person number; randomized shoppers get a fresh one per visit).
    pub person: u32,
    /// Whether the device used a randomized MAC.
    pub randomized: bool,
    /// First sighting of the visit.
    pub start: Timestamp,
    /// Last sighting of the visit.
    pub end: Timestamp,
    /// The store's local day the visit began on.
    pub day: Date,
    /// Whether it began while the store was open.
    pub in_hours: bool,
}

/// What really happened in a simulation, worked out from true identities.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// Every true visit, in hours or not.
    pub visits: Vec<TrueVisit>,
    /// Passer-by appearances: (person, day).
    pub passers_by: Vec<(u32, Date)>,
    /// The exact report every day should have, from true identities.
    pub days: Vec<DailyReport>,
}

struct Sim<'a> {
    rng: ChaCha8Rng,
    cfg: &'a SimConfig,
    used: HashSet<[u8; 6]>,
    out: Vec<Sighting>,
}

impl Sim<'_> {
    fn mac(&mut self, randomized: bool) -> Mac {
        loop {
            let mut o: [u8; 6] = self.rng.gen();
            o[0] &= !0x01; // unicast
            if randomized {
                o[0] |= 0x02;
            } else {
                o[0] &= !0x02;
            }
            if self.used.insert(o) {
                return Mac::from_octets(o);
            }
        }
    }

    fn sensor(&mut self) -> String {
        self.cfg
            .store
            .sensors
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_default()
    }

    fn push(&mut self, mac: Mac, rssi: i16, at: i64) {
        let sensor_id = self.sensor();
        self.out.push(Sighting {
            sensor_id,
            mac,
            rssi,
            at: Timestamp(at),
        });
    }

    /// Sightings from `start` to exactly `end`, never more than `max_step` apart.
    fn presence(&mut self, mac: Mac, start: i64, end: i64, rssi: (i16, i16), max_step: i64) {
        let mut t = start;
        let mut strong_first = true;
        loop {
            let r = if strong_first && rssi.1 >= self.cfg.session.visit_min_dbm {
                self.rng.gen_range(self.cfg.session.visit_min_dbm..=rssi.1)
            } else {
                self.rng.gen_range(rssi.0..=rssi.1)
            };
            strong_first = false;
            self.push(mac, r, t);
            if self.rng.gen_bool(0.1) {
                let noise_at = self.rng.gen_range(start..=end);
                let weak = self.rng.gen_range(-100..self.cfg.session.ignore_below_dbm);
                self.push(mac, weak, noise_at);
            }
            if t >= end {
                break;
            }
            t = (t + self.rng.gen_range(10_000..=max_step)).min(end);
        }
    }

    fn dwell_ms(&mut self) -> i64 {
        if self.rng.gen_bool(0.05) {
            return 5 * MINUTE_MS;
        }
        let (lo, hi) = match self.rng.gen_range(0..100) {
            0..=44 => (5, 20),
            45..=79 => (20, 60),
            80..=96 => (60, 360),
            _ => (360, 480),
        };
        self.rng.gen_range(lo * MINUTE_MS..hi * MINUTE_MS)
    }
}

/// Simulate `cfg.days` days at one store. Same seed, same sightings.
pub fn simulate(seed: u64, cfg: &SimConfig) -> Result<(Vec<Sighting>, GroundTruth), StoreError> {
    let store = Store::new(cfg.store.clone())?;
    let mut sim = Sim {
        rng: ChaCha8Rng::seed_from_u64(seed),
        cfg,
        used: HashSet::new(),
        out: Vec::new(),
    };
    let regulars: Vec<Mac> = (0..cfg.regulars).map(|_| sim.mac(false)).collect();
    let staff: Vec<Mac> = (0..cfg.staff).map(|_| sim.mac(false)).collect();
    let pool: Vec<Mac> = (0..cfg.passers_by_per_day * 2)
        .map(|_| sim.mac(false))
        .collect();
    let staff_id = |i: usize| cfg.regulars + i as u32;
    let pool_id = |i: usize| cfg.regulars + cfg.staff + i as u32;
    let mut next_id = cfg.regulars + cfg.staff + pool.len() as u32;
    let mut visits = Vec::new();
    let mut passers = Vec::new();

    let mut day = cfg.first_day;
    for _ in 0..cfg.days {
        if let Some(h) = store.hours_on(day) {
            let open = store.instant(day, h.open).0;
            let close = store.instant(day, h.close).0;
            for (i, &mac) in staff.iter().enumerate() {
                let (start, end) = (open - 30 * MINUTE_MS, close + 15 * MINUTE_MS);
                sim.presence(mac, start, end, (-80, -50), 240_000);
                visits.push(visit(&store, staff_id(i), false, start, end));
            }
            let mut shoppers: Vec<(u32, Mac, bool)> = Vec::new();
            for (i, &mac) in regulars.iter().enumerate() {
                if sim.rng.gen_bool(cfg.regular_visit_prob) {
                    shoppers.push((i as u32, mac, false));
                }
            }
            for _ in 0..cfg.randomized_visitors_per_day {
                shoppers.push((u32::MAX, Mac::from_octets([0; 6]), true));
            }
            for (mut person, mut mac, randomized) in shoppers {
                let mut start = sim.rng.gen_range(open..close - 5 * MINUTE_MS);
                let mut again = true;
                while again && start < close - 5 * MINUTE_MS {
                    if randomized {
                        mac = sim.mac(true);
                        person = next_id;
                        next_id += 1;
                    }
                    let end = start + sim.dwell_ms();
                    // A stay across a key rotation is two visits to the
                    // pipeline (the MAC's pseudonym changes, by design), so
                    // it is simulated and counted as two: the truth stays
                    // what the pipeline can know.
                    let rotation = cfg.rotation_ms();
                    let boundary = (start / rotation + 1) * rotation;
                    for (from, to) in [(start, end.min(boundary - 1)), (boundary, end)] {
                        if from <= to {
                            sim.presence(mac, from, to, (-85, -45), 240_000);
                            visits.push(visit(&store, person, randomized, from, to));
                        }
                    }
                    again = !randomized && sim.rng.gen_bool(cfg.second_visit_prob);
                    start = end + sim.rng.gen_range(30 * MINUTE_MS..120 * MINUTE_MS);
                }
            }
            let mut order: Vec<usize> = (0..pool.len()).collect();
            order.shuffle(&mut sim.rng);
            let mut from_pool = order.into_iter();
            for _ in 0..cfg.passers_by_per_day {
                let (person, mac) = if sim.rng.gen_bool(cfg.randomized_passer_share) {
                    next_id += 1;
                    (next_id - 1, sim.mac(true))
                } else {
                    let i = from_pool.next().unwrap_or(0);
                    (pool_id(i), pool[i])
                };
                let start = sim.rng.gen_range(open..close - 20 * MINUTE_MS);
                if sim.rng.gen_bool(0.5) {
                    let end = start + sim.rng.gen_range(0..5 * MINUTE_MS);
                    sim.presence(mac, start, end, (-75, -45), 60_000);
                } else {
                    let end = start + sim.rng.gen_range(0..20 * MINUTE_MS);
                    let weak = cfg.session.visit_min_dbm - 1;
                    sim.presence(
                        mac,
                        start,
                        end,
                        (cfg.session.ignore_below_dbm, weak),
                        60_000,
                    );
                }
                passers.push((person, day));
            }
        }
        let midnight = store.instant(day, Time::midnight()).0;
        for _ in 0..cfg.noise_per_day {
            let mac = Mac::from_octets(sim.rng.gen());
            let at = midnight + sim.rng.gen_range(0..24 * 60 * MINUTE_MS);
            let weak = sim.rng.gen_range(-110..cfg.session.ignore_below_dbm);
            sim.push(mac, weak, at);
            if sim.rng.gen_bool(0.05) {
                sim.out.push(Sighting {
                    sensor_id: "not-registered".into(),
                    mac,
                    rssi: -50,
                    at: Timestamp(at),
                });
            }
        }
        day = day.tomorrow().map_err(|_| StoreError::BadStoreId)?;
    }
    let mut sightings = sim.out;
    sightings.sort_by_key(|s| s.at);
    let last = cfg
        .first_day
        .checked_add(jiff::Span::new().days(cfg.days as i64 - 1));
    let days = truth_reports(
        &store,
        cfg,
        &visits,
        &passers,
        last.unwrap_or(cfg.first_day),
    );
    Ok((
        sightings,
        GroundTruth {
            visits,
            passers_by: passers,
            days,
        },
    ))
}

fn visit(store: &Store, person: u32, randomized: bool, start: i64, end: i64) -> TrueVisit {
    TrueVisit {
        person,
        randomized,
        start: Timestamp(start),
        end: Timestamp(end),
        day: store.local_day(Timestamp(start)),
        in_hours: store.is_open(Timestamp(start)),
    }
}

fn truth_reports(
    store: &Store,
    cfg: &SimConfig,
    visits: &[TrueVisit],
    passers: &[(u32, Date)],
    last_day: Date,
) -> Vec<DailyReport> {
    let rotation_ms = cfg.rotation_ms();
    // Identity as the pipeline can know it: the person within one key period.
    let ident = |v: &TrueVisit| (v.person, period_of(v.start, rotation_ms).unwrap_or(0));
    let mut seen_days: HashMap<(u32, u32), Vec<Date>> = HashMap::new();
    for v in visits.iter().filter(|v| v.in_hours && !v.randomized) {
        seen_days.entry(ident(v)).or_default().push(v.day);
    }
    // Per day and person: (first visit start, dwell sum, randomized, identity).
    type PersonDay = (i64, i64, bool, (u32, u32));
    let mut per_day: BTreeMap<Date, BTreeMap<u32, PersonDay>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut day = cfg.first_day;
    while day <= last_day {
        out.push(DailyReport::empty(store.id(), day));
        day = match day.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    for v in visits {
        let i = days_between(cfg.first_day, v.day);
        if v.day < cfg.first_day || i >= out.len() as i64 {
            continue;
        }
        let i = i as usize;
        if !v.in_hours {
            out[i].outside_hours_sessions += 1;
            continue;
        }
        out[i].visits += 1;
        let e = per_day
            .entry(v.day)
            .or_default()
            .entry(v.person)
            .or_insert((i64::MAX, 0, v.randomized, ident(v)));
        e.0 = e.0.min(v.start.0);
        e.1 += v.end.0 - v.start.0;
    }
    for r in &mut out {
        let people = per_day.remove(&r.day).unwrap_or_default();
        r.passers_by = passers
            .iter()
            .filter(|(p, d)| *d == r.day && !people.contains_key(p))
            .map(|(p, _)| p)
            .collect::<HashSet<_>>()
            .len() as u64;
        let mut dwells = Vec::new();
        for (first, dwell, randomized, id) in people.into_values() {
            r.visitors += 1;
            r.visitors_by_hour[store.local_day_hour(Timestamp(first)).1 as usize] += 1;
            dwells.push(dwell);
            if randomized {
                r.randomized_visitors += 1;
                continue;
            }
            let repeat = seen_days[&id].iter().any(|&d| {
                d < r.day && days_between(d, r.day) <= cfg.session.repeat_lookback_days as i64
            });
            if repeat {
                r.repeat_visitors += 1;
            } else {
                r.new_visitors += 1;
            }
        }
        r.set_dwell(&mut dwells);
    }
    out
}
