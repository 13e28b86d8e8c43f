//! Wire copies of the application's answers: what the API serializes and
//! documents. The application's own types change with the product; these
//! change only with the API, and each converts from its application twin.

use serde::Serialize;

/// An analyst's account for a period, as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Remaining {
    pub analyst: String,
    pub period: String,
    pub total_nano_rho: u64,
    pub spent_nano_rho: u64,
    pub remaining_nano_rho: u64,
    pub total_femto_delta: u64,
    pub remaining_femto_delta: u64,
    /// The remaining ρ as ε at δ = 1e-6 (OpenDP's conversion).
    pub remaining_epsilon: f64,
}

impl From<fineline_app::budget::Remaining> for Remaining {
    fn from(a: fineline_app::budget::Remaining) -> Self {
        Remaining {
            analyst: a.analyst,
            period: a.period,
            total_nano_rho: a.total_nano_rho,
            spent_nano_rho: a.spent_nano_rho,
            remaining_nano_rho: a.remaining_nano_rho,
            total_femto_delta: a.total_femto_delta,
            remaining_femto_delta: a.remaining_femto_delta,
            remaining_epsilon: a.remaining_epsilon,
        }
    }
}

/// One release in its analyst's history: what the ledger's `Release`
/// entry holds, with where to find that entry.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReleaseRecord {
    pub ledger_index: u64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub cost_nano_rho: u64,
    pub cost_femto_delta: u64,
    /// SHA-256 of the query as charged (hex).
    pub query_digest: String,
}

impl From<fineline_app::budget::ReleaseRecord> for ReleaseRecord {
    fn from(a: fineline_app::budget::ReleaseRecord) -> Self {
        ReleaseRecord {
            ledger_index: a.ledger_index,
            at: a.at,
            cost_nano_rho: a.cost_nano_rho,
            cost_femto_delta: a.cost_femto_delta,
            query_digest: a.query_digest,
        }
    }
}

/// What happened to one batch, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dropped {
    /// Weaker than the RSSI floor (-85 dBm by default).
    pub too_weak: u64,
    /// The device is opted out: dropped before anything was kept.
    pub opted_out: u64,
    /// No registered store has this sensor.
    pub unknown_sensor: u64,
    /// Older than the lateness window behind the store's newest sighting.
    pub late: u64,
    /// In a key period already retired (older than the repeat lookback).
    pub expired: u64,
}

impl From<fineline_app::footfall::Dropped> for Dropped {
    fn from(a: fineline_app::footfall::Dropped) -> Self {
        Dropped {
            too_weak: a.too_weak,
            opted_out: a.opted_out,
            unknown_sensor: a.unknown_sensor,
            late: a.late,
            expired: a.expired,
        }
    }
}

/// What `GET /v1/recs/status` reports about the last training.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainingStatus {
    /// Milliseconds since the Unix epoch.
    pub trained_at: i64,
    pub training_ms: u64,
    pub events_used: u64,
    pub subjects: usize,
    pub items: usize,
    /// `ease` (served while current) with `neighbours` as fallback, or `neighbours`.
    pub algorithm: String,
    /// Whether EASE is current; false between a forgetting and its refit.
    pub ease_ready: bool,
    /// People forgotten from the served model since it was trained.
    pub forgotten_since: usize,
    /// Precision@10 and NDCG@10 on a seeded 80/20 holdout of the same data
    /// (absent when the data is too large or too small).
    pub holdout: Option<Holdout>,
}

impl From<fineline_app::recs_service::TrainingStatus> for TrainingStatus {
    fn from(a: fineline_app::recs_service::TrainingStatus) -> Self {
        TrainingStatus {
            trained_at: a.trained_at,
            training_ms: a.training_ms,
            events_used: a.events_used,
            subjects: a.subjects,
            items: a.items,
            algorithm: a.algorithm,
            ease_ready: a.ease_ready,
            forgotten_since: a.forgotten_since,
            holdout: a.holdout.map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Holdout {
    pub users: usize,
    pub precision_at_10: f64,
    pub ndcg_at_10: f64,
}

impl From<fineline_app::recs_service::Holdout> for Holdout {
    fn from(a: fineline_app::recs_service::Holdout) -> Self {
        Holdout {
            users: a.users,
            precision_at_10: a.precision_at_10,
            ndcg_at_10: a.ndcg_at_10,
        }
    }
}
