//! What one process of a deployment learns from the others when several
//! serve one database (PostgreSQL): the change notes that keep each one's
//! in-memory state (consent index, key cache, recommender) in step, and
//! the election of the one process that does the work that must happen
//! once.
//!
//! A note is written in the same transaction as the change it announces,
//! keyed by the ledger index of that change's first entry: a process that
//! has caught up with the ledger up to size `n` has seen every note below
//! `n`. Notes name a person only by pseudonym and are pruned after a
//! while; an erasure deletes the person's earlier notes with their rows.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Timestamp};

use crate::{Result, WriteTables};

/// What changed, for the processes that did not make the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A person's consent records changed: reload them.
    Consent,
    /// A person was erased: forget them everywhere.
    Erasure,
    /// A policy version was published: reload the policies.
    Policy,
    /// A device was opted out of foot traffic; the note's subject carries
    /// its opt-out digest (key id 0), never a person.
    DeviceOptOut,
}

impl ChangeKind {
    /// The stored code.
    pub fn code(self) -> i16 {
        match self {
            ChangeKind::Consent => 1,
            ChangeKind::Erasure => 2,
            ChangeKind::Policy => 3,
            ChangeKind::DeviceOptOut => 4,
        }
    }

    /// The kind for a stored code, if known.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(ChangeKind::Consent),
            2 => Some(ChangeKind::Erasure),
            3 => Some(ChangeKind::Policy),
            4 => Some(ChangeKind::DeviceOptOut),
            _ => None,
        }
    }
}

/// One change, as the other processes read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeNote {
    /// Ledger index of the change's first entry: notes are read in this order.
    pub ledger_index: u64,
    /// What changed.
    pub kind: ChangeKind,
    /// Whose state changed; `None` for a policy.
    pub subject: Option<Pseudonym>,
    /// When it was written (notes are pruned by age).
    pub at: Timestamp,
}

/// Change notes and leader election.
#[async_trait]
pub trait ReplicaTables: WriteTables {
    /// Whether other processes may write this database at the same time
    /// (PostgreSQL: yes; the embedded database belongs to one process).
    fn shared(&self) -> bool;

    /// Notes with `ledger_index >= from`, in ledger order.
    async fn change_notes_from(&self, from: u64) -> Result<Vec<ChangeNote>>;

    /// The ledger size below which notes may have been pruned: a process
    /// that has not caught up that far must reload its state whole.
    async fn change_notes_pruned_below(&self) -> Result<u64>;

    /// Try to be (or stay) the deployment's leader. PostgreSQL: a session
    /// advisory lock held on a connection of its own, released by the
    /// server when that connection or this process dies, so another
    /// process takes over on its next try. The embedded database: always
    /// the leader (one process).
    async fn lead(&self) -> Result<bool>;

    /// Give up leadership now (a graceful stop), so another process takes
    /// over without waiting for its next try to find the lock free.
    async fn resign(&self) -> Result<()>;

    /// Wait for the deployment's turn to append to the ledger: until the
    /// turn ends no other process appends, so the ledger's size read
    /// during the turn is the size the append lands at (no retries, no
    /// wasted transactions). The embedded database's turn is free: its
    /// one process serialises its own appends.
    async fn ledger_turn(&self) -> Result<LedgerTurn>;

    /// Hold the deployment's lock called `name` until the turn ends: for
    /// a read-modify-write of shared rows (a day's check-in counts, a
    /// reporter's ε spend) that a process-local mutex would serialise only
    /// within one process. Take it after any process-local guard and
    /// before a ledger append, never the other way round. The embedded
    /// database's is free (one process).
    async fn deployment_lock(&self, name: &str) -> Result<LedgerTurn>;

    /// Where this database's write-ahead log stands: a primary's write
    /// position, a hot standby's replayed position. `None` for a database
    /// no standby can follow (the embedded one).
    async fn wal_position(&self) -> Result<Option<WalPosition>> {
        Ok(None)
    }
}

/// Where a database's write-ahead log stands; see
/// [`ReplicaTables::wal_position`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalPosition {
    /// Bytes of log. On a primary, its write position: every commit
    /// acknowledged so far ends at or before it. On a standby, its replay
    /// position: every commit before it is visible to its readers.
    pub lsn: u64,
    /// Whether the server is a standby replaying a primary's log (a
    /// promoted standby is not).
    pub standby: bool,
    /// On a standby with received log not yet replayed: how long ago the
    /// primary committed the last transaction replayed here, in ms. 0 when
    /// replay has caught up with what was received; `None` on a primary
    /// or before the standby replayed any commit.
    pub replay_delay_ms: Option<u64>,
}

/// The deployment's ledger turn; see [`ReplicaTables::ledger_turn`].
/// End it with [`LedgerTurn::end`]; one dropped instead (a cancelled
/// request) is ended in the background.
#[must_use = "the turn blocks every other appender until it ends"]
pub struct LedgerTurn {
    release: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl LedgerTurn {
    /// A turn with nothing to release.
    pub fn free() -> Self {
        LedgerTurn { release: None }
    }

    /// A turn released by running `release`.
    pub fn released_by(release: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        LedgerTurn {
            release: Some(Box::pin(release)),
        }
    }

    /// End the turn now.
    pub async fn end(mut self) {
        if let Some(release) = self.release.take() {
            release.await;
        }
    }
}

impl Drop for LedgerTurn {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(release);
                }
                // No runtime left: the process is ending, and its
                // connection (and the lock) with it.
                Err(_) => drop(release),
            }
        }
    }
}
