//! Telling the rest of the process that a person is gone.
//!
//! Erasure removes the person's rows and keys in one database transaction
//! (see `routes::rights::erase`). Whatever else holds state derived from
//! them — a recommender's model, a cache — registers an
//! [`ErasureListener`] on the [`App`] at start-up and is called after
//! that transaction commits, so it can forget the person *exactly* (remove
//! their contribution, not just their row). Listeners run synchronously on
//! the request's task: the erasure response (the receipt) is sent only
//! once every listener has returned, so "erased" means erased everywhere.

use std::sync::Arc;

use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::state::App;

/// Something holding derived state about people.
///
/// Implementations must be cheap enough to run inside a request (the
/// erasure target is p99 < 100 ms end to end) and must not fail: a
/// listener that cannot forget someone has to make that person's derived
/// state unusable instead (e.g. mark a model stale).
pub trait ErasureListener: Send + Sync {
    /// `subject` was erased: forget everything derived from them.
    fn subject_erased(&self, subject: &Pseudonym);

    /// `subject` deleted one of their events (a correction). Default:
    /// nothing to do.
    fn event_deleted(&self, _subject: &Pseudonym, _event_id: i64) {}

    /// The retention sweep deleted every event of `purpose` older than
    /// `cutoff` (it deletes by age, not by person). Default: nothing to do.
    fn events_expired(&self, _purpose: Purpose, _cutoff: Timestamp) {}

    /// `subject` removed an inferred interest; it must not be shown or
    /// inferred again. Default: nothing to do.
    fn interest_removed(&self, _subject: &Pseudonym, _category: &str) {}

    /// `subject` set an interest's weight (or restored a removed one); what
    /// was derived from the old value is stale. Default: nothing to do.
    fn interest_edited(&self, _subject: &Pseudonym, _category: &str) {}
}

/// Any closure taking the pseudonym is a listener that cares only about
/// whole-person erasure.
impl<F: Fn(&Pseudonym) + Send + Sync> ErasureListener for F {
    fn subject_erased(&self, subject: &Pseudonym) {
        self(subject)
    }
}

impl App {
    /// Register a listener; call at start-up, before serving.
    pub fn on_erasure(&self, listener: Arc<dyn ErasureListener>) {
        self.erasure_listeners.write().unwrap().push(listener);
    }

    fn listeners(&self) -> Vec<Arc<dyn ErasureListener>> {
        self.erasure_listeners.read().unwrap().clone()
    }

    /// After an erasure committed: drop the person from every in-memory
    /// structure this crate owns, then tell the listeners.
    pub fn forget_subject(&self, subject: &Pseudonym) {
        self.consents.write().unwrap().forget(subject);
        self.forget_subject_keys(subject);
        if let Some(analytics) = self.analytics() {
            analytics.forget(subject);
        }
        for l in self.listeners() {
            l.subject_erased(subject);
        }
    }

    /// After an event deletion committed: tell the listeners.
    pub fn notify_event_deleted(&self, subject: &Pseudonym, event_id: i64) {
        for l in self.listeners() {
            l.event_deleted(subject, event_id);
        }
    }

    /// After a retention sweep committed: tell the listeners.
    pub fn notify_events_expired(&self, purpose: Purpose, cutoff: Timestamp) {
        for l in self.listeners() {
            l.events_expired(purpose, cutoff);
        }
    }

    /// After a person removed an interest: tell the listeners.
    pub fn notify_interest_removed(&self, subject: &Pseudonym, category: &str) {
        for l in self.listeners() {
            l.interest_removed(subject, category);
        }
    }

    /// After a person set or restored an interest: tell the listeners.
    pub fn notify_interest_edited(&self, subject: &Pseudonym, category: &str) {
        for l in self.listeners() {
            l.interest_edited(subject, category);
        }
    }
}
