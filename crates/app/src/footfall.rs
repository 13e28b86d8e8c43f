//! In-store foot traffic on the server: the footfall engine behind a lock,
//! rebuilt at start from the stored stores and opt-outs, and the store
//! writes that make its closed sessions durable.
//!
//! - Raw MACs live only inside a request: the engine turns them into device
//!   keys (or drops them as opted out) before anything is stored or logged.
//! - The device-key root and the opt-out key are derived from the vault's
//!   token secret under distinct labels, so they never sit in the store.
//! - Closed sessions are written before a request is acknowledged; open
//!   sessions live in memory and are flushed on graceful shutdown.
//! - Event time moves with the sightings, per store. A store whose feed goes
//!   quiet is moved on by wall time since its own newest sighting, so
//!   historical imports are never marked late by the server's clock or by
//!   another store's live feed, and live stores still close visits.
//! - Key periods older than the repeat lookback are retired: their sessions
//!   are deleted first, then the key is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::Timestamp;
use fineline_db::{Database, FootfallStoreRow, VisitSessionRow, WriteOp, WriteSet};
use fineline_footfall::{
    DeviceKeyring, Footfall, IngestStats, KeyError, Mac, OptOutList, Session, SessionConfig,
    Sighting, StoreConfig, DEFAULT_ROTATION_DAYS,
};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::error::AppError;
use crate::sync::Mutex;

/// How often the ticker lets time pass and persists what closed.
pub const TICK: Duration = Duration::from_secs(60);

/// What happened to one batch, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    /// Weaker than the RSSI floor (-85 dBm by default).
    pub too_weak: u64,
    /// The device is opted out: dropped before anything was kept.
    pub opted_out: u64,
    /// No registered store has this sensor.
    pub unknown_sensor: u64,
    /// Older than the lateness window behind the store's newest sighting.
    pub late: u64,
    /// In a key period already retired (older than the repeat lookback).
    pub expired: u64,
}

/// What [`FootfallModule::ingest`] did with one batch of sightings.
pub struct BatchOutcome {
    /// Sightings the engine took in.
    pub accepted: u64,
    /// Sightings dropped, by reason.
    pub dropped: Dropped,
    /// Closed sessions written to the database with this batch (including
    /// any a failed earlier write left behind).
    pub sessions_stored: usize,
}

struct Clock {
    /// Per store (engine order): its newest sighting time, and when (wall)
    /// that arrived. Each store's clock is its own: one store's live feed
    /// must not make another's historical import late.
    newest: Vec<Option<(Timestamp, Instant)>>,
}

/// The footfall engine of a running server, with the locks and writes
/// that keep it and the database in step. One per [`crate::App`].
pub struct FootfallModule {
    engine: Arc<Mutex<Footfall>>,
    /// Serialises engine changes with their store writes, and holds closed
    /// sessions a failed write left behind (retried with the next write).
    order: tokio::sync::Mutex<Vec<Session>>,
    clock: Mutex<Clock>,
    session: SessionConfig,
    /// Held while a store-day's report is published, so it is noised once.
    release: tokio::sync::Mutex<()>,
    /// The key of the kiosks' rotating check-in tokens (one for every
    /// store: the store id is in what it signs).
    checkin_key: zeroize::Zeroizing<[u8; 32]>,
    /// Serialises the read-modify-write of check-in counts and nonces.
    checkin: tokio::sync::Mutex<()>,
}

fn derive(secret: &[u8; 32], label: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(label);
    zeroize::Zeroizing::new(mac.finalize().into_bytes().into())
}

/// A closed session as the database stores it (the device key as a
/// pseudonym: key period and digest).
pub fn session_row(s: &Session) -> VisitSessionRow {
    VisitSessionRow {
        store_id: s.store_id.clone(),
        device: fineline_core::Pseudonym::new(s.device.period, s.device.digest),
        randomized: s.randomized,
        first: s.first,
        last: s.last,
        max_rssi: s.max_rssi,
        sightings: s.sightings,
        is_visit: s.is_visit,
        opt_out_digest: s.opt_out_digest,
    }
}

/// A stored session back in the engine's form; inverse of [`session_row`].
pub fn session_from_row(r: &VisitSessionRow) -> Session {
    Session {
        store_id: r.store_id.clone(),
        device: fineline_footfall::DeviceKey {
            period: r.device.key_id,
            digest: r.device.digest,
        },
        randomized: r.randomized,
        first: r.first,
        last: r.last,
        max_rssi: r.max_rssi,
        sightings: r.sightings,
        is_visit: r.is_visit,
        opt_out_digest: None,
    }
}

impl FootfallModule {
    /// Rebuild the engine from the stored stores and opt-out digests.
    pub async fn load(database: &dyn Database, vault_secret: &[u8; 32]) -> Result<Self, AppError> {
        let session = SessionConfig::default();
        let root = derive(vault_secret, b"fineline footfall device-key root v1");
        let opt_key = derive(vault_secret, b"fineline footfall opt-out key v1");
        let keyring = DeviceKeyring::new(root.as_slice(), DEFAULT_ROTATION_DAYS)
            .map_err(AppError::internal)?;
        let mut opt_outs = OptOutList::new(opt_key.as_slice()).map_err(AppError::internal)?;
        for d in database
            .device_opt_outs()
            .await
            .map_err(AppError::internal)?
        {
            opt_outs.insert_digest(d);
        }
        let mut stores = Vec::new();
        for row in database
            .footfall_stores()
            .await
            .map_err(AppError::internal)?
        {
            let cfg: StoreConfig =
                serde_json::from_slice(&row.config).map_err(AppError::internal)?;
            stores.push(cfg);
        }
        let engine =
            Footfall::new(stores, session, keyring, opt_outs).map_err(AppError::internal)?;
        Ok(Self {
            engine: Arc::new(Mutex::new(engine)),
            order: tokio::sync::Mutex::new(Vec::new()),
            clock: Mutex::new(Clock { newest: Vec::new() }),
            session,
            release: tokio::sync::Mutex::new(()),
            checkin_key: derive(vault_secret, b"fineline footfall check-in token key v1"),
            checkin: tokio::sync::Mutex::new(()),
        })
    }

    /// The session rules the engine runs with (gaps, visit thresholds).
    pub fn session_config(&self) -> SessionConfig {
        self.session
    }

    /// Every registered store's configuration, in engine order.
    pub fn stores(&self) -> Vec<StoreConfig> {
        let e = self.engine.lock().unwrap();
        e.stores().iter().map(|s| s.config().clone()).collect()
    }

    /// A registered store; `None` if no store has this id.
    pub fn store(&self, id: &str) -> Option<fineline_footfall::Store> {
        self.engine.lock().unwrap().store(id).cloned()
    }

    /// Register a store: validated, stored, then live.
    pub async fn add_store(
        &self,
        database: &dyn Database,
        cfg: StoreConfig,
    ) -> Result<(), AppError> {
        let _order = self.order.lock().await;
        fineline_footfall::Store::new(cfg.clone()).map_err(store_error)?;
        {
            let e = self.engine.lock().unwrap();
            if e.store(&cfg.store_id).is_some() {
                return Err(conflict_on_store_id());
            }
            for (i, sensor) in cfg.sensors.iter().enumerate() {
                if let Some(other) = e
                    .stores()
                    .iter()
                    .find(|s| s.config().sensors.contains(sensor))
                {
                    return Err(AppError::field(
                        format!("sensors[{i}]"),
                        format!("sensor is already registered to store {}", other.id()),
                    ));
                }
            }
        }
        let row = FootfallStoreRow {
            store_id: cfg.store_id.clone(),
            config: serde_json::to_vec(&cfg).map_err(AppError::internal)?,
            created_at: Timestamp::now(),
        };
        database
            .apply(WriteOp::PutFootfallStore(row).into())
            .await
            .map_err(|e| match e {
                fineline_db::DatabaseError::Conflict(_) => conflict_on_store_id(),
                e => AppError::internal(e),
            })?;
        self.engine
            .lock()
            .unwrap()
            .add_store(cfg, self.session)
            .map_err(store_error)
    }

    /// Take in the stores another replica registered since this one
    /// loaded (their rows are in the database, not in this engine).
    /// Returns how many; a store that collides with one known here (two
    /// replicas gave one sensor to two stores) is skipped and logged.
    pub async fn adopt_stores(&self, database: &dyn Database) -> Result<usize, AppError> {
        let rows = database
            .footfall_stores()
            .await
            .map_err(AppError::internal)?;
        let _order = self.order.lock().await;
        let mut adopted = 0;
        for row in rows {
            if self.engine.lock().unwrap().store(&row.store_id).is_some() {
                continue;
            }
            let cfg: StoreConfig =
                serde_json::from_slice(&row.config).map_err(AppError::internal)?;
            match self.engine.lock().unwrap().add_store(cfg, self.session) {
                Ok(()) => adopted += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "a store registered elsewhere was not taken in")
                }
            }
        }
        Ok(adopted)
    }

    /// Ingest a batch and store every session it closed before returning.
    pub async fn ingest(
        &self,
        database: &dyn Database,
        batch: Vec<Sighting>,
    ) -> Result<BatchOutcome, AppError> {
        let mut pending = self.order.lock().await;
        let engine = self.engine.clone();
        let (stats, expired, closed, times) = tokio::task::spawn_blocking(move || {
            let mut e = engine.lock().unwrap();
            let mut stats = IngestStats::default();
            let mut expired = 0u64;
            for s in &batch {
                match e.ingest(s) {
                    Ok(o) => stats.add(o),
                    Err(KeyError::Retired { .. }) | Err(KeyError::BeforeEpoch) => expired += 1,
                    Err(other) => return Err(other),
                }
            }
            Ok((stats, expired, e.take_closed(), e.event_times()))
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
        {
            let mut c = self.clock.lock().unwrap();
            c.newest.resize(times.len(), None);
            for (clock, time) in c.newest.iter_mut().zip(times) {
                if let Some(t) = time {
                    if clock.is_none_or(|(old, _)| t > old) {
                        *clock = Some((t, Instant::now()));
                    }
                }
            }
        }
        pending.extend(closed);
        let sessions_stored = persist(database, &mut pending).await?;
        Ok(BatchOutcome {
            accepted: stats.accepted,
            dropped: Dropped {
                too_weak: stats.too_weak,
                opted_out: stats.opted_out,
                unknown_sensor: stats.unknown_sensor,
                late: stats.late,
                expired,
            },
            sessions_stored,
        })
    }

    /// Close every open session and store them (end of an import, shutdown).
    pub async fn flush(&self, database: &dyn Database) -> Result<usize, AppError> {
        let mut pending = self.order.lock().await;
        {
            let mut e = self.engine.lock().unwrap();
            e.flush();
            pending.extend(e.take_closed());
        }
        persist(database, &mut pending).await
    }

    /// Let time pass (see the module doc), retire expired key periods and
    /// store what closed.
    pub async fn tick(&self, database: &dyn Database, now: Timestamp) -> Result<usize, AppError> {
        let mut pending = self.order.lock().await;
        let targets: Vec<Option<Timestamp>> = self
            .clock
            .lock()
            .unwrap()
            .newest
            .iter()
            .map(|n| {
                n.map(|(t, seen)| {
                    let moved = t.plus_millis(seen.elapsed().as_millis() as i64);
                    Timestamp(moved.0.min(now.0))
                })
            })
            .collect();
        let retire = {
            let mut e = self.engine.lock().unwrap();
            for (store, target) in targets.into_iter().enumerate() {
                if let Some(t) = target {
                    e.advance_store_to(store, t);
                }
            }
            pending.extend(e.take_closed());
            let ring = e.keyring_mut();
            let needed = ring.needed_periods(now, self.session.repeat_lookback_days);
            needed
                .first()
                .copied()
                .filter(|&first| first > ring.retired_before())
        };
        let stored = persist(database, &mut pending).await?;
        if let Some(period) = retire {
            database
                .apply(WriteOp::DeleteVisitSessionsBefore { period }.into())
                .await
                .map_err(AppError::internal)?;
            // Sessions of those periods are gone: now the key may go too.
            pending.retain(|s| s.device.period >= period);
            self.engine
                .lock()
                .unwrap()
                .keyring_mut()
                .retire_before(period);
        }
        Ok(stored)
    }

    /// Opt a device out in the engine and return what to store atomically
    /// with its ledger entry: the digest, and the deletion of its sessions.
    /// Call under [`Self::opt_out_guard`] and apply the ops before releasing it.
    pub fn opt_out_ops(
        &self,
        pending: &mut Vec<Session>,
        mac: &Mac,
        now: Timestamp,
    ) -> ([u8; 32], Vec<WriteOp>) {
        let rec = self.engine.lock().unwrap().opt_out(mac, now);
        pending.retain(|s| !rec.device_keys.contains(&s.device));
        let devices = rec
            .device_keys
            .iter()
            .map(|k| fineline_core::Pseudonym::new(k.period, k.digest))
            .collect();
        (
            rec.digest,
            vec![
                WriteOp::PutDeviceOptOut {
                    digest: rec.digest,
                    at: now,
                },
                WriteOp::DeleteDeviceSessions(devices),
            ],
        )
    }

    /// Apply an opt-out another replica took (see
    /// `crate::replication`): this process drops the device's sightings
    /// from now on, and its sessions held in memory.
    pub async fn apply_opt_out(&self, digest: [u8; 32]) {
        let mut pending = self.opt_out_guard().await;
        self.engine.lock().unwrap().opt_out_digest(digest);
        pending.retain(|s| s.opt_out_digest != Some(digest));
    }

    /// Holds ingestion still while an opt-out is written; gives access to
    /// sessions not yet stored so the opt-out can drop them too.
    pub async fn opt_out_guard(&self) -> tokio::sync::MutexGuard<'_, Vec<Session>> {
        self.order.lock().await
    }

    /// Serialises publishing reports: see [`crate::footfall_release`].
    pub async fn release_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.release.lock().await
    }

    /// The key the kiosks' check-in tokens are made and checked with.
    pub(crate) fn checkin_key(&self) -> &[u8; 32] {
        &self.checkin_key
    }

    /// Serialises check-in count updates: see [`crate::footfall_checkin`].
    pub(crate) async fn checkin_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.checkin.lock().await
    }

    /// Stored sessions that can bear on reports for local days `from..=to`
    /// (the repeat lookback before `from` included).
    pub async fn sessions_for_report(
        &self,
        database: &dyn Database,
        shop: &fineline_footfall::Store,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> Result<Vec<Session>, AppError> {
        let lookback = i64::from(self.session.repeat_lookback_days) + 1;
        let start = from
            .checked_sub(jiff::Span::new().days(lookback))
            .unwrap_or(from);
        let end = to.checked_add(jiff::Span::new().days(2)).unwrap_or(to);
        let (a, b) = (
            shop.instant(start, jiff::civil::Time::midnight()),
            shop.instant(end, jiff::civil::Time::midnight()),
        );
        let rows = database
            .visit_sessions(shop.id(), a, b)
            .await
            .map_err(AppError::internal)?;
        Ok(rows.iter().map(session_from_row).collect())
    }
}

async fn persist(database: &dyn Database, pending: &mut Vec<Session>) -> Result<usize, AppError> {
    if pending.is_empty() {
        return Ok(0);
    }
    let rows: Vec<VisitSessionRow> = pending.iter().map(session_row).collect();
    let n = rows.len();
    database
        .apply(WriteSet::from(WriteOp::PutVisitSessions(rows)))
        .await
        .map_err(AppError::internal)?;
    pending.clear();
    Ok(n)
}

fn conflict_on_store_id() -> AppError {
    AppError::Conflict {
        field: Some("store_id".into()),
        message: "a store with this id is already registered".into(),
    }
}

/// Validation errors name the field at fault.
pub fn store_error(e: fineline_footfall::StoreError) -> AppError {
    use fineline_footfall::StoreError as E;
    let field = match &e {
        E::BadStoreId => "store_id".to_string(),
        E::NoSensors { .. } | E::BadSensorId | E::DuplicateSensor { .. } => "sensors".to_string(),
        E::UnknownTimeZone(_) => "time_zone".to_string(),
        E::BadHours { weekday } => format!("opening_hours[{weekday}]"),
    };
    AppError::field(field, e.to_string())
}

/// Run the ticker until aborted.
pub fn spawn(state: crate::App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = state
                .footfall
                .tick(state.database(), Timestamp::now())
                .await
            {
                tracing::warn!(error = %e, "footfall tick failed");
            }
        }
    })
}
