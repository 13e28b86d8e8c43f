//! The device's own record: every disclosure and level change it made,
//! and the receipts the business answered with, checked against the
//! business's log key before they are kept.

use fineline_core::Timestamp;
use fineline_ledger::{verify_receipt, ConsentState, LedgerEntry, Receipt, VerifyingKey};

use crate::checkin::CheckIn;
use crate::disclose::Disclosure;
use crate::erasure::{ErasureRequest, ERASURE_MAX_SKEW_MS};
use crate::level::{ConsentStep, TrustLevel};
use crate::PersonaError;

/// What one log entry records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Logged {
    /// Data that left the device, exactly as sent.
    Disclosure(Disclosure),
    /// The person changed a business's level; the steps the business must record.
    LevelChange {
        /// Level before.
        from: TrustLevel,
        /// Level after.
        to: TrustLevel,
        /// Consent steps asked of the business.
        steps: Vec<ConsentStep>,
    },
    /// A check-in at one of the business's stores, exactly as sent.
    CheckIn(CheckIn),
    /// A request that the business erase this persona's records, exactly
    /// as sent; its receipt is the erasure's ledger entry.
    Erasure(ErasureRequest),
}

/// One entry of the device log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// The business it concerns.
    pub business: String,
    /// When the device made it.
    pub at: Timestamp,
    /// What happened.
    pub what: Logged,
    /// Receipts received for it, each verified before it was kept.
    pub receipts: Vec<Receipt>,
}

/// The device's append-only log.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceLog {
    entries: Vec<LogEntry>,
}

impl DeviceLog {
    /// Every entry, oldest first.
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }

    /// Appends and returns the new entry's sequence number.
    pub(crate) fn push(&mut self, business: &str, at: Timestamp, what: Logged) -> u64 {
        let seq = self.entries.len() as u64;
        self.entries.push(LogEntry {
            seq,
            business: business.to_string(),
            at,
            what,
            receipts: Vec::new(),
        });
        seq
    }

    /// Checks `receipt` (signature under `log_key`, inclusion proof, entry
    /// hash) and that it answers entry `seq`, then keeps it. For a level
    /// change the ledger entry must be a consent change for one of its
    /// steps (same purpose, same direction); for an erasure request, an
    /// erasure entry made no earlier than the request's clock allows (an
    /// older erasure is someone else's or an earlier one); for a
    /// disclosure, a level-3/4 business answers with whatever its ledger
    /// recorded, so only the proof is checked. A receipt that fails is not
    /// kept.
    pub fn attach_receipt(
        &mut self,
        seq: u64,
        receipt: Receipt,
        log_key: &VerifyingKey,
    ) -> Result<String, PersonaError> {
        let entry = self
            .entries
            .get_mut(seq as usize)
            .ok_or(PersonaError::Invalid("no such log entry"))?;
        let summary = verify_receipt(&receipt, Some(log_key))?;
        if let Logged::LevelChange { steps, .. } = &entry.what {
            let matches = match &receipt.entry {
                LedgerEntry::ConsentChange { purpose, state, .. } => steps.iter().any(|s| {
                    s.purpose == *purpose && s.granted == (*state == ConsentState::Granted)
                }),
                _ => false,
            };
            if !matches {
                return Err(PersonaError::ReceiptMismatch);
            }
        }
        if let Logged::Erasure(asked) = &entry.what {
            let matches = matches!(&receipt.entry, LedgerEntry::Erasure { at, .. }
                if at.millis() >= asked.at.millis().saturating_sub(ERASURE_MAX_SKEW_MS));
            if !matches {
                return Err(PersonaError::ReceiptMismatch);
            }
        }
        entry.receipts.push(receipt);
        Ok(summary.to_string())
    }

    /// Level changes of `business` that still lack a receipt for some
    /// step (a withdrawal the business has not yet proven it recorded),
    /// and erasure requests it has not yet proven it carried out.
    /// A change between levels 0 and 1 is never sent (neither carries an
    /// identifier, so there is no one to record it for) and needs none.
    pub fn unreceipted_changes(&self, business: &str) -> Vec<u64> {
        self.entries
            .iter()
            .filter(|e| e.business == business)
            .filter(|e| match &e.what {
                Logged::LevelChange { from, to, .. } if from.number() < 2 && to.number() < 2 => {
                    false
                }
                Logged::LevelChange { steps, .. } => steps.iter().any(|s| {
                    !e.receipts.iter().any(|r| match &r.entry {
                        LedgerEntry::ConsentChange { purpose, state, .. } => {
                            *purpose == s.purpose && s.granted == (*state == ConsentState::Granted)
                        }
                        _ => false,
                    })
                }),
                Logged::Erasure(_) => e.receipts.is_empty(),
                Logged::Disclosure(_) | Logged::CheckIn(_) => false,
            })
            .map(|e| e.seq)
            .collect()
    }
}
