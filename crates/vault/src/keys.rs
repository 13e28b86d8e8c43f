use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use fineline_core::Pseudonym;
use rand::RngCore;
use zeroize::Zeroize;

use crate::VaultError;

const NONCE_LEN: usize = 12;

/// Additional authenticated data binding a sealed value to its subject:
/// a row copied onto another person fails to open.
pub fn subject_aad(subject: &Pseudonym) -> Vec<u8> {
    let mut aad = b"fineline/subject/v1\0".to_vec();
    aad.extend_from_slice(subject.to_text().as_bytes());
    aad
}

fn seal_with(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    // ThreadRng is a CSPRNG reseeded from the OS; a syscall per sealed
    // event (OsRng) cost more than the encryption itself on ingestion.
    rand::thread_rng().fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption cannot fail for in-memory buffers");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(VaultError::Open);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| VaultError::Open)
}

/// A subject's own AES-256-GCM key. Everything personal about them is
/// sealed under it; destroying the wrapped copy shreds the data.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key from the OS, for a person's first consent.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// `nonce (12 bytes) || ciphertext+tag`, with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        seal_with(&self.0, plaintext, aad)
    }

    /// Opens what [`DataKey::seal`] made; fails on a wrong key, wrong subject or tampering.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        open_with(&self.0, sealed, aad)
    }
}

/// The key that wraps every [`DataKey`]. Lives only in the vault's key file.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random key from the OS, for a new vault.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// Rebuilds the key read back from the vault's key file.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Wraps a data key for storage. `aad` should be [`subject_aad`] of
    /// its owner so a wrapped key cannot be moved to another subject.
    pub fn wrap(&self, key: &DataKey, aad: &[u8]) -> Vec<u8> {
        seal_with(&self.0, &key.0, aad)
    }

    /// Recovers a data key wrapped for the same `aad`; fails if it was moved or tampered with.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, VaultError> {
        let mut bytes = open_with(&self.0, wrapped, aad)?;
        let out = <[u8; 32]>::try_from(bytes.as_slice())
            .map(DataKey)
            .map_err(|_| VaultError::Open);
        bytes.zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn subject(n: u8) -> Pseudonym {
        Pseudonym::new(1, [n; 32])
    }

    #[test]
    fn seal_open_round_trip_and_failures() {
        let key = DataKey::generate();
        let aad = subject_aad(&subject(1));
        let sealed = key.seal(b"{\"sku\":\"a\"}", &aad);
        assert_eq!(key.open(&sealed, &aad).unwrap(), b"{\"sku\":\"a\"}");
        // Fresh nonce each time.
        assert_ne!(sealed, key.seal(b"{\"sku\":\"a\"}", &aad));
        assert!(DataKey::generate().open(&sealed, &aad).is_err());
        assert!(key.open(&sealed, &subject_aad(&subject(2))).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open(&tampered, &aad).is_err());
        assert!(key.open(&sealed[..10], &aad).is_err());
    }

    #[test]
    fn wrap_unwrap_binds_subject() {
        let master = MasterKey::generate();
        let dk = DataKey::generate();
        let aad = subject_aad(&subject(3));
        let wrapped = master.wrap(&dk, &aad);
        assert_eq!(master.unwrap(&wrapped, &aad).unwrap(), dk);
        assert!(master.unwrap(&wrapped, &subject_aad(&subject(4))).is_err());
        assert!(MasterKey::generate().unwrap(&wrapped, &aad).is_err());
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(msg in proptest::collection::vec(any::<u8>(), 0..512),
                                 aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let key = DataKey::generate();
            let sealed = key.seal(&msg, &aad);
            prop_assert_eq!(sealed.len(), msg.len() + 28);
            prop_assert_eq!(key.open(&sealed, &aad).unwrap(), msg);
        }

        #[test]
        fn open_never_panics(junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = DataKey::generate().open(&junk, b"");
        }
    }
}
