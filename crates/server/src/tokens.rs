//! Short-lived subject tokens: the business's own login vouches for a
//! person, and fineline lets that token act on that person only.
//!
//! Format: `fls_<base64url(pseudonym text "." expiry millis)>.<base64url(HMAC-SHA256)>`.
//! The token names the pseudonym, not the raw id, so a leaked token
//! reveals nobody's email.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use fineline_core::{Pseudonym, Timestamp};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;

const PREFIX: &str = "fls_";

pub struct TokenIssuer {
    secret: [u8; 32],
}

impl TokenIssuer {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(payload);
        m.finalize().into_bytes().to_vec()
    }

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
    pub fn verify(&self, token: &str) -> Option<Result<Pseudonym, ApiError>> {
        let body = token.strip_prefix(PREFIX)?;
        Some(self.check(body, Timestamp::now()))
    }

    fn check(&self, body: &str, now: Timestamp) -> Result<Pseudonym, ApiError> {
        let bad = || {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_token",
                "subject token is invalid or expired",
            )
        };
        let (p, s) = body.split_once('.').ok_or_else(bad)?;
        let payload = B64.decode(p).map_err(|_| bad())?;
        let sig = B64.decode(s).map_err(|_| bad())?;
        let mut m = Hmac::<Sha256>::new_from_slice(&self.secret).expect("any key length");
        m.update(&payload);
        m.verify_slice(&sig).map_err(|_| bad())?;
        let text = std::str::from_utf8(&payload).map_err(|_| bad())?;
        let (subject, exp) = text.rsplit_once('.').ok_or_else(bad)?;
        let exp: i64 = exp.parse().map_err(|_| bad())?;
        if exp < now.millis() {
            return Err(bad());
        }
        subject.parse().map_err(|_| bad())
    }
}

/// Parse a TTL such as `15m`, `2h`, `900s`, `1d`.
pub fn parse_ttl(s: &str) -> Result<i64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("bad ttl {s:?}: expected e.g. 15m"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" | "" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("bad ttl unit in {s:?}: use s, m, h or d")),
    };
    if n <= 0 || n > 7 * 24 * 60 {
        return Err(format!("ttl {s:?} out of range"));
    }
    Ok(n * ms)
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
        assert_eq!(parse_ttl("15m").unwrap(), 900_000);
        assert!(parse_ttl("15y").is_err());
        assert!(parse_ttl("").is_err());
    }
}
