use async_trait::async_trait;
use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use rusqlite::{params, OptionalExtension, Row};

use super::settle::{page_sql, part_of, recent_table, PARTS};
use super::{subject_key, SqliteDatabase};
use crate::rows;
use crate::{
    CatalogTables, ConsentCursor, ConsentRow, ConsentTables, DatabaseError, EventCursor, EventPage,
    EventRow, EventScan, EventTables, InterestRow, ItemRow, LedgerTables, LegacyKeyRow, PolicyRow,
    Result, SettingsTable, SubjectTables,
};

const CONSENT_COLS: &str = "subject, record_id, purpose, state, policy_version, source, at, body";
/// Rows the retention sweep reads per window: a bounded read, and a
/// bounded write after it.
const RETENTION_WINDOW: usize = 50_000;

const EVENT_COLS: &str = "id, key_id, digest, kind, item, purpose, at, sealed_properties";

/// rusqlite's row callbacks can only fail with rusqlite errors, so rows are
/// read raw and parsed afterwards.
type RawConsent = (String, String, String, String, u32, String, i64, Vec<u8>);
type RawEvent = (i64, i64, Vec<u8>, String, Option<String>, i64, i64, Vec<u8>);

fn raw_consent(r: &Row<'_>) -> rusqlite::Result<RawConsent> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn consent(raw: RawConsent) -> Result<ConsentRow> {
    let (subject, record_id, purpose, state, policy_version, source, at, body) = raw;
    Ok(ConsentRow {
        subject: rows::subject(&subject)?,
        record_id,
        purpose: rows::purpose(&purpose)?,
        state,
        policy_version,
        source,
        at: Timestamp(at),
        body,
    })
}

fn raw_event(r: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn event(raw: RawEvent) -> Result<EventRow> {
    let (id, key_id, digest, kind, item, purpose, at, sealed_properties) = raw;
    Ok(EventRow {
        id,
        subject: rows::subject_of_parts(key_id, &digest)?,
        kind: rows::kind(&kind)?,
        item: rows::opt_item(item)?,
        purpose: rows::purpose_of_code(purpose)?,
        at: Timestamp(at),
        sealed_properties,
    })
}

fn collect<R, T>(
    raws: impl Iterator<Item = rusqlite::Result<R>>,
    parse: impl Fn(R) -> Result<T>,
) -> Result<Vec<T>> {
    raws.map(|r| parse(r.map_err(DatabaseError::from)?))
        .collect()
}

#[async_trait]
impl ConsentTables for SqliteDatabase {
    async fn policies(&self) -> Result<Vec<PolicyRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT version, published_at, body FROM policies ORDER BY version",
            )?;
            let out = stmt
                .query_map([], |r| {
                    Ok(PolicyRow {
                        version: r.get(0)?,
                        published_at: Timestamp(r.get(1)?),
                        body: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(out)
        })
        .await
    }

    async fn consents_for(&self, subject: &Pseudonym) -> Result<Vec<ConsentRow>> {
        let s = subject.to_text();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CONSENT_COLS} FROM consents WHERE subject = ?1 ORDER BY at, record_id"
            ))?;
            let raws = stmt.query_map([s], raw_consent)?;
            collect(raws, consent)
        })
        .await
    }

    async fn consents_page(
        &self,
        after: Option<ConsentCursor>,
        limit: usize,
    ) -> Result<Vec<ConsentRow>> {
        let (s, id) = after
            .map(|a| (a.subject.to_text(), a.record_id))
            .unwrap_or_default();
        let limit = limit as i64;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CONSENT_COLS} FROM consents WHERE (subject, record_id) > (?1, ?2)
                 ORDER BY subject, record_id LIMIT ?3"
            ))?;
            let raws = stmt.query_map(params![s, id, limit], raw_consent)?;
            collect(raws, consent)
        })
        .await
    }
}

#[async_trait]
impl EventTables for SqliteDatabase {
    async fn events_for(&self, subject: &Pseudonym) -> Result<Vec<EventRow>> {
        let (k, key_id, digest) = (subject_key(subject), subject.key_id, subject.digest);
        self.read(move |c| {
            // One statement, one snapshot: a move between the tiers is
            // either wholly seen or not at all.
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLS} FROM events
                 WHERE subject_key = ?1 AND key_id = ?2 AND digest = ?3
                 UNION ALL
                 SELECT {EVENT_COLS} FROM {recent}
                 WHERE subject_key = ?1 AND key_id = ?2 AND digest = ?3
                 ORDER BY id",
                recent = recent_table(part_of(k))
            ))?;
            let raws = stmt.query_map(params![k, key_id, &digest[..]], raw_event)?;
            collect(raws, event)
        })
        .await
    }

    async fn scan_events(
        &self,
        scan: EventScan,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<EventPage> {
        if after.is_none() {
            // Under the writer: a move in progress finishes before the
            // first page is read, and none starts until the scan is done.
            let inner = self.inner.clone();
            self.write(move |_| {
                inner.recent.scan_page(true);
                Ok(())
            })
            .await?;
        } else {
            self.inner.recent.scan_page(false);
        }
        let purpose = scan.purpose.map(rows::purpose_code);
        let after = after.unwrap_or(EventCursor {
            part: 0,
            key: i64::MIN,
            id: i64::MIN,
        });
        let page = self
            .read(move |c| {
                // Part 0 is the clustered table, in its key order (no sort,
                // no second index); part n + 1 the recent table n, by id.
                // One snapshot per page.
                let mut rows = Vec::new();
                let mut last = after;
                for part in after.part as usize..=PARTS {
                    let want = (limit - rows.len()) as i64;
                    if want == 0 {
                        break;
                    }
                    let (key, id) = if part == after.part as usize {
                        (after.key, after.id)
                    } else {
                        (i64::MIN, i64::MIN)
                    };
                    let sql = page_sql(
                        part,
                        &format!("{EVENT_COLS}, subject_key"),
                        "AND at >= ?3 AND at < ?4 AND (?5 IS NULL OR purpose = ?5)",
                        "?6",
                    );
                    let mut stmt = c.prepare_cached(&sql)?;
                    let mut q =
                        stmt.query(params![key, id, scan.from.0, scan.to.0, purpose, want])?;
                    while let Some(r) = q.next()? {
                        rows.push(raw_event(r)?);
                        last = EventCursor {
                            part: part as u8,
                            key: r.get(8)?,
                            id: r.get(0)?,
                        };
                    }
                }
                let next = (rows.len() == limit && limit > 0).then_some(last);
                Ok(EventPage {
                    rows: collect(rows.into_iter().map(Ok), event)?,
                    next,
                })
            })
            .await;
        if !matches!(page, Ok(EventPage { next: Some(_), .. })) {
            self.inner.recent.scan_done();
        }
        page
    }

    async fn count_events(&self) -> Result<u64> {
        self.read(|c| {
            let mut n: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
            for part in 0..PARTS {
                let sql = format!("SELECT COUNT(*) FROM {}", recent_table(part));
                n += c.query_row(&sql, [], |r| r.get::<_, i64>(0))?;
            }
            rows::to_u64(n)
        })
        .await
    }

    async fn delete_events_before(&self, purpose: Purpose, cutoff: Timestamp) -> Result<u64> {
        self.sweep_events_before(purpose, cutoff, RETENTION_WINDOW)
            .await
    }
}

impl SqliteDatabase {
    /// The retention sweep, `window` rows at a time. There is no (purpose,
    /// at) index (it cost a scattered page per event on ingestion and
    /// erasure): the hourly sweep reads the table window by window in key
    /// order on a reader, then deletes the matches in a short write each,
    /// checking every row again, so ingestion waits for no scan. Rows
    /// stored behind the cursor while it runs are the next sweep's.
    pub(super) async fn sweep_events_before(
        &self,
        purpose: Purpose,
        cutoff: Timestamp,
        window: usize,
    ) -> Result<u64> {
        let code = rows::purpose_code(purpose);
        let mut deleted = 0;
        // The clustered table by key, then each recent table by id; a
        // window is a page of (key, id, matches) read on a reader.
        for part in 0..=PARTS {
            let mut from = (i64::MIN, i64::MIN);
            loop {
                let (keys, last) = self
                    .read(move |c| {
                        let columns = "subject_key, id, purpose = ?3 AND at < ?4";
                        let sql = page_sql(part, columns, "", "?5");
                        let mut stmt = c.prepare_cached(&sql)?;
                        let mut rows =
                            stmt.query(params![from.0, from.1, code, cutoff.0, window as i64])?;
                        let (mut keys, mut last) = (Vec::new(), None);
                        while let Some(r) = rows.next()? {
                            let key: (i64, i64) = (r.get(0)?, r.get(1)?);
                            if r.get::<_, bool>(2)? {
                                keys.push(key);
                            }
                            last = Some(key);
                        }
                        Ok((keys, last))
                    })
                    .await?;
                if !keys.is_empty() {
                    deleted += self.delete_swept(keys, code, cutoff).await?;
                }
                match last {
                    Some(key) => from = key,
                    None => break,
                }
            }
        }
        Ok(deleted)
    }

    /// Deletes one window's matches in a short write, checking each again
    /// (a row may have moved tiers or been deleted since it was read).
    async fn delete_swept(
        &self,
        keys: Vec<(i64, i64)>,
        code: i64,
        cutoff: Timestamp,
    ) -> Result<u64> {
        self.write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut n = 0;
            for (k, id) in keys {
                n += super::write::delete_events(
                    &tx,
                    k,
                    "subject_key = ?1 AND id = ?2 AND purpose = ?3 AND at < ?4",
                    params![k, id, code, cutoff.0],
                )?;
            }
            if n > 0 {
                super::insight_cache::count_deletion(&tx)?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }
}

#[async_trait]
impl SubjectTables for SqliteDatabase {
    async fn legacy_subject_keys(&self) -> Result<Vec<LegacyKeyRow>> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT subject, wrapped_data_key, commitment_salt FROM subjects ORDER BY subject",
            )?;
            let raw = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raw.into_iter()
                .map(|(s, wrapped_data_key, commitment_salt)| {
                    Ok(LegacyKeyRow {
                        subject: rows::subject(&s)?,
                        wrapped_data_key,
                        commitment_salt,
                    })
                })
                .collect()
        })
        .await
    }
}

type RawItem = (String, String, String, bool);

fn item(raw: RawItem) -> Result<ItemRow> {
    Ok(ItemRow {
        item: rows::item(&raw.0)?,
        category: raw.1,
        title: raw.2,
        repeatable: raw.3,
    })
}

#[async_trait]
impl CatalogTables for SqliteDatabase {
    async fn item(&self, id: &ItemId) -> Result<Option<ItemRow>> {
        let id = id.as_str().to_string();
        self.read(move |c| {
            let raw = c
                .prepare_cached(
                    "SELECT item, category, title, repeatable FROM items WHERE item = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            raw.map(item).transpose()
        })
        .await
    }

    async fn items(&self) -> Result<Vec<ItemRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT item, category, title, repeatable FROM items ORDER BY item",
            )?;
            let raws = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            collect(raws, item)
        })
        .await
    }

    async fn interests_for(&self, subject: &Pseudonym) -> Result<Vec<InterestRow>> {
        let subject = *subject;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT category, weight, removed FROM interests WHERE subject = ?1
                 ORDER BY category",
            )?;
            let out = stmt
                .query_map([subject.to_text()], |r| {
                    Ok(InterestRow {
                        subject,
                        category: r.get(0)?,
                        weight: r.get(1)?,
                        removed: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl LedgerTables for SqliteDatabase {
    async fn ledger_leaves_from(&self, from: u64) -> Result<Vec<(u64, [u8; 32])>> {
        let from = rows::to_i64(from)?;
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT idx, leaf_hash FROM ledger WHERE idx >= ?1 ORDER BY idx")?;
            let raws = stmt.query_map([from], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            collect(raws, |(i, h)| Ok((rows::to_u64(i)?, rows::hash32(&h)?)))
        })
        .await
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        let index = rows::to_i64(index)?;
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT entry FROM ledger WHERE idx = ?1")?
                .query_row([index], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn ledger_size(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger", [], |r| {
                r.get(0)
            })?;
            rows::to_u64(n)
        })
        .await
    }

    async fn latest_tree_head(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.read(|c| {
            let raw: Option<(i64, Vec<u8>)> = c
                .prepare_cached("SELECT size, bytes FROM tree_heads ORDER BY size DESC LIMIT 1")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            raw.map(|(n, b)| Ok((rows::to_u64(n)?, b))).transpose()
        })
        .await
    }
}

#[async_trait]
impl SettingsTable for SqliteDatabase {
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_string();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT value FROM settings WHERE name = ?1")?
                    .query_row([name], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn settings_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let prefix = prefix.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, value FROM settings WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn day_counts(&self) -> Result<Vec<crate::DayCount>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT day, counter, count FROM day_counts ORDER BY day, counter",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(crate::DayCount {
                    day: r.get(0)?,
                    counter: r.get(1)?,
                    count: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use fineline_core::{EventKind, Pseudonym, Purpose, Timestamp};

    use crate::{EventTables, NewEvent, WriteOp, WriteSet, WriteTables};

    /// The sweep reaches rows past its first window, and deletes only the
    /// purpose it was asked for, only before the cutoff.
    #[tokio::test]
    async fn retention_sweeps_every_window() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::SqliteDatabase::open(dir.path().join("db"))
            .await
            .unwrap();
        let people: Vec<Pseudonym> = (0..4u8).map(|i| Pseudonym::new(1, [i * 60; 32])).collect();
        let event = |person, purpose, at| NewEvent {
            subject: person,
            kind: EventKind::new("view").unwrap(),
            item: None,
            purpose,
            at: Timestamp(at),
            sealed_properties: vec![1],
        };
        for &p in &people {
            let events = vec![
                event(p, Purpose::Location, 10),
                event(p, Purpose::Location, 500),
                event(p, Purpose::Analytics, 10),
            ];
            db.apply(WriteSet::from(WriteOp::PutEvents(events)))
                .await
                .unwrap();
        }
        // Windows of two rows: the last person's rows are in the sixth.
        let n = db
            .sweep_events_before(Purpose::Location, Timestamp(100), 2)
            .await
            .unwrap();
        assert_eq!(n, 4);
        for p in &people {
            let left: Vec<(Purpose, i64)> = db
                .events_for(p)
                .await
                .unwrap()
                .iter()
                .map(|e| (e.purpose, e.at.0))
                .collect();
            assert_eq!(left, [(Purpose::Location, 500), (Purpose::Analytics, 10)]);
        }
    }
}
