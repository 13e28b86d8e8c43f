//! The per-person history cache: a personalized answer reads the person's
//! personalization events and removed interests from here, not the database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::EventRow;
use fineline_recs::Interaction;

use super::RecsService;
use crate::error::AppError;
use crate::state::App;

/// How long a cached history may be reused; bounds staleness from writes
/// this process does not see (another server on the same database).
const HISTORY_TTL: Duration = Duration::from_secs(30);
/// Cached histories kept at most (the cache is emptied when full).
const HISTORY_MAX: usize = 200_000;

/// What a personalized answer reads about a person: their personalization
/// events as interactions and the interests they removed.
pub struct History {
    /// Personalization events with an item, as the recommender weighs them.
    pub interactions: Vec<Interaction>,
    /// Categories the person removed from their interests; never shown.
    pub removed: Vec<String>,
    loaded: Instant,
    /// The newest event id (of any purpose) this history has seen, so new
    /// events are appended exactly once.
    last_event_id: i64,
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
    /// The event's id in the database.
    pub id: i64,
    /// The person it belongs to.
    pub subject: Pseudonym,
    /// `None` for events of other purposes or without an item.
    pub interaction: Option<Interaction>,
}

impl RecsService {
    /// The person's history (personalization events only) and removed
    /// interests, from the cache or the database.
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
            .database()
            .events_for(subject)
            .await
            .map_err(AppError::internal)?;
        let removed = state
            .database()
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
}
