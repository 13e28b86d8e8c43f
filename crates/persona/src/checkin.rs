//! In-store check-in: the store's rotating token and what the phone sends.
//!
//! A kiosk in the store shows a token that changes every
//! [`CHECKIN_WINDOW_MS`]: `window-tag`, where `window` is the number of
//! whole windows since the Unix epoch and `tag` the first 16 bytes of
//! `HMAC-SHA256(check-in key, "fineline/checkin/v1\0" ‖ store ‖ "\0" ‖ window as 8 bytes big-endian)`.
//! Only the business holds the key, so a token proves that whoever
//! presents it read the kiosk during that window (or was told the token
//! by someone who did, within minutes): presence without a MAC address,
//! a device id or anything else about the phone. The current and the
//! previous window are accepted, so a token read just before it rotates
//! still works; older ones are stale.
//!
//! The phone sends a [`CheckIn`] at the level the person set for the
//! business: at levels 0 and 1 only the store, the token and a random
//! nonce (counted, no identifier); at 2 and above also the per-business
//! pseudonym, so the business can tell a regular came in. The device
//! checks in at one store at most once per [`CHECKIN_MIN_GAP_MS`], which
//! is what bounds one person's part in a store-day's count.

use fineline_core::Timestamp;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::BusinessPseudonym;
use crate::level::TrustLevel;
use crate::log::Logged;
use crate::persona::Persona;
use crate::PersonaError;

/// How long one token is shown: 5 minutes.
pub const CHECKIN_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Domain separator of the token's HMAC.
pub const CHECKIN_TOKEN_LABEL: &[u8] = b"fineline/checkin/v1\0";
/// Bytes of the HMAC a token keeps.
pub const CHECKIN_TAG_BYTES: usize = 16;
/// The device checks in at one store at most once in this long (24 h).
pub const CHECKIN_MIN_GAP_MS: i64 = 24 * 60 * 60 * 1000;
/// Random bytes a check-in's nonce carries.
pub const CHECKIN_NONCE_BYTES: usize = 16;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `window-tag` with 32 hex digits of tag.
    #[error("a check-in token is a window number, '-', and 32 hex digits")]
    Malformed,
    /// From a window older than the previous one.
    #[error("the check-in token has expired: read the code the kiosk shows now")]
    Stale,
    /// From a window that has not begun: no kiosk has shown it yet.
    #[error("the check-in token is from the future")]
    Future,
    /// The tag is not the store's for that window.
    #[error("the check-in token is not this store's")]
    Forged,
}

/// A store's token for one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckinToken {
    /// Whole [`CHECKIN_WINDOW_MS`] windows since the Unix epoch.
    pub window: u64,
    /// The truncated HMAC.
    pub tag: [u8; CHECKIN_TAG_BYTES],
}

impl CheckinToken {
    /// `window-tag`, as the kiosk shows it.
    pub fn to_text(&self) -> String {
        format!("{}-{}", self.window, hex::encode(self.tag))
    }

    /// Reads `window-tag`.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let (w, t) = text.split_once('-').ok_or(TokenError::Malformed)?;
        if w.is_empty() || w.len() > 20 || !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Malformed);
        }
        let window = w.parse().map_err(|_| TokenError::Malformed)?;
        let mut tag = [0u8; CHECKIN_TAG_BYTES];
        hex::decode_to_slice(t, &mut tag).map_err(|_| TokenError::Malformed)?;
        Ok(Self { window, tag })
    }

    /// When this token stops being accepted (ms since the epoch): the end
    /// of the window after its own.
    pub fn expires(&self) -> Timestamp {
        Timestamp((self.window as i64 + 2) * CHECKIN_WINDOW_MS)
    }
}

/// The window a moment falls in (moments before the epoch fall in 0).
pub fn checkin_window(at: Timestamp) -> u64 {
    (at.millis().max(0) / CHECKIN_WINDOW_MS) as u64
}

fn token_mac(key: &[u8; 32], store: &str, window: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(CHECKIN_TOKEN_LABEL);
    mac.update(store.as_bytes());
    mac.update(b"\0");
    mac.update(&window.to_be_bytes());
    mac
}

/// The token `store` shows during `window`, under the business's check-in key.
pub fn store_token(key: &[u8; 32], store: &str, window: u64) -> CheckinToken {
    let full = token_mac(key, store, window).finalize().into_bytes();
    let mut tag = [0u8; CHECKIN_TAG_BYTES];
    tag.copy_from_slice(&full[..CHECKIN_TAG_BYTES]);
    CheckinToken { window, tag }
}

/// Checks a presented token at `now`: its window is the current one or
/// the one before, and its tag is the store's (compared in constant
/// time). Returns the parsed token.
pub fn verify_token(
    key: &[u8; 32],
    store: &str,
    text: &str,
    now: Timestamp,
) -> Result<CheckinToken, TokenError> {
    let token = CheckinToken::parse(text)?;
    let current = checkin_window(now);
    if token.window > current {
        return Err(TokenError::Future);
    }
    if token.window + 1 < current {
        return Err(TokenError::Stale);
    }
    token_mac(key, store, token.window)
        .verify_truncated_left(&token.tag)
        .map_err(|_| TokenError::Forged)?;
    Ok(token)
}

/// What a phone sends to check in at a store.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckIn {
    /// The business the store belongs to (the offer's id).
    pub business: String,
    /// The store's id, as the kiosk names it.
    pub store: String,
    /// The token the kiosk showed.
    pub token: String,
    /// The level the person set for the business.
    pub level: TrustLevel,
    /// When the device made it.
    pub at: Timestamp,
    /// 32 hex digits the device drew: the same check-in sent twice counts once.
    pub nonce: String,
    /// The per-business pseudonym, at level 2 and above only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<BusinessPseudonym>,
}

impl Persona {
    /// Makes and logs a check-in at `store` of `business` at the persona's
    /// level there, with a nonce drawn from `coins`. Refused when the token
    /// is malformed or when this persona checked in at the store less than
    /// [`CHECKIN_MIN_GAP_MS`] ago.
    pub fn check_in(
        &mut self,
        business: &str,
        store: &str,
        token: &str,
        at: Timestamp,
        coins: &[u8],
    ) -> Result<CheckIn, PersonaError> {
        CheckinToken::parse(token)
            .map_err(|_| PersonaError::Invalid("not a check-in token (window-tag)"))?;
        let recent = self.log().entries().iter().any(|e| match &e.what {
            Logged::CheckIn(c) => {
                c.business == business
                    && c.store == store
                    && at.millis() - c.at.millis() < CHECKIN_MIN_GAP_MS
            }
            _ => false,
        });
        if recent {
            return Err(PersonaError::Invalid(
                "already checked in at this store in the last 24 hours",
            ));
        }
        let nonce = coins
            .get(..CHECKIN_NONCE_BYTES)
            .ok_or(PersonaError::OutOfCoins)?;
        let level = self.level(business);
        let check_in = CheckIn {
            business: business.to_string(),
            store: store.to_string(),
            token: token.to_string(),
            level,
            at,
            nonce: hex::encode(nonce),
            pseudonym: (level.number() >= 2).then(|| self.pseudonym(business)),
        };
        self.log_mut()
            .push(business, at, Logged::CheckIn(check_in.clone()));
        Ok(check_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_token_is_accepted_in_its_window_and_the_next_only() {
        let t0 = Timestamp(1_800_000_000_000);
        let w = checkin_window(t0);
        let text = store_token(&KEY, "berlin", w).to_text();
        assert_eq!(verify_token(&KEY, "berlin", &text, t0).unwrap().window, w);
        let next = Timestamp(t0.millis() + CHECKIN_WINDOW_MS);
        assert!(verify_token(&KEY, "berlin", &text, next).is_ok());
        let later = Timestamp(t0.millis() + 2 * CHECKIN_WINDOW_MS);
        assert_eq!(
            verify_token(&KEY, "berlin", &text, later),
            Err(TokenError::Stale)
        );
        let before = Timestamp(t0.millis() - CHECKIN_WINDOW_MS);
        assert_eq!(
            verify_token(&KEY, "berlin", &text, before),
            Err(TokenError::Future)
        );
    }

    #[test]
    fn another_store_or_key_or_a_flipped_bit_is_forged() {
        let now = Timestamp(1_800_000_000_000);
        let token = store_token(&KEY, "berlin", checkin_window(now));
        assert_eq!(
            verify_token(&KEY, "hamburg", &token.to_text(), now),
            Err(TokenError::Forged)
        );
        assert_eq!(
            verify_token(&[8; 32], "berlin", &token.to_text(), now),
            Err(TokenError::Forged)
        );
        let mut bad = token;
        bad.tag[15] ^= 1;
        assert_eq!(
            verify_token(&KEY, "berlin", &bad.to_text(), now),
            Err(TokenError::Forged)
        );
        for text in [
            "",
            "12",
            "-00",
            "x-00",
            "12-zz",
            &format!("{}-00", token.window),
        ] {
            assert_eq!(
                verify_token(&KEY, "berlin", text, now),
                Err(TokenError::Malformed),
                "{text:?}"
            );
        }
    }

    #[test]
    fn below_level_two_no_identifier_leaves_and_one_check_in_a_day() {
        let mut p = Persona::new("everyday", [1; 32]);
        let at = Timestamp(1_800_000_000_000);
        let token = store_token(&KEY, "berlin", checkin_window(at)).to_text();
        let c = p.check_in("shop", "berlin", &token, at, &[3; 16]).unwrap();
        assert_eq!(c.pseudonym, None);
        assert_eq!(c.nonce, "03".repeat(16));
        assert!(!serde_json::to_string(&c).unwrap().contains("pseudonym"));
        let again = p.check_in(
            "shop",
            "berlin",
            &token,
            Timestamp(at.millis() + 1000),
            &[4; 16],
        );
        assert!(again.is_err());
        // Another store, or a day later, is fine; at level 2 the pseudonym goes along.
        assert!(p.check_in("shop", "hamburg", &token, at, &[5; 16]).is_ok());
        p.set_level("shop", TrustLevel::Regular, at);
        let day = Timestamp(at.millis() + CHECKIN_MIN_GAP_MS);
        let c = p.check_in("shop", "berlin", &token, day, &[6; 16]).unwrap();
        assert_eq!(c.pseudonym, Some(p.pseudonym("shop")));
        assert_eq!(p.log().entries().len(), 4);
    }
}
