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
//!
//! The same key signs the device's requests for the shop's level-3
//! recommendations ([`recommendations_message`], its own domain
//! separator): those answers are derived from the person's history, so the
//! pseudonym alone (which the shop, its logs or a screenshot of the device
//! log may hold) must not be enough to read them.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use fineline_core::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::BusinessPseudonym;

/// Domain separator of the per-business erasure key's seed.
pub const ERASURE_KEY_LABEL: &[u8] = b"fineline/persona/v1/erasure-key\0";
/// Domain separator of the signed erasure request.
pub const ERASURE_REQUEST_LABEL: &[u8] = b"fineline/persona/v1/erasure\0";
/// Domain separator of a signed request for the shop's level-3
/// recommendations: the same key, so a read signature is never an erasure.
pub const RECOMMENDATIONS_REQUEST_LABEL: &[u8] = b"fineline/persona/v1/recommendations\0";
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
    let mut m = signed_head(ERASURE_REQUEST_LABEL, business, pseudonym, at);
    m.extend_from_slice(nonce);
    m
}

/// `label ‖ business ‖ "\0" ‖ pseudonym ‖ at (8 bytes big-endian)`: what
/// every request signed under the persona's key begins with.
fn signed_head(
    label: &[u8],
    business: &str,
    pseudonym: &BusinessPseudonym,
    at: Timestamp,
) -> Vec<u8> {
    let mut m = label.to_vec();
    m.extend_from_slice(business.as_bytes());
    m.push(0);
    m.extend_from_slice(&pseudonym.0);
    m.extend_from_slice(&at.millis().to_be_bytes());
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

/// The bytes a request for the shop's own recommendations signs:
/// `"fineline/persona/v1/recommendations\0" ‖ business ‖ "\0" ‖ pseudonym
/// (32 bytes) ‖ at (ms, 8 bytes big-endian) ‖ n (4 bytes big-endian)`.
/// No nonce: a replayed read within the skew shows its taker only what the
/// captured answer already did.
pub fn recommendations_message(
    business: &str,
    pseudonym: &BusinessPseudonym,
    at: Timestamp,
    n: u32,
) -> Vec<u8> {
    let mut m = signed_head(RECOMMENDATIONS_REQUEST_LABEL, business, pseudonym, at);
    m.extend_from_slice(&n.to_be_bytes());
    m
}

/// The signature (128 hex digits) of a request for `business`'s
/// recommendations, under the persona's key there.
pub fn sign_recommendations(secret: &[u8; 32], business: &str, at: Timestamp, n: u32) -> String {
    let pseudonym = crate::ids::business_pseudonym(secret, business);
    let key = erasure_signing_key(secret, business);
    hex::encode(
        ed25519_sign(&key, &recommendations_message(business, &pseudonym, at, n)).to_bytes(),
    )
}

/// The business's check of a signed recommendations request: the
/// signature under `key` (the pseudonym's registered key), then `at`
/// within [`ERASURE_MAX_SKEW_MS`] of `now`.
pub fn verify_recommendations(
    key: &VerifyingKey,
    business: &str,
    pseudonym: &BusinessPseudonym,
    at: Timestamp,
    n: u32,
    signature: &str,
    now: Timestamp,
) -> Result<(), RequestRefusal> {
    let message = recommendations_message(business, pseudonym, at, n);
    verify_signed(key, &message, signature, at, now)
}

fn verify_signed(
    key: &VerifyingKey,
    message: &[u8],
    signature: &str,
    at: Timestamp,
    now: Timestamp,
) -> Result<(), RequestRefusal> {
    let mut sig = [0u8; 64];
    hex::decode_to_slice(signature, &mut sig).map_err(|_| RequestRefusal::MalformedSignature)?;
    key.verify_strict(message, &Signature::from_bytes(&sig))
        .map_err(|_| RequestRefusal::BadSignature)?;
    let age = now.millis().saturating_sub(at.millis());
    if age > ERASURE_MAX_SKEW_MS {
        return Err(RequestRefusal::Stale);
    }
    if age < -ERASURE_MAX_SKEW_MS {
        return Err(RequestRefusal::Future);
    }
    Ok(())
}

/// Why a business refuses a signed request (an erasure, or a read of its
/// recommendations); each names the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestRefusal {
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

impl RequestRefusal {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            RequestRefusal::MalformedNonce => "nonce",
            RequestRefusal::MalformedSignature | RequestRefusal::BadSignature => "signature",
            RequestRefusal::Stale | RequestRefusal::Future => "at",
        }
    }
}

fn nonce_bytes(text: &str) -> Result<[u8; ERASURE_NONCE_BYTES], RequestRefusal> {
    let mut nonce = [0u8; ERASURE_NONCE_BYTES];
    if text.len() != 2 * ERASURE_NONCE_BYTES
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(RequestRefusal::MalformedNonce);
    }
    hex::decode_to_slice(text, &mut nonce).map_err(|_| RequestRefusal::MalformedNonce)?;
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
    ) -> Result<[u8; ERASURE_NONCE_BYTES], RequestRefusal> {
        let nonce = nonce_bytes(&self.nonce)?;
        let message = erasure_message(&self.business, &self.pseudonym, self.at, &nonce);
        verify_signed(key, &message, &self.signature, self.at, now)?;
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
        assert_eq!(r.verify(&key, late), Err(RequestRefusal::Stale));
        let early = Timestamp(AT.millis() - ERASURE_MAX_SKEW_MS - 1);
        assert_eq!(r.verify(&key, early), Err(RequestRefusal::Future));
        // Another business's key, another persona's, or any field changed.
        let other = erasure_signing_key(&secret, "elsewhere").verifying_key();
        assert_ne!(other, key, "one key per business");
        assert_eq!(r.verify(&other, AT), Err(RequestRefusal::BadSignature));
        let stranger = erasure_signing_key(&[2; 32], "shop").verifying_key();
        assert_eq!(r.verify(&stranger, AT), Err(RequestRefusal::BadSignature));
        let mut moved = r.clone();
        moved.at = Timestamp(AT.millis() + 1);
        assert_eq!(moved.verify(&key, AT), Err(RequestRefusal::BadSignature));
        let mut renonced = r.clone();
        renonced.nonce = "0a".repeat(16);
        assert_eq!(renonced.verify(&key, AT), Err(RequestRefusal::BadSignature));
        let mut elsewhere = r.clone();
        elsewhere.business = "elsewhere".into();
        assert_eq!(
            elsewhere.verify(&key, AT),
            Err(RequestRefusal::BadSignature)
        );
        for (nonce, sig, err) in [
            (
                "0A".repeat(16),
                r.signature.clone(),
                RequestRefusal::MalformedNonce,
            ),
            (
                "0a".repeat(15),
                r.signature.clone(),
                RequestRefusal::MalformedNonce,
            ),
            (
                r.nonce.clone(),
                "zz".into(),
                RequestRefusal::MalformedSignature,
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

    /// A read is signed under the same key with its own label: it
    /// verifies for its own fields only, and never as an erasure.
    #[test]
    fn a_recommendations_request_verifies_only_as_itself() {
        let secret = [1; 32];
        let key = erasure_signing_key(&secret, "shop").verifying_key();
        let p = business_pseudonym(&secret, "shop");
        let sig = sign_recommendations(&secret, "shop", AT, 8);
        // tests/persona-js/rules.test.mjs pins the same bytes from WebCrypto.
        assert_eq!(
            sig,
            "fd50572117d200d76d2c347c911d2117fb42240946b9a1d5e024d98c0e3c4bb6\
             bcecb671a7d2441f3e51d010c25e9b52e785ad420b457d5503f99f7ee1a7d30d"
        );
        let check = |business: &str, at: Timestamp, n: u32, now: Timestamp| {
            verify_recommendations(&key, business, &p, at, n, &sig, now)
        };
        assert_eq!(check("shop", AT, 8, AT), Ok(()));
        assert_eq!(check("shop", AT, 9, AT), Err(RequestRefusal::BadSignature));
        assert_eq!(
            check("elsewhere", AT, 8, AT),
            Err(RequestRefusal::BadSignature)
        );
        let late = Timestamp(AT.millis() + ERASURE_MAX_SKEW_MS + 1);
        assert_eq!(check("shop", AT, 8, late), Err(RequestRefusal::Stale));
        let other = business_pseudonym(&[2; 32], "shop");
        assert_eq!(
            verify_recommendations(&key, "shop", &other, AT, 8, &sig, AT),
            Err(RequestRefusal::BadSignature)
        );
        // The read's signature is no erasure request's.
        let as_erasure = ErasureRequest {
            signature: sig.clone(),
            ..request(&secret, "shop")
        };
        assert_eq!(
            as_erasure.verify(&key, AT),
            Err(RequestRefusal::BadSignature)
        );
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
