//! Text forms shared by both backends, and their strict parsing back.

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose};

use crate::DatabaseError;

pub(crate) fn subject(s: &str) -> Result<Pseudonym, DatabaseError> {
    s.parse()
        .map_err(|_| DatabaseError::Corrupt(format!("bad subject {s:?}")))
}

pub(crate) fn purpose(s: &str) -> Result<Purpose, DatabaseError> {
    s.parse()
        .map_err(|_| DatabaseError::Corrupt(format!("bad purpose {s:?}")))
}

/// The small integer standing in for a purpose in the embedded events
/// table: one byte per row instead of up to 18 bytes of text, in the row
/// and in the retention index. Stable: stored in files, never renumber.
pub(crate) fn purpose_code(p: Purpose) -> i64 {
    match p {
        Purpose::Personalization => 1,
        Purpose::Analytics => 2,
        Purpose::PartnerInsights => 3,
        Purpose::Location => 4,
        Purpose::InStoreDetection => 5,
    }
}

pub(crate) fn purpose_of_code(code: i64) -> Result<Purpose, DatabaseError> {
    Purpose::ALL
        .into_iter()
        .find(|p| purpose_code(*p) == code)
        .ok_or_else(|| DatabaseError::Corrupt(format!("bad purpose code {code}")))
}

/// A subject stored as its key id and 32-byte digest (not its 67-byte text).
pub(crate) fn subject_of_parts(key_id: i64, digest: &[u8]) -> Result<Pseudonym, DatabaseError> {
    let key_id = u32::try_from(key_id)
        .map_err(|_| DatabaseError::Corrupt(format!("bad subject key id {key_id}")))?;
    let digest = digest
        .try_into()
        .map_err(|_| DatabaseError::Corrupt("subject digest is not 32 bytes".into()))?;
    Ok(Pseudonym::new(key_id, digest))
}

pub(crate) fn kind(s: &str) -> Result<EventKind, DatabaseError> {
    EventKind::new(s).map_err(|_| DatabaseError::Corrupt(format!("bad event kind {s:?}")))
}

pub(crate) fn item(s: &str) -> Result<ItemId, DatabaseError> {
    ItemId::new(s).map_err(|_| DatabaseError::Corrupt(format!("bad item id {s:?}")))
}

pub(crate) fn opt_item(s: Option<String>) -> Result<Option<ItemId>, DatabaseError> {
    s.as_deref().map(item).transpose()
}

pub(crate) fn hash32(b: &[u8]) -> Result<[u8; 32], DatabaseError> {
    b.try_into()
        .map_err(|_| DatabaseError::Corrupt("leaf hash is not 32 bytes".into()))
}

pub(crate) fn to_u64(v: i64) -> Result<u64, DatabaseError> {
    u64::try_from(v).map_err(|_| DatabaseError::Corrupt(format!("negative count {v}")))
}

pub(crate) fn to_i64(v: u64) -> Result<i64, DatabaseError> {
    i64::try_from(v).map_err(|_| DatabaseError::Conflict(format!("{v} is out of range")))
}
