//! Partner insights: plaintext analytic columns of consented events, and
//! analysts' privacy budgets.
//!
//! Event properties are sealed per person, so differentially private
//! queries cannot read them. At ingestion the server copies the few columns
//! insights need (region, a coarse H3 cell, a fixed-point value) into
//! `insight_events` (PostgreSQL) or `insight_rows` (SQLite: people and texts
//! numbered, integers only), only for events whose subject had granted
//! `partner_insights`. Each row hangs off its event by foreign key with
//! `ON DELETE CASCADE`, so deleting an event, erasing a person or a
//! retention sweep removes the copy in the same transaction. SQLite's
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
    pub event: usize,
    pub subject: Pseudonym,
    pub kind: String,
    pub at: Timestamp,
    pub item: Option<ItemId>,
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
    pub category: bool,
    pub region: bool,
    pub h3_cell: bool,
    pub day: bool,
    pub hour: bool,
}

/// What [`InsightTables::insight_facts`] reads: events of `kinds` with
/// `from <= at < to`, optionally only some categories / regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightScan {
    pub kinds: Vec<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub categories: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    pub columns: InsightColumns,
    /// `Some(cap)`: counting only, so the store may group by person and key
    /// and return `min(count, cap)` per group (the engine bounds again); a
    /// backend where grouping costs more than it saves returns one fact per
    /// event instead.
    /// `None`: one fact per event, with its value.
    pub count_cap: Option<u32>,
}

/// Index into [`InsightFacts::dict`]; [`NO_TEXT`] when absent.
pub type TextId = u32;
pub const NO_TEXT: TextId = u32::MAX;

/// One event (or, when counting, one capped group of a person's events).
/// Kept small (48 bytes): a 10M-event query holds one per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsightFact {
    /// Index into [`InsightFacts::people`].
    pub person: u32,
    pub category: TextId,
    pub region: TextId,
    /// How many events this fact stands for (1 per event when not counting).
    pub count: u32,
    pub value: i64,
    /// When the event happened (ms); set to the day and hour when those
    /// columns were asked for, else unspecified.
    pub at: Timestamp,
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
    pub dict: Vec<String>,
    /// Each person once; facts name them by index, so a caller checks
    /// consent once per person rather than once per event.
    pub people: Vec<Pseudonym>,
    pub facts: Vec<InsightFact>,
}

impl InsightFacts {
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
    pub nano_rho: u64,
    pub femto_delta: u64,
}

/// One analyst's budget for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetRow {
    pub analyst: String,
    pub period: String,
    pub total: BudgetAmount,
    pub spent: BudgetAmount,
}

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
