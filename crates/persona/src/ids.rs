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
