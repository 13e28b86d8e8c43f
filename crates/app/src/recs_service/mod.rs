//! The recommender as the server runs it: a trained model behind an `Arc`
//! swap, trained in the background, forgetting people the moment they ask.
//!
//! Guarantees:
//! - Serving reads the current model under a read lock held for a pointer
//!   copy only; training, refits and forgetting build a new value beside
//!   the served one and swap it in, so serving never waits on them.
//! - Only events of purpose `personalization` whose subject holds that
//!   consent *now* are trained on; properties are never opened.
//! - Exact forgetting: on erasure, withdrawal of personalization, or a
//!   deleted event, the person is forgotten from the served model before
//!   the request that caused it returns: the neighbourhood counts are
//!   decremented exactly (the model then equals one trained without them)
//!   and EASE is dropped, so every answer comes from the exact
//!   neighbourhood model until an EASE refit from the remaining counts
//!   (which equals EASE trained from scratch without them) lands. The
//!   refit waits for [`RecsService::set_refit_delay`] without forgetting
//!   (a burst of erasures costs one refit; at most [`REFIT_MAX_WAIT`]),
//!   runs on a background thread at the lowest CPU priority, and is
//!   discarded if anyone was forgotten while it ran. People forgotten
//!   while a training runs are forgotten from its result before it is
//!   swapped in.
//! - Every personalized answer is a ledger `DataAccess` entry. Entries are
//!   queued and appended in one batch every [`ACCESS_FLUSH`] (and on
//!   shutdown) so a read costs no ledger write; a crash can lose at most
//!   the last batch's entries (the answers were still computed only from
//!   consented data).
//!
//! By job: `history.rs` (the per-person history cache), `model.rs` (the
//! served model: forgetting, EASE refits), `access_log.rs` (the batched
//! ledger entries of personalized reads), `training.rs` (training from
//! the database, derived interests, the holdout), `tasks.rs` (background
//! work).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_ledger::LedgerEntry;
use fineline_recs::{Progress, Recommender, RecsConfig};
use serde::Serialize;

use crate::sync::{Mutex, RwLock};

mod access_log;
mod history;
mod model;
mod tasks;
mod training;

pub use history::{interaction, interaction_of, signal, History, StoredEvent};
pub use tasks::spawn;

/// How often queued recommendation-read entries are appended to the ledger.
pub const ACCESS_FLUSH: Duration = Duration::from_millis(20);
/// Longest an EASE refit waits for forgetting to pause after the first
/// forgetting that made EASE stale.
pub const REFIT_MAX_WAIT: Duration = Duration::from_secs(10);

/// A model and what it was trained from.
pub struct Trained {
    /// The trained models, minus everyone forgotten since.
    pub model: Recommender,
    /// When training finished.
    pub trained_at: Timestamp,
    /// Item titles for readable reasons (shared by every copy that
    /// forgets someone).
    pub titles: Arc<HashMap<ItemId, String>>,
}

/// What `GET /v1/recs/status` reports about the last training.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingStatus {
    /// Milliseconds since the Unix epoch.
    pub trained_at: i64,
    /// Wall time the training took, in milliseconds.
    pub training_ms: u64,
    /// Interactions the models were trained on.
    pub events_used: u64,
    /// People in the model.
    pub subjects: usize,
    /// Distinct items in the interactions and the catalogue.
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

/// Offline quality of the trained models, on held-out interactions.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Holdout {
    /// People evaluated (those with held-out items).
    pub users: usize,
    /// Mean share of the top 10 that was held out.
    pub precision_at_10: f64,
    /// Mean NDCG of the top 10: held-out items ranked higher score more.
    pub ndcg_at_10: f64,
}

/// Training progress for a progress bar: `stage` is `events` while the database
/// is read (done/total in events), then the engine's stages.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

#[derive(Default)]
struct Wants {
    refit: bool,
    retrain: bool,
    /// First and latest forgetting since EASE went stale: the refit's debounce.
    stale_since: Option<Instant>,
    last_forget: Option<Instant>,
}

/// The recommender of a running server: the model served, its training
/// schedule, the history cache and the queue of read entries for the
/// ledger. One per [`crate::App`].
pub struct RecsService {
    model: RwLock<Option<Arc<Trained>>>,
    status: RwLock<Option<TrainingStatus>>,
    config: RwLock<RecsConfig>,
    /// Full retraining interval; `None` trains only on demand.
    schedule: RwLock<Option<Duration>>,
    /// Wait after a forgetting before refitting EASE, so a burst of
    /// erasures costs one refit.
    refit_delay: RwLock<Duration>,
    /// Serialises swaps of the model (forgets, trainings, refits).
    writer: Mutex<()>,
    /// Subjects forgotten since the running training or refit began.
    forgotten_log: Mutex<Vec<Pseudonym>>,
    /// One training or refit at a time.
    training: tokio::sync::Mutex<()>,
    wants: Mutex<Wants>,
    wake: tokio::sync::Notify,
    access_queue: Mutex<Vec<LedgerEntry>>,
    /// Held while a batch of read entries is appended, so that a flush
    /// returns only once every read queued before it is in the ledger,
    /// even when the background flusher took the batch a moment earlier.
    flushing: tokio::sync::Mutex<()>,
    /// Histories by person, so a read costs no database round trip. Dropped
    /// on every change to the person's events, interests or consent.
    histories: Mutex<HashMap<Pseudonym, Arc<History>>>,
    /// Bumped by every invalidation: a history read from the database while
    /// it changed is not cached.
    history_epoch: std::sync::atomic::AtomicU64,
}

impl Default for RecsService {
    fn default() -> Self {
        Self {
            model: RwLock::new(None),
            status: RwLock::new(None),
            config: RwLock::new(RecsConfig::default()),
            schedule: RwLock::new(Some(Duration::from_secs(3600))),
            refit_delay: RwLock::new(Duration::from_millis(500)),
            writer: Mutex::new(()),
            forgotten_log: Mutex::new(Vec::new()),
            training: tokio::sync::Mutex::new(()),
            wants: Mutex::new(Wants::default()),
            wake: tokio::sync::Notify::new(),
            access_queue: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            histories: Mutex::new(HashMap::new()),
            history_epoch: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl RecsService {
    /// The model served now; `None` before the first training.
    pub fn current(&self) -> Option<Arc<Trained>> {
        self.model.read().unwrap().clone()
    }

    /// The last training's report, with EASE's readiness as of now; `None`
    /// before the first training.
    pub fn status(&self) -> Option<TrainingStatus> {
        let mut s = self.status.read().unwrap().clone()?;
        if let Some(m) = self.current() {
            s.ease_ready = m.model.ease_ready();
        }
        Some(s)
    }

    /// Models and mixing for the next training; the served model is not
    /// changed.
    pub fn set_config(&self, config: RecsConfig) {
        *self.config.write().unwrap() = config;
    }

    /// Models and mixing the next training uses.
    pub fn config(&self) -> RecsConfig {
        *self.config.read().unwrap()
    }

    /// Retrain every `every` (`None`: only on demand).
    pub fn set_schedule(&self, every: Option<Duration>) {
        *self.schedule.write().unwrap() = every;
        self.wake.notify_one();
    }

    /// How long to wait after a forgetting before refitting EASE, so a burst
    /// of erasures costs one refit.
    pub fn set_refit_delay(&self, delay: Duration) {
        *self.refit_delay.write().unwrap() = delay;
    }

    /// Ask for a full retrain soon (e.g. after the retention sweep).
    pub fn request_retrain(&self) {
        self.wants.lock().unwrap().retrain = true;
        self.wake.notify_one();
    }
}

impl crate::erasure::ErasureListener for RecsService {
    fn subject_erased(&self, subject: &Pseudonym) {
        self.forget(subject);
    }

    /// The model cannot drop one event exactly; it drops the person (their
    /// remaining events still shape their own answers through fold-in and
    /// return to the model at the next training).
    fn event_deleted(&self, subject: &Pseudonym, _event_id: i64) {
        self.forget(subject);
    }

    fn events_expired(&self, _purpose: Purpose, _cutoff: Timestamp) {
        self.histories.lock().unwrap().clear();
        self.history_changed([]);
        self.request_retrain();
    }

    fn interest_removed(&self, subject: &Pseudonym, _category: &str) {
        self.history_changed([subject]);
    }

    /// A restored interest must count again in the person's next answer.
    fn interest_edited(&self, subject: &Pseudonym, _category: &str) {
        self.history_changed([subject]);
    }
}
