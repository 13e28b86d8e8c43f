//! Short-lived subject tokens: the business's own login vouches for a
//! person, and fineline lets that token act on that person only.
//!
//! Format: `fls_<base64url(pseudonym text "." expiry millis)>.<base64url(HMAC-SHA256)>`.
//! The token names the pseudonym, not the raw id, so a leaked token
//! reveals nobody's email.

use std::sync::atomic::{AtomicI64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use fineline_core::{Pseudonym, Timestamp, MAX_FUTURE_MS};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;

const PREFIX: &str = "fls_";

/// The longest a subject token may live, whatever unit its ttl is given
/// in: the promise README makes. A deployment may configure less.
pub const MAX_TTL_MS: i64 = 7 * 86_400_000;

/// Issues and verifies subject tokens with the vault's token secret.
pub struct TokenIssuer {
    secret: [u8; 32],
    /// This deployment's maximum lifetime, at most [`MAX_TTL_MS`].
    max_ttl_ms: AtomicI64,
}

impl TokenIssuer {
    /// An issuer under `secret`, with the longest lifetime [`MAX_TTL_MS`].
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            secret,
            max_ttl_ms: AtomicI64::new(MAX_TTL_MS),
        }
    }

    /// Lower the longest lifetime (`serve --token-max-ttl`). Never above
    /// [`MAX_TTL_MS`].
    pub fn set_max_ttl(&self, ms: i64) {
        self.max_ttl_ms
            .store(ms.clamp(1, MAX_TTL_MS), Ordering::Relaxed);
    }

    /// This deployment's longest token lifetime, in milliseconds.
    pub fn max_ttl(&self) -> i64 {
        self.max_ttl_ms.load(Ordering::Relaxed)
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(payload);
        m.finalize().into_bytes().to_vec()
    }

    /// A token that lets its bearer act as `subject` until `expires`. One
    /// expiring more than [`Self::max_ttl`] from now is refused when presented.
    pub fn issue(&self, subject: &Pseudonym, expires: Timestamp) -> String {
        let payload = format!("{}.{}", subject.to_text(), expires.millis());
        format!(
            "{PREFIX}{}.{}",
            B64.encode(payload.as_bytes()),
            B64.encode(self.mac(payload.as_bytes()))
        )
    }

    /// `None` when `token` is not a subject token at all (so API-key
    /// lookup may proceed), `Some(Err)` when it is one but is forged,
    /// malformed or expired.
    pub fn verify(&self, token: &str) -> Option<Result<Pseudonym, AppError>> {
        let body = token.strip_prefix(PREFIX)?;
        Some(self.check(body, Timestamp::now()))
    }

    fn check(&self, body: &str, now: Timestamp) -> Result<Pseudonym, AppError> {
        let bad = || AppError::InvalidToken;
        let (p, s) = body.split_once('.').ok_or_else(bad)?;
        let payload = B64.decode(p).map_err(|_| bad())?;
        let sig = B64.decode(s).map_err(|_| bad())?;
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(&payload);
        m.verify_slice(&sig).map_err(|_| bad())?;
        let text = std::str::from_utf8(&payload).map_err(|_| bad())?;
        let (subject, exp) = text.rsplit_once('.').ok_or_else(bad)?;
        let exp: i64 = exp.parse().map_err(|_| bad())?;
        // A token with more life left than the maximum was minted with a
        // longer ttl (by an older version, or a mistaken tool): refused,
        // so no token outlives the promise. The slack is clock skew
        // between the issuing process and this one.
        if exp < now.millis() || exp > now.millis() + self.max_ttl() + MAX_FUTURE_MS {
            return Err(bad());
        }
        subject.parse().map_err(|_| bad())
    }
}

/// Parse a TTL such as `15m`, `2h`, `900s`, `1d` (a bare number is
/// minutes) into milliseconds, refusing anything longer than `max_ms`
/// whatever the unit.
pub fn parse_ttl(s: &str, max_ms: i64) -> Result<i64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad ttl {s:?}: expected e.g. 15m"))?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" | "" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("bad ttl unit in {s:?}: use s, m, h or d")),
    };
    if n <= 0 {
        return Err(format!("ttl {s:?} must be positive"));
    }
    match n.checked_mul(unit_ms) {
        Some(ms) if ms <= max_ms => Ok(ms),
        _ => Err(format!(
            "ttl {s:?} is longer than the maximum of {}",
            format_ttl(max_ms)
        )),
    }
}

/// Milliseconds as the largest whole unit parse_ttl reads back.
pub fn format_ttl(ms: i64) -> String {
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{}s", ms / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_subject_and_until_expiry() {
        let t = TokenIssuer::new([7; 32]);
        let p = Pseudonym::new(1, [3; 32]);
        let tok = t.issue(&p, Timestamp::now().plus_millis(60_000));
        assert_eq!(t.verify(&tok).unwrap().unwrap(), p);
        let expired = t.issue(&p, Timestamp(1));
        assert!(t.verify(&expired).unwrap().is_err());
        let other = TokenIssuer::new([8; 32]);
        assert!(other.verify(&tok).unwrap().is_err());
        let mut forged = tok.clone();
        forged.pop();
        forged.push('A');
        assert!(t.verify(&forged).unwrap().is_err() || forged == tok);
        assert!(t.verify("fl_admin_x").is_none());
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("15m", MAX_TTL_MS).unwrap(), 900_000);
        assert_eq!(parse_ttl("7d", MAX_TTL_MS).unwrap(), MAX_TTL_MS);
        assert_eq!(parse_ttl("168h", MAX_TTL_MS).unwrap(), MAX_TTL_MS);
        assert!(parse_ttl("15y", MAX_TTL_MS).is_err());
        assert!(parse_ttl("", MAX_TTL_MS).is_err());
        assert!(parse_ttl("0m", MAX_TTL_MS).is_err());
    }

    /// The bound is on the lifetime, not on the number: "8d" and
    /// "10080h" were accepted because 8 and 10080 are at most 7×24×60.
    #[test]
    fn no_unit_stretches_a_ttl_past_the_maximum() {
        for ttl in [
            "8d", "10080h", "10080d", "169h", "10081m", "604801s", "10081",
        ] {
            let err = parse_ttl(ttl, MAX_TTL_MS).unwrap_err();
            assert!(err.contains("maximum of 7d"), "{ttl}: {err}");
        }
        assert!(parse_ttl(&format!("{}d", i64::MAX), MAX_TTL_MS).is_err());
        assert!(parse_ttl("2d", 86_400_000).is_err());
        assert_eq!(format_ttl(90 * 60_000), "90m");
    }

    #[test]
    fn a_token_with_more_life_left_than_the_maximum_is_refused() {
        let t = TokenIssuer::new([7; 32]);
        let p = Pseudonym::new(1, [3; 32]);
        let long = t.issue(&p, Timestamp::now().plus_millis(8 * 86_400_000));
        assert!(t.verify(&long).unwrap().is_err());
        let week = t.issue(&p, Timestamp::now().plus_millis(MAX_TTL_MS));
        assert!(t.verify(&week).unwrap().is_ok());
        t.set_max_ttl(3_600_000);
        assert!(t.verify(&week).unwrap().is_err());
    }
}
