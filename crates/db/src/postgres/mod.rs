//! The PostgreSQL backend (sqlx, runtime-checked queries).
//!
//! Per-person tables (events, their analytic rows, consents, interests,
//! legacy key rows, and footfall sessions by device) are hash-partitioned
//! by pseudonym into 16 partitions (`partition_by_subject.sql`), as Citus
//! distributes them; every key includes the pseudonym, so a person's rows
//! sit in one partition of each table and queries naming a person touch
//! only it. Catalogue tables are plain. Event ids come from a sequence,
//! drawn before a bulk insert so ids follow input order.

mod footfall;
mod insights;
mod reads;
mod replicas;
mod schema;
mod standby;
mod write;

use std::str::FromStr;

use rand::RngCore;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::{DatabaseError, Result};

const POOL_SIZE: u32 = 8;

/// The PostgreSQL [`crate::Database`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PostgresDatabase {
    pool: PgPool,
    schema: Option<String>,
    /// How to open a connection outside the pool (the leader's).
    options: PgConnectOptions,
    /// The advisory lock keys of this schema; see `replicas`.
    locks: replicas::LockKeys,
    /// The connection holding the leader lock, while this process leads.
    leader: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
    /// The connection that takes the ledger lock for each append.
    ledger_lock: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
}

fn options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map_err(|e| DatabaseError::Backend(format!("bad PostgreSQL URL: {e}")))
}

impl PostgresDatabase {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::with_options(options(url)?, None, None).await
    }

    /// Connects to a fresh schema `fl_test_<random>` (set as the search
    /// path of every pooled connection) so parallel tests never collide.
    pub async fn open_isolated(url: &str) -> Result<Self> {
        Self::isolated(url, None).await
    }

    async fn isolated(url: &str, version: Option<i64>) -> Result<Self> {
        let opts = options(url)?;
        let mut suffix = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut suffix);
        let schema = format!("fl_test_{}", hex::encode(suffix));
        let mut admin = sqlx::PgConnection::connect_with(&opts).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let opts = opts.options([("search_path", schema.as_str())]);
        Self::with_options(opts, Some(schema), version).await
    }

    /// For migration tests: [`Self::open_isolated`] with the schema brought
    /// only up to `version`; [`Self::connect`] on it migrates the rest.
    #[doc(hidden)]
    pub async fn open_isolated_at_version(url: &str, version: i64) -> Result<Self> {
        Self::isolated(url, Some(version)).await
    }

    /// The schema version from which per-person tables are partitioned.
    #[doc(hidden)]
    pub fn partitioned_schema_version() -> i64 {
        schema::partitioned_since()
    }

    async fn with_options(
        opts: PgConnectOptions,
        schema: Option<String>,
        version: Option<i64>,
    ) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(opts.clone())
            .await?;
        match version {
            Some(v) => schema::migrate_to(&pool, v).await?,
            None => schema::migrate(&pool).await?,
        }
        let current: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        Ok(PostgresDatabase {
            pool,
            schema,
            options: opts,
            locks: replicas::LockKeys::for_schema(&current),
            leader: Default::default(),
            ledger_lock: Default::default(),
        })
    }

    /// The isolated schema, if this database was made by [`Self::open_isolated`].
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// `url` (this server's, or a standby's that replays it) with the
    /// isolated schema as every connection's search path: how another
    /// process opens the same schema. `None` if this database is not isolated.
    pub fn isolated_url(&self, url: &str) -> Option<String> {
        let schema = self.schema.as_deref()?;
        let sep = if url.contains('?') { '&' } else { '?' };
        Some(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
    }

    /// Drops the isolated schema (tests clean up with this); no-op otherwise.
    pub async fn drop_isolated(self) -> Result<()> {
        if let Some(schema) = &self.schema {
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&self.pool)
                .await?;
        }
        self.leader.lock().await.take();
        self.ledger_lock.lock().await.take();
        self.pool.close().await;
        Ok(())
    }
}
