//! Events: what subjects did, with properties sealed under their data key.

use async_trait::async_trait;
use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// An event to store; the database assigns its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Who did it.
    pub subject: Pseudonym,
    /// What was done (`view`, `purchase`, `location`...).
    pub kind: EventKind,
    /// The catalogue item it concerns, if any.
    pub item: Option<ItemId>,
    /// The purpose it was collected for; the retention sweep goes by it.
    pub purpose: Purpose,
    /// When it happened; retention counts from it.
    pub at: Timestamp,
    /// Properties sealed by the vault (never plaintext).
    pub sealed_properties: Vec<u8>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Store-assigned, increasing in insertion order, never reused.
    pub id: i64,
    /// Who did it.
    pub subject: Pseudonym,
    /// What was done.
    pub kind: EventKind,
    /// The catalogue item it concerns, if any.
    pub item: Option<ItemId>,
    /// The purpose it was collected for.
    pub purpose: Purpose,
    /// When it happened.
    pub at: Timestamp,
    /// Properties sealed by the vault; only the subject's data key opens
    /// them.
    pub sealed_properties: Vec<u8>,
}

/// Which events [`EventTables::scan_events`] visits: `from <= at < to`,
/// optionally one purpose only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventScan {
    /// Only events of this purpose; `None`: every purpose.
    pub purpose: Option<Purpose>,
    /// Inclusive lower bound on the event time.
    pub from: Timestamp,
    /// Exclusive upper bound on the event time.
    pub to: Timestamp,
}

impl EventScan {
    /// Every event, of any purpose and time.
    pub fn all() -> Self {
        EventScan {
            purpose: None,
            from: Timestamp(i64::MIN),
            to: Timestamp(i64::MAX),
        }
    }
}

/// Where a paged [`EventTables::scan_events`] goes on from. Opaque: the
/// embedded store pages through its person-clustered table in key order,
/// then each of its recent tables by id; PostgreSQL pages by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    /// The embedded store's table: 0 the clustered one, n + 1 recent n.
    pub(crate) part: u8,
    /// The embedded store's person key of the last row (0 elsewhere).
    pub(crate) key: i64,
    /// The last row's id.
    pub(crate) id: i64,
}

/// One page of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// The matching events of this page.
    pub rows: Vec<EventRow>,
    /// Where the next page starts; `None` once the scan is complete.
    pub next: Option<EventCursor>,
}

/// Subjects' events: reads, paged scans, retention sweeps and deletes.
#[async_trait]
pub trait EventTables: WriteTables {
    /// A subject's events, ordered by id.
    async fn events_for(&self, subject: &Pseudonym) -> Result<Vec<EventRow>>;

    /// One page of at most `limit` matching events, from the start
    /// (`after: None`) or from where the page before ended (its `next`),
    /// in an order the store keeps from page to page: each event stored
    /// before the scan began is seen once. Loop until `next` is `None`.
    async fn scan_events(
        &self,
        scan: EventScan,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<EventPage>;

    /// Number of stored events, all subjects and purposes.
    async fn count_events(&self) -> Result<u64>;

    /// Retention sweep: deletes events of `purpose` with `at < cutoff`;
    /// returns how many were deleted. Not one transaction on the embedded
    /// database (a window of ids at a time): after a crash the next sweep
    /// finishes the deletion.
    async fn delete_events_before(&self, purpose: Purpose, cutoff: Timestamp) -> Result<u64>;

    /// Stores events in one transaction; returns their ids in input order.
    async fn put_events(&self, events: Vec<NewEvent>) -> Result<Vec<i64>> {
        let out = self
            .apply(WriteSet::from(WriteOp::PutEvents(events)))
            .await?;
        Ok(out.event_ids)
    }

    /// Deletes one event of a subject; false if there was no such event.
    async fn delete_event(&self, subject: &Pseudonym, id: i64) -> Result<bool> {
        let op = WriteOp::DeleteEvent {
            subject: *subject,
            id,
        };
        let out = self.apply(WriteSet::from(op)).await?;
        Ok(out.rows_deleted > 0)
    }
}
