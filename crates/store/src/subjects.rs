//! Per-subject key material: the wrapped data key and the commitment salt.

use async_trait::async_trait;
use fineline_core::Pseudonym;

use crate::{Result, WriteStore};

/// Deleting this row shreds the subject: their sealed data can no longer be
/// opened and their ledger commitments can no longer be linked to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKeys {
    pub subject: Pseudonym,
    /// The subject's data key wrapped by the vault's master key.
    pub wrapped_data_key: Vec<u8>,
    /// Salt of the subject's ledger commitments.
    pub commitment_salt: Vec<u8>,
}

#[async_trait]
pub trait SubjectStore: WriteStore {
    async fn subject_keys(&self, subject: &Pseudonym) -> Result<Option<SubjectKeys>>;

    /// How many subjects hold keys (i.e. are known and not erased).
    async fn count_subjects(&self) -> Result<u64>;
}
