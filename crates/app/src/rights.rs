//! A person's rights that change what is held: erasure.

use fineline_core::{Pseudonym, Timestamp};
use fineline_db::WriteOp;
use fineline_ledger::{LedgerEntry, Receipt};

use crate::subject_keys::LedgerSalt;
use crate::{App, AppError};

/// What an erasure did, with the proof the person keeps.
#[derive(Debug)]
pub struct Erased {
    /// When it happened.
    pub at: Timestamp,
    /// Rows removed: events, consent records, interests and the key.
    pub rows_deleted: u64,
    /// The ledger's proof of the erasure entry, with the person's salt.
    pub receipt: Receipt,
}

impl App {
    /// Erase a person: their rows and the erasure's ledger entry in one
    /// transaction; then their key is shredded (so every sealed copy, in
    /// backups too, is unreadable) and every in-memory structure and
    /// listener forgets them, before the receipt is returned.
    pub async fn erase(&self, subject: &Pseudonym) -> Result<Erased, AppError> {
        // No consent change may recreate the person's keys mid-erasure, and
        // no ingestion batch that passed its consent check may commit rows
        // for them after it (ingestion re-checks consent in its turn).
        self.catch_up().await?;
        let _turn = self.order.exclusive().await;
        self.erase_in_turn(subject, Vec::new()).await
    }

    /// [`App::erase`] once the caller holds the exclusive turn (after
    /// `catch_up`), with `extra` ops landing in the erasure's transaction:
    /// what is kept about the person outside their rows (a persona's
    /// keyed digests). A persona's registered erasure key goes with every
    /// erasure of its subject, whoever asks.
    pub(crate) async fn erase_in_turn(
        &self,
        subject: &Pseudonym,
        extra: Vec<WriteOp>,
    ) -> Result<Erased, AppError> {
        let keys = self
            .subject_keys(subject)
            .await?
            .ok_or_else(|| AppError::not_found("nothing is held about this person"))?;
        let at = Timestamp::now();
        let entry = LedgerEntry::Erasure {
            commitment: keys.commitment(subject),
            at,
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |indices| {
                let mut ops = vec![
                    WriteOp::EraseSubject(*subject),
                    crate::replication::note(
                        fineline_db::ChangeKind::Erasure,
                        Some(*subject),
                        indices[0],
                    ),
                    WriteOp::DeleteSetting {
                        name: crate::persona::erasure_key_setting(subject),
                    },
                ];
                ops.extend(extra);
                ops
            })
            .await?;
        // After the rows, before the salt the person's number comes from
        // is shredded.
        self.analytics_erased(subject, &keys.salt).await?;
        // After the rows: a failure between leaves a key a retry shreds.
        let shredded = self.shred_subject_keys(subject).await?;
        self.forget_subject(subject);
        let receipt = self
            .ledger
            .receipt(
                self.database(),
                appended.indices[0],
                Some(keys.ledger_salt()),
            )
            .await?;
        // The key, kept in the key store now, still counts as a row deleted.
        let rows_deleted = appended.outcome.rows_deleted + u64::from(shredded);
        tracing::info!(rows = rows_deleted, "subject erased");
        Ok(Erased {
            at,
            rows_deleted,
            receipt,
        })
    }
}
