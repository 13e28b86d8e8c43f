//! The foot-traffic use cases on [`App`]: registering stores, taking
//! sightings, the device opt-out (engine, rows and ledger entry under one
//! turn) and publishing a store's reports.

use fineline_core::Timestamp;
use fineline_footfall::{Mac, Sighting, StoreConfig};
use fineline_ledger::{Commitment, LedgerEntry, Receipt, Salt};

use crate::footfall::BatchOutcome;
use crate::footfall_release::Publication;
use crate::{App, AppError};

/// What an opt-out did, with the proof the person keeps.
#[derive(Debug)]
pub struct OptedOut {
    /// The ledger receipt; it commits to a keyed digest of the device,
    /// never to the MAC.
    pub receipt: Receipt,
    /// Stored sessions of the device that were deleted.
    pub sessions_deleted: u64,
}

impl App {
    /// Register a store and its sensors: validated, stored, then live.
    pub async fn add_footfall_store(&self, cfg: StoreConfig) -> Result<(), AppError> {
        self.footfall.add_store(self.database(), cfg).await
    }

    /// Take in stores another replica registered since this one started
    /// (the background task does every [`crate::replication::STORES_EVERY`]).
    pub async fn adopt_footfall_stores(&self) -> Result<usize, AppError> {
        self.footfall.adopt_stores(self.database()).await
    }

    /// The registered stores' configurations.
    pub fn footfall_stores(&self) -> Vec<StoreConfig> {
        self.footfall.stores()
    }

    /// Take a batch of sightings; every session it closed is stored
    /// before this returns. An opt-out another replica acknowledged
    /// before the batch arrived applies to it: caught up first, as
    /// event ingestion does (and the database refuses a session of an
    /// opted-out digest, for one acknowledged meanwhile).
    ///
    /// With replicas, only the leader sessionizes: a device's sightings
    /// split over two processes would make two sessions of one visit.
    /// Another replica refuses the batch ([`AppError::NotLeader`]); route
    /// sensors to the replica whose `/healthz/leader` answers 200.
    pub async fn ingest_sightings(&self, batch: Vec<Sighting>) -> Result<BatchOutcome, AppError> {
        // A process that just started has not contended yet: try once
        // rather than refuse the first batch of a sole replica.
        if !self.is_leader() && !self.contend_for_leadership().await? {
            return Err(AppError::NotLeader(
                "foot-traffic sightings are sessionized by the deployment's leader; send them to the replica whose /healthz/leader answers 200".into(),
            ));
        }
        self.catch_up().await?;
        self.footfall.ingest(self.database(), batch).await
    }

    /// Close every open session and store it; returns how many.
    pub async fn flush_sessions(&self) -> Result<usize, AppError> {
        self.footfall.flush(self.database()).await
    }

    /// Opt a device out: its sightings are dropped from now on and its
    /// stored sessions deleted, in the transaction of the ledger entry,
    /// with ingestion held still so no session of it lands after.
    pub async fn opt_out_device(&self, mac: &Mac) -> Result<OptedOut, AppError> {
        let now = Timestamp::now();
        let mut pending = self.footfall.opt_out_guard().await;
        let (digest, ops) = self.footfall.opt_out_ops(&mut pending, mac, now);
        let salt = Salt::generate();
        let entry = LedgerEntry::DeviceOptOut {
            commitment: Commitment::new(&salt, &fineline_core::Pseudonym::new(0, digest)),
            at: now,
        };
        // Other replicas drop the device too (`crate::replication`).
        let owner = fineline_core::Pseudonym::new(0, digest);
        let appended = self
            .ledger
            .append(self.database(), &[entry], move |indices| {
                let mut ops = ops;
                ops.push(crate::replication::note(
                    fineline_db::ChangeKind::DeviceOptOut,
                    Some(owner),
                    indices[0],
                ));
                ops
            })
            .await?;
        drop(pending);
        let receipt = self
            .ledger
            .receipt(self.database(), appended.indices[0], Some(salt))
            .await?;
        Ok(OptedOut {
            receipt,
            sessions_deleted: appended.outcome.rows_deleted,
        })
    }

    /// Publish the closed days of `from..=to` of store `id` not yet
    /// published (each noised once), and return the range as published.
    pub async fn publish_footfall(
        &self,
        id: &str,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
        now: Timestamp,
    ) -> Result<Publication, AppError> {
        let shop = self
            .footfall
            .store(id)
            .ok_or_else(|| AppError::not_found("no such store"))?;
        crate::footfall_release::publish(self, &shop, from, to, now).await
    }
}
