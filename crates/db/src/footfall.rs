//! In-store foot traffic: registered stores, closed visit sessions and the
//! device opt-out list.
//!
//! No MAC ever reaches this area: sessions are keyed by a device key (an
//! HMAC under a rotating period key, in pseudonym form `k{period}_{hex}`)
//! and opt-outs by a digest under a separate key. Sessions of one device
//! are found by that key alone, so an opt-out can delete them.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Timestamp};

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// A store as its admin registered it; `config` is the footfall engine's
/// JSON store record, opaque here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FootfallStoreRow {
    /// The admin's id for the store; unique.
    pub store_id: String,
    /// The footfall engine's store record, as JSON bytes.
    pub config: Vec<u8>,
    /// When the store was registered.
    pub created_at: Timestamp,
}

/// One closed session of a device at a store. `device.key_id` is the key
/// period that made the device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitSessionRow {
    /// The store the device was seen at.
    pub store_id: String,
    /// The device key (never the MAC).
    pub device: Pseudonym,
    /// The MAC had its locally administered bit set.
    pub randomized: bool,
    /// First sighting of the session; with `store_id` and `device` it
    /// identifies the session.
    pub first: Timestamp,
    /// Last sighting of the session.
    pub last: Timestamp,
    /// Strongest signal seen, in dBm.
    pub max_rssi: i16,
    /// Number of sightings merged into the session.
    pub sightings: u32,
    /// Strong and long enough to count as a visit; otherwise a passer-by.
    pub is_visit: bool,
    /// The device's opt-out digest, when the writer knows it: the session
    /// is not inserted if that digest is opted out (another process may
    /// have taken the opt-out after this one sessionized the device).
    /// Checked, never stored; `None` when read back.
    pub opt_out_digest: Option<[u8; 32]>,
}

/// Registered stores, visit sessions by device key and device opt-outs.
#[async_trait]
pub trait FootfallTables: WriteTables {
    /// Registered stores ordered by id.
    async fn footfall_stores(&self) -> Result<Vec<FootfallStoreRow>>;

    /// Sessions of a store that began in `[from, to)`, ordered by start.
    async fn visit_sessions(
        &self,
        store_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<VisitSessionRow>>;

    /// Every stored session of one device key (any store).
    async fn visit_sessions_of(&self, device: &Pseudonym) -> Result<Vec<VisitSessionRow>>;

    /// Every opt-out digest, to rebuild the in-memory list at start.
    async fn device_opt_outs(&self) -> Result<Vec<[u8; 32]>>;

    /// Registers a store (duplicate id: conflict).
    async fn put_footfall_store(&self, row: FootfallStoreRow) -> Result<()> {
        self.apply(WriteSet::from(WriteOp::PutFootfallStore(row)))
            .await
            .map(drop)
    }

    /// Stores closed sessions (a session already stored is left as is).
    async fn put_visit_sessions(&self, rows: Vec<VisitSessionRow>) -> Result<()> {
        self.apply(WriteSet::from(WriteOp::PutVisitSessions(rows)))
            .await
            .map(drop)
    }
}
