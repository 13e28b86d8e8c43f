//! fineline's application: what fineline does, with no HTTP in it.
//!
//! [`App`] holds the database, the vault, the in-memory consent index, the
//! ledger writer, the recommender and the foot-traffic engine, and owns
//! every use case's transaction and locks. The HTTP crate
//! (`fineline-server`) parses requests, calls one use case and turns the
//! answer or the [`AppError`] into a response; the CLI calls the same
//! use cases with no server running.
#![deny(missing_docs)]

pub mod access;
pub mod analytics;
pub mod api_keys;
pub mod backup;
pub mod budget;
pub mod consent;
pub mod consent_import;
pub mod consent_rows;
pub mod daily;
pub mod erasure;
pub mod error;
pub mod footfall;
pub mod footfall_checkin;
pub mod footfall_release;
pub mod footfall_service;
pub mod ingest;
pub mod ingest_writer;
pub mod insights_data;
mod ledger_writer;
pub mod metrics;
pub mod order;
pub mod persona;
pub mod policy;
pub mod recommend;
pub mod recs_service;
pub mod replication;
pub mod retention;
pub mod rights;
pub mod standby;
pub mod state;
pub mod subject_keys;
pub mod sync;
pub mod tokens;
pub mod transparency;

use std::sync::Arc;

pub use error::AppError;
pub use ledger_writer::LedgerWriter;
pub use state::App;

/// Open the database named by `database_url` (PostgreSQL) or the embedded
/// database in `data_dir`.
pub async fn open_database(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> Result<Arc<dyn fineline_db::Database>, AppError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AppError::internal(format!("cannot create {}: {e}", data_dir.display())))?;
    Ok(match database_url {
        Some(url) => Arc::new(fineline_db::PostgresDatabase::connect(url).await?),
        None => Arc::new(fineline_db::SqliteDatabase::open(&data_dir.join("fineline.db")).await?),
    })
}

/// A read-only handle on a hot standby of the PostgreSQL database at
/// `read_url`, for [`App::set_standby`]. It connects lazily: a standby
/// that is down does not stop the start.
pub fn open_standby(read_url: &str) -> Result<Arc<dyn fineline_db::Database>, AppError> {
    Ok(Arc::new(fineline_db::PostgresDatabase::standby_at(
        read_url, None,
    )?))
}
