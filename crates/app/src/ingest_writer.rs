//! Group commit for event batches: batches that arrive while one is being
//! written go to the store together, in one transaction.
//!
//! Why: ingestion writes are serialised (daily totals are written in
//! order, and an erasure must not interleave with a batch of the person it
//! erases), so each batch paid a whole transaction — on PostgreSQL several
//! round trips and a WAL flush — one after another. Leader/follower, no
//! long-lived task: every request queues its batch and starts a writer
//! that takes the ingest lock; whichever writer holds it writes everything
//! queued (up to a bound) and tells each batch's request how it went; a
//! writer that finds the queue empty has nothing to do.

use std::collections::BTreeMap;

use fineline_core::{Purpose, Timestamp};
use fineline_db::{InsightEventRow, NewEvent, WriteOp, WriteSet};
use tokio::sync::oneshot;

use crate::error::AppError;
use crate::recs_service::StoredEvent;
use crate::state::App;

/// Events written in one transaction at most (a batch is never split).
const MAX_GROUP_EVENTS: usize = 50_000;

/// One request's accepted events, ready to store.
pub struct Batch {
    /// The events to store, properties already sealed.
    pub events: Vec<NewEvent>,
    /// `event` indexes into `events`.
    pub insight_rows: Vec<InsightEventRow>,
    /// With an analytic dataset: the person number of each insight row.
    pub insight_people: Vec<u64>,
    /// Refusals for lack of consent, by purpose, for the daily totals.
    pub refused: BTreeMap<Purpose, u64>,
}

/// A batch waiting in the ingest queue, with where to send its result.
pub struct Queued {
    batch: Batch,
    reply: oneshot::Sender<Result<(), AppError>>,
}

/// Stores `batch`, alone or with others queued beside it. Consent is checked again once the ingest lock is
/// held: an erasure or withdrawal may have landed since the request's own
/// check, and then the batch is refused whole.
pub async fn store_batch(state: &App, batch: Batch) -> Result<(), AppError> {
    let (reply, answer) = oneshot::channel();
    state.ingest_queue().push(Queued { batch, reply });
    // In a task of its own: a request dropped while it waits (a timeout, a
    // client gone) must neither strand its batch in the queue nor cut short
    // a group write that others are waiting on.
    let state = state.clone();
    tokio::spawn(async move {
        let _turn = state.order.ingest().await;
        let group = take_group(&state);
        if !group.is_empty() {
            write_group(&state, group).await;
        }
    });
    answer
        .await
        .unwrap_or_else(|_| Err(AppError::internal("ingest writer dropped a batch")))
}

fn take_group(state: &App) -> Vec<Queued> {
    let mut queue = state.ingest_queue();
    let take = group_len(queue.iter().map(|q| q.batch.events.len()));
    queue.drain(..take).collect()
}

/// How many of the queued batches (their sizes, oldest first) one
/// transaction takes: as many as fit in [`MAX_GROUP_EVENTS`], and the
/// first one always, however large.
fn group_len(sizes: impl Iterator<Item = usize>) -> usize {
    let mut events = 0;
    let mut n = 0;
    for size in sizes {
        events += size;
        if n > 0 && events > MAX_GROUP_EVENTS {
            break;
        }
        n += 1;
    }
    n
}

async fn write_group(state: &App, group: Vec<Queued>) {
    let mut writing = Vec::with_capacity(group.len());
    {
        let index = state.consents.read().unwrap();
        for q in group {
            let still = q
                .batch
                .events
                .iter()
                .all(|e| index.allowed(&e.subject, e.purpose, e.at));
            if still {
                writing.push(q);
            } else {
                let _ = q.reply.send(Err(AppError::conflict(
                    "consent changed for a person in this batch while it was checked; nothing was stored, retry the batch",
                )));
            }
        }
    }
    if writing.is_empty() {
        return;
    }
    let today = Timestamp::now().day();
    let mut counts = crate::daily::DayCounts::default();
    let total: usize = writing.iter().map(|q| q.batch.events.len()).sum();
    let mut events = Vec::with_capacity(total);
    let mut insight_rows = Vec::new();
    let mut analytic_people = Vec::new();
    let mut replies = Vec::with_capacity(writing.len());
    let mut arrived = Vec::with_capacity(total);
    for q in writing {
        let Batch {
            events: batch_events,
            insight_rows: rows,
            insight_people: people,
            refused,
        } = q.batch;
        counts.accepted += batch_events.len() as u64;
        for (p, c) in refused {
            *counts.refused_by_purpose.entry(p).or_default() += c;
        }
        let offset = events.len();
        analytic_people.extend(people);
        insight_rows.extend(rows.into_iter().map(|mut r| {
            r.event += offset;
            r
        }));
        arrived.extend(batch_events.iter().map(|e| {
            StoredEvent {
                id: 0,
                subject: e.subject,
                interaction: (e.purpose == Purpose::Personalization)
                    .then(|| {
                        crate::recs_service::interaction_of(
                            e.subject,
                            &e.kind,
                            e.item.as_ref(),
                            e.at,
                        )
                    })
                    .flatten(),
            }
        }));
        events.extend(batch_events);
        replies.push(q.reply);
    }
    // The analytic dataset's copy is made after the commit, from what the
    // write moves into the database.
    let copy = state
        .analytics()
        .filter(|_| !insight_rows.is_empty())
        .map(|a| {
            let purposes: Vec<Purpose> = events.iter().map(|e| e.purpose).collect();
            (a, insight_rows.clone(), purposes)
        });
    let mut ops = vec![
        WriteOp::PutEvents(events),
        WriteOp::PutInsightEvents(insight_rows),
    ];
    ops.extend(crate::daily::add_ops(today, &counts));
    match state.database().apply(WriteSet { ops }).await {
        Ok(stored) => {
            for (e, id) in arrived.iter_mut().zip(&stored.event_ids) {
                e.id = *id;
            }
            state.recs.events_added(&arrived);
            if let Some((analytics, rows, purposes)) = copy {
                analytics.committed(&rows, &analytic_people, &stored.event_ids, &purposes);
            }
            for reply in replies {
                let _ = reply.send(Ok(()));
            }
        }
        Err(e) => {
            let e = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(AppError::internal(&e)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_fits_the_bound_and_never_leaves_the_first_batch_behind() {
        assert_eq!(group_len([].into_iter()), 0);
        assert_eq!(group_len([20; 3].into_iter()), 3);
        assert_eq!(group_len([10_000; 6].into_iter()), 5);
        assert_eq!(group_len([60_000, 1, 1].into_iter()), 1);
        assert_eq!(group_len([1, 60_000, 1].into_iter()), 1);
        assert_eq!(group_len([0, 0, MAX_GROUP_EVENTS, 1].into_iter()), 3);
    }
}
