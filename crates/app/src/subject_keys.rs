//! The server's side of the vault's per-person key store: calls moved off
//! the async executor (creating and shredding a key each wait on an
//! fsync), the one-time move of keys out of the database, and the purge
//! that makes a restored backup forget the people erased since it was
//! taken.
//!
//! Keys live in the vault's `datakeys.db`, never in the database, so a
//! backup of the database holds sealed rows without the key to open
//! them. The order of writes follows from that: a new person's key is
//! stored before anything is sealed under it, and an erased person's key
//! is shredded after their rows are deleted (a failure in between leaves
//! a key with no rows, which a retried erasure removes — never rows whose
//! deletion nobody will retry).

use std::collections::HashSet;
use std::sync::Arc;

use fineline_core::Pseudonym;
use fineline_db::{Database, WriteOp, WriteSet};
use fineline_ledger::{Commitment, Salt};
use fineline_vault::{KeyStore, SubjectKeys, Vault, VaultError, WrappedSubjectKeys};

use crate::error::AppError;

/// What the ledger needs of a person's keys: their commitment (an HMAC of
/// the pseudonym under their salt, so entries hold no personal data) and
/// the salt itself, which their receipts carry. The vault keeps the salt
/// as bytes so that it need not know the ledger.
pub trait LedgerSalt {
    /// The commitment ledger entries about `subject` carry.
    fn commitment(&self, subject: &Pseudonym) -> Commitment;
    /// The salt as the ledger types it.
    fn ledger_salt(&self) -> Salt;
}

impl LedgerSalt for SubjectKeys {
    fn commitment(&self, subject: &Pseudonym) -> Commitment {
        Commitment::new(&self.ledger_salt(), subject)
    }

    fn ledger_salt(&self) -> Salt {
        Salt::from_bytes(self.salt)
    }
}

async fn blocking<T: Send + 'static>(
    keys: &Arc<KeyStore>,
    f: impl FnOnce(&KeyStore) -> Result<T, VaultError> + Send + 'static,
) -> Result<T, AppError> {
    let keys = keys.clone();
    tokio::task::spawn_blocking(move || f(&keys))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

pub(crate) async fn get(
    keys: &Arc<KeyStore>,
    subject: Pseudonym,
) -> Result<Option<SubjectKeys>, AppError> {
    blocking(keys, move |k| k.get(&subject)).await
}

pub(crate) async fn create(
    keys: &Arc<KeyStore>,
    subject: Pseudonym,
) -> Result<SubjectKeys, AppError> {
    blocking(keys, move |k| k.create(&subject)).await
}

pub(crate) async fn create_many(
    keys: &Arc<KeyStore>,
    subjects: Vec<Pseudonym>,
) -> Result<Vec<SubjectKeys>, AppError> {
    blocking(keys, move |k| k.create_many(&subjects)).await
}

pub(crate) async fn shred(keys: &Arc<KeyStore>, subject: Pseudonym) -> Result<bool, AppError> {
    blocking(keys, move |k| k.shred(&subject)).await
}

/// What [`move_keys_out_of_database`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeyMove {
    /// Keys moved into the key store (the first start after upgrading).
    pub moved: usize,
    /// Keys dropped without moving: the key store had already taken over,
    /// so these came back with a restored old backup, and moving them
    /// would bring back people erased since.
    pub dropped: usize,
}

/// Runs at every start (and before a backup): per-person keys that an
/// earlier version kept in the data store move into the vault's key store
/// once, then leave the database. Safe to repeat after a crash midway.
pub async fn move_keys_out_of_database(
    database: &dyn Database,
    vault: &Vault,
) -> Result<KeyMove, AppError> {
    let legacy = database
        .legacy_subject_keys()
        .await
        .map_err(AppError::internal)?;
    let keys = vault.key_store();
    let already_moved = blocking(keys, |k| k.moved_from_data_store()).await?;
    if already_moved && legacy.is_empty() {
        return Ok(KeyMove::default());
    }
    let subjects: Vec<Pseudonym> = legacy.iter().map(|k| k.subject).collect();
    let report = if already_moved {
        KeyMove {
            moved: 0,
            dropped: legacy.len(),
        }
    } else {
        blocking(keys, move |k| {
            let wrapped: Vec<WrappedSubjectKeys<'_>> = legacy
                .iter()
                .map(|r| WrappedSubjectKeys {
                    subject: r.subject,
                    wrapped_data_key: &r.wrapped_data_key,
                    salt: &r.commitment_salt,
                })
                .collect();
            k.adopt_from_data_store(&wrapped)
        })
        .await?;
        KeyMove {
            moved: subjects.len(),
            dropped: 0,
        }
    };
    if !subjects.is_empty() {
        database
            .apply(WriteSet::from(WriteOp::DropLegacySubjectKeys(subjects)))
            .await
            .map_err(AppError::internal)?;
    }
    if report.moved > 0 {
        tracing::info!(
            people = report.moved,
            "moved per-person keys to the key store"
        );
    }
    if report.dropped > 0 {
        tracing::warn!(
            people = report.dropped,
            "dropped per-person keys found in the data store (a restored old backup); the key store decides who exists"
        );
    }
    Ok(report)
}

/// After restoring a backup: erase the rows of everyone whose key is no
/// longer in the key store (erased after the backup was taken). Their
/// sealed properties were already unreadable; this removes the clear
/// metadata (consent records, event types and times, interests) too.
/// Returns how many people were purged.
pub async fn purge_people_without_keys(
    database: &dyn Database,
    vault: &Vault,
) -> Result<usize, AppError> {
    let people: HashSet<Pseudonym> = database
        .all_consents()
        .await
        .map_err(AppError::internal)?
        .into_iter()
        .map(|c| c.subject)
        .collect();
    let people: Vec<Pseudonym> = people.into_iter().collect();
    let gone = blocking(vault.key_store(), move |k| {
        let mut gone = Vec::new();
        for p in people {
            if !k.contains(&p)? {
                gone.push(p);
            }
        }
        Ok(gone)
    })
    .await?;
    if !gone.is_empty() {
        let ops: Vec<WriteOp> = gone.iter().map(|p| WriteOp::EraseSubject(*p)).collect();
        database
            .apply(WriteSet::from(ops))
            .await
            .map_err(AppError::internal)?;
    }
    Ok(gone.len())
}
