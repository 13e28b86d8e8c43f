//! fineline's storage: the [`Store`] trait and its two backends.
//!
//! The store keeps bytes it cannot read: subjects appear only as
//! pseudonyms, event properties only sealed under the subject's data key.
//! Every write goes through [`WriteStore::apply`] with a [`WriteSet`] that
//! lands in one transaction, durably, or not at all. Per-person tables are
//! keyed by pseudonym first so a distributed PostgreSQL can shard by it.
//!
//! # API summary
//! [`Store`] is the sum of the area traits [`WriteStore`], [`ConsentStore`],
//! [`EventStore`], [`SubjectStore`], [`CatalogStore`], [`LedgerStore`] and
//! [`SettingsStore`]; use it as `Arc<dyn Store>` with
//! `use fineline_store::prelude::*;` in scope.
//!
//! - write: `apply(WriteSet) -> Result<WriteOutcome>`; ops in [`WriteOp`]
//!   (PutLegacySubjectKeys, DropLegacySubjectKeys, PutPolicy, PutConsent, PutEvents, DeleteEvent,
//!   AppendLedger, PutTreeHead, EraseSubject, PutItem, PutInterest,
//!   RemoveInterest, PutSetting). `WriteOutcome { event_ids, rows_deleted }`.
//! - consent: `policies()`, `consents_for(&subject)`, `consents_page(after, limit)`,
//!   `all_consents()`, `put_policy(version, published_at, body)`.
//! - events: `events_for(&subject)`, `scan_events(EventScan, after_id, limit)`,
//!   `count_events()`, `delete_events_before(purpose, cutoff) -> u64`,
//!   `put_events(Vec<NewEvent>) -> Vec<i64>`, `delete_event(&subject, id) -> bool`.
//! - subjects: `legacy_subject_keys()`: key rows an earlier version kept here
//!   (per-person keys now live in the vault's key store, not the data store).
//! - catalog: `item(&id)`, `items()`, `put_item(row)`, `interests_for(&subject)`,
//!   `put_interest(row)`, `remove_interest(&subject, category)`.
//! - ledger: `ledger_leaves() -> Vec<(u64, [u8; 32])>`, `ledger_entry(i)`,
//!   `ledger_size()`, `latest_tree_head() -> Option<(u64, Vec<u8>)>`.
//! - settings: `setting(name)`, `put_setting(name, bytes)`.
//! - footfall: `footfall_stores()`, `visit_sessions(store_id, from, to)`,
//!   `visit_sessions_of(&device)`, `device_opt_outs()`; ops PutFootfallStore,
//!   PutVisitSessions, DeleteDeviceSessions, DeleteVisitSessionsBefore, PutDeviceOptOut.
//! - insights: `insight_facts(InsightScan) -> InsightFacts` (consented events'
//!   analytic columns, filtered and optionally grouped per person in SQL),
//!   `insight_budget(analyst, period)`; ops PutInsightEvents, SetInsightBudget,
//!   ChargeInsightBudget (fails the write set with `StoreError::Refused` when it
//!   would overspend).
//! - backends: [`SqliteStore::open(path)`](SqliteStore::open),
//!   [`PostgresStore::connect(url)`](PostgresStore::connect),
//!   [`PostgresStore::open_isolated(url)`](PostgresStore::open_isolated) (fresh schema, for tests).
//!
//! Adding an area: a new file with its row types and an area trait
//! (`trait FooStore: WriteStore`), impls in `sqlite/` and `postgres/`, new
//! ops in [`WriteOp`], a migration in each backend, and the trait added to
//! [`Store`]'s bounds.

mod consent;
mod error;
mod events;
mod footfall;
mod insights;
mod insights_sql;
mod items;
mod ledger;
mod postgres;
mod rows;
mod settings;
mod sqlite;
mod subjects;
mod write;

pub use consent::{ConsentCursor, ConsentRow, ConsentStore, PolicyRow};
pub use error::{Result, StoreError};
pub use events::{EventRow, EventScan, EventStore, NewEvent};
pub use footfall::{FootfallStore, FootfallStoreRow, VisitSessionRow};
pub use insights::{
    BudgetAmount, BudgetRow, InsightColumns, InsightEventRow, InsightFact, InsightFacts,
    InsightScan, InsightStore, TextId, NO_TEXT,
};
pub use items::{CatalogStore, InterestRow, ItemRow};
pub use ledger::LedgerStore;
pub use postgres::PostgresStore;
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;
pub use subjects::{LegacyKeyRow, SubjectStore};
pub use write::{WriteOp, WriteOutcome, WriteSet, WriteStore};

/// Everything fineline keeps. Implemented by every type that implements all
/// area traits.
pub trait Store:
    WriteStore
    + ConsentStore
    + EventStore
    + SubjectStore
    + CatalogStore
    + LedgerStore
    + SettingsStore
    + FootfallStore
    + InsightStore
{
}

impl<T> Store for T where
    T: WriteStore
        + ConsentStore
        + EventStore
        + SubjectStore
        + CatalogStore
        + LedgerStore
        + SettingsStore
        + FootfallStore
        + InsightStore
{
}

/// The traits whose methods callers use through `Arc<dyn Store>`.
pub mod prelude {
    pub use crate::{
        CatalogStore, ConsentStore, EventStore, FootfallStore, InsightStore, LedgerStore,
        SettingsStore, Store, SubjectStore, WriteStore,
    };
}
