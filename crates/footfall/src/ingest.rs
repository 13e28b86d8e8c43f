//! The ingestion path: sensor lookup, opt-out, pseudonymization, sessions.

use std::collections::HashMap;

use fineline_core::Timestamp;

use crate::keys::{DeviceKey, DeviceKeyring, KeyError, OptOutList};
use crate::mac::Mac;
use crate::session::{Outcome, Session, SessionConfig, Sessionizer};
use crate::store::{Store, StoreConfig, StoreError};

/// One Wi-Fi sighting as a sensor reports it. Holds a raw MAC: it must not
/// be kept past [`Footfall::ingest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The sensor that saw the device, as registered with a store.
    pub sensor_id: String,
    /// The device's raw MAC; pseudonymized on ingest and never kept.
    pub mac: Mac,
    /// Received signal strength in dBm (e.g. -60; closer is higher).
    pub rssi: i16,
    /// When the sensor saw it (ms since the Unix epoch).
    pub at: Timestamp,
}

/// What an opt-out leaves for the server: no MAC, only keyed digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutRecord {
    /// Persist this in the opt-out list (see [`OptOutList::insert_digest`]).
    pub digest: [u8; 32],
    /// Delete stored sessions with these device keys.
    pub device_keys: Vec<DeviceKey>,
}

/// Counts of what happened to ingested sightings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStats {
    /// Sightings taken into sessions.
    pub accepted: u64,
    /// Sightings weaker than the RSSI floor.
    pub too_weak: u64,
    /// Sightings of opted-out devices, dropped unkept.
    pub opted_out: u64,
    /// Sightings from sensors no store registered.
    pub unknown_sensor: u64,
    /// Sightings behind the lateness window.
    pub late: u64,
}

impl IngestStats {
    /// Counts one more sighting with this outcome.
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Accepted => self.accepted += 1,
            Outcome::TooWeak => self.too_weak += 1,
            Outcome::OptedOut => self.opted_out += 1,
            Outcome::UnknownSensor => self.unknown_sensor += 1,
            Outcome::Late => self.late += 1,
        }
    }
}

/// Stores, keys, opt-outs and open sessions: the whole in-memory state of
/// foot-traffic ingestion. The server owns one and persists what
/// [`Footfall::take_closed`] hands over.
pub struct Footfall {
    stores: Vec<Store>,
    by_sensor: HashMap<String, usize>,
    sessionizers: Vec<Sessionizer>,
    keyring: DeviceKeyring,
    opt_outs: OptOutList,
    stats: IngestStats,
}

impl Footfall {
    /// The ingestion state for these stores, keys and opt-outs.
    pub fn new(
        stores: Vec<StoreConfig>,
        cfg: SessionConfig,
        keyring: DeviceKeyring,
        opt_outs: OptOutList,
    ) -> Result<Self, StoreError> {
        let mut me = Self {
            stores: Vec::new(),
            by_sensor: HashMap::new(),
            sessionizers: Vec::new(),
            keyring,
            opt_outs,
            stats: IngestStats::default(),
        };
        for s in stores {
            me.add_store(s, cfg)?;
        }
        Ok(me)
    }

    /// Register a store (an admin action). Its sensors must be new.
    pub fn add_store(&mut self, config: StoreConfig, cfg: SessionConfig) -> Result<(), StoreError> {
        let store = Store::new(config)?;
        if self.stores.iter().any(|s| s.id() == store.id()) {
            return Err(StoreError::BadStoreId);
        }
        for sensor in &store.config().sensors {
            if self.by_sensor.contains_key(sensor) {
                return Err(StoreError::DuplicateSensor {
                    sensor: sensor.clone(),
                });
            }
        }
        let idx = self.stores.len();
        for sensor in &store.config().sensors {
            self.by_sensor.insert(sensor.clone(), idx);
        }
        self.sessionizers.push(Sessionizer::new(store.id(), cfg));
        self.stores.push(store);
        Ok(())
    }

    /// Every registered store.
    pub fn stores(&self) -> &[Store] {
        &self.stores
    }

    /// The store with this id, if registered.
    pub fn store(&self, store_id: &str) -> Option<&Store> {
        self.stores.iter().find(|s| s.id() == store_id)
    }

    /// Take one sighting through sensor lookup, the RSSI floor, the opt-out
    /// list and pseudonymization into its store's sessions. The MAC is not
    /// kept anywhere afterwards.
    pub fn ingest(&mut self, s: &Sighting) -> Result<Outcome, KeyError> {
        let outcome = self.place(s)?;
        self.stats.add(outcome);
        Ok(outcome)
    }

    fn place(&mut self, s: &Sighting) -> Result<Outcome, KeyError> {
        let Some(&idx) = self.by_sensor.get(&s.sensor_id) else {
            return Ok(Outcome::UnknownSensor);
        };
        let sessions = &mut self.sessionizers[idx];
        if s.rssi < sessions.config().ignore_below_dbm {
            return Ok(Outcome::TooWeak);
        }
        let opt_outs = &self.opt_outs;
        if opt_outs.is_opted_out(&s.mac) {
            return Ok(Outcome::OptedOut);
        }
        let key = self.keyring.device_key(&s.mac, s.at)?;
        Ok(
            sessions.push_with(key, s.mac.is_randomized(), s.rssi, s.at, || {
                Some(opt_outs.digest(&s.mac))
            }),
        )
    }

    /// Ingest a batch; a retired-key error stops at the offending sighting.
    pub fn ingest_batch(&mut self, batch: &[Sighting]) -> Result<IngestStats, KeyError> {
        let mut stats = IngestStats::default();
        for s in batch {
            stats.add(self.ingest(s)?);
        }
        Ok(stats)
    }

    /// Let time pass in every store (call periodically, e.g. each minute).
    pub fn advance_to(&mut self, now: Timestamp) {
        for s in &mut self.sessionizers {
            s.advance_to(now);
        }
    }

    /// Each store's event time (newest sighting, or where it was moved to),
    /// in the order of [`Self::stores`].
    pub fn event_times(&self) -> Vec<Option<Timestamp>> {
        self.sessionizers.iter().map(|s| s.watermark()).collect()
    }

    /// Let time pass in one store (by its index in [`Self::stores`]): a
    /// store's clock is its own, so a live store never makes another
    /// store's backfill late.
    pub fn advance_store_to(&mut self, store: usize, now: Timestamp) {
        if let Some(s) = self.sessionizers.get_mut(store) {
            s.advance_to(now);
        }
    }

    /// Close all open sessions (end of an import, or shutdown).
    pub fn flush(&mut self) {
        for s in &mut self.sessionizers {
            s.flush();
        }
    }

    /// Sessions closed since the last call, for the server to persist.
    pub fn take_closed(&mut self) -> Vec<Session> {
        let mut out = Vec::new();
        for s in &mut self.sessionizers {
            out.append(&mut s.take_closed());
        }
        out
    }

    /// Sessions open across all stores (devices in range now).
    pub fn open_sessions(&self) -> usize {
        self.sessionizers.iter().map(|s| s.open_sessions()).sum()
    }

    /// What happened to the sightings ingested so far.
    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    /// The device keyring, for rotating and retiring period keys.
    pub fn keyring_mut(&mut self) -> &mut DeviceKeyring {
        &mut self.keyring
    }

    /// Opt a device out: from now on its sightings are dropped before
    /// anything is kept, and its open sessions are forgotten. Returns the
    /// opt-out digest to persist (and put a receipt on) and the device keys
    /// it has in every key period whose data may still be kept at `now`
    /// (the repeat lookback), so the server can delete sessions keyed by them.
    pub fn opt_out(&mut self, mac: &Mac, now: Timestamp) -> OptOutRecord {
        let digest = self.opt_outs.opt_out(mac);
        let mut device_keys = Vec::new();
        let lookback = self
            .sessionizers
            .iter()
            .map(|s| s.config().repeat_lookback_days)
            .max()
            .unwrap_or(0);
        for period in self.keyring.needed_periods(now, lookback) {
            let at = self.keyring.period_start(period);
            if let Ok(key) = self.keyring.device_key(mac, at) {
                for s in &mut self.sessionizers {
                    s.forget(&key);
                }
                device_keys.push(key);
            }
        }
        OptOutRecord {
            digest,
            device_keys,
        }
    }

    /// Apply an opt-out another process took (it had the MAC; this one
    /// has the digest): drop the device's sightings from now on and its
    /// sessions held here. Returns how many sessions went.
    pub fn opt_out_digest(&mut self, digest: [u8; 32]) -> usize {
        self.opt_outs.insert_digest(digest);
        self.sessionizers
            .iter_mut()
            .map(|s| s.forget_opted_out(&digest))
            .sum()
    }

    /// The opt-out list, read only.
    pub fn opt_outs(&self) -> &OptOutList {
        &self.opt_outs
    }

    /// The opt-out list, for reloading digests persisted earlier.
    pub fn opt_outs_mut(&mut self) -> &mut OptOutList {
        &mut self.opt_outs
    }
}
