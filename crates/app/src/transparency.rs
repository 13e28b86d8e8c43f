//! What anyone may check, and what a person may see of their consents: the
//! ledger's key, tree heads, proofs and entries; a person's consent state
//! and history with receipts; the policy versions; the console's consent
//! tallies.

use std::collections::BTreeMap;

use fineline_consent::{ConsentRecord, ConsentTally, Policy, ReconsentProgress};
use fineline_core::{Pseudonym, Timestamp};
use fineline_ledger::{Actor, Hash, Receipt, SignedTreeHead, VerifyingKey};

use crate::access::view_of;
use crate::subject_keys::LedgerSalt;
use crate::{App, AppError};

/// A person's consent now, as they or an admin read it.
#[derive(Debug)]
pub struct ConsentStatus {
    /// Purpose name → `given` | `withdrawn` | `expired` | `none`.
    pub purposes: BTreeMap<String, String>,
    /// The policy in force.
    pub policy_version: Option<u32>,
    /// Every record of the person, oldest first.
    pub records: Vec<ConsentRecord>,
}

impl App {
    /// The public key tree heads are signed with.
    pub fn ledger_key(&self) -> VerifyingKey {
        self.ledger.signer().verifying_key()
    }

    /// The latest signed tree head.
    pub fn tree_head(&self) -> SignedTreeHead {
        self.ledger.head()
    }

    /// Inclusion proof for leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AppError> {
        self.ledger.inclusion_proof(index, size)
    }

    /// Consistency proof between two tree sizes.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, AppError> {
        self.ledger.consistency_proof(from, to)
    }

    /// One ledger entry's canonical JSON bytes (entries hold no personal data).
    pub async fn ledger_entry(&self, index: u64) -> Result<Vec<u8>, AppError> {
        let not_found = || AppError::not_found(format!("no ledger entry {index}"));
        if index >= self.ledger.head().tree_head.size {
            return Err(not_found());
        }
        self.database()
            .ledger_entry(index)
            .await?
            .ok_or_else(not_found)
    }

    /// A person's consent now and their records (a logged read).
    pub async fn consent_status(
        &self,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<ConsentStatus, AppError> {
        self.log_access(subject, view_of(actor), actor).await?;
        let records = self.stored_consents(subject).await?;
        Ok(ConsentStatus {
            purposes: self.current_consents(subject),
            policy_version: self.current_policy().map(|p| p.version),
            records: records.into_iter().map(|s| s.record).collect(),
        })
    }

    /// Every consent record of a person with a receipt proving it is in
    /// the ledger under the current tree head (a logged read).
    pub async fn consent_history(
        &self,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<Vec<(ConsentRecord, Receipt)>, AppError> {
        self.log_access(subject, view_of(actor), actor).await?;
        let salt = self.subject_keys(subject).await?.map(|k| k.ledger_salt());
        let mut entries = Vec::new();
        for s in self.stored_consents(subject).await? {
            let receipt = self
                .ledger
                .receipt(self.database(), s.ledger_index, salt.clone())
                .await?;
            entries.push((s.record, receipt));
        }
        Ok(entries)
    }

    /// Every published policy version, oldest first.
    pub fn policies(&self) -> Vec<Policy> {
        self.consents.read().unwrap().policies().all().to_vec()
    }

    /// Everyone's consent at each of `moments`, and each policy version's
    /// re-consent progress (a walk over the whole index, off the runtime).
    pub async fn consent_tallies(
        &self,
        moments: Vec<Timestamp>,
    ) -> Result<(Vec<ConsentTally>, Vec<ReconsentProgress>), AppError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let index = app.consents.read().unwrap();
            (index.tally(&moments), index.reconsent_progress())
        })
        .await
        .map_err(AppError::internal)
    }
}
