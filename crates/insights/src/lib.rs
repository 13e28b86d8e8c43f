//! Differentially private partner insights: the query model, per-person contribution
//! bounding, OpenDP mechanisms and the privacy-budget accountant.
//!
//! Pure engine: it takes rows (the store fetches and filters them, consent already applied)
//! and returns DP releases; it knows nothing of HTTP or storage.
//!
//! Invariants:
//! - The privacy unit is the person ([`fineline_core::Pseudonym`]): each person's rows are
//!   bounded to `max_groups` groups × `max_rows_per_group` rows before any noise.
//! - Aggregation is in integers (values are fixed point); noise comes only from OpenDP's exact
//!   discrete Gaussian / Laplace samplers.
//! - Groups whose keys are not public are released only above a noisy threshold; groups with
//!   fewer than `min_subjects` noisy distinct people are dropped (post-processing of a DP count).
//!   `min_subjects` is never below the deployment's floor, which `Plan::new` takes as an argument
//!   and the server configures (at least [`query::MIN_FLOOR`]).
//! - A plan's cost depends only on the query, never on the data, so it can be charged
//!   atomically before any result exists: `Plan::new` → `BudgetLedger::charge` → `Plan::run`.
//! - Budgets are integers (nano-ρ, femto-δ): composition is exact and cannot overspend.
#![deny(missing_docs)]

pub mod bench;
pub mod budget;
pub mod engine;
pub mod geo;
pub mod mechanism;
pub mod query;
pub mod rows;

pub use budget::{
    zcdp_epsilon, Account, ApproxDp, BudgetError, BudgetLedger, Cost, DEFAULT_BUDGET, NANO,
    REPORT_DELTA,
};
pub use engine::{Bin, Estimate, GroupRelease, InsightError, Plan, Release, THRESHOLD_DELTA};
pub use geo::{cell_boundary, cell_key, cell_of, heatmap_cells, GeoError, HeatCell};
pub use mechanism::{Accuracy, NoisePlan, Sensitivity};
pub use query::{Bounds, Dimension, Filter, Mechanism, Metric, Query, QueryError};
pub use rows::{DeclaredKeys, GroupKey, InsightRow, KeyValue, RowSet};
