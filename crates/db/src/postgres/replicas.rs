//! Several fineline processes on one PostgreSQL database: change notes,
//! the ledger's append lock and the leader's lock.
//!
//! Both locks are session advisory locks keyed by the schema, so
//! deployments (and parallel tests, each in its own schema) on one server
//! never share one, each held on a connection of its own outside the pool:
//! when a process dies its connections close and the server releases its
//! locks at once. The ledger lock is held for one append (catch up, write,
//! commit), so appenders in different processes take turns instead of
//! colliding on the next index; the leader lock for as long as the
//! process leads.

use async_trait::async_trait;
use fineline_core::Timestamp;
use sqlx::{Connection, PgConnection, Row};

use super::PostgresDatabase;
use crate::rows;
use crate::{ChangeKind, ChangeNote, DatabaseError, LedgerTurn, ReplicaTables, Result};

/// Where the ledger size below which notes were pruned is kept.
const PRUNED_SETTING: &str = "replicas/notes_pruned_below";

/// The advisory lock keys of one schema.
#[derive(Debug, Clone, Copy)]
pub(super) struct LockKeys {
    pub(super) ledger: i64,
    pub(super) leader: i64,
    schema: u64,
}

/// FNV-1a: stable across versions and processes, unlike std's hasher.
fn fnv(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl LockKeys {
    /// Keys derived from the schema's name.
    pub(super) fn for_schema(schema: &str) -> Self {
        let h = fnv(0xcbf2_9ce4_8422_2325, schema.as_bytes());
        // Distinct from the migration lock, which is one per server.
        LockKeys {
            ledger: (h & !1) as i64,
            leader: (h | 1) as i64,
            schema: h,
        }
    }

    /// The key of the schema's lock called `name` (see
    /// `ReplicaTables::deployment_lock`).
    pub(super) fn named(&self, name: &str) -> i64 {
        fnv(self.schema, format!("/{name}").as_bytes()) as i64
    }
}

pub(super) async fn apply_op(
    tx: &mut PgConnection,
    op: crate::WriteOp,
    _out: &mut crate::WriteOutcome,
) -> Result<()> {
    match op {
        crate::WriteOp::NoteChange(note) => {
            sqlx::query(
                "INSERT INTO change_notes (ledger_index, kind, subject, at) VALUES ($1, $2, $3, $4)",
            )
            .bind(rows::to_i64(note.ledger_index)?)
            .bind(note.kind.code())
            .bind(note.subject.map(|s| s.to_text()))
            .bind(note.at.0)
            .execute(&mut *tx)
            .await?;
        }
        crate::WriteOp::PruneChangeNotes { before } => {
            let pruned: Option<i64> = sqlx::query_scalar(
                "WITH d AS (DELETE FROM change_notes WHERE at < $1 RETURNING ledger_index)
                 SELECT MAX(ledger_index) + 1 FROM d",
            )
            .bind(before.0)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(below) = pruned {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
                     WHERE convert_from(settings.value, 'UTF8')::BIGINT < $3",
                )
                .bind(PRUNED_SETTING)
                .bind(below.to_string().into_bytes())
                .bind(below)
                .execute(&mut *tx)
                .await?;
            }
        }
        other => unreachable!("not a replica op: {other:?}"),
    }
    Ok(())
}

impl PostgresDatabase {
    /// Ends the session holding this schema's leader lock, wherever it
    /// runs (an operator's forced failover; the failover tests' stand-in
    /// for a killed process). Returns how many sessions were ended (0 or 1).
    pub async fn terminate_leader_session(&self) -> Result<u64> {
        // A bigint advisory key shows in pg_locks as its two 32-bit halves.
        let key = self.locks.leader as u64;
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND classid::bigint = $1 AND objid::bigint = $2",
        )
        .bind((key >> 32) as i64)
        .bind((key & 0xffff_ffff) as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(ended.into_iter().filter(|e| *e).count() as u64)
    }
}

#[async_trait]
impl ReplicaTables for PostgresDatabase {
    fn shared(&self) -> bool {
        true
    }

    async fn wal_position(&self) -> Result<Option<crate::WalPosition>> {
        super::standby::wal_position(&self.pool).await.map(Some)
    }

    async fn change_notes_from(&self, from: u64) -> Result<Vec<ChangeNote>> {
        sqlx::query(
            "SELECT ledger_index, kind, subject, at FROM change_notes
             WHERE ledger_index >= $1 ORDER BY ledger_index",
        )
        .bind(rows::to_i64(from)?)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| {
            let code: i16 = r.try_get(1)?;
            let subject: Option<String> = r.try_get(2)?;
            Ok(ChangeNote {
                ledger_index: rows::to_u64(r.try_get(0)?)?,
                kind: ChangeKind::from_code(code.into()).ok_or_else(|| {
                    DatabaseError::Corrupt(format!("unknown change note kind {code}"))
                })?,
                subject: subject.as_deref().map(rows::subject).transpose()?,
                at: Timestamp(r.try_get(3)?),
            })
        })
        .collect()
    }

    async fn change_notes_pruned_below(&self) -> Result<u64> {
        let v: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(PRUNED_SETTING)
            .fetch_optional(&self.pool)
            .await?;
        match v {
            None => Ok(0),
            Some(b) => String::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| DatabaseError::Corrupt(format!("bad {PRUNED_SETTING}"))),
        }
    }

    async fn lead(&self) -> Result<bool> {
        let mut held = self.leader.lock().await;
        if let Some(conn) = held.as_mut() {
            // Still ours while the session lives; a broken connection means
            // the server already released the lock.
            if conn.ping().await.is_ok() {
                return Ok(true);
            }
            *held = None;
        }
        let mut conn = PgConnection::connect_with(&self.options).await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.locks.leader)
            .fetch_one(&mut conn)
            .await?;
        if got {
            *held = Some(conn);
        } else {
            let _ = conn.close().await;
        }
        Ok(got)
    }

    async fn ledger_turn(&self) -> Result<LedgerTurn> {
        // The guard goes with the turn: one turn per process at a time, on
        // the one connection that holds the lock.
        let mut conn = self.ledger_lock.clone().lock_owned().await;
        if conn.is_none() {
            *conn = Some(PgConnection::connect_with(&self.options).await?);
        }
        let key = self.locks.ledger;
        let locked = sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(conn.as_mut().expect("connected above"))
            .await;
        if let Err(e) = locked {
            *conn = None;
            return Err(e.into());
        }
        Ok(LedgerTurn::released_by(async move {
            let mut conn = conn;
            let unlocked = match conn.as_mut() {
                Some(c) => sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(c)
                    .await
                    .is_ok(),
                None => true,
            };
            if !unlocked {
                // Closing the session is what releases the lock then.
                *conn = None;
            }
        }))
    }

    async fn deployment_lock(&self, name: &str) -> Result<LedgerTurn> {
        let key = self.locks.named(name);
        // A pooled connection: the lock is the session's, so it goes back
        // to the pool only unlocked; if unlocking fails it is closed, which
        // releases the lock.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(LedgerTurn::released_by(async move {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await
                .is_ok();
            if !unlocked {
                let _ = conn.detach().close().await;
            }
        }))
    }

    async fn resign(&self) -> Result<()> {
        if let Some(conn) = self.leader.lock().await.take() {
            // Closing the session releases its advisory locks.
            conn.close().await?;
        }
        Ok(())
    }
}
