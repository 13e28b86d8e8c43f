//! Named opaque settings (server configuration, budgets' parameters...).

use async_trait::async_trait;

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// Named settings, opaque bytes to the database.
#[async_trait]
pub trait SettingsTable: WriteTables {
    /// The setting's bytes; `None` if never set.
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Every setting whose name starts with `prefix`, by name (e.g. the
    /// hashed API keys under `api_key/`, for listing them).
    async fn settings_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// Sets or replaces a setting.
    async fn put_setting(&self, name: &str, value: Vec<u8>) -> Result<()> {
        let op = WriteOp::PutSetting {
            name: name.to_string(),
            value,
        };
        self.apply(WriteSet::from(op)).await.map(drop)
    }
}
