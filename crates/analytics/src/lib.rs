//! The columnar analytic dataset for partner insights: rows written as Parquet
//! through `object_store`, scanned, filtered, bounded per person and
//! pre-aggregated on Apache DataFusion in-process.
//!
//! What stays in fineline: noise, floors, budgets and the ledger entry. This
//! crate answers the *pre-noise* aggregates ([`GroupAggregate`]) that
//! `fineline_insights::Plan` turns into a release, and never a released
//! number itself.
//!
//! Invariants:
//! - Parquet files hold numbers only: a pseudonymous person number (fineline
//!   keeps the link to the pseudonym and drops it on erasure), times, codes
//!   for the event type, category and region ([`Dictionary`]), an H3 cell, a
//!   fixed-point value, the event's id and purpose, and a per-row random
//!   salt. No raw identifier, no pseudonym, no sealed property.
//! - Rows leave answers the moment their removal is recorded ([`Marks`]:
//!   erasures, deleted events, retention cutoffs), and leave the files at
//!   the next compaction.
//! - Files are partitioned `day=D/bucket=B/` (B = person number mod the
//!   bucket count), so a time range reads only its days and an erasure
//!   rewrites only one bucket per day.
//! - Consent is applied at query time by joining the consenting set
//!   ([`Consenting`]): someone erased or withdrawn is absent from it and so
//!   from every later answer, before any compaction.
//! - Contribution bounding depends only on each person's own rows and a
//!   per-query seed (a keyed hash orders their groups and rows), so the
//!   sensitivity `fineline_insights` calibrates noise to holds.
#![deny(missing_docs)]

#[cfg(feature = "engine")]
mod bound;
#[cfg(feature = "ballista")]
pub mod cluster;
#[cfg(feature = "engine")]
mod copy;
#[cfg(feature = "engine")]
mod dataset;
#[cfg(feature = "engine")]
mod dictionary;
#[cfg(feature = "engine")]
mod marks;
#[cfg(feature = "engine")]
mod plan;
#[cfg(feature = "engine")]
mod query;
#[cfg(feature = "engine")]
mod row;
#[cfg(feature = "engine")]
mod udf;

#[cfg(feature = "engine")]
pub use copy::{CopyState, RepairRequest, Writer};
#[cfg(feature = "engine")]
pub use dataset::{store_at, AnalyticDataset, Compacted, Options};
#[cfg(feature = "engine")]
pub use dictionary::Dictionary;
#[cfg(feature = "engine")]
pub use marks::Marks;
#[cfg(feature = "engine")]
pub use query::{to_engine, Catalogue, Consenting, GroupAggregate};
#[cfg(feature = "engine")]
pub use row::{AnalyticRow, Capture};
#[cfg(feature = "engine")]
pub use udf::functions;

/// Where a query's bounding and pre-aggregation run.
#[cfg(feature = "engine")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion scans each person bucket in this process and fineline
    /// bounds its rows in Rust: the fastest on one machine.
    #[default]
    InProcess,
    /// The whole query as one DataFusion plan (window functions bound each
    /// person) in this process: the plan a cluster runs, here so tests and
    /// benchmarks hold it to the same answers.
    Plan,
    /// The same plan on an Apache Ballista cluster (`ballista://HOST:PORT`)
    /// whose scheduler and executors registered [`functions`] and this
    /// dataset's store.
    #[cfg(feature = "ballista")]
    Ballista {
        /// The scheduler, `ballista://HOST:PORT`.
        url: String,
        /// How long a query may take before it fails (the engine does not
        /// fail a job whose executors are all gone: it waits).
        deadline: std::time::Duration,
    },
}

/// Why the analytic dataset could not write, compact or answer.
#[cfg(feature = "engine")]
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The object store (directory or bucket) failed.
    #[error("analytic object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// A Parquet file could not be written or read.
    #[error("analytic parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    /// Arrow could not build a batch.
    #[error("analytic arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// DataFusion could not plan or run the scan.
    #[error("analytic query: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// The store's location is not a usable URL or directory.
    #[error("analytic location {0:?}: {1}")]
    Location(String, String),
    /// A stored file does not have the layout this version writes.
    #[error("analytic file {0}: {1}")]
    Corrupt(String, String),
    /// A bounding task died (a panic: a bug, not the caller's fault).
    #[error("analytic bounding task: {0}")]
    Task(String),
    /// The engine cluster failed the query or did not answer in time.
    #[error("analytic cluster: {0}")]
    Cluster(String),
    /// The query is outside what the analytic dataset answers.
    #[error("analytic query: {0}")]
    Query(#[from] fineline_insights::QueryError),
}

/// Shorthand for this crate's results.
#[cfg(feature = "engine")]
pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;
