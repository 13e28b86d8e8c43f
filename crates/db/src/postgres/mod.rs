//! The PostgreSQL backend (sqlx, runtime-checked queries).
//!
//! Per-person tables have the pseudonym as the first key column so the
//! same schema can be distributed by subject (Citus, YugabyteDB). Event ids
//! come from a sequence, drawn before a bulk insert so ids follow input
//! order.

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
        Self::with_options(options(url)?, None).await
    }

    /// Connects to a fresh schema `fl_test_<random>` (set as the search
    /// path of every pooled connection) so parallel tests never collide.
    pub async fn open_isolated(url: &str) -> Result<Self> {
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
        Self::with_options(opts, Some(schema)).await
    }

    async fn with_options(opts: PgConnectOptions, schema: Option<String>) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(opts.clone())
            .await?;
        schema::migrate(&pool).await?;
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
