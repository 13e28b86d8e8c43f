//! The insights scan on SQLite: `insight_rows` read in time slices on
//! parallel reader connections, integers only.
//!
//! Texts (kinds, items, regions) and people are numbered once at ingestion,
//! so a scan steps over integer columns, looks categories and regions up
//! in small arrays and names each person by number; pseudonyms are read
//! once per person afterwards. Filters on category and region are array
//! lookups here rather than SQL joins.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use fineline_core::{Pseudonym, Timestamp};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::SqliteDatabase;
use crate::insights::{Interner, HOUR_MS};
use crate::{DatabaseError, InsightFact, InsightFacts, InsightScan, Result, NO_TEXT};

/// The event kind whose rows need `location` consent too.
const LOCATION_KIND: &str = "location";

/// Upper bound of the scan's memory map (SQLite caps it at its compiled
/// maximum, 2 GiB by default); address space only, pages stay the OS's.
const SCAN_MMAP_BYTES: i64 = 1 << 36;

/// Time slices scanned at once, each on its own reader connection.
pub(super) fn slices() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// Maps the file for a scan rather than pread each page through the page
/// cache (a syscall, a copy and a mutex per page): a scan touches every
/// page of its range once.
pub(super) fn map_file(c: &Connection) -> Result<()> {
    c.pragma_update(None, "mmap_size", SCAN_MMAP_BYTES)?;
    Ok(())
}

/// What a slice scan needs, resolved once from the small tables.
pub(super) struct Plan {
    kinds: Vec<i64>,
    location_kind: Option<i64>,
    pub(super) dict: Vec<String>,
    /// By item text id: the item's category (an id into `dict`), or
    /// [`NO_TEXT`] when the row is filtered out by it.
    category_of: Vec<u32>,
    /// By region text id: its id in `dict`, or [`NO_TEXT`] when filtered out.
    region_of: Vec<u32>,
    /// Whether category / region decide the row (grouped or filtered):
    /// then a row without one belongs to no group.
    need_category: bool,
    need_region: bool,
    need_cell: bool,
    need_at: bool,
    need_value: bool,
}

pub(super) fn int(v: ValueRef<'_>) -> Result<Option<i64>> {
    match v {
        ValueRef::Integer(i) => Ok(Some(i)),
        ValueRef::Null => Ok(None),
        other => Err(DatabaseError::Corrupt(format!(
            "insight_rows holds a {:?} where an integer belongs",
            other.data_type()
        ))),
    }
}

fn slot(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl Plan {
    pub(super) fn load(c: &Connection, scan: &InsightScan) -> Result<Option<Plan>> {
        let mut texts: Vec<Option<String>> = Vec::new();
        let mut ids: HashMap<String, i64> = HashMap::new();
        {
            let mut stmt = c.prepare("SELECT id, text FROM insight_texts")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let (id, text): (i64, String) = (r.get(0)?, r.get(1)?);
                let i = slot(id);
                if i >= texts.len() {
                    texts.resize(i + 1, None);
                }
                texts[i] = Some(text.clone());
                ids.insert(text, id);
            }
        }
        let mut kinds: Vec<i64> = scan
            .kinds
            .iter()
            .filter_map(|k| ids.get(k).copied())
            .collect();
        // A kind named twice is still read once.
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.is_empty() {
            return Ok(None);
        }
        let categories: HashMap<String, String> = c
            .prepare("SELECT item, category FROM items")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let c_on = scan.columns;
        let mut dict = Interner::default();
        let category_of = texts
            .iter()
            .map(|t| {
                let cat = t.as_ref().and_then(|t| categories.get(t));
                match (cat, &scan.categories) {
                    (Some(cat), Some(any)) if !any.contains(cat) => NO_TEXT,
                    (Some(cat), _) => dict.id(Some(cat)),
                    (None, _) => NO_TEXT,
                }
            })
            .collect();
        let region_of = texts
            .iter()
            .map(|t| match (t, &scan.regions) {
                (Some(r), Some(any)) if !any.contains(r) => NO_TEXT,
                (Some(r), _) => dict.id(Some(r)),
                (None, _) => NO_TEXT,
            })
            .collect();
        let location_kind = ids
            .get(LOCATION_KIND)
            .copied()
            .filter(|k| kinds.contains(k));
        Ok(Some(Plan {
            kinds,
            location_kind,
            dict: dict.dict,
            category_of,
            region_of,
            need_category: c_on.category || scan.categories.is_some(),
            need_region: c_on.region || scan.regions.is_some(),
            need_cell: c_on.h3_cell,
            need_at: c_on.day || c_on.hour,
            need_value: scan.count_cap.is_none(),
        }))
    }

    fn kinds_sql(&self) -> String {
        let ids: Vec<String> = self.kinds.iter().map(i64::to_string).collect();
        format!("kind IN ({})", ids.join(", "))
    }

    /// `[from, to)` cut into up to `n` slices of equal time over the span
    /// that holds rows (events arrive at a steady-ish rate, so equal time
    /// is near enough equal work).
    fn slices(&self, c: &Connection, from: i64, to: i64, n: usize) -> Result<Vec<(i64, i64)>> {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for k in &self.kinds {
            let first: Option<i64> = c
                .prepare_cached(
                    "SELECT at FROM insight_rows WHERE kind = ?1 AND at >= ?2 AND at < ?3
                     ORDER BY at LIMIT 1",
                )?
                .query_row(params![k, from, to], |r| r.get(0))
                .optional()?;
            let last: Option<i64> = c
                .prepare_cached(
                    "SELECT at FROM insight_rows WHERE kind = ?1 AND at >= ?2 AND at < ?3
                     ORDER BY at DESC LIMIT 1",
                )?
                .query_row(params![k, from, to], |r| r.get(0))
                .optional()?;
            if let (Some(a), Some(b)) = (first, last) {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        if lo > hi {
            return Ok(Vec::new());
        }
        let span = (hi as i128 - lo as i128 + 1).max(1);
        let n = (n as i128).min(span);
        let cut = |i: i128| (lo as i128 + span * i / n) as i64;
        Ok((0..n).map(|i| (cut(i), cut(i + 1))).collect())
    }

    /// Facts of `[from, to)` with people by their `insight_people` id.
    fn read(&self, c: &Connection, from: i64, to: i64) -> Result<Vec<InsightFact>> {
        let mut cols = vec!["person"];
        let mut at = |on: bool, name: &'static str| -> Option<usize> {
            on.then(|| {
                cols.push(name);
                cols.len() - 1
            })
        };
        let kind_col = at(self.location_kind.is_some(), "kind");
        let item_col = at(self.need_category, "item");
        let region_col = at(self.need_region, "region");
        let cell_col = at(self.need_cell, "h3_cell");
        let at_col = at(self.need_at, "at");
        let value_col = at(self.need_value, "value");
        let mut sql = format!(
            "SELECT {} FROM insight_rows WHERE {} AND at >= ?1 AND at < ?2",
            cols.join(", "),
            self.kinds_sql()
        );
        if self.need_cell {
            sql.push_str(" AND h3_cell IS NOT NULL");
        }
        map_file(c)?;
        let mut stmt = c.prepare(&sql)?;
        let mut rows = stmt.query(params![from, to])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let get = |i: Option<usize>| match i {
                Some(i) => int(r.get_ref(i)?),
                None => Ok(None),
            };
            let person = get(Some(0))?.unwrap_or(-1);
            let raw = RawRow {
                kind: get(kind_col)?.unwrap_or(0),
                at: get(at_col)?.unwrap_or(0),
                person: u32::try_from(person)
                    .map_err(|_| DatabaseError::Corrupt(format!("insight person {person}")))?,
                item: get(item_col)?,
                region: get(region_col)?,
                cell: get(cell_col)?,
                value: get(value_col)?,
            };
            out.extend(self.fact(&raw));
        }
        Ok(out)
    }

    /// The fact `row` contributes, or `None` when the filters leave it out.
    /// Columns the plan does not need may be `None` in `row`.
    pub(super) fn fact(&self, row: &RawRow) -> Option<InsightFact> {
        let lookup = |table: &[u32], v: Option<i64>| match v {
            Some(id) => table.get(slot(id)).copied().unwrap_or(NO_TEXT),
            None => NO_TEXT,
        };
        let category = match self.need_category {
            true => lookup(&self.category_of, row.item),
            false => NO_TEXT,
        };
        let region = match self.need_region {
            true => lookup(&self.region_of, row.region),
            false => NO_TEXT,
        };
        let h3_cell = row.cell.and_then(|c| NonZeroU64::new(c as u64));
        if (self.need_category && category == NO_TEXT)
            || (self.need_region && region == NO_TEXT)
            || (self.need_cell && h3_cell.is_none())
        {
            return None;
        }
        Some(InsightFact {
            person: row.person,
            category,
            region,
            count: 1,
            value: if self.need_value {
                row.value.unwrap_or(0)
            } else {
                0
            },
            // Only the day and hour are asked for: keep no finer time.
            at: match self.need_at {
                true => Timestamp(row.at.div_euclid(HOUR_MS) * HOUR_MS),
                false => Timestamp(0),
            },
            h3_cell: if self.need_cell { h3_cell } else { None },
            location: self.location_kind.is_some_and(|k| k == row.kind),
        })
    }

    pub(super) fn kinds(&self) -> &[i64] {
        &self.kinds
    }
}

/// One `insight_rows` row as integers; texts by their `insight_texts` id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawRow {
    pub kind: i64,
    pub at: i64,
    pub person: u32,
    pub item: Option<i64>,
    pub region: Option<i64>,
    pub cell: Option<i64>,
    pub value: Option<i64>,
}

/// Pseudonyms of the numbered people in `wanted` (ascending; `seen[id]`
/// says the same), in id order: by point lookups when few, else one pass
/// over the table. An id that is gone was erased after its rows were read.
fn people(c: &Connection, wanted: &[u32], seen: &[bool]) -> Result<Vec<(u32, Pseudonym)>> {
    let total: i64 = c.query_row("SELECT COUNT(*) FROM insight_people", [], |r| r.get(0))?;
    let mut out = Vec::with_capacity(wanted.len());
    if (wanted.len() as i64) * 8 >= total {
        every_person(c, 0, |id, p| {
            if seen.get(id as usize).copied().unwrap_or(false) {
                out.push((id, p));
            }
        })?;
        return Ok(out);
    }
    let mut stmt = c.prepare_cached("SELECT key_id, digest FROM insight_people WHERE id = ?1")?;
    for &id in wanted {
        let row = stmt
            .query_row([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .optional()?;
        if let Some((k, d)) = row {
            out.push((id, pseudonym(k, &d)?));
        }
    }
    Ok(out)
}

fn pseudonym(key_id: i64, digest: &[u8]) -> Result<Pseudonym> {
    let key_id =
        u32::try_from(key_id).map_err(|_| DatabaseError::Corrupt(format!("key id {key_id}")))?;
    let digest: [u8; 32] = digest
        .try_into()
        .map_err(|_| DatabaseError::Corrupt("insight person digest is not 32 bytes".into()))?;
    Ok(Pseudonym::new(key_id, digest))
}

/// Every numbered person above number `after`, in number order.
pub(super) fn every_person(
    c: &Connection,
    after: i64,
    mut each: impl FnMut(u32, Pseudonym),
) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "SELECT id, key_id, digest FROM insight_people WHERE id > ?1 ORDER BY id",
    )?;
    let mut rows = stmt.query([after])?;
    while let Some(r) = rows.next()? {
        let id = r.get::<_, i64>(0)?;
        let id = u32::try_from(id)
            .map_err(|_| DatabaseError::Corrupt(format!("insight person {id}")))?;
        let digest = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
        each(id, pseudonym(r.get(1)?, digest)?);
    }
    Ok(())
}

impl SqliteDatabase {
    pub(super) async fn scan_insights(&self, scan: InsightScan) -> Result<InsightFacts> {
        let (from, to) = (scan.from.0, scan.to.0);
        let Some(plan) = self.read(move |c| Plan::load(c, &scan)).await? else {
            return Ok(InsightFacts::default());
        };
        let plan = Arc::new(plan);
        if let Some(named) = self.cached_facts(plan.clone(), from, to).await? {
            return Ok(named);
        }
        let facts = self.streamed_facts(plan.clone(), from, to).await?;
        self.name_people(plan.dict.clone(), facts).await
    }

    /// Facts read straight from `insight_rows`, in time slices on parallel
    /// connections: the path when the cache is off or would be too big.
    pub(super) async fn streamed_facts(
        &self,
        plan: Arc<Plan>,
        from: i64,
        to: i64,
    ) -> Result<Vec<InsightFact>> {
        let cut = plan.clone();
        let slices = self
            .read(move |c| cut.slices(c, from, to, slices()))
            .await?;
        // Slices run on separate connections, so not in one snapshot: a
        // write landing meanwhile is seen by some slices only, as if it had
        // landed during a single longer read.
        let reads = slices.into_iter().map(|(a, b)| {
            let plan = plan.clone();
            self.read(move |c| plan.read(c, a, b))
        });
        let parts = futures_util::future::try_join_all(reads).await?;
        let mut facts = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        parts.into_iter().for_each(|mut p| facts.append(&mut p));
        Ok(facts)
    }

    /// Names the numbered people of `facts` by pseudonym, renumbering them
    /// densely; facts of people erased since their rows were read go.
    pub(super) async fn name_people(
        &self,
        dict: Vec<String>,
        facts: Vec<InsightFact>,
    ) -> Result<InsightFacts> {
        let Some(seen) = people_seen(&facts) else {
            return Ok(InsightFacts::default());
        };
        let wanted: Vec<u32> = (0..seen.len() as u32)
            .filter(|&i| seen[i as usize])
            .collect();
        let found = self.read(move |c| people(c, &wanted, &seen)).await?;
        Ok(renumber(dict, facts, found))
    }
}

/// Which people (by number) `facts` name; `None` when there are no facts.
pub(super) fn people_seen(facts: &[InsightFact]) -> Option<Vec<bool>> {
    let max = facts.iter().map(|f| f.person as usize).max()?;
    let mut seen = vec![false; max + 1];
    facts.iter().for_each(|f| seen[f.person as usize] = true);
    Some(seen)
}

/// Renumbers people densely in the order of `found` (ascending numbers
/// with their pseudonyms); facts of people not found (erased) go.
pub(super) fn renumber(
    dict: Vec<String>,
    mut facts: Vec<InsightFact>,
    found: Vec<(u32, Pseudonym)>,
) -> InsightFacts {
    let max = facts.iter().map(|f| f.person as usize).max().unwrap_or(0);
    let mut dense = vec![u32::MAX; max + 1];
    for (i, (id, _)) in found.iter().enumerate() {
        if let Some(d) = dense.get_mut(*id as usize) {
            *d = i as u32;
        }
    }
    facts.retain_mut(|f| {
        f.person = dense[f.person as usize];
        f.person != u32::MAX
    });
    InsightFacts {
        dict,
        people: found.into_iter().map(|(_, p)| p).collect(),
        facts,
    }
}
