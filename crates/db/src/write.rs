//! Atomic write sets: every write goes through [`WriteTables::apply`].

use async_trait::async_trait;
use fineline_core::{Pseudonym, Timestamp};

use crate::{
    BudgetAmount, ConsentRow, FootfallStoreRow, InsightEventRow, InterestRow, ItemRow,
    LegacyKeyRow, NewEvent, PolicyRow, Result, VisitSessionRow,
};

/// One change. A [`WriteSet`] applies its ops in order in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Insert or replace a legacy key row (reproduces a database written
    /// before keys moved to the vault's key store; tests only).
    PutLegacySubjectKeys(LegacyKeyRow),
    /// Delete these subjects' legacy key rows, once the key store holds
    /// them (counts in `rows_deleted`).
    DropLegacySubjectKeys(Vec<Pseudonym>),
    /// Insert a policy version (duplicate version: conflict).
    PutPolicy(PolicyRow),
    /// Insert a consent record (duplicate record id: conflict).
    PutConsent(ConsentRow),
    /// Insert events; their ids are appended to [`WriteOutcome::event_ids`].
    PutEvents(Vec<NewEvent>),
    /// Delete one event of a subject (counts in `rows_deleted`).
    DeleteEvent {
        /// The event's subject; an id of another subject deletes nothing.
        subject: Pseudonym,
        /// The event's id.
        id: i64,
    },
    /// Append a ledger entry. `index` must equal the current ledger size:
    /// a duplicate or a gap is a conflict.
    AppendLedger {
        /// Position of the entry, from 0.
        index: u64,
        /// The Merkle leaf hash of `entry`.
        leaf_hash: [u8; 32],
        /// The entry's bytes, as the ledger encoded them.
        entry: Vec<u8>,
    },
    /// Store a signed tree head for a ledger size (replaces one of that size).
    PutTreeHead {
        /// Number of ledger entries the head covers.
        size: u64,
        /// The signed tree head, as the ledger encoded it.
        bytes: Vec<u8>,
    },
    /// Delete every row keyed by the subject: events, consent records,
    /// interests and any legacy key row (counts in `rows_deleted`), and the
    /// change notes naming them (not counted).
    EraseSubject(Pseudonym),
    /// Tell the deployment's other processes of a change (see
    /// [`crate::ReplicaTables`]); one note per ledger index.
    NoteChange(crate::ChangeNote),
    /// Delete the change notes written before `before`; the ledger size
    /// below which notes may be missing grows to match.
    PruneChangeNotes {
        /// Notes older than this go.
        before: Timestamp,
    },
    /// Insert or replace an item.
    PutItem(ItemRow),
    /// Insert or replace an interest.
    PutInterest(InterestRow),
    /// Mark an interest removed (creates it with weight 0 if absent).
    RemoveInterest {
        /// Whose interest.
        subject: Pseudonym,
        /// The category removed.
        category: String,
    },
    /// Insert or replace a setting.
    PutSetting {
        /// The setting's name.
        name: String,
        /// Its new bytes.
        value: Vec<u8>,
    },
    /// Delete a setting (absent: no change): for what is kept per person
    /// under a setting's name and goes with their erasure.
    DeleteSetting {
        /// The setting's name.
        name: String,
    },
    /// Insert a setting that must not exist yet (one already stored:
    /// conflict, and nothing of the write set lands): for what is decided
    /// once, such as a published release, when several processes may race.
    InsertSetting {
        /// The setting's name.
        name: String,
        /// Its bytes.
        value: Vec<u8>,
    },
    /// Add to day counters (a counter not yet stored starts at 0).
    AddDayCounts(Vec<crate::DayCount>),
    /// Drop every counter of these days.
    DeleteDayCounts(Vec<i64>),
    /// Register a footfall store (duplicate store id: conflict).
    PutFootfallStore(FootfallStoreRow),
    /// Insert closed visit sessions; one already stored (same store, device
    /// and start) is left as is, so re-persisting after a crash is harmless.
    PutVisitSessions(Vec<VisitSessionRow>),
    /// Delete every session of these device keys (an opt-out; counts in
    /// `rows_deleted`).
    DeleteDeviceSessions(Vec<Pseudonym>),
    /// Delete sessions keyed in periods before `period` (their key is being
    /// retired; counts in `rows_deleted`).
    DeleteVisitSessionsBefore {
        /// The oldest key period kept.
        period: u32,
    },
    /// Add a device opt-out digest (already present: no change).
    PutDeviceOptOut {
        /// The device's opt-out digest (never the MAC).
        digest: [u8; 32],
        /// When the device opted out.
        at: Timestamp,
    },
    /// Insert analytic columns of events inserted earlier in this write set.
    PutInsightEvents(Vec<InsightEventRow>),
    /// Set an analyst's budget total for a period (what was spent stays).
    SetInsightBudget {
        /// The analyst.
        analyst: String,
        /// The budget period.
        period: String,
        /// The new total.
        total: BudgetAmount,
    },
    /// Add `cost` to an analyst's spend for a period (creating the account
    /// with `default_total` if new) only if it stays within the total;
    /// otherwise the whole write set fails with `DatabaseError::Refused`.
    ChargeInsightBudget {
        /// The analyst charged.
        analyst: String,
        /// The budget period charged.
        period: String,
        /// What the release costs.
        cost: BudgetAmount,
        /// The total of an account this charge creates.
        default_total: BudgetAmount,
    },
}

/// Ops applied together or not at all; once `apply` returns Ok the write
/// is durable (survives a kill -9).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSet {
    /// The ops, applied in this order.
    pub ops: Vec<WriteOp>,
}

impl WriteSet {
    /// An empty write set; applying it writes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an op after the others, for building a set in a loop.
    pub fn push(&mut self, op: WriteOp) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// Adds an op after the others, for building a set in one expression.
    pub fn with(mut self, op: WriteOp) -> Self {
        self.ops.push(op);
        self
    }

    /// Has no ops (applying it would write nothing).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl From<WriteOp> for WriteSet {
    fn from(op: WriteOp) -> Self {
        WriteSet { ops: vec![op] }
    }
}

impl From<Vec<WriteOp>> for WriteSet {
    fn from(ops: Vec<WriteOp>) -> Self {
        WriteSet { ops }
    }
}

/// What an applied write set produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Ids of inserted events, in op order then input order.
    pub event_ids: Vec<i64>,
    /// Rows removed by `DeleteEvent` and `EraseSubject` ops.
    pub rows_deleted: u64,
}

/// The one way to write: every area trait's writes go through [`Self::apply`].
#[async_trait]
pub trait WriteTables: Send + Sync {
    /// Applies every op in one transaction; on any error nothing is written.
    async fn apply(&self, set: WriteSet) -> Result<WriteOutcome>;
}
