//! The ledger's persistent form: leaves, entries and signed tree heads.
//! Entries are appended only through [`crate::WriteOp::AppendLedger`].

use async_trait::async_trait;

use crate::{Result, WriteTables};

/// Reads of the ledger's leaves, entries and tree heads.
#[async_trait]
pub trait LedgerTables: WriteTables {
    /// Every (index, leaf hash), by index: enough to rebuild the tree.
    async fn ledger_leaves(&self) -> Result<Vec<(u64, [u8; 32])>> {
        self.ledger_leaves_from(0).await
    }

    /// The (index, leaf hash) of every entry from `from` on, by index: what
    /// a process that holds the first `from` leaves lacks.
    async fn ledger_leaves_from(&self, from: u64) -> Result<Vec<(u64, [u8; 32])>>;

    /// The entry bytes at `index`.
    async fn ledger_entry(&self, index: u64) -> Result<Option<Vec<u8>>>;

    /// Number of entries (= next index).
    async fn ledger_size(&self) -> Result<u64>;

    /// The tree head with the largest size: (size, signed head bytes).
    async fn latest_tree_head(&self) -> Result<Option<(u64, Vec<u8>)>>;
}
