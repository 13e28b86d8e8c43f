use std::collections::BTreeMap;

use fineline_core::Pseudonym;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::VaultError;

type HmacSha256 = Hmac<Sha256>;

/// The domain that [`Keyring::pseudonymize`] uses: subjects (customers).
pub const SUBJECT_DOMAIN: &str = "subject";

/// One HMAC-SHA256 pseudonym key. Wiped from memory on drop.
#[derive(Clone)]
pub(crate) struct PseudonymKey(pub(crate) [u8; 32]);

impl Drop for PseudonymKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl PseudonymKey {
    fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// Each identifier kind gets its own key derived from the root, so a
    /// device pseudonym can never equal (or be linked to) a subject one
    /// even if the raw strings happen to coincide.
    fn digest(&self, domain: &str, raw_id: &str) -> [u8; 32] {
        let mut derive = HmacSha256::new_from_slice(&self.0).expect("any key length");
        derive.update(b"fineline/pseudonym-domain/v1\0");
        derive.update(domain.as_bytes());
        let mut domain_key: [u8; 32] = derive.finalize().into_bytes().into();
        let mut mac = HmacSha256::new_from_slice(&domain_key).expect("any key length");
        domain_key.zeroize();
        mac.update(raw_id.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Pseudonym keys with numeric ids. New pseudonyms are made under the
/// current key; older keys are kept until retired so a returning person
/// is still found ([`Keyring::pseudonyms_for`]) after a rotation.
///
/// Invariant: the current key is always present (it cannot be retired).
#[derive(Clone)]
pub struct Keyring {
    pub(crate) keys: BTreeMap<u32, PseudonymKey>,
    pub(crate) current: u32,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: key bytes never reach logs.
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl Keyring {
    /// A keyring with one fresh random key, id 1.
    pub fn generate() -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, PseudonymKey::generate());
        Self { keys, current: 1 }
    }

    pub(crate) fn from_parts(
        keys: BTreeMap<u32, PseudonymKey>,
        current: u32,
    ) -> Result<Self, VaultError> {
        if !keys.contains_key(&current) {
            return Err(VaultError::Corrupt("current pseudonym key is missing"));
        }
        Ok(Self { keys, current })
    }

    /// The id stamped on every new pseudonym.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// Retained key ids, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// The subject pseudonym of `raw_id` under the current key.
    pub fn pseudonymize(&self, raw_id: &str) -> Pseudonym {
        self.pseudonymize_as(SUBJECT_DOMAIN, raw_id)
    }

    /// A pseudonym for another kind of identifier ("device" for MACs,
    /// "optout", ...) under the current key, domain-separated from subjects.
    pub fn pseudonymize_as(&self, domain: &str, raw_id: &str) -> Pseudonym {
        let key = &self.keys[&self.current];
        Pseudonym::new(self.current, key.digest(domain, raw_id))
    }

    /// The subject pseudonyms of `raw_id` under every retained key, the
    /// current one first, so data stored before a rotation is still found.
    pub fn pseudonyms_for(&self, raw_id: &str) -> Vec<Pseudonym> {
        self.pseudonyms_as(SUBJECT_DOMAIN, raw_id)
    }

    /// Like [`Keyring::pseudonyms_for`] for another identifier domain.
    pub fn pseudonyms_as(&self, domain: &str, raw_id: &str) -> Vec<Pseudonym> {
        let mut out = vec![self.pseudonymize_as(domain, raw_id)];
        for (&id, key) in self.keys.iter().rev() {
            if id != self.current {
                out.push(Pseudonym::new(id, key.digest(domain, raw_id)));
            }
        }
        out
    }

    /// Adds a fresh key and makes it current; returns its id.
    pub fn rotate(&mut self) -> u32 {
        let id = self.keys.keys().next_back().copied().unwrap_or(0) + 1;
        self.keys.insert(id, PseudonymKey::generate());
        self.current = id;
        id
    }

    /// Deletes an old key: pseudonyms made under it can no longer be
    /// recomputed from a raw id.
    pub fn retire(&mut self, key_id: u32) -> Result<(), VaultError> {
        if key_id == self.current {
            return Err(VaultError::RetireCurrentKey(key_id));
        }
        self.keys
            .remove(&key_id)
            .map(|_| ())
            .ok_or(VaultError::UnknownKey(key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_and_keyed() {
        let ring = Keyring::generate();
        let a = ring.pseudonymize("alice@example.com");
        assert_eq!(a, ring.pseudonymize("alice@example.com"));
        assert_eq!(a.key_id, 1);
        assert_ne!(a, ring.pseudonymize("bob@example.com"));
        let other = Keyring::generate();
        assert_ne!(a.digest, other.pseudonymize("alice@example.com").digest);
    }

    #[test]
    fn domains_are_separated() {
        let ring = Keyring::generate();
        let raw = "aa:bb:cc:dd:ee:ff";
        let subject = ring.pseudonymize(raw);
        let device = ring.pseudonymize_as("device", raw);
        let optout = ring.pseudonymize_as("optout", raw);
        assert_ne!(subject.digest, device.digest);
        assert_ne!(device.digest, optout.digest);
        assert_eq!(device, ring.pseudonymize_as("device", raw));
    }

    #[test]
    fn rotation_keeps_old_lookups() {
        let mut ring = Keyring::generate();
        let before = ring.pseudonymize("carol");
        let new_id = ring.rotate();
        assert_eq!(new_id, 2);
        let after = ring.pseudonymize("carol");
        assert_eq!(after.key_id, 2);
        assert_ne!(before.digest, after.digest);
        let all = ring.pseudonyms_for("carol");
        assert_eq!(all, vec![after, before]);
        ring.retire(1).unwrap();
        assert_eq!(ring.pseudonyms_for("carol"), vec![after]);
        assert!(matches!(
            ring.retire(2),
            Err(VaultError::RetireCurrentKey(2))
        ));
        assert!(matches!(ring.retire(7), Err(VaultError::UnknownKey(7))));
        assert_eq!(ring.rotate(), 3);
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let ring = Keyring::generate();
        let text = format!("{ring:?}");
        assert!(text.contains("current: 1"));
        assert!(!text.contains(&hex::encode(ring.keys[&1].0)));
    }
}
