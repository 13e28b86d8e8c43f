use async_trait::async_trait;
use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use rusqlite::{params, OptionalExtension, Row};

use super::{subject_key, SqliteDatabase};
use crate::rows;
use crate::{
    CatalogTables, ConsentCursor, ConsentRow, ConsentTables, DatabaseError, EventRow, EventScan,
    EventTables, InterestRow, ItemRow, LedgerTables, LegacyKeyRow, PolicyRow, Result,
    SettingsTable, SubjectTables,
};

const CONSENT_COLS: &str = "subject, record_id, purpose, state, policy_version, source, at, body";
/// Ids the retention sweep reads per window: a bounded read, and a
/// bounded write after it.
const RETENTION_WINDOW: i64 = 50_000;

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
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLS} FROM events
                 WHERE subject_key = ?1 AND key_id = ?2 AND digest = ?3 ORDER BY id"
            ))?;
            let raws = stmt.query_map(params![k, key_id, &digest[..]], raw_event)?;
            collect(raws, event)
        })
        .await
    }

    async fn scan_events(
        &self,
        scan: EventScan,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>> {
        let purpose = scan.purpose.map(rows::purpose_code);
        let limit = limit as i64;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {EVENT_COLS} FROM events
                 WHERE id > ?1 AND at >= ?2 AND at < ?3 AND (?4 IS NULL OR purpose = ?4)
                 ORDER BY id LIMIT ?5"
            ))?;
            let raws = stmt.query_map(
                params![after_id, scan.from.0, scan.to.0, purpose, limit],
                raw_event,
            )?;
            collect(raws, event)
        })
        .await
    }

    async fn count_events(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
            rows::to_u64(n)
        })
        .await
    }

    async fn delete_events_before(&self, purpose: Purpose, cutoff: Timestamp) -> Result<u64> {
        // No (purpose, at) index (it cost a scattered page per event on
        // ingestion and erasure): the hourly sweep reads ids window by
        // window on a reader, then deletes them in a short write each,
        // checking every row again, so ingestion waits for no scan. Rows
        // stored while it runs are the next sweep's.
        let code = rows::purpose_code(purpose);
        let last: i64 = self
            .read(|c| Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?))
            .await?;
        let mut deleted = 0;
        let mut low = 0;
        while low < last {
            let high = low.saturating_add(RETENTION_WINDOW);
            let ids: Vec<i64> = self
                .read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT id FROM events
                         WHERE id > ?1 AND id <= ?2 AND purpose = ?3 AND at < ?4",
                    )?;
                    let ids = stmt
                        .query_map(params![low, high, code, cutoff.0], |r| r.get(0))?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok(ids)
                })
                .await?;
            if !ids.is_empty() {
                deleted += self
                    .write(move |c| {
                        let tx =
                            c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                        let mut n = 0;
                        {
                            let mut delete = tx.prepare_cached(
                                "DELETE FROM events WHERE id = ?1 AND purpose = ?2 AND at < ?3",
                            )?;
                            for id in ids {
                                n += delete.execute(params![id, code, cutoff.0])?;
                            }
                        }
                        if n > 0 {
                            super::insight_cache::count_deletion(&tx)?;
                        }
                        tx.commit()?;
                        Ok(n as u64)
                    })
                    .await?;
            }
            low = high;
        }
        Ok(deleted)
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

    /// The sweep reaches rows past its first window of ids, and deletes
    /// only the purpose it was asked for, only before the cutoff.
    #[tokio::test]
    async fn retention_sweeps_every_window_of_ids() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::SqliteDatabase::open(dir.path().join("db"))
            .await
            .unwrap();
        let person = Pseudonym::new(1, [7; 32]);
        let event = |purpose, at| NewEvent {
            subject: person,
            kind: EventKind::new("view").unwrap(),
            item: None,
            purpose,
            at: Timestamp(at),
            sealed_properties: vec![1],
        };
        let put = |e| WriteSet::from(WriteOp::PutEvents(vec![e]));
        db.apply(put(event(Purpose::Location, 10))).await.unwrap();
        // Far ids, as after a long life of ingestion and erasures.
        let path = db.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let c = rusqlite::Connection::open(path).unwrap();
            c.execute_batch(&format!(
                "UPDATE sqlite_sequence SET seq = {} WHERE name = 'events'",
                2 * super::RETENTION_WINDOW + 5
            ))
            .unwrap();
        })
        .await
        .unwrap();
        for e in [
            event(Purpose::Location, 10),
            event(Purpose::Location, 500),
            event(Purpose::Analytics, 10),
        ] {
            db.apply(put(e)).await.unwrap();
        }
        let n = db
            .delete_events_before(Purpose::Location, Timestamp(100))
            .await
            .unwrap();
        assert_eq!(n, 2);
        let left: Vec<(Purpose, i64)> = db
            .events_for(&person)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.purpose, e.at.0))
            .collect();
        assert_eq!(left, [(Purpose::Location, 500), (Purpose::Analytics, 10)]);
    }
}
