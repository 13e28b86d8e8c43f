//! A hot standby of the PostgreSQL database (streaming replication): a
//! read-only handle on it and where each server's log stands, so the
//! application reads from the standby only what it has already replayed.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use super::{options, replicas::LockKeys, PostgresDatabase, POOL_SIZE};
use crate::{Result, WalPosition};

/// How long a read waits for a standby connection before its caller
/// falls back to the primary: a standby that is down or saturated must
/// cost a read little.
const STANDBY_ACQUIRE: Duration = Duration::from_millis(500);

impl PostgresDatabase {
    /// A read-only handle on a hot standby of this database at `url`: the
    /// same schema (search path), no migrations (the standby replays the
    /// primary's), every session `default_transaction_read_only`. It
    /// connects lazily and waits at most 500 ms for a connection, so a
    /// standby that is down neither stops a server from starting nor
    /// holds a read up for long. Use it only through
    /// [`crate::ReplicaTables::wal_position`]-gated reads: it may lag.
    pub fn standby(&self, url: &str) -> Result<PostgresDatabase> {
        Self::standby_at(url, self.schema.as_deref())
    }

    /// [`Self::standby`] for a primary this process has not opened: the
    /// schema is the URL's (or `schema`, an isolated test schema).
    pub fn standby_at(url: &str, schema: Option<&str>) -> Result<PostgresDatabase> {
        let mut opts = options(url)?.options([("default_transaction_read_only", "on")]);
        if let Some(schema) = schema {
            opts = opts.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(STANDBY_ACQUIRE)
            .connect_lazy_with(opts.clone());
        Ok(PostgresDatabase {
            pool,
            schema: None,
            options: opts,
            locks: LockKeys::for_schema(schema.unwrap_or("standby")),
            leader: Default::default(),
            ledger_lock: Default::default(),
        })
    }
}

/// The server's log position: its write position as a primary, its
/// replayed position (and replay delay) as a standby.
pub(super) async fn wal_position(pool: &PgPool) -> Result<WalPosition> {
    let row = sqlx::query(
        "SELECT pg_is_in_recovery(),
                (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                      ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::BIGINT,
                CASE WHEN NOT pg_is_in_recovery() THEN NULL
                     WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn()
                     THEN 0::BIGINT
                     ELSE GREATEST(0, (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
                                       * 1000)::BIGINT) END",
    )
    .fetch_one(pool)
    .await?;
    let standby: bool = row.try_get(0)?;
    let lsn: Option<i64> = row.try_get(1)?;
    let delay: Option<i64> = row.try_get(2)?;
    Ok(WalPosition {
        lsn: lsn.unwrap_or(0).max(0) as u64,
        standby,
        replay_delay_ms: delay.map(|d| d.max(0) as u64),
    })
}
