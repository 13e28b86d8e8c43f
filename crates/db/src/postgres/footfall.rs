//! The footfall area on PostgreSQL.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::PostgresDatabase;
use crate::rows;
use crate::{
    DatabaseError, FootfallStoreRow, FootfallTables, Result, VisitSessionRow, WriteOp, WriteOutcome,
};

const SESSION_COLS: &str =
    "store_id, device, randomized, first_at, last_at, max_rssi, sightings, is_visit";

fn session(r: PgRow) -> Result<VisitSessionRow> {
    let sightings: i64 = r.try_get(6)?;
    Ok(VisitSessionRow {
        store_id: r.try_get(0)?,
        device: rows::subject(r.try_get(1)?)?,
        randomized: r.try_get(2)?,
        first: Timestamp(r.try_get(3)?),
        last: Timestamp(r.try_get(4)?),
        max_rssi: r.try_get(5)?,
        sightings: u32::try_from(sightings)
            .map_err(|_| DatabaseError::Corrupt(format!("sightings {sightings}")))?,
        is_visit: r.try_get(7)?,
        opt_out_digest: None,
    })
}

pub(super) async fn apply_op(
    tx: &mut PgConnection,
    op: WriteOp,
    out: &mut WriteOutcome,
) -> Result<()> {
    match op {
        WriteOp::PutFootfallStore(s) => {
            sqlx::query(
                "INSERT INTO footfall_stores (store_id, config, created_at) VALUES ($1, $2, $3)",
            )
            .bind(s.store_id)
            .bind(s.config)
            .bind(s.created_at.0)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::PutVisitSessions(sessions) => {
            if sessions.is_empty() {
                return Ok(());
            }
            let n = sessions.len();
            let mut cols = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let mut opt_outs: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
            for s in sessions {
                opt_outs.push(s.opt_out_digest.map(|d| d.to_vec()));
                cols.0.push(s.device.to_text());
                cols.1.push(s.store_id);
                cols.2.push(s.first.0);
                cols.3.push(i64::from(s.device.key_id));
                cols.4.push(s.randomized);
                cols.5.push(s.last.0);
                cols.6.push(s.max_rssi);
                cols.7.push(i64::from(s.sightings));
                cols.8.push(s.is_visit);
            }
            // One statement per batch: a request's closed sessions cost one round trip.
            sqlx::query(
                "INSERT INTO footfall_sessions
                 (device, store_id, first_at, period, randomized, last_at, max_rssi, sightings, is_visit)
                 SELECT d, s, f, p, r, l, m, n, v
                 FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::bool[],
                             $6::int8[], $7::int2[], $8::int8[], $9::bool[], $10::bytea[])
                      AS t(d, s, f, p, r, l, m, n, v, o)
                 WHERE t.o IS NULL
                    OR NOT EXISTS (SELECT 1 FROM footfall_opt_outs x WHERE x.digest = t.o)
                 ON CONFLICT DO NOTHING",
            )
            .bind(cols.0)
            .bind(cols.1)
            .bind(cols.2)
            .bind(cols.3)
            .bind(cols.4)
            .bind(cols.5)
            .bind(cols.6)
            .bind(cols.7)
            .bind(cols.8)
            .bind(opt_outs)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::DeleteDeviceSessions(devices) => {
            let devices: Vec<String> = devices.iter().map(|d| d.to_text()).collect();
            out.rows_deleted +=
                sqlx::query("DELETE FROM footfall_sessions WHERE device = ANY($1::text[])")
                    .bind(devices)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        WriteOp::DeleteVisitSessionsBefore { period } => {
            out.rows_deleted += sqlx::query("DELETE FROM footfall_sessions WHERE period < $1")
                .bind(i64::from(period))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        WriteOp::PutDeviceOptOut { digest, at } => {
            sqlx::query(
                "INSERT INTO footfall_opt_outs (digest, at) VALUES ($1, $2)
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(&digest[..])
            .bind(at.0)
            .execute(&mut *tx)
            .await?;
        }
        other => unreachable!("not a footfall op: {other:?}"),
    }
    Ok(())
}

#[async_trait]
impl FootfallTables for PostgresDatabase {
    async fn footfall_stores(&self) -> Result<Vec<FootfallStoreRow>> {
        let rows = sqlx::query(
            "SELECT store_id, config, created_at FROM footfall_stores ORDER BY store_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(FootfallStoreRow {
                    store_id: r.try_get(0)?,
                    config: r.try_get(1)?,
                    created_at: Timestamp(r.try_get(2)?),
                })
            })
            .collect()
    }

    async fn visit_sessions(
        &self,
        store_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<VisitSessionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM footfall_sessions
             WHERE store_id = $1 AND first_at >= $2 AND first_at < $3
             ORDER BY first_at, device"
        ))
        .bind(store_id)
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(session).collect()
    }

    async fn visit_sessions_of(&self, device: &Pseudonym) -> Result<Vec<VisitSessionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM footfall_sessions WHERE device = $1 ORDER BY first_at"
        ))
        .bind(device.to_text())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(session).collect()
    }

    async fn device_opt_outs(&self) -> Result<Vec<[u8; 32]>> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar("SELECT digest FROM footfall_opt_outs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|d| rows::hash32(d)).collect()
    }
}
