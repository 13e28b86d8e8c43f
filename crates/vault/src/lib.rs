//! fineline's key custody: pseudonyms, data keys, and the key file.
//!
//! Raw identifiers enter here and leave only as keyed pseudonyms; nothing in
//! this crate stores or logs them. Personal data is sealed under a per-subject
//! [`DataKey`], itself wrapped by the [`MasterKey`]; deleting the wrapped key
//! shreds everything sealed under it.
//!
//! # API summary
//! - [`Keyring`]: `generate()`, `pseudonymize(raw) -> Pseudonym` (current key),
//!   `pseudonymize_as(domain, raw)` (e.g. `"device"`, `"optout"`; separate
//!   derived key per domain), `pseudonyms_for(raw) -> Vec<Pseudonym>` and
//!   `pseudonyms_as(domain, raw)` (every retained key, current first),
//!   `rotate() -> u32`, `retire(key_id) -> Result<()>`, `current_key_id()`, `key_ids()`.
//! - [`DataKey`]: `generate()`, `seal(plaintext, aad) -> Vec<u8>` (nonce‖ciphertext),
//!   `open(sealed, aad) -> Result<Vec<u8>, VaultError>`.
//! - [`MasterKey`]: `generate()`, `wrap(&DataKey, aad) -> Vec<u8>`,
//!   `unwrap(wrapped, aad) -> Result<DataKey, VaultError>`.
//! - [`subject_aad(&Pseudonym) -> Vec<u8>`](subject_aad): the AAD to use for
//!   anything sealed or wrapped for a subject, so rows cannot be swapped.
//! - [`Vault`]: `open_or_create(dir)` (keeps `dir/keys.json`, mode 0600, atomic
//!   write), `keyring()`, `master_key()`, `ledger_signing_key() -> ed25519_dalek::SigningKey`,
//!   `token_secret() -> &[u8; 32]`, `rotate_pseudonym_key() -> Result<u32>`,
//!   `retire_pseudonym_key(id)`, `save()`, `key_store()`.
//! - [`KeyStore`] (`dir/datakeys.db`, apart from the data store so its
//!   backups hold no key): `create(subject) -> SubjectKeys` (durable first),
//!   `get(subject)`, `shred(subject)` (durable, no copy left in the WAL or
//!   free pages), `count()`, and the one-time `adopt_from_data_store`.
//!
//! Invariants: key bytes are zeroized on drop and never appear in `Debug`;
//! the current pseudonym key can never be retired.
#![deny(missing_docs)]

mod file;
mod keyring;
mod keys;
mod keystore;

pub use file::Vault;
pub use keyring::{Keyring, SUBJECT_DOMAIN};
pub use keys::{subject_aad, DataKey, MasterKey};
pub use keystore::{KeyStore, SubjectKeys, WrappedSubjectKeys};

/// Why a key operation failed; no variant ever names a person.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Wrong key, wrong subject (AAD) or tampered bytes; deliberately vague.
    #[error("sealed data could not be opened")]
    Open,
    /// The keyring holds no pseudonym key with this id (never made, or already retired).
    #[error("no pseudonym key with id {0}")]
    UnknownKey(u32),
    /// Only older keys can be retired; the current one still makes new pseudonyms.
    #[error("key {0} is the current pseudonym key and cannot be retired")]
    RetireCurrentKey(u32),
    /// The key file could not be parsed; names the part that was wrong.
    #[error("key file is corrupt: {0}")]
    Corrupt(&'static str),
    /// The per-person key store failed (its message names no person).
    #[error("key store: {0}")]
    KeyStore(String),
    /// Reading or writing the key file failed.
    #[error("key file I/O: {0}")]
    Io(#[from] std::io::Error),
}
