//! The footfall area on SQLite.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Timestamp};
use rusqlite::{params, Row, Transaction};

use super::SqliteDatabase;
use crate::rows;
use crate::{
    DatabaseError, FootfallStoreRow, FootfallTables, Result, VisitSessionRow, WriteOp, WriteOutcome,
};

const SESSION_COLS: &str =
    "store_id, device, randomized, first_at, last_at, max_rssi, sightings, is_visit";

type RawSession = (String, String, bool, i64, i64, i64, i64, bool);

fn raw_session(r: &Row<'_>) -> rusqlite::Result<RawSession> {
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

fn session(raw: RawSession) -> Result<VisitSessionRow> {
    let (store_id, device, randomized, first, last, max_rssi, sightings, is_visit) = raw;
    Ok(VisitSessionRow {
        store_id,
        device: rows::subject(&device)?,
        randomized,
        first: Timestamp(first),
        last: Timestamp(last),
        max_rssi: i16::try_from(max_rssi)
            .map_err(|_| DatabaseError::Corrupt(format!("rssi {max_rssi}")))?,
        sightings: u32::try_from(sightings)
            .map_err(|_| DatabaseError::Corrupt(format!("sightings {sightings}")))?,
        is_visit,
        opt_out_digest: None,
    })
}

pub(super) fn apply_op(tx: &Transaction<'_>, op: WriteOp, out: &mut WriteOutcome) -> Result<()> {
    match op {
        WriteOp::PutFootfallStore(s) => {
            tx.prepare_cached(
                "INSERT INTO footfall_stores (store_id, config, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![s.store_id, s.config, s.created_at.0])?;
        }
        WriteOp::PutVisitSessions(sessions) => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO footfall_sessions
                 (device, store_id, first_at, period, randomized, last_at, max_rssi, sightings, is_visit)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
                 WHERE ?10 IS NULL
                    OR NOT EXISTS (SELECT 1 FROM footfall_opt_outs WHERE digest = ?10)",
            )?;
            for s in sessions {
                stmt.execute(params![
                    s.device.to_text(),
                    s.store_id,
                    s.first.0,
                    s.device.key_id,
                    s.randomized,
                    s.last.0,
                    s.max_rssi,
                    s.sightings,
                    s.is_visit,
                    s.opt_out_digest.map(|d| d.to_vec())
                ])?;
            }
        }
        WriteOp::DeleteDeviceSessions(devices) => {
            let mut stmt = tx.prepare_cached("DELETE FROM footfall_sessions WHERE device = ?1")?;
            for d in devices {
                out.rows_deleted += stmt.execute([d.to_text()])? as u64;
            }
        }
        WriteOp::DeleteVisitSessionsBefore { period } => {
            out.rows_deleted += tx
                .prepare_cached("DELETE FROM footfall_sessions WHERE period < ?1")?
                .execute([period])? as u64;
        }
        WriteOp::PutDeviceOptOut { digest, at } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO footfall_opt_outs (digest, at) VALUES (?1, ?2)",
            )?
            .execute(params![&digest[..], at.0])?;
        }
        other => unreachable!("not a footfall op: {other:?}"),
    }
    Ok(())
}

#[async_trait]
impl FootfallTables for SqliteDatabase {
    async fn footfall_stores(&self) -> Result<Vec<FootfallStoreRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT store_id, config, created_at FROM footfall_stores ORDER BY store_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(FootfallStoreRow {
                    store_id: r.get(0)?,
                    config: r.get(1)?,
                    created_at: Timestamp(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn visit_sessions(
        &self,
        store_id: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<VisitSessionRow>> {
        let store_id = store_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM footfall_sessions
                 WHERE store_id = ?1 AND first_at >= ?2 AND first_at < ?3
                 ORDER BY first_at, device"
            ))?;
            let raws = stmt.query_map(params![store_id, from.0, to.0], raw_session)?;
            raws.map(|r| session(r?)).collect()
        })
        .await
    }

    async fn visit_sessions_of(&self, device: &Pseudonym) -> Result<Vec<VisitSessionRow>> {
        let device = device.to_text();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {SESSION_COLS} FROM footfall_sessions WHERE device = ?1 ORDER BY first_at"
            ))?;
            let raws = stmt.query_map([device], raw_session)?;
            raws.map(|r| session(r?)).collect()
        })
        .await
    }

    async fn device_opt_outs(&self) -> Result<Vec<[u8; 32]>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT digest FROM footfall_opt_outs")?;
            let raws = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
            raws.map(|r| rows::hash32(&r?)).collect()
        })
        .await
    }
}
