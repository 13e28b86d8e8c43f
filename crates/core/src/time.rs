use std::fmt;

/// How far ahead of the server's clock a client's timestamp may be (clock
/// skew between the business's systems and fineline). Anything stamped
/// later is refused: retention counts from event time, so a row from the
/// future would outlive every retention period.
pub const MAX_FUTURE_MS: i64 = 10 * 60_000;

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The server's clock now; a clock before 1970 reads as the epoch.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole days since the epoch (UTC): the unit of daily summaries.
    pub fn day(self) -> i64 {
        self.0.div_euclid(86_400_000)
    }

    /// This instant moved by `ms` milliseconds, saturating instead of overflowing.
    pub fn plus_millis(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
