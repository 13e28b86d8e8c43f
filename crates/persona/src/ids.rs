//! Per-business identifiers two businesses cannot link.
//!
//! `id = HMAC-SHA256(key = persona secret, "fineline/persona/v1/business\0" ‖ business)`.
//! HMAC is a PRF: without the secret, the ids one persona shows two
//! businesses look like independent random strings, so the businesses
//! (or anyone holding both lists) cannot join them; the same business
//! always sees the same id, so it can keep the person's level-2..4 data
//! under it. WebCrypto's `HMAC` with `SHA-256` computes the same bytes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Domain separator of the per-business identifier.
pub const BUSINESS_ID_LABEL: &[u8] = b"fineline/persona/v1/business\0";

/// A persona's identifier at one business (32 bytes, shown as hex).
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct BusinessPseudonym(pub [u8; 32]);

impl From<BusinessPseudonym> for String {
    fn from(p: BusinessPseudonym) -> String {
        p.to_hex()
    }
}

impl TryFrom<String> for BusinessPseudonym {
    type Error = hex::FromHexError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out)?;
        Ok(Self(out))
    }
}

impl BusinessPseudonym {
    /// Lower-case hex, as it leaves the device.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for BusinessPseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BusinessPseudonym({}…)", &self.to_hex()[..12])
    }
}

/// The identifier `secret`'s persona shows `business`.
pub fn business_pseudonym(secret: &[u8; 32], business: &str) -> BusinessPseudonym {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(BUSINESS_ID_LABEL);
    mac.update(business.as_bytes());
    BusinessPseudonym(mac.finalize().into_bytes().into())
}

/// Domain separator of the level-1 reporter token.
pub const REPORTER_LABEL: &[u8] = b"fineline/persona/v1/reporter\0";

/// The token a persona's level-1 reports to `business` carry while its
/// offer is at `offer_version`:
/// `HMAC-SHA256(secret, "fineline/persona/v1/reporter\0" ‖ business ‖ "\0" ‖ version in decimal)`.
/// The business counts the ε spent per token and refuses reports past
/// the offer's lifetime cap, so a client that keeps its token cannot
/// spend more than an honest one. It links a device's reports within one
/// offer version (at most cap / ε of them, whose total ε the cap already
/// bounds), never across versions, and never to the level-2 pseudonym
/// (another label). It does not stop a client that mints new tokens: see
/// the threat model in docs/persona.md.
pub fn reporter_token(secret: &[u8; 32], business: &str, offer_version: u64) -> BusinessPseudonym {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(REPORTER_LABEL);
    mac.update(business.as_bytes());
    mac.update(b"\0");
    mac.update(offer_version.to_string().as_bytes());
    BusinessPseudonym(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same bytes as `reporterOf` in the browser client
    /// (`tests/persona-js/rules.test.mjs` pins this value too).
    #[test]
    fn reporter_tokens_are_per_version_and_apart_from_the_pseudonym() {
        let t = reporter_token(&[1; 32], "shop", 3);
        assert_eq!(
            t.to_hex(),
            "988aeb3db0f4558c1753c39e0829f7e1a1cf272256a2a9ac984d16b4fcf7034e"
        );
        assert_ne!(t, reporter_token(&[1; 32], "shop", 4));
        assert_ne!(t, business_pseudonym(&[1; 32], "shop"));
    }
}
