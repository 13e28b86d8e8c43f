//! Receipts: what a person keeps to prove an entry is in the log.
//!
//! File format (JSON, one object):
//!
//! ```text
//! {
//!   "entry": { "kind": "consent_change", ... },   // the LedgerEntry
//!   "leaf_index": 17,
//!   "leaf_hash": "<hex>",                          // SHA-256(0x00 ‖ canonical entry)
//!   "tree_head": { "tree_head": {"size": 42, "root_hash": "<hex>", "timestamp_ms": ...},
//!                  "key_id": "<hex>", "signature": "<base64>" },
//!   "inclusion_proof": ["<hex>", ...],             // RFC 9162 order, leaf upwards
//!   "subject_salt": "<hex>",                       // optional: lets the holder
//!                                                  // show the commitment is theirs
//!   "log_key": "<hex Ed25519 public key>"
//! }
//! ```
//!
//! Whitespace and member order of the file do not matter: the verifier
//! re-encodes the entry canonically before hashing it.

use crate::entry::{format_time, LedgerEntry, Salt};
use crate::hash::Hash;
use crate::head::{key_hex, key_id, SignedTreeHead, TreeHeadError};
use crate::verify::{verify_inclusion, ProofError};
use ed25519_dalek::VerifyingKey;
use fineline_core::{Pseudonym, Timestamp};
use std::fmt;

/// Proof, kept by a person, that an entry about them is in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// The entry the receipt proves.
    pub entry: LedgerEntry,
    /// Its position in the log (0-based).
    pub leaf_index: u64,
    /// The leaf the proof is for; kept so a mismatch can be told apart
    /// as "entry altered" rather than "bad proof".
    pub leaf_hash: Hash,
    /// The signed tree head the proof leads to.
    pub tree_head: SignedTreeHead,
    /// Sibling hashes from the leaf upwards (RFC 9162 order).
    pub inclusion_proof: Vec<Hash>,
    /// The person's salt, so the holder can show the commitment names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_salt: Option<Salt>,
    /// The log's Ed25519 public key (hex); check it against one you trust.
    #[serde(with = "key_hex")]
    pub log_key: VerifyingKey,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The receipt was signed by a key other than the one trusted.
    #[error("untrusted key: receipt is signed by key {found}, not the trusted key {trusted}")]
    UntrustedKey {
        /// Key id (SHA-256 of the public key) in the receipt.
        found: Hash,
        /// Key id of the key the caller trusts.
        trusted: Hash,
    },
    /// The tree head's signature is wrong or names another key.
    #[error("bad signature: {0}")]
    BadSignature(TreeHeadError),
    /// The inclusion proof does not lead to the signed root.
    #[error("bad proof: {0}")]
    BadProof(ProofError),
    /// The entry does not hash to the receipt's leaf; says which part is off.
    #[error("entry altered: {0}")]
    EntryAltered(&'static str),
    /// A subject check was asked for, but the receipt carries no salt.
    #[error("cannot check whose entry this is: the receipt holds no salt")]
    MissingSalt,
}

/// What a valid receipt shows. Displays as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptSummary {
    /// The entry in one line, from [`LedgerEntry::describe`].
    pub description: String,
    /// Its position in the log (0-based).
    pub leaf_index: u64,
    /// Leaves in the signed tree head.
    pub tree_size: u64,
    /// SHA-256 of the log's public key that signed the head.
    pub key_id: Hash,
    /// When the head was signed (ms since the Unix epoch).
    pub signed_at: Timestamp,
    /// Whether the signing key was checked against one the caller trusts.
    pub key_trusted: bool,
    /// Whether the entry's commitment was checked against a pseudonym.
    pub subject_checked: bool,
}

impl fmt::Display for ReceiptSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "valid: {}, leaf {} of {}, tree head signed by key {} at {}",
            self.description,
            self.leaf_index,
            self.tree_size,
            &self.key_id.to_hex()[..16],
            format_time(self.signed_at),
        )?;
        if self.subject_checked {
            f.write_str(", names you")?;
        }
        if !self.key_trusted {
            f.write_str(" (key taken from the receipt; pass --key to pin it)")?;
        }
        Ok(())
    }
}

/// Checks a receipt offline: key, signature, entry, then inclusion proof.
/// With `trusted_key`, the receipt's key must be that key.
pub fn verify_receipt(
    receipt: &Receipt,
    trusted_key: Option<&VerifyingKey>,
) -> Result<ReceiptSummary, ReceiptError> {
    if let Some(trusted) = trusted_key {
        if trusted != &receipt.log_key {
            return Err(ReceiptError::UntrustedKey {
                found: key_id(&receipt.log_key),
                trusted: key_id(trusted),
            });
        }
    }
    let sth = &receipt.tree_head;
    sth.verify(&receipt.log_key)
        .map_err(ReceiptError::BadSignature)?;
    if receipt.entry.leaf_hash() != receipt.leaf_hash {
        return Err(ReceiptError::EntryAltered(
            "the entry does not hash to the leaf the proof is for",
        ));
    }
    let head = &sth.tree_head;
    verify_inclusion(
        receipt.leaf_index,
        head.size,
        &receipt.leaf_hash,
        &receipt.inclusion_proof,
        &head.root_hash,
    )
    .map_err(ReceiptError::BadProof)?;
    Ok(ReceiptSummary {
        description: receipt.entry.describe(),
        leaf_index: receipt.leaf_index,
        tree_size: head.size,
        key_id: sth.key_id,
        signed_at: Timestamp(head.timestamp_ms),
        key_trusted: trusted_key.is_some(),
        subject_checked: false,
    })
}

/// [`verify_receipt`], and also that the entry names `subject` under the
/// receipt's salt (the person checking it is about them).
pub fn verify_receipt_for_subject(
    receipt: &Receipt,
    trusted_key: Option<&VerifyingKey>,
    subject: &Pseudonym,
) -> Result<ReceiptSummary, ReceiptError> {
    let mut summary = verify_receipt(receipt, trusted_key)?;
    let salt = receipt
        .subject_salt
        .as_ref()
        .ok_or(ReceiptError::MissingSalt)?;
    let commitment = receipt
        .entry
        .commitment()
        .ok_or(ReceiptError::EntryAltered("the entry names no one"))?;
    if !commitment.matches(salt, subject) {
        return Err(ReceiptError::EntryAltered(
            "the commitment does not match this salt and pseudonym",
        ));
    }
    summary.subject_checked = true;
    Ok(summary)
}
