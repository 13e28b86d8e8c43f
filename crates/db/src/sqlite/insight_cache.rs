//! An exact in-memory copy of `insight_rows` for the grouped scan.
//!
//! Stepping SQLite over 10M analytic rows costs about 250 ns a row, 1.4–1.7 s
//! on two connections: most of a grouped query's time. The same rows kept as
//! columns in memory are filtered in tens of milliseconds. The copy is never
//! stale, because before each use it is brought up to date in one snapshot:
//!
//! - rows added since it was filled are read by event id: ids only grow, in
//!   commit order (`AUTOINCREMENT` under SQLite's single writer);
//! - deleting single events and retention sweeps count up
//!   `insight_generation.deletions` in their own transaction; when the count
//!   moved the copy is filled again;
//! - erasures count up `insight_generation.erasures`; when that moved, the
//!   rows of people whose numbers are gone leave the copy before it is read.
//!   Numbers are never reused, and [`SqliteDatabase::name_people`] drops facts
//!   of people erased meanwhile in any case.
//!
//! Text ids, never texts, are copied; a text's id is never reused after it
//! leaves with its last row, so an erased person's row can name no other.
//!
//! The counts live in the file, so writers in other processes (the CLI) are
//! seen too. The copy is made by the first insights query or by
//! `prepare_insight_facts`, which the server calls at start and after each
//! retention sweep. It holds person and time per row (12 bytes) plus only
//! the columns a kind has ever used: +472 MiB measured at 10M rows with
//! item, region and value and 1M pseudonyms. Above [`MAX_ROWS`] rows it is
//! dropped and the scan streams from SQLite.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use fineline_core::Pseudonym;

use super::insight_scan::{
    every_person, int, map_file, people_seen, renumber, slices, Plan, RawRow,
};
use super::SqliteDatabase;
use crate::{DatabaseError, InsightFact, InsightFacts, Result};

/// Rows beyond which the copy would cost more memory than it is worth
/// (about 3 GB at the rate measured for 10M rows).
const MAX_ROWS: i64 = 64 << 20;

/// Called in the transaction of a write that deletes events other than by erasure.
pub(super) fn count_deletion(c: &Connection) -> Result<()> {
    c.prepare_cached("UPDATE insight_generation SET deletions = deletions + 1 WHERE id = 0")?
        .execute([])?;
    Ok(())
}

/// Called in the transaction of an erasure that removed a numbered person.
pub(super) fn count_erasure(c: &Connection) -> Result<()> {
    c.prepare_cached("UPDATE insight_generation SET erasures = erasures + 1 WHERE id = 0")?
        .execute([])?;
    Ok(())
}

/// The insights numbers of `people`, read in an erasure's transaction
/// before their rows go.
pub(super) fn numbers_of(c: &Connection, people: &[Pseudonym]) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for p in people {
        let id: Option<i64> = c
            .prepare_cached("SELECT id FROM insight_people WHERE digest = ?1 AND key_id = ?2")?
            .query_row(params![&p.digest[..], p.key_id], |r| r.get(0))
            .optional()?;
        out.extend(id.and_then(|id| u32::try_from(id).ok()));
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Generation {
    deletions: i64,
    erasures: i64,
}

/// What the copy already holds, handed to the snapshot read.
#[derive(Debug, Clone, Copy)]
struct Known {
    generation: Generation,
    upto: i64,
    rows: usize,
    people: usize,
}

/// The copy: one [`Segment`] per event kind (by `insight_texts` id).
#[derive(Debug, Default)]
pub(super) struct FactCache {
    generation: Option<Generation>,
    /// Highest event id copied.
    upto: i64,
    /// The rows of each kind, in pieces as they were read (merging them
    /// would copy every column once more).
    kinds: HashMap<i64, Vec<Segment>>,
    /// Pseudonyms by person number; `None` for numbers erased or unused.
    people: Vec<Option<Pseudonym>>,
}

/// A column most kinds leave empty: no memory until a row holds a value
/// other than the default; then one value per row.
#[derive(Debug, Default)]
struct Sparse<T> {
    values: Vec<T>,
}

impl<T: Copy + Default + PartialEq> Sparse<T> {
    fn push(&mut self, len: usize, v: T) {
        if self.values.is_empty() {
            if v == T::default() {
                return;
            }
            self.values.resize(len, T::default());
        }
        self.values.push(v);
    }

    fn get(&self, i: usize) -> T {
        self.values.get(i).copied().unwrap_or_default()
    }

    fn retain(&mut self, keep: &[bool]) {
        if !self.values.is_empty() {
            retain_by(&mut self.values, keep);
        }
    }
}

fn retain_by<T>(v: &mut Vec<T>, keep: &[bool]) {
    let mut k = keep.iter();
    // `retain` visits every element once, in order.
    v.retain(|_| k.next().copied().unwrap_or(false));
}

/// The rows of one kind. Texts are `insight_texts` ids, 0 for none (ids
/// start at 1); a missing value reads as 0, as the scan treats it.
#[derive(Debug, Default)]
struct Segment {
    at: Vec<i64>,
    person: Vec<u32>,
    item: Sparse<u32>,
    region: Sparse<u32>,
    cell: Sparse<u64>,
    value: Sparse<i64>,
}

fn text_id(v: Option<i64>) -> Result<u32> {
    match v {
        None => Ok(0),
        Some(id) => u32::try_from(id)
            .ok()
            .filter(|&id| id > 0)
            .ok_or_else(|| DatabaseError::Corrupt(format!("insight text id {id}"))),
    }
}

fn some_nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

impl Segment {
    fn len(&self) -> usize {
        self.at.len()
    }

    fn push(&mut self, r: &RawRow) -> Result<()> {
        let len = self.len();
        let (item, region) = (text_id(r.item)?, text_id(r.region)?);
        self.item.push(len, item);
        self.region.push(len, region);
        self.cell.push(len, r.cell.unwrap_or(0) as u64);
        self.value.push(len, r.value.unwrap_or(0));
        self.at.push(r.at);
        self.person.push(r.person);
        Ok(())
    }

    fn row(&self, kind: i64, i: usize) -> RawRow {
        RawRow {
            kind,
            at: self.at[i],
            person: self.person[i],
            item: some_nonzero(self.item.get(i) as i64),
            region: some_nonzero(self.region.get(i) as i64),
            cell: some_nonzero(self.cell.get(i) as i64),
            value: Some(self.value.get(i)),
        }
    }

    fn retain(&mut self, keep: &[bool]) {
        self.item.retain(keep);
        self.region.retain(keep);
        self.cell.retain(keep);
        self.value.retain(keep);
        retain_by(&mut self.at, keep);
        retain_by(&mut self.person, keep);
    }

    fn facts(
        &self,
        kind: i64,
        plan: &Plan,
        (from, to): (i64, i64),
        rows: std::ops::Range<usize>,
        out: &mut Vec<InsightFact>,
    ) {
        for i in rows {
            let at = self.at[i];
            if at >= from && at < to {
                out.extend(plan.fact(&self.row(kind, i)));
            }
        }
    }
}

impl FactCache {
    fn known(&self) -> Option<Known> {
        Some(Known {
            generation: self.generation?,
            upto: self.upto,
            rows: self.kinds.values().flatten().map(Segment::len).sum(),
            people: self.people.len(),
        })
    }

    fn add_people(&mut self, people: Vec<(u32, Pseudonym)>) {
        for (id, p) in people {
            let id = id as usize;
            if id >= self.people.len() {
                self.people.resize(id + 1, None);
            }
            self.people[id] = Some(p);
        }
    }

    /// `facts` with people named from the copy.
    fn name(&self, dict: Vec<String>, facts: Vec<InsightFact>) -> InsightFacts {
        let Some(seen) = people_seen(&facts) else {
            return InsightFacts::default();
        };
        let found = seen
            .iter()
            .enumerate()
            .filter(|(_, &s)| s)
            .filter_map(|(id, _)| Some((id as u32, (*self.people.get(id)?)?)))
            .collect();
        renumber(dict, facts, found)
    }

    fn add(&mut self, rows: &[RawRow]) -> Result<()> {
        for r in rows {
            let pieces = self.kinds.entry(r.kind).or_default();
            if pieces.is_empty() {
                pieces.push(Segment::default());
            }
            if let Some(last) = pieces.last_mut() {
                last.push(r)?;
            }
        }
        Ok(())
    }

    /// Drops the rows and pseudonyms of people not marked in `live` (by number).
    fn keep_people(&mut self, live: &[bool]) {
        for (id, p) in self.people.iter_mut().enumerate() {
            if !live.get(id).copied().unwrap_or(false) {
                *p = None;
            }
        }
        for seg in self.kinds.values_mut().flatten() {
            let keep: Vec<bool> = seg
                .person
                .iter()
                .map(|&p| live.get(p as usize).copied().unwrap_or(false))
                .collect();
            if keep.iter().any(|k| !k) {
                seg.retain(&keep);
            }
        }
        self.drop_empty();
    }

    fn drop_empty(&mut self) {
        for pieces in self.kinds.values_mut() {
            pieces.retain(|seg| seg.len() > 0);
        }
        self.kinds.retain(|_, pieces| !pieces.is_empty());
    }

    /// The facts of `plan` over `[from, to)`, filtered on every core.
    fn facts(&self, plan: &Plan, from: i64, to: i64) -> Vec<InsightFact> {
        let mut out = Vec::new();
        for &kind in plan.kinds() {
            for seg in self.kinds.get(&kind).into_iter().flatten() {
                out.reserve(seg.len());
                seg.facts(kind, plan, (from, to), 0..seg.len(), &mut out);
            }
        }
        out
    }
}

/// What one snapshot says must happen to the copy.
enum Look {
    /// Add these rows (and drop the erased, when `live` is given).
    Update {
        generation: Generation,
        upto: i64,
        rows: Vec<RawRow>,
        people: Vec<(u32, Pseudonym)>,
        live: Option<Vec<bool>>,
    },
    /// Fill again from scratch: rows up to `upto`, read piece by piece.
    Refill {
        generation: Generation,
        upto: i64,
        pieces: Vec<Piece>,
    },
    /// More rows than the copy may hold.
    TooBig,
}

/// Rows of one kind in `[from, to)` of time.
#[derive(Debug, Clone, Copy)]
struct Piece {
    kind: i64,
    from: i64,
    to: i64,
}

const COLUMNS: &str = "kind, at, person, item, region, h3_cell, value";

fn read_rows(
    c: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
    mut sink: impl FnMut(RawRow) -> Result<()>,
) -> Result<()> {
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM insight_rows WHERE {filter}"
    ))?;
    let mut rows = stmt.query(params)?;
    while let Some(r) = rows.next()? {
        let get = |i: usize| int(r.get_ref(i)?);
        let person = get(2)?.unwrap_or(-1);
        sink(RawRow {
            kind: get(0)?.unwrap_or(0),
            at: get(1)?.unwrap_or(0),
            person: u32::try_from(person)
                .map_err(|_| DatabaseError::Corrupt(format!("insight person {person}")))?,
            item: get(3)?,
            region: get(4)?,
            cell: get(5)?,
            value: get(6)?,
        })?;
    }
    Ok(())
}

fn look(c: &Connection, known: Option<Known>) -> Result<Look> {
    // One snapshot for the counts, the highest id and the rows after it.
    let tx = c.unchecked_transaction()?;
    let generation = tx.query_row(
        "SELECT deletions, erasures FROM insight_generation WHERE id = 0",
        [],
        |r| {
            Ok(Generation {
                deletions: r.get(0)?,
                erasures: r.get(1)?,
            })
        },
    )?;
    let upto: i64 = tx.query_row(
        "SELECT COALESCE(MAX(event_id), 0) FROM insight_rows",
        [],
        |r| r.get(0),
    )?;
    if let Some(k) = known.filter(|k| k.generation.deletions == generation.deletions) {
        // Ids also count events without analytic rows, so this over-counts.
        let added = upto.saturating_sub(k.upto);
        // Each added row is an index lookup (≈ 1 µs); a refill streams.
        if added <= (k.rows as i64) / 8 + 100_000 {
            let mut rows = Vec::new();
            read_rows(
                &tx,
                "event_id > ?1 AND event_id <= ?2",
                params![k.upto, upto],
                |r| {
                    rows.push(r);
                    Ok(())
                },
            )?;
            let mut people = Vec::new();
            every_person(&tx, k.people.saturating_sub(1) as i64, |id, p| {
                people.push((id, p))
            })?;
            let live = match k.generation.erasures == generation.erasures {
                true => None,
                false => Some(live_people(&tx)?),
            };
            return Ok(Look::Update {
                generation,
                upto,
                rows,
                people,
                live,
            });
        }
    }
    // Every row has its own event id from 1 up: `upto` bounds the count
    // without counting (a scan of the id index, 0.25 s at 10M rows).
    let total: i64 = match upto <= MAX_ROWS {
        true => upto,
        false => tx.query_row("SELECT COUNT(*) FROM insight_rows", [], |r| r.get(0))?,
    };
    if total > MAX_ROWS {
        return Ok(Look::TooBig);
    }
    Ok(Look::Refill {
        generation,
        upto,
        pieces: pieces(&tx, slices())?,
    })
}

fn live_people(c: &Connection) -> Result<Vec<bool>> {
    let mut live = Vec::new();
    let mut stmt = c.prepare("SELECT id FROM insight_people")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id = usize::try_from(r.get::<_, i64>(0)?).unwrap_or(usize::MAX);
        if id >= live.len() {
            live.resize(id.saturating_add(1).min(u32::MAX as usize), false);
        }
        if let Some(slot) = live.get_mut(id) {
            *slot = true;
        }
    }
    Ok(live)
}

/// Every kind's time span cut into `n` pieces, found by index seeks.
fn pieces(c: &Connection, n: usize) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut after = i64::MIN;
    let seek = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Option<i64>> {
        Ok(c.prepare_cached(sql)?
            .query_row(p, |r| r.get(0))
            .optional()?)
    };
    while let Some(kind) = seek(
        "SELECT kind FROM insight_rows WHERE kind > ?1 ORDER BY kind LIMIT 1",
        &[&after],
    )? {
        let first = seek(
            "SELECT at FROM insight_rows WHERE kind = ?1 ORDER BY at LIMIT 1",
            &[&kind],
        )?;
        let last = seek(
            "SELECT at FROM insight_rows WHERE kind = ?1 ORDER BY at DESC LIMIT 1",
            &[&kind],
        )?;
        if let (Some(lo), Some(hi)) = (first, last) {
            let span = hi as i128 - lo as i128 + 1;
            let n = (n as i128).clamp(1, span.max(1));
            let cut = |i: i128| (lo as i128 + span * i / n) as i64;
            // The last piece ends past `hi` even at i64::MAX: `to` is exclusive.
            out.extend((0..n).map(|i| Piece {
                kind,
                from: cut(i),
                to: if i + 1 == n { i64::MAX } else { cut(i + 1) },
            }));
        }
        after = kind;
    }
    Ok(out)
}

fn read_piece(c: &Connection, p: Piece, upto: i64) -> Result<Segment> {
    map_file(c)?;
    let mut seg = Segment::default();
    read_rows(
        c,
        "kind = ?1 AND at >= ?2 AND at < ?3 AND event_id <= ?4",
        params![p.kind, p.from, p.to, upto],
        |r| seg.push(&r),
    )?;
    Ok(seg)
}

type Guard = tokio::sync::OwnedMutexGuard<FactCache>;

impl SqliteDatabase {
    /// After an erasure committed: the copy forgets who the erased people
    /// were at once, so none of their rows can be named or released; the
    /// rows themselves leave with its next update (the next query, or the
    /// server's hourly preparation). A query holding the copy meanwhile has
    /// read its snapshot already; that update catches up.
    pub(super) fn unname_in_copy(&self, numbers: &[u32]) {
        if numbers.is_empty() {
            return;
        }
        if let Ok(mut copy) = self.inner.insight_cache.try_lock() {
            for &n in numbers {
                if let Some(p) = copy.people.get_mut(n as usize) {
                    *p = None;
                }
            }
        }
    }

    /// The facts of `plan` from the in-memory copy, brought up to date
    /// first; `None` when the rows are too many to copy.
    pub(super) async fn cached_facts(
        &self,
        plan: Arc<Plan>,
        from: i64,
        to: i64,
    ) -> Result<Option<InsightFacts>> {
        let Some(cache) = self.fresh_copy().await? else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || {
            let facts = cache.facts(&plan, from, to);
            Some(cache.name(plan.dict.clone(), facts))
        })
        .await
        .map_err(DatabaseError::from)
    }

    /// Fills or updates the copy now, so that the next query need not.
    pub(super) async fn prepare_copy(&self) -> Result<()> {
        self.fresh_copy().await.map(drop)
    }

    /// The copy, up to date; `None` when the rows are too many to copy.
    async fn fresh_copy(&self) -> Result<Option<Guard>> {
        // Queries take turns: one brings the copy up to date for the next.
        let mut cache = self.inner.insight_cache.clone().lock_owned().await;
        let known = cache.known();
        match self.read(move |c| look(c, known)).await? {
            Look::TooBig => {
                *cache = FactCache::default();
                Ok(None)
            }
            Look::Refill {
                generation,
                upto,
                pieces,
            } => {
                // Free the old copy before reading the new one. On error it
                // is left empty, and filled again next time.
                *cache = FactCache::default();
                let reads = pieces.into_iter().map(|p| async move {
                    let seg = self.read(move |c| read_piece(c, p, upto)).await?;
                    Ok::<_, DatabaseError>((p.kind, seg))
                });
                // People erased after the snapshot are missing here, and
                // their rows are then dropped with them.
                let everyone = self.read(|c| {
                    let mut people = Vec::new();
                    every_person(c, 0, |id, p| people.push((id, p)))?;
                    Ok(people)
                });
                let (segments, people) = futures_util::future::try_join(
                    futures_util::future::try_join_all(reads),
                    everyone,
                )
                .await?;
                cache.add_people(people);
                for (kind, seg) in segments {
                    cache.kinds.entry(kind).or_default().push(seg);
                }
                cache.drop_empty();
                cache.generation = Some(generation);
                cache.upto = upto;
                Ok(Some(cache))
            }
            Look::Update {
                generation,
                upto,
                rows,
                people,
                live,
            } => {
                tokio::task::spawn_blocking(move || {
                    cache.add_people(people);
                    if let Err(e) = cache.add(&rows) {
                        *cache = FactCache::default();
                        return Err(e);
                    }
                    if let Some(live) = live {
                        cache.keep_people(&live);
                    }
                    cache.generation = Some(generation);
                    cache.upto = upto;
                    Ok(Some(cache))
                })
                .await?
            }
        }
    }
}

#[cfg(test)]
#[path = "insight_cache_tests.rs"]
mod tests;
