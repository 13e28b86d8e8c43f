//! Sessionizer: a device's sightings at one store become sessions, and each
//! session is a visit or a passer-by.
//!
//! Only per-device open-session state is kept, never the sightings, so memory
//! is bounded by how many devices are in range at once, not by traffic.
//!
//! Rules (all in [`SessionConfig`], defaults in brackets):
//! - sightings weaker than `ignore_below_dbm` [-85] are ignored; -85 itself counts;
//! - consecutive sightings more than `max_gap_ms` [5 min] apart end a session;
//!   a gap of exactly 5 min does not;
//! - a session is a visit when some sighting is at least `visit_min_dbm` [-75]
//!   and `last - first >= min_dwell_ms` [5 min, so exactly 5 min is a visit];
//!   dwell is `last - first`; every other session is a passer-by;
//! - sightings may arrive up to `max_lateness_ms` [2 min] behind the newest
//!   one seen for the store; later ones are dropped and counted.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use fineline_core::Timestamp;

use crate::keys::DeviceKey;

const MINUTE_MS: i64 = 60_000;

/// Sessionization and reporting rules. `Default` gives the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionConfig {
    /// Sightings weaker than this are ignored, in dBm (-85).
    pub ignore_below_dbm: i16,
    /// A session is a visit only if some sighting reaches this, in dBm (-75).
    pub visit_min_dbm: i16,
    /// A session is a visit only if it lasts at least this, in ms (5 min).
    pub min_dwell_ms: i64,
    /// A longer silence than this ends a session, in ms (5 min).
    pub max_gap_ms: i64,
    /// How far behind the store's newest sighting one may arrive, in ms (2 min).
    pub max_lateness_ms: i64,
    /// A visitor is a repeat visitor if they visited on an earlier local day at most this many days before.
    pub repeat_lookback_days: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ignore_below_dbm: -85,
            visit_min_dbm: -75,
            min_dwell_ms: 5 * MINUTE_MS,
            max_gap_ms: 5 * MINUTE_MS,
            max_lateness_ms: 2 * MINUTE_MS,
            repeat_lookback_days: 90,
        }
    }
}

/// What became of one sighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Taken into a session.
    Accepted,
    /// Weaker than `ignore_below_dbm`.
    TooWeak,
    /// The device is opted out: dropped before anything was kept.
    OptedOut,
    /// No store registered the sensor.
    UnknownSensor,
    /// Older than the lateness window allows.
    Late,
}

/// A closed session: what the server persists (no MAC, only the device key).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Which store the session is at.
    pub store_id: String,
    /// The device, by its period key.
    pub device: DeviceKey,
    /// The MAC had its locally administered bit set.
    pub randomized: bool,
    /// First sighting (ms since the Unix epoch).
    pub first: Timestamp,
    /// Last sighting (ms since the Unix epoch).
    pub last: Timestamp,
    /// Strongest signal seen, in dBm.
    pub max_rssi: i16,
    /// How many sightings made it up.
    pub sightings: u32,
    /// Whether it counts as a visit (strong and long enough); otherwise a passer-by.
    pub is_visit: bool,
    /// The device's opt-out digest, while the session is in memory: a
    /// process told of an opt-out by digest alone (another replica took
    /// it, with the MAC) can still drop the device's sessions. Never
    /// stored, and `None` for sessions read back from the database.
    #[serde(skip)]
    pub opt_out_digest: Option<[u8; 32]>,
}

impl Session {
    /// Time between first and last sighting, in ms.
    pub fn dwell_ms(&self) -> i64 {
        self.last.0 - self.first.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    first: i64,
    last: i64,
    max_rssi: i16,
    sightings: u32,
    randomized: bool,
    opt_out_digest: Option<[u8; 32]>,
}

/// Device keys are already uniform HMAC output: hashing them again is waste.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl Hash for DeviceKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.digest[..8]);
        state.write_u64(u64::from_le_bytes(w) ^ self.period as u64);
    }
}

type DeviceMap<V> = HashMap<DeviceKey, V, BuildHasherDefault<DigestHasher>>;

/// Open sessions of one store.
pub struct Sessionizer {
    store_id: String,
    cfg: SessionConfig,
    open: DeviceMap<Open>,
    watermark: i64,
    next_sweep: i64,
    closed: Vec<Session>,
}

impl Sessionizer {
    /// A sessionizer for one store under these rules.
    pub fn new(store_id: &str, cfg: SessionConfig) -> Self {
        Self {
            store_id: store_id.to_owned(),
            cfg,
            open: DeviceMap::default(),
            watermark: i64::MIN,
            next_sweep: i64::MIN,
            closed: Vec::new(),
        }
    }

    /// The rules it applies.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Add one pseudonymized sighting.
    pub fn push(
        &mut self,
        device: DeviceKey,
        randomized: bool,
        rssi: i16,
        at: Timestamp,
    ) -> Outcome {
        self.push_with(device, randomized, rssi, at, || None)
    }

    /// [`Self::push`], marking a session it opens with the device's
    /// opt-out digest (computed only then: once per session, not per
    /// sighting) so [`Self::forget_opted_out`] can find it.
    pub fn push_with(
        &mut self,
        device: DeviceKey,
        randomized: bool,
        rssi: i16,
        at: Timestamp,
        opt_out_digest: impl FnOnce() -> Option<[u8; 32]>,
    ) -> Outcome {
        let cfg = self.cfg;
        if rssi < cfg.ignore_below_dbm {
            return Outcome::TooWeak;
        }
        let at = at.0;
        if at < self.watermark.saturating_sub(cfg.max_lateness_ms) {
            return Outcome::Late;
        }
        let fresh = |digest: Option<[u8; 32]>| Open {
            first: at,
            last: at,
            max_rssi: rssi,
            sightings: 1,
            randomized,
            opt_out_digest: digest,
        };
        match self.open.entry(device) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(fresh(opt_out_digest()));
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let s = o.get_mut();
                if at > s.last + cfg.max_gap_ms {
                    // Same device key, same device: its digest carries over.
                    let old = std::mem::replace(s, fresh(s.opt_out_digest));
                    self.closed.push(close(&self.store_id, &cfg, device, old));
                } else if at >= s.first - cfg.max_gap_ms {
                    s.first = s.first.min(at);
                    s.last = s.last.max(at);
                    s.max_rssi = s.max_rssi.max(rssi);
                    s.sightings += 1;
                } else {
                    // Belongs before a session already under way: too late to place.
                    return Outcome::Late;
                }
            }
        }
        if at > self.watermark {
            self.watermark = at;
            if at >= self.next_sweep {
                self.sweep();
                self.next_sweep = at + MINUTE_MS;
            }
        }
        Outcome::Accepted
    }

    /// The store's event time: its newest sighting, or where
    /// [`Self::advance_to`] moved it (`None` before either).
    pub fn watermark(&self) -> Option<Timestamp> {
        (self.watermark != i64::MIN).then_some(Timestamp(self.watermark))
    }

    /// Move the store's clock forward without a sighting (e.g. a quiet hour),
    /// closing sessions nothing can extend any more.
    pub fn advance_to(&mut self, now: Timestamp) {
        if now.0 > self.watermark {
            self.watermark = now.0;
        }
        self.sweep();
    }

    /// Close every open session: end of input.
    pub fn flush(&mut self) {
        let cfg = self.cfg;
        let mut open: Vec<_> = self.open.drain().collect();
        open.sort_by_key(|(k, s)| (s.first, *k));
        for (k, s) in open {
            self.closed.push(close(&self.store_id, &cfg, k, s));
        }
    }

    /// Sessions closed so far, handed over once.
    pub fn take_closed(&mut self) -> Vec<Session> {
        std::mem::take(&mut self.closed)
    }

    /// Devices with an open session (in range now).
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }

    /// Drop a device's open session without closing it (its owner opted out).
    pub fn forget(&mut self, device: &DeviceKey) -> bool {
        self.open.remove(device).is_some()
    }

    /// Drop every session, open or closed and not yet handed over, of the
    /// device with this opt-out digest; returns how many.
    pub fn forget_opted_out(&mut self, digest: &[u8; 32]) -> usize {
        let before = self.open.len() + self.closed.len();
        self.open
            .retain(|_, s| s.opt_out_digest.as_ref() != Some(digest));
        self.closed
            .retain(|s| s.opt_out_digest.as_ref() != Some(digest));
        before - self.open.len() - self.closed.len()
    }

    fn sweep(&mut self) {
        // A session is final once any sighting still accepted would start a new one.
        let horizon = self
            .watermark
            .saturating_sub(self.cfg.max_lateness_ms)
            .saturating_sub(self.cfg.max_gap_ms);
        let cfg = self.cfg;
        let store_id = &self.store_id;
        let closed = &mut self.closed;
        self.open.retain(|k, s| {
            if s.last < horizon {
                closed.push(close(store_id, &cfg, *k, *s));
                false
            } else {
                true
            }
        });
    }
}

fn close(store_id: &str, cfg: &SessionConfig, device: DeviceKey, s: Open) -> Session {
    let is_visit = s.max_rssi >= cfg.visit_min_dbm && s.last - s.first >= cfg.min_dwell_ms;
    Session {
        store_id: store_id.to_owned(),
        device,
        randomized: s.randomized,
        first: Timestamp(s.first),
        last: Timestamp(s.last),
        max_rssi: s.max_rssi,
        sightings: s.sightings,
        is_visit,
        opt_out_digest: s.opt_out_digest,
    }
}
