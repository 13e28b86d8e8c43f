//! Tree heads, their Ed25519 signatures, and the log's signing key.

use crate::hash::Hash;
use crate::verify::{verify_consistency, ProofError};
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// What the log commits to at one moment: its size and root hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    /// Leaves in the tree at that moment.
    pub size: u64,
    /// RFC 9162 root over those leaves.
    pub root_hash: Hash,
    /// When it was signed (ms since the Unix epoch).
    pub timestamp_ms: i64,
}

impl TreeHead {
    /// Domain separation: these bytes can never be mistaken for a signature
    /// over anything else signed with the same key.
    pub const SIGNING_CONTEXT: &'static [u8; 22] = b"fineline-tree-head-v1\n";

    /// The signed bytes: context ‖ size (u64 BE) ‖ timestamp_ms (i64 BE)
    /// ‖ root hash (32 bytes). 70 bytes, fixed layout.
    pub fn canonical_bytes(&self) -> [u8; 70] {
        let mut out = [0u8; 70];
        out[..22].copy_from_slice(Self::SIGNING_CONTEXT);
        out[22..30].copy_from_slice(&self.size.to_be_bytes());
        out[30..38].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[38..].copy_from_slice(&self.root_hash.0);
        out
    }
}

/// A tree head with the log's signature. JSON file form:
/// `{"tree_head":{"size":42,"root_hash":"<hex>","timestamp_ms":…},
///   "key_id":"<hex sha256 of the public key>","signature":"<base64>"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    /// The size and root that were signed.
    pub tree_head: TreeHead,
    /// SHA-256 of the public key that signed it.
    pub key_id: Hash,
    /// Ed25519 signature over [`TreeHead::canonical_bytes`] (base64 in JSON).
    #[serde(with = "signature_base64")]
    pub signature: Signature,
}

/// Why a signed tree head does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeHeadError {
    /// The head names a signing key other than the one given.
    #[error("tree head names signing key {named}, not the key given ({given})")]
    KeyIdMismatch {
        /// Key id the head names.
        named: Hash,
        /// Key id of the key given to verify with.
        given: Hash,
    },
    /// The signature is not over this tree head by this key.
    #[error("signature does not match the tree head")]
    BadSignature,
}

impl SignedTreeHead {
    /// Checks the signature under `key`, and that the head names that key.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), TreeHeadError> {
        let given = key_id(key);
        if given != self.key_id {
            return Err(TreeHeadError::KeyIdMismatch {
                named: self.key_id,
                given,
            });
        }
        key.verify_strict(&self.tree_head.canonical_bytes(), &self.signature)
            .map_err(|_| TreeHeadError::BadSignature)
    }
}

/// Key id: SHA-256 of the 32-byte Ed25519 public key.
pub fn key_id(key: &VerifyingKey) -> Hash {
    Hash(Sha256::digest(key.as_bytes()).into())
}

/// The log's private signing key.
pub struct LogSigner {
    key: SigningKey,
    key_id: Hash,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogSigner(key id {})", self.key_id)
    }
}

impl LogSigner {
    /// Wraps the Ed25519 key that signs tree heads.
    pub fn new(key: SigningKey) -> Self {
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self::new(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Rebuilds the signer from the 32-byte secret the vault keeps.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        Self::new(SigningKey::from_bytes(secret))
    }

    /// The 32-byte secret, for whoever keeps it (the vault); wiped on drop.
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.key.to_bytes())
    }

    /// The public half, for auditors and receipts.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// SHA-256 of the public key, named in every signed head.
    pub fn key_id(&self) -> Hash {
        self.key_id
    }

    /// Signs a published document (a public model, an offer) under the
    /// log's key; see [`document_message`] for what is signed.
    pub fn sign_document(&self, label: &str, bytes: &[u8]) -> Signature {
        self.key.sign(&document_message(label, bytes))
    }

    /// Signs a tree head under the log's key.
    pub fn sign(&self, tree_head: TreeHead) -> SignedTreeHead {
        SignedTreeHead {
            tree_head,
            key_id: self.key_id,
            signature: self.key.sign(&tree_head.canonical_bytes()),
        }
    }
}

/// What [`LogSigner::sign_document`] signs: `"fineline-document/v1\0"`,
/// the label (e.g. `"public-model"`), a zero byte, then the document's
/// bytes. The label keeps a signature on one kind of document from being
/// passed off as another, and the prefix keeps it from ever being a tree head's.
pub fn document_message(label: &str, bytes: &[u8]) -> Vec<u8> {
    let mut m = b"fineline-document/v1\0".to_vec();
    m.extend_from_slice(label.as_bytes());
    m.push(0);
    m.extend_from_slice(bytes);
    m
}

/// Checks a [`LogSigner::sign_document`] signature.
pub fn verify_document(
    key: &VerifyingKey,
    label: &str,
    bytes: &[u8],
    signature: &Signature,
) -> bool {
    key.verify_strict(&document_message(label, bytes), signature)
        .is_ok()
}

/// Public key text form: 64 hex digits (what `/v1/ledger/key` serves).
pub fn public_key_to_text(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Refusal of text that is neither 64 hex digits nor 44 base64 characters of an Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 public key (expected 64 hex digits or 44 base64 characters)")]
pub struct InvalidPublicKey;

/// Parses a public key given as hex (our form) or standard base64.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, InvalidPublicKey> {
    let text = text.trim();
    let mut bytes = [0u8; 32];
    if hex::decode_to_slice(text, &mut bytes).is_err() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| InvalidPublicKey)?;
        bytes = decoded.try_into().map_err(|_| InvalidPublicKey)?;
    }
    VerifyingKey::from_bytes(&bytes).map_err(|_| InvalidPublicKey)
}

/// Why two tree heads do not show an append-only log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The older head's signature does not verify.
    #[error("older tree head: {0}")]
    OldHead(TreeHeadError),
    /// The newer head's signature does not verify.
    #[error("newer tree head: {0}")]
    NewHead(TreeHeadError),
    /// The proof does not show the newer tree extends the older.
    #[error("the log is not append-only between these tree heads: {0}")]
    BadProof(ProofError),
}

/// Checks two signed tree heads under `key` and that `proof` shows the
/// newer one extends the older (what `fineline verify-consistency` runs).
pub fn verify_tree_heads_consistent(
    old: &SignedTreeHead,
    new: &SignedTreeHead,
    proof: &[Hash],
    key: &VerifyingKey,
) -> Result<(), ConsistencyError> {
    old.verify(key).map_err(ConsistencyError::OldHead)?;
    new.verify(key).map_err(ConsistencyError::NewHead)?;
    let (o, n) = (&old.tree_head, &new.tree_head);
    verify_consistency(o.size, n.size, &o.root_hash, &n.root_hash, proof)
        .map_err(ConsistencyError::BadProof)
}

/// Serde for Ed25519 keys as hex, for fields in documented file formats.
pub mod key_hex {
    use ed25519_dalek::VerifyingKey;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the key as 64 hex digits.
    pub fn serialize<S: Serializer>(key: &VerifyingKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::public_key_to_text(key))
    }

    /// Reads a key written as hex or base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<VerifyingKey, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_public_key(&text).map_err(serde::de::Error::custom)
    }
}

mod signature_base64 {
    use base64::Engine as _;
    use ed25519_dalek::Signature;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Signature, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signature, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        let bytes: [u8; 64] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("an Ed25519 signature is 64 bytes"))?;
        Ok(Signature::from_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> TreeHead {
        TreeHead {
            size: 42,
            root_hash: crate::hash::leaf_hash(b"x"),
            timestamp_ms: 1_764_000_000_000,
        }
    }

    #[test]
    fn signed_head_round_trips_through_json_and_verifies() {
        let signer = LogSigner::from_secret_bytes(&[7; 32]);
        let sth = signer.sign(head());
        let json = serde_json::to_string(&sth).unwrap();
        let back: SignedTreeHead = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sth);
        back.verify(&signer.verifying_key()).unwrap();
    }

    #[test]
    fn any_change_to_the_head_breaks_the_signature() {
        let signer = LogSigner::from_secret_bytes(&[7; 32]);
        let sth = signer.sign(head());
        let key = signer.verifying_key();
        let mut bigger = sth.clone();
        bigger.tree_head.size += 1;
        assert_eq!(bigger.verify(&key), Err(TreeHeadError::BadSignature));
        let mut later = sth.clone();
        later.tree_head.timestamp_ms += 1;
        assert_eq!(later.verify(&key), Err(TreeHeadError::BadSignature));
        let mut other_root = sth.clone();
        other_root.tree_head.root_hash.0[31] ^= 1;
        assert_eq!(other_root.verify(&key), Err(TreeHeadError::BadSignature));
        let stranger = LogSigner::from_secret_bytes(&[8; 32]).verifying_key();
        assert!(matches!(
            sth.verify(&stranger),
            Err(TreeHeadError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn public_key_text_accepts_hex_and_base64() {
        let key = LogSigner::from_secret_bytes(&[9; 32]).verifying_key();
        let hex_text = public_key_to_text(&key);
        assert_eq!(parse_public_key(&hex_text).unwrap(), key);
        let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
        assert_eq!(parse_public_key(&b64).unwrap(), key);
        assert!(parse_public_key("nope").is_err());
    }
}
