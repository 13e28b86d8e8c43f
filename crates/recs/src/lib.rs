//! fineline's recommendation engine: pure models over consented interactions.
//!
//! - [`ItemKnn`]: item-item neighbours (cosine or BM25) over exact integer
//!   co-occurrence counts, neighbour lists ranked on read and cached per
//!   item; [`ItemKnn::forget`] decrements the counts and drops the lists
//!   they feed, so the model equals one trained from scratch without the
//!   subject.
//! - [`Ease`]: Steck's closed-form linear model on `faer`, scored by
//!   history × B (fold-in: new events count at once, no retraining);
//!   forgetting means refitting B from the remaining counts.
//! - Popularity for people without personalization consent.
//! - Public answers (similar items, the non-personal tier) read only pairs
//!   and items held by at least [`KnnConfig::min_support`] distinct people,
//!   never EASE; personal answers may read the full model.
//! - [`PublicModel`]: the versioned, digested export of the public parts
//!   (listed items, popularity, public neighbours) a device recommends from.
//! - [`Recommender`]: tiers, reasons, purchase exclusion, removable interests.
//! - [`eval`]: seeded split, precision@k and NDCG@k; [`bench`]: the peer benchmark.
//!
//! Invariants: no I/O except the benchmark's file loaders, no global state;
//! training returns a new value (serving swaps an `Arc`); a `NonPersonal`
//! request never reads the person's events; no public answer names a pair
//! or an item fewer than `min_support` people hold; after `forget` + `retrain_ease`
//! every answer for every other person equals a model trained without the
//! forgotten subject.
#![deny(missing_docs)]

pub mod bench;
mod data;
mod ease;
pub mod eval;
mod interests;
mod knn;
mod public;
mod public_dp;
mod public_ease;
mod recommender;
mod score;

pub use data::{baskets, Baskets, Catalogue, Interaction, ItemFacts, ItemIndex, Progress};
pub use ease::{Ease, EaseConfig, EaseFit};
pub use interests::{interests, Interest};
pub use knn::{ItemKnn, KnnConfig, Weighting, DEFAULT_MIN_SUPPORT};
pub use public::{PublicItem, PublicModel, SCORE_SCALE};
pub use public_dp::GaussianGram;
pub use public_ease::{PublicEaseConfig, RarePairs};
pub use recommender::{Algorithm, Reason, Recommendation, Recommender, RecsConfig, Request, Tier};
pub use score::Scores;

/// Why training or the benchmark failed; never names a person.
#[derive(Debug, thiserror::Error)]
pub enum RecsError {
    /// A linear solve failed (e.g. a singular EASE Gram matrix).
    #[error("numerical failure: {0}")]
    Numerical(&'static str),
    /// A benchmark file has a malformed line or number.
    #[error("benchmark data: {0}")]
    Data(String),
    /// A benchmark file could not be read.
    #[error("benchmark file: {0}")]
    Io(#[from] std::io::Error),
}
