//! The embedded database belongs to one process: it is always the leader
//! and keeps no change notes (there is no other process to tell).

use async_trait::async_trait;

use super::SqliteDatabase;
use crate::{ChangeNote, LedgerTurn, ReplicaTables, Result};

#[async_trait]
impl ReplicaTables for SqliteDatabase {
    fn shared(&self) -> bool {
        false
    }

    async fn change_notes_from(&self, _from: u64) -> Result<Vec<ChangeNote>> {
        Ok(Vec::new())
    }

    async fn change_notes_pruned_below(&self) -> Result<u64> {
        Ok(0)
    }

    async fn lead(&self) -> Result<bool> {
        Ok(true)
    }

    async fn resign(&self) -> Result<()> {
        Ok(())
    }

    async fn ledger_turn(&self) -> Result<LedgerTurn> {
        Ok(LedgerTurn::free())
    }

    async fn deployment_lock(&self, _name: &str) -> Result<LedgerTurn> {
        Ok(LedgerTurn::free())
    }
}
