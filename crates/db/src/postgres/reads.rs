use async_trait::async_trait;
use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PostgresDatabase;
use crate::rows;
use crate::{
    CatalogTables, ConsentCursor, ConsentRow, ConsentTables, DatabaseError, EventCursor, EventPage,
    EventRow, EventScan, EventTables, InterestRow, ItemRow, LedgerTables, LegacyKeyRow, PolicyRow,
    Result, SettingsTable, SubjectTables,
};

const CONSENT_COLS: &str = "subject, record_id, purpose, state, policy_version, source, at, body";
const EVENT_COLS: &str = "id, subject, kind, item, purpose, at, sealed_properties";

fn u32_col(r: &PgRow, i: usize) -> Result<u32> {
    let v: i64 = r.try_get(i)?;
    u32::try_from(v).map_err(|_| DatabaseError::Corrupt(format!("{v} is not a u32")))
}

fn consent(r: PgRow) -> Result<ConsentRow> {
    Ok(ConsentRow {
        subject: rows::subject(r.try_get(0)?)?,
        record_id: r.try_get(1)?,
        purpose: rows::purpose(r.try_get(2)?)?,
        state: r.try_get(3)?,
        policy_version: u32_col(&r, 4)?,
        source: r.try_get(5)?,
        at: Timestamp(r.try_get(6)?),
        body: r.try_get(7)?,
    })
}

fn event(r: PgRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get(0)?,
        subject: rows::subject(r.try_get(1)?)?,
        kind: rows::kind(r.try_get(2)?)?,
        item: rows::opt_item(r.try_get(3)?)?,
        purpose: rows::purpose(r.try_get(4)?)?,
        at: Timestamp(r.try_get(5)?),
        sealed_properties: r.try_get(6)?,
    })
}

fn item(r: PgRow) -> Result<ItemRow> {
    Ok(ItemRow {
        item: rows::item(r.try_get(0)?)?,
        category: r.try_get(1)?,
        title: r.try_get(2)?,
        repeatable: r.try_get(3)?,
    })
}

#[async_trait]
impl ConsentTables for PostgresDatabase {
    async fn policies(&self) -> Result<Vec<PolicyRow>> {
        sqlx::query("SELECT version, published_at, body FROM policies ORDER BY version")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                Ok(PolicyRow {
                    version: u32_col(&r, 0)?,
                    published_at: Timestamp(r.try_get(1)?),
                    body: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn consents_for(&self, subject: &Pseudonym) -> Result<Vec<ConsentRow>> {
        sqlx::query(&format!(
            "SELECT {CONSENT_COLS} FROM consents WHERE subject = $1 ORDER BY at, record_id"
        ))
        .bind(subject.to_text())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(consent)
        .collect()
    }

    async fn consents_page(
        &self,
        after: Option<ConsentCursor>,
        limit: usize,
    ) -> Result<Vec<ConsentRow>> {
        let (s, id) = after
            .map(|a| (a.subject.to_text(), a.record_id))
            .unwrap_or_default();
        // Subject and record id columns are COLLATE "C": byte order, as in SQLite.
        sqlx::query(&format!(
            "SELECT {CONSENT_COLS} FROM consents
             WHERE (subject, record_id) > ($1, $2)
             ORDER BY subject, record_id LIMIT $3"
        ))
        .bind(s)
        .bind(id)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(consent)
        .collect()
    }
}

#[async_trait]
impl EventTables for PostgresDatabase {
    async fn events_for(&self, subject: &Pseudonym) -> Result<Vec<EventRow>> {
        sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM events WHERE subject = $1 ORDER BY id"
        ))
        .bind(subject.to_text())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(event)
        .collect()
    }

    async fn scan_events(
        &self,
        scan: EventScan,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<EventPage> {
        let after_id = after.map_or(0, |a| a.id);
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM events
             WHERE id > $1 AND at >= $2 AND at < $3 AND ($4::text IS NULL OR purpose = $4)
             ORDER BY id LIMIT $5"
        ))
        .bind(after_id)
        .bind(scan.from.0)
        .bind(scan.to.0)
        .bind(scan.purpose.map(Purpose::as_str))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(event)
        .collect::<Result<Vec<_>>>()?;
        let next = match rows.last() {
            Some(last) if rows.len() == limit => Some(EventCursor {
                part: 0,
                key: 0,
                id: last.id,
            }),
            _ => None,
        };
        Ok(EventPage { rows, next })
    }

    async fn count_events(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?;
        rows::to_u64(n)
    }

    async fn delete_events_before(&self, purpose: Purpose, cutoff: Timestamp) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM events WHERE purpose = $1 AND at < $2")
                .bind(purpose.as_str())
                .bind(cutoff.0)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}

#[async_trait]
impl SubjectTables for PostgresDatabase {
    async fn legacy_subject_keys(&self) -> Result<Vec<LegacyKeyRow>> {
        let found = sqlx::query(
            "SELECT subject, wrapped_data_key, commitment_salt FROM subjects ORDER BY subject",
        )
        .fetch_all(&self.pool)
        .await?;
        found
            .into_iter()
            .map(|r| {
                Ok(LegacyKeyRow {
                    subject: rows::subject(&r.try_get::<String, _>(0)?)?,
                    wrapped_data_key: r.try_get(1)?,
                    commitment_salt: r.try_get(2)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl CatalogTables for PostgresDatabase {
    async fn item(&self, id: &ItemId) -> Result<Option<ItemRow>> {
        sqlx::query("SELECT item, category, title, repeatable FROM items WHERE item = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(item)
            .transpose()
    }

    async fn items(&self) -> Result<Vec<ItemRow>> {
        sqlx::query("SELECT item, category, title, repeatable FROM items ORDER BY item")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(item)
            .collect()
    }

    async fn interests_for(&self, subject: &Pseudonym) -> Result<Vec<InterestRow>> {
        sqlx::query(
            "SELECT category, weight, removed FROM interests WHERE subject = $1 ORDER BY category",
        )
        .bind(subject.to_text())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            Ok(InterestRow {
                subject: *subject,
                category: r.try_get(0)?,
                weight: r.try_get(1)?,
                removed: r.try_get(2)?,
            })
        })
        .collect()
    }
}

#[async_trait]
impl LedgerTables for PostgresDatabase {
    async fn ledger_leaves_from(&self, from: u64) -> Result<Vec<(u64, [u8; 32])>> {
        sqlx::query("SELECT idx, leaf_hash FROM ledger WHERE idx >= $1 ORDER BY idx")
            .bind(rows::to_i64(from)?)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| {
                let hash: Vec<u8> = r.try_get(1)?;
                Ok((rows::to_u64(r.try_get(0)?)?, rows::hash32(&hash)?))
            })
            .collect()
    }

    async fn ledger_entry(&self, index: u64) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT entry FROM ledger WHERE idx = $1")
                .bind(rows::to_i64(index)?)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn ledger_size(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger")
            .fetch_one(&self.pool)
            .await?;
        rows::to_u64(n)
    }

    async fn latest_tree_head(&self) -> Result<Option<(u64, Vec<u8>)>> {
        let row = sqlx::query("SELECT size, bytes FROM tree_heads ORDER BY size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((rows::to_u64(r.try_get(0)?)?, r.try_get(1)?)))
            .transpose()
    }
}

#[async_trait]
impl SettingsTable for PostgresDatabase {
    async fn setting(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn settings_under(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(
            "SELECT name, value FROM settings WHERE starts_with(name, $1) ORDER BY name",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn day_counts(&self) -> Result<Vec<crate::DayCount>> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT day, counter, count FROM day_counts ORDER BY day, counter")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(day, counter, count)| crate::DayCount {
                day,
                counter,
                count: count.max(0) as u64,
            })
            .collect())
    }
}
