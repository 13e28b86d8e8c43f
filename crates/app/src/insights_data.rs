//! The data side of partner insights: what ingestion copies out of an event
//! for DP queries, and turning stored facts into the engine's rows with
//! consent applied at query time.
//!
//! Capture happens only for events whose subject had granted
//! `partner_insights` at the event's time; a location cell is kept only if
//! `location` was granted too, and only at the coarsest-released-but-finest
//! allowed resolution ([`MAX_H3_RES`]). At query time a person counts only
//! if they grant `partner_insights` *now* (and `location` for location
//! events): a withdrawal takes effect for every later release.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::{InsightColumns, InsightEventRow, InsightFacts, InsightScan};
use fineline_insights::query::MAX_H3_RES;
use fineline_insights::rows::FoldHasher;
use fineline_insights::{cell_of, Dimension, Filter, GroupKey, KeyValue, Metric, Query, RowSet};
use serde::Deserialize;

use crate::error::AppError;
use crate::state::App;

/// What capture reads of an accepted event.
#[derive(Clone, Copy)]
pub struct EventView<'a> {
    /// The event's own time.
    pub at: Timestamp,
    /// Its type (`view`, `purchase`, `location`...).
    pub kind: &'a EventKind,
    /// The item it is about, if any.
    pub item: Option<&'a ItemId>,
    /// Its properties as JSON text, before sealing.
    pub properties: Option<&'a str>,
}

/// The event kind whose lat/lng become a location cell.
pub const LOCATION_KIND: &str = "location";

/// The few plaintext properties insights read; everything else stays sealed.
#[derive(Deserialize, Default)]
struct Analytic {
    region: Option<String>,
    lat: Option<f64>,
    #[serde(alias = "lon")]
    lng: Option<f64>,
    /// Fixed point (e.g. cents); non-integers are ignored.
    value: Option<serde_json::Value>,
}

/// The analytic row of an accepted event (at `position` among the batch's
/// stored events), if its subject had granted `partner_insights` then.
pub fn capture(
    state: &App,
    subject: &Pseudonym,
    ev: EventView<'_>,
    position: usize,
) -> Option<InsightEventRow> {
    let at = ev.at;
    let (insights, location) = {
        let index = state.consents.read().unwrap();
        (
            index.allowed(subject, Purpose::PartnerInsights, at),
            index.allowed(subject, Purpose::Location, at),
        )
    };
    if !insights {
        return None;
    }
    let props: Analytic = ev
        .properties
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let kind = ev.kind.as_str().to_string();
    let h3_cell = match (kind == LOCATION_KIND && location, props.lat, props.lng) {
        (true, Some(lat), Some(lng)) => cell_of(lat, lng, MAX_H3_RES).ok(),
        _ => None,
    };
    Some(InsightEventRow {
        event: position,
        subject: *subject,
        kind,
        at,
        item: ev.item.cloned(),
        region: props
            .region
            .filter(|r| !r.is_empty() && r.len() <= 64)
            .map(|r| r.to_lowercase()),
        h3_cell,
        value: props.value.and_then(|v| v.as_i64()),
    })
}

/// The database scan for `query`: its filters and the columns its groups need.
/// Count-like metrics are grouped per person in SQL.
pub fn scan_for(query: &Query) -> InsightScan {
    let mut scan = InsightScan {
        kinds: query.event_types.clone(),
        from: Timestamp(i64::MIN),
        to: Timestamp(i64::MAX),
        categories: None,
        regions: None,
        columns: InsightColumns::default(),
        count_cap: match query.metric {
            Metric::Count | Metric::DistinctSubjects | Metric::TopK { .. } => {
                Some(query.bounds.max_rows_per_group)
            }
            _ => None,
        },
    };
    for f in &query.filters {
        match f {
            Filter::TimeRange { from, to } => {
                scan.from = Timestamp(scan.from.0.max(*from));
                scan.to = Timestamp(scan.to.0.min(*to));
            }
            Filter::ItemCategory { any_of } => scan.categories = Some(any_of.clone()),
            Filter::Region { any_of } => {
                scan.regions = Some(any_of.iter().map(|r| r.to_lowercase()).collect())
            }
        }
    }
    for d in &query.group_by {
        match d {
            Dimension::ItemCategory => scan.columns.category = true,
            Dimension::Region => scan.columns.region = true,
            Dimension::Day => scan.columns.day = true,
            Dimension::Hour => scan.columns.hour = true,
            Dimension::H3Cell { .. } => scan.columns.h3_cell = true,
        }
    }
    scan
}

/// The H3 cell containing `cell` at the coarser resolution `res`.
fn parent(cell: u64, res: u8) -> Option<u64> {
    let c = h3o::CellIndex::try_from(cell).ok()?;
    let r = h3o::Resolution::try_from(res).ok()?;
    c.parent(r).map(u64::from)
}

/// A fact's grouping columns (category, region, cell, day, hour); the
/// ones the query does not group by are 0.
type FactKey = (u32, u32, u64, i64, u8);

/// Reads the facts for `query` and turns them into the engine's rows,
/// keeping only people who grant `partner_insights` now (and `location`
/// for location events).
pub async fn load_rows(state: &App, query: &Query) -> Result<RowSet, AppError> {
    let scan = scan_for(query);
    // The heaviest read an analyst makes: a caught-up standby serves it
    // (`crate::standby`); consent is applied below from this process's index.
    let since = state.standby_since().await;
    let reader = state.standby_reader(since).await;
    let facts = match reader.database().insight_facts(scan.clone()).await {
        Err(e) if reader.on_standby() => {
            state.standby_failed(&AppError::internal(&e));
            state.database().insight_facts(scan).await
        }
        facts => facts,
    }
    .map_err(AppError::internal)?;
    let now = Timestamp::now();
    let admitted: Vec<Admitted> = {
        let index = state.consents.read().unwrap();
        facts
            .people
            .iter()
            .map(|p| Admitted {
                insights: index.allowed(p, Purpose::PartnerInsights, now),
                location: index.allowed(p, Purpose::Location, now),
            })
            .collect()
    };
    let query = query.clone();
    tokio::task::spawn_blocking(move || {
        let rows = RowSet::with_capacity(facts.facts.len(), 0);
        rows_from_facts(&facts, &query, rows, &admitted)
    })
    .await
    .map_err(AppError::internal)
}

/// What a person grants at query time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Grants `partner_insights`: their events count at all.
    pub insights: bool,
    /// Grants `location`: their location events count too.
    pub location: bool,
}

/// The engine's rows for `query` from facts read with [`scan_for`]`(query)`,
/// added to `rows` (empty, or with keys registered in a chosen order).
/// `admitted[i]` is what `facts.people[i]` grants now: a fact counts only if
/// its person grants `partner_insights` (and `location` for location
/// events). Consent is decided once per person, not once per event.
pub fn rows_from_facts(
    facts: &InsightFacts,
    query: &Query,
    mut rows: RowSet,
    admitted: &[Admitted],
) -> RowSet {
    let counting = scan_for(query).count_cap.is_some();
    let by_day = query.group_by.contains(&Dimension::Day);
    let by_hour = query.group_by.contains(&Dimension::Hour);
    rows.number_subjects(facts.people.len());
    let mut keys: HashMap<FactKey, Option<u32>, BuildHasherDefault<FoldHasher>> =
        HashMap::default();
    for f in &facts.facts {
        let Some(a) = admitted.get(f.person as usize) else {
            continue;
        };
        if !a.insights || (f.location && !a.location) {
            continue;
        }
        let tuple = (
            f.category,
            f.region,
            f.h3_cell.map_or(0, |c| c.get()),
            if by_day { f.day() } else { 0 },
            if by_hour { f.hour() } else { 0 },
        );
        let key_id = *keys.entry(tuple).or_insert_with(|| {
            let mut key = Vec::with_capacity(query.group_by.len());
            for d in &query.group_by {
                key.push(match d {
                    Dimension::ItemCategory => {
                        KeyValue::ItemCategory(facts.text(f.category)?.to_string())
                    }
                    Dimension::Region => KeyValue::Region(facts.text(f.region)?.to_string()),
                    Dimension::Day => KeyValue::Day(f.day()),
                    Dimension::Hour => KeyValue::Hour(f.hour()),
                    Dimension::H3Cell { res } => KeyValue::H3Cell(parent(f.h3_cell?.get(), *res)?),
                });
            }
            Some(rows.key_id(&GroupKey(key)))
        });
        let Some(key_id) = key_id else { continue };
        if counting {
            for _ in 0..f.count {
                rows.push_ids(f.person, key_id, 0);
            }
        } else {
            rows.push_ids(f.person, key_id, f.value);
        }
    }
    rows
}
