//! Partner insights: plaintext analytic columns of consented events, and
//! analysts' privacy budgets.
//!
//! Event properties are sealed per person, so differentially private
//! queries cannot read them. At ingestion the server copies the few columns
//! insights need (region, a coarse H3 cell, a fixed-point value) into
//! `insight_events` (PostgreSQL) or `insight_rows` (SQLite: people and texts
//! numbered, integers only), only for events whose subject had granted
//! `partner_insights`. Each row goes with its event (PostgreSQL: a foreign
//! key with `ON DELETE CASCADE`; SQLite: a trigger on `events`, whose
//! person-clustered key has no id index to hang a foreign key on), so
//! deleting an event, erasing a person or a retention sweep removes the
//! copy in the same transaction. SQLite's
//! numbered texts (kinds, items, regions) go in that transaction too, with
//! the last row naming them: no dimension value outlives its rows.
//!
//! Budgets are integers (nano-ρ, femto-δ). [`WriteOp::ChargeInsightBudget`]
//! is a conditional update (`spent + cost <= total`) inside the caller's
//! write set: a charge that would overspend fails the whole transaction
//! with [`crate::DatabaseError::Refused`], so concurrent charges cannot
//! overspend and no release is recorded without its charge.

use async_trait::async_trait;
use std::num::NonZeroU64;

use fineline_core::{ItemId, Pseudonym, Timestamp};

use crate::{Result, WriteTables};

/// Analytic columns of one event written in the same write set. `event` is
/// the position of the event among the ids this write set has produced so
/// far ([`crate::WriteOutcome::event_ids`]), so the op must follow the
/// `PutEvents` that inserts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightEventRow {
    /// Position of the event in this write set's `event_ids` (see above).
    pub event: usize,
    /// The event's subject, so consent can be checked again at query time.
    pub subject: Pseudonym,
    /// The event kind's text.
    pub kind: String,
    /// The event time.
    pub at: Timestamp,
    /// The event's item; queries reach its category through it.
    pub item: Option<ItemId>,
    /// The region from the event's properties, if it had one.
    pub region: Option<String>,
    /// H3 cell at the finest released resolution; set only for location
    /// events whose subject had granted `location` too.
    pub h3_cell: Option<u64>,
    /// Fixed-point value (e.g. cents) for sums and means.
    pub value: Option<i64>,
}

/// Which columns a query groups by; only those are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsightColumns {
    /// The item's category (events without an item have none).
    pub category: bool,
    /// The event's region.
    pub region: bool,
    /// The event's H3 cell.
    pub h3_cell: bool,
    /// The UTC day of the event.
    pub day: bool,
    /// The UTC hour of day of the event.
    pub hour: bool,
}

/// What [`InsightTables::insight_facts`] reads: events of `kinds` with
/// `from <= at < to`, optionally only some categories / regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightScan {
    /// Event kinds to read.
    pub kinds: Vec<String>,
    /// Inclusive lower bound on the event time.
    pub from: Timestamp,
    /// Exclusive upper bound on the event time.
    pub to: Timestamp,
    /// Only events whose item is in one of these categories; `None`: any.
    pub categories: Option<Vec<String>>,
    /// Only events from one of these regions; `None`: any.
    pub regions: Option<Vec<String>>,
    /// The columns the query groups by; the others are left unset.
    pub columns: InsightColumns,
    /// `Some(cap)`: counting only, so the database may group by person and key
    /// and return `min(count, cap)` per group (the engine bounds again); a
    /// backend where grouping costs more than it saves returns one fact per
    /// event instead.
    /// `None`: one fact per event, with its value.
    pub count_cap: Option<u32>,
}

/// Index into [`InsightFacts::dict`]; [`NO_TEXT`] when absent.
pub type TextId = u32;
/// The [`TextId`] of an absent text (no category, no region, or a column
/// not asked for).
pub const NO_TEXT: TextId = u32::MAX;

/// One event (or, when counting, one capped group of a person's events).
/// Kept small (48 bytes): a 10M-event query holds one per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsightFact {
    /// Index into [`InsightFacts::people`].
    pub person: u32,
    /// The item's category, or [`NO_TEXT`].
    pub category: TextId,
    /// The event's region, or [`NO_TEXT`].
    pub region: TextId,
    /// How many events this fact stands for (1 per event when not counting).
    pub count: u32,
    /// The event's fixed-point value; 0 when it had none.
    pub value: i64,
    /// When the event happened (ms); set to the day and hour when those
    /// columns were asked for, else unspecified.
    pub at: Timestamp,
    /// The event's H3 cell, when asked for and present.
    pub h3_cell: Option<NonZeroU64>,
    /// A location event: its subject must still grant `location`.
    pub location: bool,
}

impl InsightFact {
    /// Days since the epoch (UTC).
    pub fn day(&self) -> i64 {
        self.at.0.div_euclid(DAY_MS)
    }

    /// Hour of day (UTC).
    pub fn hour(&self) -> u8 {
        (self.at.0.rem_euclid(DAY_MS) / HOUR_MS) as u8
    }
}

/// Facts in no particular order, with their people numbered and their
/// category and region texts interned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InsightFacts {
    /// Category and region texts, indexed by [`TextId`].
    pub dict: Vec<String>,
    /// Each person once; facts name them by index, so a caller checks
    /// consent once per person rather than once per event.
    pub people: Vec<Pseudonym>,
    /// One per event, or per capped group of a person's events when
    /// counting.
    pub facts: Vec<InsightFact>,
}

impl InsightFacts {
    /// The text behind `id`; `None` for [`NO_TEXT`].
    pub fn text(&self, id: TextId) -> Option<&str> {
        self.dict.get(id as usize).map(String::as_str)
    }

    /// The person a fact is about.
    pub fn subject(&self, fact: &InsightFact) -> &Pseudonym {
        &self.people[fact.person as usize]
    }
}

/// An amount of privacy budget in integer units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetAmount {
    /// zCDP ρ in units of 10⁻⁹.
    pub nano_rho: u64,
    /// δ in units of 10⁻¹⁵.
    pub femto_delta: u64,
}

/// One analyst's budget for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    /// The analyst's budget id (`a_` and their API key's id).
    pub analyst: String,
    /// The budget period (the app uses the UTC month, `YYYY-MM`).
    pub period: String,
    /// What the analyst may spend in the period.
    pub total: BudgetAmount,
    /// Charged so far; a total lowered later may leave it above `total`.
    pub spent: BudgetAmount,
}

/// Analytic rows for partner insights and analysts' privacy budgets.
#[async_trait]
pub trait InsightTables: WriteTables {
    /// Facts matching `scan`, in no particular order.
    async fn insight_facts(&self, scan: InsightScan) -> Result<InsightFacts>;

    /// An analyst's budget row for a period, if one was set or charged.
    async fn insight_budget(&self, analyst: &str, period: &str) -> Result<Option<BudgetRow>>;

    /// Brings up to date what the backend keeps in memory for
    /// [`Self::insight_facts`], so that the next query does not pay for it.
    async fn prepare_insight_facts(&self) -> Result<()> {
        Ok(())
    }
}

/// Interns texts while a backend reads rows.
#[derive(Default)]
pub(crate) struct Interner {
    ids: std::collections::HashMap<String, TextId>,
    pub(crate) dict: Vec<String>,
}

impl Interner {
    pub(crate) fn id(&mut self, s: Option<&str>) -> TextId {
        let Some(s) = s else { return NO_TEXT };
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.dict.len() as TextId;
        self.ids.insert(s.to_string(), id);
        self.dict.push(s.to_string());
        id
    }
}

pub(crate) const DAY_MS: i64 = 86_400_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Numbers people in the order a backend first meets them.
#[derive(Default)]
pub(crate) struct People {
    ids: std::collections::HashMap<Pseudonym, u32>,
    pub(crate) list: Vec<Pseudonym>,
}

impl People {
    pub(crate) fn id(&mut self, p: Pseudonym) -> u32 {
        let next = self.list.len() as u32;
        *self.ids.entry(p).or_insert_with(|| {
            self.list.push(p);
            next
        })
    }
}
