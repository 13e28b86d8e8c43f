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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_ledger::{Access, Actor, LedgerEntry};
use fineline_recs::{
    eval, Algorithm, Catalogue, Interaction, ItemFacts, Progress, Recommender, RecsConfig, Request,
    Weighting,
};
use fineline_store::{EventRow, EventScan, InterestRow, WriteOp, WriteSet};
use serde::Serialize;

use crate::error::AppError;
use crate::state::App;
use crate::sync::{Mutex, RwLock};

/// How often queued recommendation-read entries are appended to the ledger.
pub const ACCESS_FLUSH: Duration = Duration::from_millis(20);
/// How long a cached history may be reused; bounds staleness from writes
/// this process does not see (another server on the same database).
const HISTORY_TTL: Duration = Duration::from_secs(30);
/// Cached histories kept at most (the cache is emptied when full).
const HISTORY_MAX: usize = 200_000;
/// Events read per store page while collecting training data.
const PAGE: usize = 20_000;
/// Above this many interactions the holdout evaluation is skipped (it
/// doubles training time).
const HOLDOUT_MAX: usize = 300_000;
/// Longest an EASE refit waits for forgetting to pause after the first
/// forgetting that made EASE stale.
pub const REFIT_MAX_WAIT: Duration = Duration::from_secs(10);

/// A model and what it was trained from.
pub struct Trained {
    pub model: Recommender,
    pub trained_at: Timestamp,
    /// Item titles for readable reasons (shared by every copy that
    /// forgets someone).
    pub titles: Arc<HashMap<ItemId, String>>,
}

/// What a personalized answer reads about a person: their personalization
/// events as interactions and the interests they removed.
pub struct History {
    pub interactions: Vec<Interaction>,
    pub removed: Vec<String>,
    loaded: Instant,
    /// The newest event id (of any purpose) this history has seen, so new
    /// events are appended exactly once.
    last_event_id: i64,
}

/// What `GET /v1/recs/status` reports about the last training.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Holdout {
    pub users: usize,
    pub precision_at_10: f64,
    pub ndcg_at_10: f64,
}

/// Training progress for a progress bar: `stage` is `events` while the store
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
    /// Histories by person, so a read costs no store round trip. Dropped
    /// on every change to the person's events, interests or consent.
    histories: Mutex<HashMap<Pseudonym, Arc<History>>>,
    /// Bumped by every invalidation: a history read from the store while
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

/// How an event kind becomes a training signal: `(weight, purchase)`.
pub fn signal(kind: &str) -> (f32, bool) {
    match kind {
        "purchase" | "order" => (3.0, true),
        "add_to_cart" | "save" | "wishlist" | "rate" | "rating" => (2.0, false),
        _ => (1.0, false),
    }
}

/// The interaction an event gives the engine, if it names an item.
pub fn interaction(row: &EventRow) -> Option<Interaction> {
    interaction_of(row.subject, &row.kind, row.item.as_ref(), row.at)
}

/// An event's signal for the models: its item, weighted by its kind.
pub fn interaction_of(
    subject: Pseudonym,
    kind: &fineline_core::EventKind,
    item: Option<&ItemId>,
    at: Timestamp,
) -> Option<Interaction> {
    let (weight, purchase) = signal(kind.as_str());
    let mut it = Interaction::new(subject, item?.clone(), weight, at);
    it.purchase = purchase;
    Some(it)
}

/// A stored event as the history cache needs it: its id, whose it is, and
/// its interaction if it is a personalization event with an item.
pub struct StoredEvent {
    pub id: i64,
    pub subject: Pseudonym,
    pub interaction: Option<Interaction>,
}

impl RecsService {
    pub fn current(&self) -> Option<Arc<Trained>> {
        self.model.read().unwrap().clone()
    }

    pub fn status(&self) -> Option<TrainingStatus> {
        let mut s = self.status.read().unwrap().clone()?;
        if let Some(m) = self.current() {
            s.ease_ready = m.model.ease_ready();
        }
        Some(s)
    }

    pub fn set_config(&self, config: RecsConfig) {
        *self.config.write().unwrap() = config;
    }

    pub fn config(&self) -> RecsConfig {
        *self.config.read().unwrap()
    }

    /// Retrain every `every` (`None`: only on demand).
    pub fn set_schedule(&self, every: Option<Duration>) {
        *self.schedule.write().unwrap() = every;
        self.wake.notify_one();
    }

    pub fn set_refit_delay(&self, delay: Duration) {
        *self.refit_delay.write().unwrap() = delay;
    }

    /// The person's history (personalization events only) and removed
    /// interests, from the cache or the store.
    pub async fn history(
        &self,
        state: &App,
        subject: &Pseudonym,
    ) -> Result<Arc<History>, AppError> {
        use std::sync::atomic::Ordering;
        if let Some(h) = self.histories.lock().unwrap().get(subject) {
            if h.loaded.elapsed() < HISTORY_TTL {
                return Ok(h.clone());
            }
        }
        let epoch = self.history_epoch.load(Ordering::SeqCst);
        let events = state
            .store()
            .events_for(subject)
            .await
            .map_err(AppError::internal)?;
        let removed = state
            .store()
            .interests_for(subject)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .filter(|r| r.removed)
            .map(|r| r.category)
            .collect();
        let h = Arc::new(History {
            interactions: events
                .iter()
                .filter(|e| e.purpose == Purpose::Personalization)
                .filter_map(interaction)
                .collect(),
            removed,
            loaded: Instant::now(),
            last_event_id: events.iter().map(|e| e.id).max().unwrap_or(0),
        });
        let mut cache = self.histories.lock().unwrap();
        if self.history_epoch.load(Ordering::SeqCst) == epoch {
            if cache.len() >= HISTORY_MAX {
                cache.clear();
            }
            cache.insert(*subject, h.clone());
        }
        Ok(h)
    }

    /// Drop cached histories of `subjects` (their events or interests changed).
    pub fn history_changed<'a>(&self, subjects: impl IntoIterator<Item = &'a Pseudonym>) {
        let mut cache = self.histories.lock().unwrap();
        self.history_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for s in subjects {
            cache.remove(s);
        }
    }

    /// New events were stored (and committed): cached histories get them
    /// appended, so the person's next answer folds them in without reading
    /// their whole history back. Reloading on every new event made each
    /// recommendation under steady ingestion cost a read of the person's
    /// full history, growing with it.
    pub fn events_added(&self, added: &[StoredEvent]) {
        let mut cache = self.histories.lock().unwrap();
        // A load already reading may have missed these events: it must not
        // fill the cache (see `history`).
        self.history_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut by_subject: HashMap<Pseudonym, Vec<&StoredEvent>> = HashMap::new();
        for e in added {
            by_subject.entry(e.subject).or_default().push(e);
        }
        for (subject, events) in by_subject {
            let Some(h) = cache.get(&subject) else {
                continue;
            };
            let fresh: Vec<&StoredEvent> = events
                .into_iter()
                .filter(|e| e.id > h.last_event_id)
                .collect();
            let Some(last) = fresh.iter().map(|e| e.id).max() else {
                continue;
            };
            let mut interactions = h.interactions.clone();
            interactions.extend(fresh.iter().filter_map(|e| e.interaction.clone()));
            let next = Arc::new(History {
                interactions,
                removed: h.removed.clone(),
                loaded: h.loaded,
                last_event_id: last,
            });
            cache.insert(subject, next);
        }
    }

    /// Forget `subject` from the served model now and schedule an EASE
    /// refit. Cheap when the model does not know them.
    pub fn forget(&self, subject: &Pseudonym) {
        self.history_changed([subject]);
        let _w = self.writer.lock().unwrap();
        self.forgotten_log.lock().unwrap().push(*subject);
        let Some(cur) = self.current() else {
            return;
        };
        // The copy shares all but the count rows the person touched, so
        // it costs their own pairs; readers keep the current value until
        // the pointer swap.
        let Some(model) = cur.model.without(subject) else {
            return;
        };
        let next = Arc::new(Trained {
            model,
            trained_at: cur.trained_at,
            titles: cur.titles.clone(),
        });
        *self.model.write().unwrap() = Some(next);
        drop(cur);
        if let Some(s) = self.status.write().unwrap().as_mut() {
            s.forgotten_since += 1;
        }
        self.want_refit();
    }

    /// EASE went (or stays) stale: schedule a refit, restarting its debounce.
    fn want_refit(&self) {
        let mut w = self.wants.lock().unwrap();
        let now = Instant::now();
        w.refit = true;
        w.stale_since.get_or_insert(now);
        w.last_forget = Some(now);
        drop(w);
        self.wake.notify_one();
    }

    /// When the pending EASE refit is due: after the refit delay without
    /// forgetting, or [`REFIT_MAX_WAIT`] after EASE went stale.
    fn refit_due(&self) -> Instant {
        let delay = *self.refit_delay.read().unwrap();
        let w = self.wants.lock().unwrap();
        match (w.stale_since, w.last_forget) {
            (Some(first), Some(last)) => (last + delay).min(first + delay.max(REFIT_MAX_WAIT)),
            _ => Instant::now(),
        }
    }

    /// After a consent change: forget the person if personalization is no
    /// longer allowed to them.
    pub fn consent_changed(&self, state: &App, subject: &Pseudonym) {
        let allowed = state.consents.read().unwrap().allowed(
            subject,
            Purpose::Personalization,
            Timestamp::now(),
        );
        if !allowed {
            self.forget(subject);
        }
    }

    /// Ask for a full retrain soon (e.g. after the retention sweep).
    pub fn request_retrain(&self) {
        self.wants.lock().unwrap().retrain = true;
        self.wake.notify_one();
    }

    /// Queue a ledger entry for a personalized read of `subject`.
    pub async fn log_read(
        &self,
        state: &App,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<(), AppError> {
        let Some(keys) = state.subject_keys(subject).await? else {
            return Ok(());
        };
        self.access_queue
            .lock()
            .unwrap()
            .push(LedgerEntry::DataAccess {
                commitment: keys.commitment(subject),
                what: Access::Recommendations,
                actor,
                at: Timestamp::now(),
            });
        Ok(())
    }

    /// Append every queued read entry in one ledger write; when it returns,
    /// every read queued before the call is in the ledger.
    pub async fn flush_reads(&self, state: &App) -> Result<usize, AppError> {
        let _one = self.flushing.lock().await;
        let batch = std::mem::take(&mut *self.access_queue.lock().unwrap());
        if batch.is_empty() {
            return Ok(0);
        }
        match state
            .ledger
            .append(state.store(), &batch, |_| Vec::new())
            .await
        {
            Ok(_) => Ok(batch.len()),
            Err(e) => {
                // Keep them for the next flush, in order.
                let mut q = self.access_queue.lock().unwrap();
                let later = std::mem::replace(&mut *q, batch);
                q.extend(later);
                Err(e)
            }
        }
    }

    /// Train from the store and swap the new model in. Waits for any
    /// running training; serving continues meanwhile.
    pub async fn train(
        &self,
        state: &App,
        progress: ProgressFn,
    ) -> Result<TrainingStatus, AppError> {
        let _one = self.training.lock().await;
        self.wants.lock().unwrap().retrain = false;
        let started = Instant::now();
        {
            let _w = self.writer.lock().unwrap();
            self.forgotten_log.lock().unwrap().clear();
        }
        let (interactions, catalogue, titles) = collect(state, &progress).await?;
        let config = self.config();
        let events_used = interactions.len() as u64;
        let items = {
            let mut ids: Vec<&ItemId> = interactions
                .iter()
                .map(|i| &i.item)
                .chain(catalogue.item_ids())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        };
        let (model, interactions) = tokio::task::spawn_blocking(move || {
            let p = progress.clone();
            Recommender::train(&interactions, catalogue, config, &mut |x| p(x))
                .map(|m| (m, interactions))
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
        let trained_at = Timestamp::now();
        let status = {
            let _w = self.writer.lock().unwrap();
            let mut model = model;
            let forgotten = std::mem::take(&mut *self.forgotten_log.lock().unwrap());
            let mut n_forgotten = 0;
            for s in &forgotten {
                n_forgotten += usize::from(model.forget(s));
            }
            if n_forgotten > 0 {
                self.want_refit();
            }
            let status = TrainingStatus {
                trained_at: trained_at.millis(),
                training_ms: started.elapsed().as_millis() as u64,
                events_used,
                subjects: model.subjects(),
                items,
                algorithm: algorithm_name(&config),
                ease_ready: model.ease_ready(),
                forgotten_since: n_forgotten,
                holdout: None,
            };
            *self.model.write().unwrap() = Some(Arc::new(Trained {
                model,
                trained_at,
                titles: Arc::new(titles),
            }));
            *self.status.write().unwrap() = Some(status.clone());
            status
        };
        let forgotten_now: Vec<Pseudonym> = self.forgotten_log.lock().unwrap().clone();
        let interactions: Vec<Interaction> = interactions
            .into_iter()
            .filter(|i| !forgotten_now.contains(&i.subject))
            .collect();
        self.store_interests(state, &interactions).await?;
        let holdout = tokio::task::spawn_blocking(move || holdout(&interactions, config))
            .await
            .map_err(AppError::internal)?;
        let mut out = status;
        if let Some(s) = self.status.write().unwrap().as_mut() {
            if s.trained_at == out.trained_at {
                s.holdout = holdout;
            }
        }
        out.holdout = holdout;
        Ok(out)
    }

    /// Refit EASE on the served model's current counts. Returns whether
    /// the refit was installed: it is dropped (and another one wanted) if
    /// the served model changed while it ran, since its `B` would still
    /// carry whoever was forgotten meanwhile.
    pub async fn refit(&self) -> Result<bool, AppError> {
        let _one = self.training.lock().await;
        let cur = {
            let mut w = self.wants.lock().unwrap();
            w.refit = false;
            w.stale_since = None;
            drop(w);
            self.current()
        };
        let Some(cur) = cur else { return Ok(false) };
        if cur.model.ease_ready() {
            return Ok(true);
        }
        let basis = Arc::downgrade(&cur);
        let (done, fitted) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("ease-refit".into())
            .spawn(move || {
                lowest_cpu_priority();
                // Copy the counts the fit reads, then let go of the model
                // so forgetting never copies rows on account of the refit.
                let input = cur.model.ease_input();
                drop(cur);
                let _ = done.send(input.map(|i| i.fit(&mut |_| {})).transpose());
            })
            .map_err(AppError::internal)?;
        let ease = fitted
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        let Some(ease) = ease else { return Ok(false) };
        let _w = self.writer.lock().unwrap();
        let mut served = self.model.write().unwrap();
        let Some(now) = served
            .as_ref()
            .filter(|m| std::ptr::eq(Arc::as_ptr(m), basis.as_ptr()))
        else {
            drop(served);
            self.want_refit();
            return Ok(false);
        };
        let next = Arc::new(Trained {
            model: now.model.with_ease(ease),
            trained_at: now.trained_at,
            titles: now.titles.clone(),
        });
        *served = Some(next);
        Ok(true)
    }

    /// Derived interests of everyone trained on, keeping removed ones removed.
    async fn store_interests(
        &self,
        state: &App,
        interactions: &[Interaction],
    ) -> Result<(), AppError> {
        let Some(cur) = self.current() else {
            return Ok(());
        };
        let catalogue = cur.model.catalogue();
        if !catalogue
            .item_ids()
            .any(|i| !catalogue.categories(i).is_empty())
        {
            return Ok(());
        }
        let mut by_subject: BTreeMap<Pseudonym, Vec<Interaction>> = BTreeMap::new();
        for it in interactions {
            by_subject.entry(it.subject).or_default().push(it.clone());
        }
        let mut ops = Vec::new();
        for (subject, history) in by_subject {
            // Someone erased or withdrawn since the scan gets no new rows.
            let allowed = state.consents.read().unwrap().allowed(
                &subject,
                Purpose::Personalization,
                Timestamp::now(),
            );
            if !allowed || !cur.model.knows(&subject) {
                continue;
            }
            let rows = state
                .store()
                .interests_for(&subject)
                .await
                .map_err(AppError::internal)?;
            let removed: Vec<String> = rows
                .iter()
                .filter(|r| r.removed)
                .map(|r| r.category.clone())
                .collect();
            for i in fineline_recs::interests(&history, catalogue, &removed) {
                ops.push(WriteOp::PutInterest(InterestRow {
                    subject,
                    category: i.category,
                    weight: i.weight as f64,
                    removed: false,
                }));
            }
            if ops.len() >= 5_000 {
                apply(state, std::mem::take(&mut ops)).await?;
            }
        }
        apply(state, ops).await
    }
}

async fn apply(state: &App, ops: Vec<WriteOp>) -> Result<(), AppError> {
    if ops.is_empty() {
        return Ok(());
    }
    state
        .store()
        .apply(WriteSet { ops })
        .await
        .map(drop)
        .map_err(AppError::internal)
}

fn algorithm_name(config: &RecsConfig) -> String {
    match (config.ease.is_some(), config.serve, config.knn.weighting) {
        (true, Algorithm::Ease, _) => "ease".into(),
        (_, _, Weighting::Rp3 { .. }) => "rp3beta".into(),
        _ => "neighbours".into(),
    }
}

/// Consented personalization events and the catalogue, from the store.
async fn collect(
    state: &App,
    progress: &ProgressFn,
) -> Result<(Vec<Interaction>, Catalogue, HashMap<ItemId, String>), AppError> {
    let store = state.store();
    let total = store.count_events().await.map_err(AppError::internal)?;
    let scan = EventScan {
        purpose: Some(Purpose::Personalization),
        ..EventScan::all()
    };
    let mut out = Vec::new();
    let (mut after, mut seen) = (0i64, 0u64);
    loop {
        let page = store
            .scan_events(scan, after, PAGE)
            .await
            .map_err(AppError::internal)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        seen += page.len() as u64;
        let now = Timestamp::now();
        let consents = state.consents.read().unwrap();
        out.extend(
            page.iter()
                .filter(|r| consents.allowed(&r.subject, Purpose::Personalization, now))
                .filter_map(interaction),
        );
        drop(consents);
        progress(Progress {
            stage: "events",
            done: seen.min(total),
            total: total.max(seen),
        });
    }
    let mut catalogue = Catalogue::new();
    let mut titles = HashMap::new();
    for row in store.items().await.map_err(AppError::internal)? {
        let categories = if row.category.is_empty() {
            Vec::new()
        } else {
            vec![row.category.clone()]
        };
        catalogue.insert(
            row.item.clone(),
            ItemFacts {
                repeatable: row.repeatable,
                categories,
            },
        );
        if !row.title.is_empty() {
            titles.insert(row.item, row.title);
        }
    }
    Ok((out, catalogue, titles))
}

/// Seeded 80/20 holdout on the same data, when cheap enough.
fn holdout(interactions: &[Interaction], config: RecsConfig) -> Option<Holdout> {
    if interactions.len() > HOLDOUT_MAX || interactions.len() < 50 {
        return None;
    }
    let split = eval::split(interactions, 0.2, 42);
    let evaluator = eval::Evaluator::new(&split, 10);
    let model = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {}).ok()?;
    let m = evaluator.evaluate(|_, history| {
        let mut req = Request::personalized(history, 10);
        req.exclude_seen = true;
        model.recommend(&req).into_iter().map(|r| r.item).collect()
    });
    Some(Holdout {
        users: m.users,
        precision_at_10: m.precision,
        ndcg_at_10: m.ndcg,
    })
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

/// Background work: scheduled retraining, debounced EASE refits, and the
/// batched ledger entries of personalized reads.
pub fn spawn(state: App) -> Vec<tokio::task::JoinHandle<()>> {
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ACCESS_FLUSH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.recs.flush_reads(&state).await {
                    tracing::error!(error = %e, "recommendation read entries not yet in the ledger");
                }
            }
        })
    };
    let trainer = tokio::spawn(async move {
        let recs = &state.recs;
        let mut next = Instant::now();
        loop {
            let schedule = *recs.schedule.read().unwrap();
            let due = schedule.is_some() && Instant::now() >= next;
            let (refit, retrain) = {
                let w = recs.wants.lock().unwrap();
                (w.refit, w.retrain)
            };
            if due || retrain {
                if let Err(e) = recs.train(&state, Arc::new(|_| {})).await {
                    tracing::error!(error = %e, "recommender training failed");
                }
                next = Instant::now() + schedule.unwrap_or(Duration::from_secs(3600));
                continue;
            }
            if refit {
                let due = recs.refit_due();
                if Instant::now() < due {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = recs.wake.notified() => {}
                    }
                    continue;
                }
                if let Err(e) = recs.refit().await {
                    tracing::error!(error = %e, "EASE refit failed");
                }
                continue;
            }
            let wait = schedule
                .map(|_| next.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = recs.wake.notified() => {}
            }
        }
    });
    vec![flusher, trainer]
}

/// Lowers the calling thread (and threads it starts) to the lowest CPU
/// priority, so a refit takes only cores requests leave idle. Best effort.
fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads no memory; on Linux, `who = 0` with
    // PRIO_PROCESS names the calling thread only.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
