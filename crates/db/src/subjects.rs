//! Per-subject key material as versions before the vault's key store kept
//! it: in the database, where every backup carried it. Only the one-time
//! move into the key store (and `backup restore` of an old backup) reads
//! these rows; nothing writes new ones.

use crate::{Result, WriteTables};
use async_trait::async_trait;
use fineline_core::Pseudonym;

/// A legacy key row: the subject's data key wrapped by the vault's master
/// key, and the salt of their ledger commitments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyKeyRow {
    /// Whose keys.
    pub subject: Pseudonym,
    /// The subject's data key wrapped by the vault's master key.
    pub wrapped_data_key: Vec<u8>,
    /// Salt of the subject's ledger commitments.
    pub commitment_salt: Vec<u8>,
}

/// Legacy key rows, read once to move them into the vault's key store.
#[async_trait]
pub trait SubjectTables: WriteTables {
    /// Every key row left in the database by an earlier version.
    async fn legacy_subject_keys(&self) -> Result<Vec<LegacyKeyRow>>;
}
