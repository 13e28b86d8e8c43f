//! The analytic row: what one consented event contributes, in numbers only.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::dictionary::Dictionary;
use crate::Result;

/// Milliseconds in a day (UTC).
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// What ingestion hands over for one consented event: texts still as the
/// business sent them, coded by [`crate::AnalyticDataset::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The person's pseudonymous number (fineline keeps its link to the
    /// pseudonym; unlinking it is the first step of an erasure).
    pub person: u64,
    /// When the event happened, ms since the Unix epoch.
    pub at: i64,
    /// The event's id in the database: a correction that deletes the
    /// event retracts this row ([`crate::Marks`]).
    pub event: i64,
    /// The purpose the event was sent under: a retention sweep of that
    /// purpose expires the row.
    pub purpose: String,
    /// Event type (`app_open`, `purchase`, `location`...).
    pub kind: String,
    /// The event's catalogue item, if any: its category is looked up at
    /// query time ([`crate::Catalogue`]), so a re-categorised item counts
    /// under its category now, as in the database.
    pub item: Option<String>,
    /// Region the business's systems sent (lowercased by capture).
    pub region: Option<String>,
    /// H3 cell at the finest released resolution, for location events whose
    /// subject had granted `location`.
    pub h3_cell: Option<u64>,
    /// A location event: its person must still grant `location` at query time.
    pub location: bool,
    /// Fixed-point value (e.g. cents) for sums, means and histograms.
    pub value: Option<i64>,
}

/// A row as stored: codes in place of texts, and a random salt that orders
/// a person's rows when bounding samples them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyticRow {
    /// Pseudonymous person number.
    pub person: u64,
    /// Event time, ms since the epoch.
    pub at: i64,
    /// The event's id.
    pub event: i64,
    /// Dictionary code of the purpose.
    pub purpose: u32,
    /// Dictionary code of the event type.
    pub kind: u32,
    /// Dictionary code of the item.
    pub item: Option<u32>,
    /// Dictionary code of the region.
    pub region: Option<u32>,
    /// H3 cell.
    pub h3_cell: Option<u64>,
    /// A location event.
    pub location: bool,
    /// Fixed-point value.
    pub value: Option<i64>,
    /// Uniform random bits, drawn at capture.
    pub salt: u64,
}

impl AnalyticRow {
    /// Codes `c`'s texts in `dict`.
    pub fn code(c: &Capture, dict: &mut Dictionary, salt: u64) -> Self {
        AnalyticRow {
            person: c.person,
            at: c.at,
            event: c.event,
            purpose: dict.code(&c.purpose),
            kind: dict.code(&c.kind),
            item: c.item.as_deref().map(|t| dict.code(t)),
            region: c.region.as_deref().map(|t| dict.code(t)),
            h3_cell: c.h3_cell,
            location: c.location,
            value: c.value,
            salt,
        }
    }

    /// Days since the epoch (UTC): the partition.
    pub fn day(&self) -> i64 {
        self.at.div_euclid(DAY_MS)
    }
}

/// The Parquet schema every partition file has.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("person", DataType::UInt64, false),
        Field::new("at", DataType::Int64, false),
        Field::new("day", DataType::Int64, false),
        Field::new("event", DataType::Int64, false),
        Field::new("purpose", DataType::UInt32, false),
        Field::new("kind", DataType::UInt32, false),
        Field::new("item", DataType::UInt32, true),
        Field::new("region", DataType::UInt32, true),
        Field::new("h3_cell", DataType::UInt64, true),
        Field::new("location", DataType::Boolean, false),
        Field::new("value", DataType::Int64, true),
        Field::new("salt", DataType::UInt64, false),
    ]))
}

/// Rows as one Arrow batch in [`schema`].
pub(crate) fn to_batch(rows: &[AnalyticRow]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.person))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.at))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.day()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.event))),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.purpose),
        )),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.kind))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.item))),
        Arc::new(UInt32Array::from_iter(rows.iter().map(|r| r.region))),
        Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.h3_cell))),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.location)),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.value))),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.salt))),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}
