//! Erasure asked by the device itself: the persona proves it holds the
//! pseudonym at one business, and nothing else.
//!
//! The proof is a signature under a per-business Ed25519 key derived from
//! the persona secret, `seed = HMAC-SHA256(secret, "fineline/persona/v1/erasure-key\0" ‖ business)`.
//! The public key goes to the business once, with the first level change
//! to level 2 or above (the pseudonym is sent then anyway), and the
//! business keeps it for that pseudonym only. Like the pseudonym, the key
//! is a PRF output per business: two businesses' keys for one persona look
//! unrelated, so registering it links nothing the pseudonym did not.
//! A bearer secret (revealing an HMAC output) would do for one erasure,
//! but a captured request could then be replayed after the person came
//! back; a signature over a fresh nonce and the time cannot.
//!
//! The request signs, byte for byte (WebCrypto's Ed25519 signs the same):
//! `"fineline/persona/v1/erasure\0" ‖ business ‖ "\0" ‖ pseudonym (32 bytes)
//! ‖ at (ms, 8 bytes big-endian, two's complement) ‖ nonce (16 bytes)`.
//! Ed25519 signatures are deterministic, so equal inputs give equal bytes
//! in every client.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use fineline_core::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::BusinessPseudonym;

/// Domain separator of the per-business erasure key's seed.
pub const ERASURE_KEY_LABEL: &[u8] = b"fineline/persona/v1/erasure-key\0";
/// Domain separator of the signed erasure request.
pub const ERASURE_REQUEST_LABEL: &[u8] = b"fineline/persona/v1/erasure\0";
/// Random bytes an erasure request's nonce carries.
pub const ERASURE_NONCE_BYTES: usize = 16;
/// How far a request's `at` may be from the business's clock (5 minutes),
/// either way; the business keeps nonces that long, so a request can be
/// taken once only.
pub const ERASURE_MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// The signing key a persona with `secret` proves itself with to `business`.
pub fn erasure_signing_key(secret: &[u8; 32], business: &str) -> SigningKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(ERASURE_KEY_LABEL);
    mac.update(business.as_bytes());
    let seed: [u8; 32] = mac.finalize().into_bytes().into();
    SigningKey::from_bytes(&seed)
}

/// The bytes an erasure request signs (see the module doc).
pub fn erasure_message(
    business: &str,
    pseudonym: &BusinessPseudonym,
    at: Timestamp,
    nonce: &[u8; ERASURE_NONCE_BYTES],
) -> Vec<u8> {
    let mut m = ERASURE_REQUEST_LABEL.to_vec();
    m.extend_from_slice(business.as_bytes());
    m.push(0);
    m.extend_from_slice(&pseudonym.0);
    m.extend_from_slice(&at.millis().to_be_bytes());
    m.extend_from_slice(nonce);
    m
}

/// What the device sends to have its records at one business erased.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErasureRequest {
    /// The business (the offer's id).
    pub business: String,
    /// The persona's pseudonym there.
    pub pseudonym: BusinessPseudonym,
    /// When the device made it (ms since the Unix epoch).
    pub at: Timestamp,
    /// 32 hex digits the device drew: the business takes a request once.
    pub nonce: String,
    /// 128 hex digits: the Ed25519 signature over [`erasure_message`]
    /// under the persona's erasure key for this business.
    pub signature: String,
}

/// Why a business refuses an erasure request; each names the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErasureRefusal {
    /// The nonce is not 32 lower-case hex digits.
    #[error("the nonce is 32 lower-case hex digits")]
    MalformedNonce,
    /// The signature is not 128 hex digits.
    #[error("the signature is 128 hex digits")]
    MalformedSignature,
    /// The signature is not the pseudonym's registered key's over this request.
    #[error("the signature does not verify under the key registered for this pseudonym")]
    BadSignature,
    /// `at` is more than [`ERASURE_MAX_SKEW_MS`] in the past.
    #[error("the request is stale: make a new one")]
    Stale,
    /// `at` is more than [`ERASURE_MAX_SKEW_MS`] in the future.
    #[error("the request is from the future: check the device's clock")]
    Future,
}

impl ErasureRefusal {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ErasureRefusal::MalformedNonce => "nonce",
            ErasureRefusal::MalformedSignature | ErasureRefusal::BadSignature => "signature",
            ErasureRefusal::Stale | ErasureRefusal::Future => "at",
        }
    }
}

fn nonce_bytes(text: &str) -> Result<[u8; ERASURE_NONCE_BYTES], ErasureRefusal> {
    let mut nonce = [0u8; ERASURE_NONCE_BYTES];
    if text.len() != 2 * ERASURE_NONCE_BYTES
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ErasureRefusal::MalformedNonce);
    }
    hex::decode_to_slice(text, &mut nonce).map_err(|_| ErasureRefusal::MalformedNonce)?;
    Ok(nonce)
}

impl ErasureRequest {
    /// Signs a request with the persona's erasure key for `business`.
    pub fn sign(
        secret: &[u8; 32],
        business: &str,
        pseudonym: BusinessPseudonym,
        at: Timestamp,
        nonce: &[u8; ERASURE_NONCE_BYTES],
    ) -> Self {
        let key = erasure_signing_key(secret, business);
        let signature = ed25519_sign(&key, &erasure_message(business, &pseudonym, at, nonce));
        Self {
            business: business.to_string(),
            pseudonym,
            at,
            nonce: hex::encode(nonce),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// The business's check, signature first (it is the request's only
    /// credential, so nothing else is judged for a stranger): the
    /// signature under `key`, the pseudonym's registered key, then `at`
    /// within [`ERASURE_MAX_SKEW_MS`] of `now`. Returns the nonce, which
    /// the business must not take twice. The business id is checked by
    /// the caller (it knows its own).
    pub fn verify(
        &self,
        key: &VerifyingKey,
        now: Timestamp,
    ) -> Result<[u8; ERASURE_NONCE_BYTES], ErasureRefusal> {
        let nonce = nonce_bytes(&self.nonce)?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut sig)
            .map_err(|_| ErasureRefusal::MalformedSignature)?;
        let message = erasure_message(&self.business, &self.pseudonym, self.at, &nonce);
        key.verify_strict(&message, &Signature::from_bytes(&sig))
            .map_err(|_| ErasureRefusal::BadSignature)?;
        let age = now.millis().saturating_sub(self.at.millis());
        if age > ERASURE_MAX_SKEW_MS {
            return Err(ErasureRefusal::Stale);
        }
        if age < -ERASURE_MAX_SKEW_MS {
            return Err(ErasureRefusal::Future);
        }
        Ok(nonce)
    }
}

fn ed25519_sign(key: &SigningKey, message: &[u8]) -> Signature {
    key.sign(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::business_pseudonym;

    const AT: Timestamp = Timestamp(1_800_000_000_000);

    fn request(secret: &[u8; 32], business: &str) -> ErasureRequest {
        let p = business_pseudonym(secret, business);
        ErasureRequest::sign(secret, business, p, AT, &[9; 16])
    }

    /// The same bytes as `erasureKey` and `signErasure` in the browser
    /// client (`tests/persona-js/rules.test.mjs` pins these values too;
    /// Python's `cryptography` computes them alike).
    #[test]
    fn keys_and_signatures_are_pinned() {
        let key = erasure_signing_key(&[1; 32], "shop").verifying_key();
        assert_eq!(
            hex::encode(key.as_bytes()),
            "78aa546608490bc3b841ed037b1690afbe4e18817849de23a331d9a3818c07c5"
        );
        assert_eq!(
            request(&[1; 32], "shop").signature,
            "6179cb9690fec7659dcf4a1c9176a1a295a7b3113c77a71bb2834f816ef398a0\
             d15fd445f3aec96f2368cec447f4e76415f7dfa0905d2c981d6566da6cbbaa0f"
        );
    }

    #[test]
    fn a_request_verifies_once_fresh_and_only_under_its_key() {
        let secret = [1; 32];
        let key = erasure_signing_key(&secret, "shop").verifying_key();
        let r = request(&secret, "shop");
        assert_eq!(r.verify(&key, AT), Ok([9; 16]));
        let edge = Timestamp(AT.millis() + ERASURE_MAX_SKEW_MS);
        assert!(r.verify(&key, edge).is_ok());
        let late = Timestamp(AT.millis() + ERASURE_MAX_SKEW_MS + 1);
        assert_eq!(r.verify(&key, late), Err(ErasureRefusal::Stale));
        let early = Timestamp(AT.millis() - ERASURE_MAX_SKEW_MS - 1);
        assert_eq!(r.verify(&key, early), Err(ErasureRefusal::Future));
        // Another business's key, another persona's, or any field changed.
        let other = erasure_signing_key(&secret, "elsewhere").verifying_key();
        assert_ne!(other, key, "one key per business");
        assert_eq!(r.verify(&other, AT), Err(ErasureRefusal::BadSignature));
        let stranger = erasure_signing_key(&[2; 32], "shop").verifying_key();
        assert_eq!(r.verify(&stranger, AT), Err(ErasureRefusal::BadSignature));
        let mut moved = r.clone();
        moved.at = Timestamp(AT.millis() + 1);
        assert_eq!(moved.verify(&key, AT), Err(ErasureRefusal::BadSignature));
        let mut renonced = r.clone();
        renonced.nonce = "0a".repeat(16);
        assert_eq!(renonced.verify(&key, AT), Err(ErasureRefusal::BadSignature));
        let mut elsewhere = r.clone();
        elsewhere.business = "elsewhere".into();
        assert_eq!(
            elsewhere.verify(&key, AT),
            Err(ErasureRefusal::BadSignature)
        );
        for (nonce, sig, err) in [
            (
                "0A".repeat(16),
                r.signature.clone(),
                ErasureRefusal::MalformedNonce,
            ),
            (
                "0a".repeat(15),
                r.signature.clone(),
                ErasureRefusal::MalformedNonce,
            ),
            (
                r.nonce.clone(),
                "zz".into(),
                ErasureRefusal::MalformedSignature,
            ),
        ] {
            let bad = ErasureRequest {
                nonce,
                signature: sig,
                ..r.clone()
            };
            assert_eq!(bad.verify(&key, AT), Err(err));
        }
    }

    #[test]
    fn the_key_is_unrelated_to_the_pseudonym_and_across_businesses() {
        let secret = [3; 32];
        let a = erasure_signing_key(&secret, "a").verifying_key();
        let b = erasure_signing_key(&secret, "b").verifying_key();
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), &business_pseudonym(&secret, "a").0);
        assert_ne!(
            erasure_signing_key(&secret, "a").to_bytes(),
            business_pseudonym(&secret, "a").0,
            "the seed is not the pseudonym"
        );
    }
}
