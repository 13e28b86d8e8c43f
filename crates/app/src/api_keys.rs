//! Who is calling. API keys carry a role (admin, ingest, analyst) and,
//! optionally, their own rate limit; they are stored only as SHA-256
//! hashes and can be revoked. Subject tokens (see `tokens`) let a person
//! act on their own data and nobody else's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::sync::RwLock;
use std::str::FromStr;

/// Settings key under which a hashed API key's role is kept.
pub fn api_key_setting(hash_hex: &str) -> String {
    format!("api_key/{hash_hex}")
}

/// Hex SHA-256 of a key's text: the only form of a key that is stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh API key for `role`. Only its hash is stored; the text is shown once.
pub fn generate_key(role: Role) -> String {
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut secret);
    format!("fl_{}_{}", role.as_str(), hex::encode(secret))
}

/// Register a new API key and return its text.
pub async fn create_key(
    database: &dyn fineline_db::Database,
    role: Role,
) -> Result<String, fineline_db::DatabaseError> {
    create_key_with_limit(database, role, None).await
}

/// Register a new API key with its own rate limit (instead of its role's).
pub async fn create_key_with_limit(
    database: &dyn fineline_db::Database,
    role: Role,
    limit: Option<RateLimit>,
) -> Result<String, fineline_db::DatabaseError> {
    let key = generate_key(role);
    let record = KeyRecord {
        role,
        limit,
        revoked: false,
    };
    database
        .put_setting(
            &api_key_setting(&hash_key(&key)),
            record.to_string().into_bytes(),
        )
        .await?;
    Ok(key)
}

/// What is kept for a key under `api_key/<hash>`: `[revoked] ROLE
/// [RATE/BURST]`. Keys made before limits existed hold just the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// What the key may do.
    pub role: Role,
    /// Its own rate limit; `None`: its role's.
    pub limit: Option<RateLimit>,
    /// Revoked keys are refused but kept, so `keys list` still shows them.
    pub revoked: bool,
}

impl std::fmt::Display for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.revoked {
            f.write_str("revoked ")?;
        }
        f.write_str(self.role.as_str())?;
        match self.limit {
            Some(l) => write!(f, " {}/{}", l.per_second, l.burst),
            None => Ok(()),
        }
    }
}

impl KeyRecord {
    /// Reads the stored form back; `None` if it is not one.
    pub fn parse(bytes: &[u8]) -> Option<KeyRecord> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut words = text.split_whitespace().peekable();
        let revoked = words.next_if_eq(&"revoked").is_some();
        let role = words.next()?.parse().ok()?;
        let limit = match words.next() {
            Some(l) => Some(l.parse().ok()?),
            None => None,
        };
        Some(KeyRecord {
            role,
            limit,
            revoked,
        })
    }
}

/// A key that is valid now.
#[derive(Debug)]
pub struct KeyInfo {
    /// What the key may do.
    pub role: Role,
    /// Hex SHA-256 of the key's text.
    pub hash: String,
    /// Its own limit, if it has one.
    pub limit: Option<RateLimit>,
}

/// How long a running server trusts what it read about a key: a key
/// revoked from the command line (another process) stops working within
/// this, with no restart.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Valid keys recently read from the database. Misses are not remembered:
/// that would let anyone grow the map.
#[derive(Default)]
pub struct KeyCache(RwLock<HashMap<String, (Arc<KeyInfo>, Instant)>>);

impl KeyCache {
    /// The key's info if it exists and is not revoked; served from the cache
    /// for up to [`KEY_CACHE_TTL`], else read from the database.
    pub async fn lookup(
        &self,
        database: &dyn fineline_db::Database,
        key: &str,
    ) -> Result<Option<Arc<KeyInfo>>, fineline_db::DatabaseError> {
        let hash = hash_key(key);
        if let Some((info, at)) = self.0.read().unwrap().get(&hash) {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(Some(info.clone()));
            }
        }
        let record = database
            .setting(&api_key_setting(&hash))
            .await?
            .and_then(|b| KeyRecord::parse(&b))
            .filter(|r| !r.revoked);
        let mut cache = self.0.write().unwrap();
        let Some(record) = record else {
            cache.remove(&hash);
            return Ok(None);
        };
        let info = Arc::new(KeyInfo {
            role: record.role,
            hash: hash.clone(),
            limit: record.limit,
        });
        cache.insert(hash, (info.clone(), Instant::now()));
        Ok(Some(info))
    }
}

/// A key as `fineline keys list` shows it: an id (the first 16 hex digits
/// of its hash, which is also an analyst's budget id after `a_`) and what
/// is kept for it. The key's text is never kept, so never shown.
#[derive(Debug, Clone)]
pub struct ListedKey {
    /// Hex SHA-256 of the key's text.
    pub hash: String,
    /// What is stored for it.
    pub record: KeyRecord,
}

impl ListedKey {
    /// The first 16 hex digits of the hash: how people and budgets name a key.
    pub fn id(&self) -> &str {
        &self.hash[..16.min(self.hash.len())]
    }
}

/// Every API key ever created, revoked ones included, ordered by hash.
pub async fn list_keys(
    database: &dyn fineline_db::Database,
) -> Result<Vec<ListedKey>, fineline_db::DatabaseError> {
    let rows = database.settings_under(&api_key_setting("")).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(name, value)| {
            Some(ListedKey {
                hash: name.strip_prefix(&api_key_setting(""))?.to_string(),
                record: KeyRecord::parse(&value)?,
            })
        })
        .collect())
}

/// Why [`revoke_key`] revoked nothing.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// No key has that text or id prefix (or it was under 8 hex digits).
    #[error("no API key matches {0:?}")]
    NotFound(String),
    /// The prefix is ambiguous; nothing was revoked.
    #[error("{0:?} matches more than one key; give more of its id")]
    Ambiguous(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] fineline_db::DatabaseError),
}

/// Revoke a key named by its text or by a prefix (8+ hex digits) of its
/// id. The record stays, marked revoked, so `keys list` still shows it.
pub async fn revoke_key(
    database: &dyn fineline_db::Database,
    key_or_id: &str,
) -> Result<ListedKey, RevokeError> {
    let wanted = if key_or_id.starts_with("fl_") {
        hash_key(key_or_id)
    } else {
        key_or_id.trim().to_ascii_lowercase()
    };
    if wanted.len() < 8 || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RevokeError::NotFound(key_or_id.to_string()));
    }
    let mut matches: Vec<ListedKey> = list_keys(database)
        .await?
        .into_iter()
        .filter(|k| k.hash.starts_with(&wanted))
        .collect();
    let mut key = match matches.len() {
        0 => return Err(RevokeError::NotFound(key_or_id.to_string())),
        1 => matches.remove(0),
        _ => return Err(RevokeError::Ambiguous(key_or_id.to_string())),
    };
    key.record.revoked = true;
    database
        .put_setting(
            &api_key_setting(&key.hash),
            key.record.to_string().into_bytes(),
        )
        .await?;
    Ok(key)
}

/// A sustained rate and the burst a quiet caller may spend at once.
/// `per_second == 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Sustained requests per second; 0: no limit.
    pub per_second: u32,
    /// Requests a caller that was quiet may make at once.
    pub burst: u32,
}

impl RateLimit {
    /// No limit.
    pub const OFF: RateLimit = RateLimit {
        per_second: 0,
        burst: 0,
    };

    /// `per_second` with a burst of twice that (one quiet second's worth
    /// kept in reserve).
    pub const fn per_second(per_second: u32) -> RateLimit {
        RateLimit {
            per_second,
            burst: per_second.saturating_mul(2),
        }
    }

    /// No limit applies.
    pub fn is_off(self) -> bool {
        self.per_second == 0
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_off() {
            f.write_str("off")
        } else {
            write!(f, "{}/{}", self.per_second, self.burst)
        }
    }
}

/// A rate limit text that is not `RATE`, `RATE/BURST`, `0` or `off`; holds
/// the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid rate limit {0:?}: expected RATE[/BURST] (requests per second; 0 or off: no limit)"
)]
pub struct InvalidRateLimit(pub String);

/// `RATE`, `RATE/BURST`, `0` or `off`.
impl FromStr for RateLimit {
    type Err = InvalidRateLimit;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidRateLimit(s.to_string());
        if s.trim() == "off" {
            return Ok(RateLimit::OFF);
        }
        let (rate, burst) = match s.trim().split_once('/') {
            Some((r, b)) => (r, Some(b)),
            None => (s.trim(), None),
        };
        let rate: u32 = rate.trim().parse().map_err(|_| bad())?;
        let limit = match burst {
            Some(b) => RateLimit {
                per_second: rate,
                burst: b.trim().parse().map_err(|_| bad())?,
            },
            None => RateLimit::per_second(rate),
        };
        if !limit.is_off() && limit.burst == 0 {
            return Err(bad());
        }
        Ok(if limit.is_off() {
            RateLimit::OFF
        } else {
            limit
        })
    }
}

impl crate::App {
    /// Register a new API key for `role` with the role's rate limit; the
    /// key is shown once (only its hash is kept).
    pub async fn create_api_key(&self, role: Role) -> Result<String, crate::AppError> {
        Ok(create_key(self.database(), role).await?)
    }
}
