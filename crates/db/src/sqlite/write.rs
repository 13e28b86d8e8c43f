use async_trait::async_trait;
use fineline_core::Pseudonym;
use rusqlite::{params, CachedStatement, Transaction};

use super::settle::{insert_sql, part_of, recent_table, PARTS};
use super::{subject_key, SqliteDatabase};
use crate::rows::{purpose_code, to_i64};
use crate::{DatabaseError, NewEvent, Result, WriteOp, WriteOutcome, WriteSet, WriteTables};

#[async_trait]
impl WriteTables for SqliteDatabase {
    async fn apply(&self, set: WriteSet) -> Result<WriteOutcome> {
        if set.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let erases = set.ops.iter().any(|op| {
            matches!(
                op,
                WriteOp::EraseSubject(_) | WriteOp::DropLegacySubjectKeys(_)
            )
        });
        let erased: Vec<Pseudonym> = set
            .ops
            .iter()
            .filter_map(|op| match op {
                WriteOp::EraseSubject(s) => Some(*s),
                _ => None,
            })
            .collect();
        let inner = self.inner.clone();
        let (out, numbers) = self
            .write(move |conn| {
                // IMMEDIATE: take the write lock up front, no upgrade deadlocks.
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let numbers = super::insight_cache::numbers_of(&tx, &erased)?;
                let mut out = WriteOutcome::default();
                let mut added = [0u64; PARTS];
                for op in set.ops {
                    apply_op(&tx, op, &mut out, &mut added)?;
                }
                tx.commit()?;
                if !out.event_ids.is_empty() {
                    inner.recent.added(conn, &added);
                }
                if erases {
                    // The WAL still holds pre-erasure page images (the wrapped
                    // key among them) until a checkpoint; copy the zeroed pages
                    // back (secure_delete) and truncate the WAL now. Best effort:
                    // a busy reader only delays it to the next checkpoint.
                    // The checkpoint reports 0 frames once it truncated, so
                    // they are counted from the file's length first.
                    let frames = wal_frames(conn, &inner.path);
                    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                    inner
                        .erasure_wal_frames
                        .fetch_add(frames, std::sync::atomic::Ordering::Relaxed);
                }
                Ok((out, numbers))
            })
            .await?;
        self.unname_in_copy(&numbers);
        Ok(out)
    }
}

/// Frames in the WAL file (its header is 32 bytes, each frame 24 plus a page).
fn wal_frames(conn: &rusqlite::Connection, db: &std::path::Path) -> u64 {
    let page: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap_or(4096);
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len().saturating_sub(32) / (24 + page))
}

/// Applies one op; `added` counts the events stored per recent table.
fn apply_op(
    tx: &Transaction<'_>,
    op: WriteOp,
    out: &mut WriteOutcome,
    added: &mut [u64; PARTS],
) -> Result<()> {
    match op {
        WriteOp::DropLegacySubjectKeys(subjects) => {
            let mut delete = tx.prepare_cached("DELETE FROM subjects WHERE subject = ?1")?;
            for s in subjects {
                out.rows_deleted += delete.execute([s.to_text()])? as u64;
            }
        }
        WriteOp::PutLegacySubjectKeys(k) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subjects (subject, wrapped_data_key, commitment_salt)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                k.subject.to_text(),
                k.wrapped_data_key,
                k.commitment_salt
            ])?;
        }
        WriteOp::PutPolicy(p) => {
            tx.prepare_cached(
                "INSERT INTO policies (version, published_at, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![p.version, p.published_at.0, p.body])?;
        }
        WriteOp::PutConsent(c) => {
            tx.prepare_cached(
                "INSERT INTO consents
                 (subject, record_id, purpose, state, policy_version, source, at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                c.subject.to_text(),
                c.record_id,
                c.purpose.as_str(),
                c.state,
                c.policy_version,
                c.source,
                c.at.0,
                c.body
            ])?;
        }
        WriteOp::PutEvents(events) => put_events(tx, events, out, added)?,
        WriteOp::DeleteEvent { subject, id } => {
            // In whichever tier it is; a settled event's analytic row goes
            // by trigger, a recent one's here.
            let who = "subject_key = ?1 AND id = ?2 AND key_id = ?3 AND digest = ?4";
            let deleted = delete_events(
                tx,
                subject_key(&subject),
                who,
                params![
                    subject_key(&subject),
                    id,
                    subject.key_id,
                    &subject.digest[..]
                ],
            )?;
            // As the retention sweep: only a deletion that happened makes
            // the insights copy refill.
            if deleted > 0 {
                super::insight_cache::count_deletion(tx)?;
            }
            out.rows_deleted += deleted;
        }
        WriteOp::AppendLedger {
            index,
            leaf_hash,
            entry,
        } => {
            let size: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger")?
                .query_row([], |r| r.get(0))?;
            let index = to_i64(index)?;
            if index != size {
                return Err(DatabaseError::Conflict(format!(
                    "ledger append at index {index}, but the ledger has {size} entries"
                )));
            }
            tx.prepare_cached("INSERT INTO ledger (idx, leaf_hash, entry) VALUES (?1, ?2, ?3)")?
                .execute(params![index, &leaf_hash[..], entry])?;
        }
        WriteOp::PutTreeHead { size, bytes } => {
            tx.prepare_cached("INSERT OR REPLACE INTO tree_heads (size, bytes) VALUES (?1, ?2)")?
                .execute(params![to_i64(size)?, bytes])?;
        }
        WriteOp::EraseSubject(subject) => {
            let s = subject.to_text();
            // One range of the clustered table and the recent tail.
            out.rows_deleted += delete_events(
                tx,
                subject_key(&subject),
                "subject_key = ?1 AND key_id = ?2 AND digest = ?3",
                params![subject_key(&subject), subject.key_id, &subject.digest[..]],
            )?;
            for table in ["consents", "interests", "subjects"] {
                out.rows_deleted += tx
                    .prepare_cached(&format!("DELETE FROM {table} WHERE subject = ?1"))?
                    .execute([&s])? as u64;
            }
            // Their analytic rows went with their events; this
            // is the pseudonym the insights scan numbered them by.
            let numbered = tx
                .prepare_cached("DELETE FROM insight_people WHERE digest = ?1 AND key_id = ?2")?
                .execute(params![&subject.digest[..], subject.key_id])?;
            if numbered > 0 {
                super::insight_cache::count_erasure(tx)?;
            }
        }
        WriteOp::PutItem(i) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO items (item, category, title, repeatable)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![i.item.as_str(), i.category, i.title, i.repeatable])?;
        }
        WriteOp::PutInterest(i) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO interests (subject, category, weight, removed)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                i.subject.to_text(),
                i.category,
                i.weight,
                i.removed
            ])?;
        }
        WriteOp::RemoveInterest { subject, category } => {
            tx.prepare_cached(
                "INSERT INTO interests (subject, category, weight, removed) VALUES (?1, ?2, 0, 1)
                 ON CONFLICT (subject, category) DO UPDATE SET removed = 1",
            )?
            .execute(params![subject.to_text(), category])?;
        }
        // One process: nobody to tell (see `super::replicas`).
        WriteOp::NoteChange(_) | WriteOp::PruneChangeNotes { .. } => {}
        WriteOp::PutSetting { name, value } => {
            tx.prepare_cached("INSERT OR REPLACE INTO settings (name, value) VALUES (?1, ?2)")?
                .execute(params![name, value])?;
        }
        WriteOp::DeleteSetting { name } => {
            tx.prepare_cached("DELETE FROM settings WHERE name = ?1")?
                .execute(params![name])?;
        }
        WriteOp::InsertSetting { name, value } => {
            tx.prepare_cached("INSERT INTO settings (name, value) VALUES (?1, ?2)")?
                .execute(params![name, value])?;
        }
        WriteOp::AddDayCounts(counts) => {
            let mut add = tx.prepare_cached(
                "INSERT INTO day_counts (day, counter, count) VALUES (?1, ?2, ?3)
                 ON CONFLICT (day, counter) DO UPDATE SET count = count + excluded.count",
            )?;
            for c in counts {
                add.execute(params![c.day, c.counter, to_i64(c.count)?])?;
            }
        }
        WriteOp::DeleteDayCounts(days) => {
            let mut delete = tx.prepare_cached("DELETE FROM day_counts WHERE day = ?1")?;
            for day in days {
                delete.execute([day])?;
            }
        }
        op @ (WriteOp::PutFootfallStore(_)
        | WriteOp::PutVisitSessions(_)
        | WriteOp::DeleteDeviceSessions(_)
        | WriteOp::DeleteVisitSessionsBefore { .. }
        | WriteOp::PutDeviceOptOut { .. }) => super::footfall::apply_op(tx, op, out)?,
        op @ (WriteOp::PutInsightEvents(_)
        | WriteOp::SetInsightBudget { .. }
        | WriteOp::ChargeInsightBudget { .. }) => super::insights::apply_op(tx, op, out)?,
    }
    Ok(())
}

/// Stores events in the recent tables, numbered from the stored high-water
/// mark: the one writer connection holds the write lock, so no other
/// writer can take the same ids.
fn put_events(
    tx: &Transaction<'_>,
    events: Vec<NewEvent>,
    out: &mut WriteOutcome,
    added: &mut [u64; PARTS],
) -> Result<()> {
    let mut id: i64 = tx
        .prepare_cached("SELECT last FROM event_ids WHERE id = 0")?
        .query_row([], |r| r.get(0))?;
    // One statement per recent table, prepared once per batch.
    let mut inserts: [Option<CachedStatement<'_>>; PARTS] = Default::default();
    out.event_ids.reserve(events.len());
    for e in events {
        id += 1;
        let key = subject_key(&e.subject);
        let part = part_of(key);
        let insert = match &mut inserts[part] {
            Some(s) => s,
            slot => slot.insert(tx.prepare_cached(&insert_sql(part))?),
        };
        insert.execute(params![
            key,
            id,
            e.subject.key_id,
            &e.subject.digest[..],
            e.kind.as_str(),
            e.item.as_ref().map(|i| i.as_str()),
            purpose_code(e.purpose),
            e.at.0,
            e.sealed_properties
        ])?;
        added[part] += 1;
        out.event_ids.push(id);
    }
    tx.prepare_cached("UPDATE event_ids SET last = ?1 WHERE id = 0")?
        .execute([id])?;
    Ok(())
}

/// Deletes the events matching `filter` (all of one person's key, the
/// subject key `key`) from the clustered table and the person's recent
/// table, with the analytic rows of the recent ones (the clustered ones'
/// go by trigger; a move must not take them, so recent tables have none).
pub(super) fn delete_events(
    tx: &Transaction<'_>,
    key: i64,
    filter: &str,
    args: impl rusqlite::Params + Copy,
) -> Result<u64> {
    let recent = recent_table(part_of(key));
    tx.prepare_cached(&format!(
        "DELETE FROM insight_rows WHERE event_id IN (SELECT id FROM {recent} WHERE {filter})"
    ))?
    .execute(args)?;
    let mut n = tx
        .prepare_cached(&format!("DELETE FROM {recent} WHERE {filter}"))?
        .execute(args)?;
    n += tx
        .prepare_cached(&format!("DELETE FROM events WHERE {filter}"))?
        .execute(args)?;
    Ok(n as u64)
}
