use crate::{Pseudonym, Purpose, Timestamp};

/// Something a subject did, kept only because a purpose they granted
/// allows it. Properties are opaque here: the store keeps them sealed
/// under the subject's own data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Who did it, by pseudonym.
    pub subject: Pseudonym,
    /// What they did (`view`, `purchase`, ...).
    pub kind: EventKind,
    /// The catalogue item it concerns, if any.
    pub item: Option<ItemId>,
    /// The granted purpose under which it is kept.
    pub purpose: Purpose,
    /// When it happened (client time, checked against [`MAX_FUTURE_MS`](crate::MAX_FUTURE_MS)).
    pub at: Timestamp,
    /// Canonical JSON bytes of the event's properties (plaintext; sealed
    /// before storage).
    pub properties: Vec<u8>,
}

/// The type of an event: `view`, `add_to_cart`, `purchase`, `app_open`,
/// `location`, ... Lower-case ASCII letters, digits and `_`, 1–40 chars,
/// so it is safe in every report and never carries free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EventKind(String);

/// Refusal of an event type that is not 1–40 of `a-z`, `0-9`, `_`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event type must be 1-40 characters of a-z, 0-9 and _")]
pub struct InvalidEventKind;

impl EventKind {
    /// Checks the type's alphabet and length; free text never becomes a kind.
    pub fn new(s: &str) -> Result<Self, InvalidEventKind> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidEventKind)
        }
    }
    /// The type as written in reports and on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A catalogue item (product, article, app). Item ids are the business's
/// catalogue keys, not personal data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

/// Refusal of an item id that is empty, too long or has spaces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item id must be 1-128 printable characters without spaces")]
pub struct InvalidItemId;

impl ItemId {
    /// Checks that the id is 1–128 printable ASCII characters without spaces.
    pub fn new(s: &str) -> Result<Self, InvalidItemId> {
        let ok = !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(InvalidItemId)
        }
    }
    /// The catalogue key as the business sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EventKind::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for ItemId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ItemId::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_are_validated() {
        assert!(EventKind::new("add_to_cart").is_ok());
        assert!(EventKind::new("").is_err());
        assert!(EventKind::new("View").is_err());
        assert!(EventKind::new("a b").is_err());
    }

    #[test]
    fn item_ids_are_validated() {
        assert!(ItemId::new("sku-123").is_ok());
        assert!(ItemId::new("has space").is_err());
        assert!(ItemId::new(&"x".repeat(129)).is_err());
    }
}
