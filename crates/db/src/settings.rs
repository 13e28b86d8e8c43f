//! Named opaque settings (server configuration, budgets' parameters...)
//! and the day counters every process of a deployment adds to.

use async_trait::async_trait;

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// One counter of one day, e.g. the events accepted on day 20,000.
/// Counters only grow ([`WriteOp::AddDayCounts`]) until their day is
/// dropped ([`WriteOp::DeleteDayCounts`]): processes writing at once add
/// up instead of overwriting each other's totals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayCount {
    /// Days since the Unix epoch.
    pub day: i64,
    /// What is counted, named by the caller.
    pub counter: String,
    /// How many.
    pub count: u64,
}

/// Named settings, opaque bytes to the database.
#[async_trait]
pub trait SettingsTable: WriteTables {
    /// The setting's bytes; `None` if never set.
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Every setting whose name starts with `prefix`, by name (e.g. the
    /// hashed API keys under `api_key/`, for listing them).
    async fn settings_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// Every day counter, by day then counter name.
    async fn day_counts(&self) -> Result<Vec<DayCount>>;

    /// Sets or replaces a setting.
    async fn put_setting(&self, name: &str, value: Vec<u8>) -> Result<()> {
        let op = WriteOp::PutSetting {
            name: name.to_string(),
            value,
        };
        self.apply(WriteSet::from(op)).await.map(drop)
    }
}
