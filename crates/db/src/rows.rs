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
