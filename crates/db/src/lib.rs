//! fineline's storage: the [`Database`] trait and its two backends.
//!
//! The database keeps bytes it cannot read: subjects appear only as
//! pseudonyms, event properties only sealed under the subject's data key.
//! Every write goes through [`WriteTables::apply`] with a [`WriteSet`] that
//! lands in one transaction, durably, or not at all. Per-person tables are
//! keyed by pseudonym first so a distributed PostgreSQL can shard by it.
//!
//! # API summary
//! [`Database`] is the sum of the area traits [`WriteTables`], [`ConsentTables`],
//! [`EventTables`], [`SubjectTables`], [`CatalogTables`], [`LedgerTables`] and
//! [`SettingsTable`]; use it as `Arc<dyn Database>` with
//! `use fineline_db::prelude::*;` in scope.
//!
//! - write: `apply(WriteSet) -> Result<WriteOutcome>`; ops in [`WriteOp`]
//!   (PutLegacySubjectKeys, DropLegacySubjectKeys, PutPolicy, PutConsent, PutEvents, DeleteEvent,
//!   AppendLedger, PutTreeHead, EraseSubject, PutItem, PutInterest,
//!   RemoveInterest, PutSetting, DeleteSetting, ...). `WriteOutcome { event_ids, rows_deleted }`.
//! - consent: `policies()`, `consents_for(&subject)`, `consents_page(after, limit)`,
//!   `all_consents()`, `put_policy(version, published_at, body)`.
//! - events: `events_for(&subject)`, `scan_events(EventScan, after, limit) -> EventPage`,
//!   `count_events()`, `delete_events_before(purpose, cutoff) -> u64`,
//!   `put_events(Vec<NewEvent>) -> Vec<i64>`, `delete_event(&subject, id) -> bool`.
//! - subjects: `legacy_subject_keys()`: key rows an earlier version kept here
//!   (per-person keys now live in the vault's key store, not the data store).
//! - catalog: `item(&id)`, `items()`, `put_item(row)`, `interests_for(&subject)`,
//!   `put_interest(row)`, `remove_interest(&subject, category)`.
//! - ledger: `ledger_leaves() -> Vec<(u64, [u8; 32])>`, `ledger_leaves_from(i)`,
//!   `ledger_entry(i)`, `ledger_size()`, `latest_tree_head() -> Option<(u64, Vec<u8>)>`.
//! - replicas: `shared()`, `change_notes_from(i)`, `change_notes_pruned_below()`,
//!   `lead()`, `resign()`, `ledger_turn() -> LedgerTurn`,
//!   `wal_position() -> Option<WalPosition>`; ops NoteChange, PruneChangeNotes.
//! - settings: `setting(name)`, `put_setting(name, bytes)`.
//! - footfall: `footfall_stores()`, `visit_sessions(store_id, from, to)`,
//!   `visit_sessions_of(&device)`, `device_opt_outs()`; ops PutFootfallStore,
//!   PutVisitSessions, DeleteDeviceSessions, DeleteVisitSessionsBefore, PutDeviceOptOut.
//! - insights: `insight_facts(InsightScan) -> InsightFacts` (consented events'
//!   analytic columns, filtered and optionally grouped per person in SQL),
//!   `insight_budget(analyst, period)`; ops PutInsightEvents, SetInsightBudget,
//!   ChargeInsightBudget (fails the write set with `DatabaseError::Refused` when it
//!   would overspend).
//! - backends: [`SqliteDatabase::open(path)`](SqliteDatabase::open),
//!   [`PostgresDatabase::connect(url)`](PostgresDatabase::connect),
//!   [`PostgresDatabase::open_isolated(url)`](PostgresDatabase::open_isolated) (fresh schema, for tests),
//!   [`PostgresDatabase::standby(url)`](PostgresDatabase::standby) (a read-only
//!   handle on a hot standby of the same database).
//!
//! Adding an area: a new file with its row types and an area trait
//! (`trait FooStore: WriteTables`), impls in `sqlite/` and `postgres/`, new
//! ops in [`WriteOp`], a migration in each backend, and the trait added to
//! [`Database`]'s bounds.
#![deny(missing_docs)]

mod consent;
mod error;
mod events;
mod footfall;
mod insights;
mod insights_sql;
mod items;
mod ledger;
mod postgres;
mod replicas;
mod rows;
mod settings;
mod sqlite;
mod subjects;
mod write;

pub use consent::{ConsentCursor, ConsentRow, ConsentTables, PolicyRow};
pub use error::{DatabaseError, Result};
pub use events::{EventCursor, EventPage, EventRow, EventScan, EventTables, NewEvent};
pub use footfall::{FootfallStoreRow, FootfallTables, VisitSessionRow};
pub use insights::{
    BudgetAmount, BudgetRow, InsightColumns, InsightEventRow, InsightFact, InsightFacts,
    InsightScan, InsightTables, TextId, NO_TEXT,
};
pub use items::{CatalogTables, InterestRow, ItemRow};
pub use ledger::LedgerTables;
pub use postgres::PostgresDatabase;
pub use replicas::{ChangeKind, ChangeNote, LedgerTurn, ReplicaTables, WalPosition};
pub use settings::{DayCount, SettingsTable};
pub use sqlite::SqliteDatabase;
pub use subjects::{LegacyKeyRow, SubjectTables};
pub use write::{WriteOp, WriteOutcome, WriteSet, WriteTables};

/// Everything fineline keeps. Implemented by every type that implements all
/// area traits.
pub trait Database:
    WriteTables
    + ConsentTables
    + EventTables
    + SubjectTables
    + CatalogTables
    + LedgerTables
    + SettingsTable
    + FootfallTables
    + InsightTables
    + ReplicaTables
{
}

impl<T> Database for T where
    T: WriteTables
        + ConsentTables
        + EventTables
        + SubjectTables
        + CatalogTables
        + LedgerTables
        + SettingsTable
        + FootfallTables
        + InsightTables
        + ReplicaTables
{
}

/// The traits whose methods callers use through `Arc<dyn Database>`.
pub mod prelude {
    pub use crate::{
        CatalogTables, ConsentTables, Database, EventTables, FootfallTables, InsightTables,
        LedgerTables, ReplicaTables, SettingsTable, SubjectTables, WriteTables,
    };
}
