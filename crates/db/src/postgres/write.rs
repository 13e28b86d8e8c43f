use async_trait::async_trait;
use fineline_core::Pseudonym;
use sqlx::{PgConnection, Postgres, Transaction};

use super::PostgresDatabase;
use crate::rows::to_i64;
use crate::{DatabaseError, NewEvent, Result, WriteOp, WriteOutcome, WriteSet, WriteTables};

#[async_trait]
impl WriteTables for PostgresDatabase {
    async fn apply(&self, set: WriteSet) -> Result<WriteOutcome> {
        if set.is_empty() {
            return Ok(WriteOutcome::default());
        }
        let mut tx: Transaction<'_, Postgres> = self.pool.begin().await?;
        let mut out = WriteOutcome::default();
        for op in set.ops {
            // An error drops `tx`, which rolls back.
            apply_op(&mut tx, op, &mut out).await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

async fn insert_events(
    tx: &mut PgConnection,
    events: Vec<NewEvent>,
    out: &mut WriteOutcome,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('event_ids') FROM generate_series(1, $1)")
            .bind(events.len() as i64)
            .fetch_all(&mut *tx)
            .await?;
    ids.sort_unstable();
    let body = copy_rows(&ids, &events);
    let mut copy = tx
        .copy_in_raw(
            "COPY events (id, subject, kind, item, purpose, at, sealed_properties)
             FROM STDIN (FORMAT BINARY)",
        )
        .await?;
    copy.send(body).await?;
    copy.finish().await?;
    out.event_ids.extend(ids);
    Ok(())
}

async fn apply_op(tx: &mut PgConnection, op: WriteOp, out: &mut WriteOutcome) -> Result<()> {
    match op {
        WriteOp::DropLegacySubjectKeys(subjects) => {
            let subjects: Vec<String> = subjects.iter().map(Pseudonym::to_text).collect();
            out.rows_deleted += sqlx::query("DELETE FROM subjects WHERE subject = ANY($1)")
                .bind(subjects)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        WriteOp::PutLegacySubjectKeys(k) => {
            sqlx::query(
                "INSERT INTO subjects (subject, wrapped_data_key, commitment_salt)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (subject) DO UPDATE
                 SET wrapped_data_key = EXCLUDED.wrapped_data_key,
                     commitment_salt = EXCLUDED.commitment_salt",
            )
            .bind(k.subject.to_text())
            .bind(k.wrapped_data_key)
            .bind(k.commitment_salt)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::PutPolicy(p) => {
            sqlx::query("INSERT INTO policies (version, published_at, body) VALUES ($1, $2, $3)")
                .bind(i64::from(p.version))
                .bind(p.published_at.0)
                .bind(p.body)
                .execute(&mut *tx)
                .await?;
        }
        WriteOp::PutConsent(c) => {
            sqlx::query(
                "INSERT INTO consents
                 (subject, record_id, purpose, state, policy_version, source, at, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(c.subject.to_text())
            .bind(c.record_id)
            .bind(c.purpose.as_str())
            .bind(c.state)
            .bind(i64::from(c.policy_version))
            .bind(c.source)
            .bind(c.at.0)
            .bind(c.body)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::PutEvents(events) => insert_events(tx, events, out).await?,
        WriteOp::DeleteEvent { subject, id } => {
            out.rows_deleted += sqlx::query("DELETE FROM events WHERE subject = $1 AND id = $2")
                .bind(subject.to_text())
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        WriteOp::AppendLedger {
            index,
            leaf_hash,
            entry,
        } => {
            let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger")
                .fetch_one(&mut *tx)
                .await?;
            let index = to_i64(index)?;
            if index != size {
                return Err(DatabaseError::Conflict(format!(
                    "ledger append at index {index}, but the ledger has {size} entries"
                )));
            }
            // A concurrent appender of the same index fails on the key.
            sqlx::query("INSERT INTO ledger (idx, leaf_hash, entry) VALUES ($1, $2, $3)")
                .bind(index)
                .bind(&leaf_hash[..])
                .bind(entry)
                .execute(&mut *tx)
                .await?;
        }
        WriteOp::PutTreeHead { size, bytes } => {
            sqlx::query(
                "INSERT INTO tree_heads (size, bytes) VALUES ($1, $2)
                 ON CONFLICT (size) DO UPDATE SET bytes = EXCLUDED.bytes",
            )
            .bind(to_i64(size)?)
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::EraseSubject(subject) => {
            let s = subject.to_text();
            for table in ["events", "consents", "interests", "subjects"] {
                out.rows_deleted += sqlx::query(&format!("DELETE FROM {table} WHERE subject = $1"))
                    .bind(&s)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            sqlx::query("DELETE FROM change_notes WHERE subject = $1")
                .bind(&s)
                .execute(&mut *tx)
                .await?;
        }
        WriteOp::PutItem(i) => {
            sqlx::query(
                "INSERT INTO items (item, category, title, repeatable) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (item) DO UPDATE SET category = EXCLUDED.category,
                     title = EXCLUDED.title, repeatable = EXCLUDED.repeatable",
            )
            .bind(i.item.as_str())
            .bind(i.category)
            .bind(i.title)
            .bind(i.repeatable)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::PutInterest(i) => {
            sqlx::query(
                "INSERT INTO interests (subject, category, weight, removed) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (subject, category) DO UPDATE
                 SET weight = EXCLUDED.weight, removed = EXCLUDED.removed",
            )
            .bind(i.subject.to_text())
            .bind(i.category)
            .bind(i.weight)
            .bind(i.removed)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::RemoveInterest { subject, category } => {
            sqlx::query(
                "INSERT INTO interests (subject, category, weight, removed) VALUES ($1, $2, 0, TRUE)
                 ON CONFLICT (subject, category) DO UPDATE SET removed = TRUE",
            )
            .bind(subject.to_text())
            .bind(category)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::PutSetting { name, value } => {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::DeleteSetting { name } => {
            sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        WriteOp::InsertSetting { name, value } => {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        WriteOp::AddDayCounts(counts) => {
            // One statement per op, sorted: two processes adding to the same
            // counters lock their rows in the same order and cannot deadlock.
            let mut counts = counts;
            counts.sort_by(|a, b| (a.day, &a.counter).cmp(&(b.day, &b.counter)));
            let days: Vec<i64> = counts.iter().map(|c| c.day).collect();
            let counters: Vec<String> = counts.iter().map(|c| c.counter.clone()).collect();
            let adds = counts
                .iter()
                .map(|c| to_i64(c.count))
                .collect::<Result<Vec<i64>>>()?;
            sqlx::query(
                "INSERT INTO day_counts (day, counter, count)
                 SELECT day, counter, SUM(count)
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[]) AS t(day, counter, count)
                 GROUP BY day, counter ORDER BY day, counter
                 ON CONFLICT (day, counter) DO UPDATE SET count = day_counts.count + EXCLUDED.count",
            )
            .bind(days)
            .bind(counters)
            .bind(adds)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::DeleteDayCounts(days) => {
            sqlx::query("DELETE FROM day_counts WHERE day = ANY($1)")
                .bind(days)
                .execute(&mut *tx)
                .await?;
        }
        op @ (WriteOp::PutFootfallStore(_)
        | WriteOp::PutVisitSessions(_)
        | WriteOp::DeleteDeviceSessions(_)
        | WriteOp::DeleteVisitSessionsBefore { .. }
        | WriteOp::PutDeviceOptOut { .. }) => super::footfall::apply_op(tx, op, out).await?,
        op @ (WriteOp::NoteChange(_) | WriteOp::PruneChangeNotes { .. }) => {
            super::replicas::apply_op(tx, op, out).await?
        }
        op @ (WriteOp::PutInsightEvents(_)
        | WriteOp::SetInsightBudget { .. }
        | WriteOp::ChargeInsightBudget { .. }) => super::insights::apply_op(tx, op, out).await?,
    }
    Ok(())
}

/// The events as one COPY BINARY stream: header, one tuple per event,
/// trailer. COPY skips the per-row parameter arrays UNNEST builds and
/// parses.
fn copy_rows(ids: &[i64], events: &[NewEvent]) -> Vec<u8> {
    fn field(buf: &mut Vec<u8>, bytes: &[u8]) {
        let len = i32::try_from(bytes.len()).expect("a field under 2 GiB");
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::with_capacity(19 + events.len() * 256);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for (id, e) in ids.iter().zip(events) {
        buf.extend_from_slice(&7i16.to_be_bytes());
        field(&mut buf, &id.to_be_bytes());
        field(&mut buf, e.subject.to_text().as_bytes());
        field(&mut buf, e.kind.as_str().as_bytes());
        match &e.item {
            Some(item) => field(&mut buf, item.as_str().as_bytes()),
            None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        field(&mut buf, e.purpose.as_str().as_bytes());
        field(&mut buf, &e.at.0.to_be_bytes());
        field(&mut buf, &e.sealed_properties);
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    buf
}
