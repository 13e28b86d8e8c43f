//! Several fineline processes on one PostgreSQL database (replicas).
//!
//! Each process keeps in memory what it must answer fast: the ledger's
//! tree, the consent index, unwrapped keys, the recommender. What another
//! process changed reaches them through the database: the ledger's leaves
//! and heads, and the change notes written in the same transaction as
//! each consent change, erasure and policy (`fineline_db::ReplicaTables`).
//!
//! - **When**: before every ingestion batch's consent check and every
//!   consent change, erasure and policy publication (so a withdrawal
//!   another process acknowledged is never missed where it decides what
//!   is stored), and every [`CATCH_UP_EVERY`] in the background (so reads
//!   — tree heads, proofs, recommendations — lag by at most that).
//! - **Leader**: work that must happen once (daily seals, retention,
//!   pruning the notes) runs only in the process holding the database's
//!   leader lock; the others try for it every [`LEAD_EVERY`], so a dead
//!   leader is replaced within about that.
//!
//! The embedded database belongs to one process: none of this runs there.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fineline_consent::Policy;
use fineline_core::Timestamp;
use fineline_db::{ChangeKind, ChangeNote, WriteOp};

use crate::consent_rows::StoredConsent;
use crate::{App, AppError};

/// How often a process takes in the others' changes when nothing else
/// made it: the bound on how stale its reads can be.
pub const CATCH_UP_EVERY: Duration = Duration::from_millis(200);

/// How often a process tries to become (or checks it still is) the leader.
pub const LEAD_EVERY: Duration = Duration::from_millis(500);

/// How long change notes are kept: a process further behind reloads its
/// whole state instead.
pub const NOTES_KEPT: Duration = Duration::from_secs(600);

/// How often a replica takes in foot-traffic stores registered through
/// another (a row in the database, no change note: registering writes no
/// ledger entry).
pub const STORES_EVERY: Duration = Duration::from_secs(5);

/// This process's place among the replicas.
#[derive(Default)]
pub struct Replica {
    /// Ledger size up to which every change note is applied here.
    applied: AtomicU64,
    /// Whether this process held the leader lock at its last try.
    leader: AtomicBool,
    /// One catch-up at a time.
    turn: tokio::sync::Mutex<()>,
}

impl Replica {
    /// Starts at the ledger size the process loaded its state at.
    pub(crate) fn new(loaded_at: u64) -> Self {
        Replica {
            applied: AtomicU64::new(loaded_at),
            ..Default::default()
        }
    }
}

impl App {
    /// Whether this process does the deployment's once-only work now.
    pub fn is_leader(&self) -> bool {
        !self.database.shared() || self.replica.leader.load(Ordering::Acquire)
    }

    /// Try to become (or stay) the leader; returns whether this process is.
    pub async fn contend_for_leadership(&self) -> Result<bool, AppError> {
        let leads = self.database.lead().await?;
        let was = self.replica.leader.swap(leads, Ordering::AcqRel);
        if leads != was {
            tracing::info!(leader = leads, "leadership changed");
        }
        Ok(leads)
    }

    /// Give up leadership (a graceful stop), so another process takes over
    /// at its next try.
    pub async fn resign_leadership(&self) {
        self.replica.leader.store(false, Ordering::Release);
        if let Err(e) = self.database.resign().await {
            tracing::warn!(error = %e, "could not release the leader lock");
        }
    }

    /// Take in what the deployment's other processes committed: ledger
    /// leaves and head, then each change note in ledger order. Cheap when
    /// nothing changed (one query). A no-op on the embedded database.
    pub async fn catch_up(&self) -> Result<(), AppError> {
        if !self.database.shared() {
            return Ok(());
        }
        let size = self.ledger.catch_up(self.database()).await?;
        if size <= self.replica.applied.load(Ordering::Acquire) {
            return Ok(());
        }
        let _one = self.replica.turn.lock().await;
        let from = self.replica.applied.load(Ordering::Acquire);
        if size <= from {
            return Ok(());
        }
        // Hold off local consent writers: a person's records reloaded from
        // the database must not overwrite a change committed meanwhile.
        let _consent = self.order.consent().await;
        if from < self.database.change_notes_pruned_below().await? {
            self.reload_consents().await?;
        } else {
            for note in self.database.change_notes_from(from).await? {
                if note.ledger_index >= size {
                    break;
                }
                self.apply_note(&note).await?;
            }
        }
        self.replica.applied.store(size, Ordering::Release);
        Ok(())
    }

    async fn apply_note(&self, note: &ChangeNote) -> Result<(), AppError> {
        match (note.kind, note.subject) {
            (ChangeKind::Policy, _) => self.reload_policies().await,
            (ChangeKind::DeviceOptOut, Some(device)) => {
                self.footfall.apply_opt_out(device.digest).await;
                Ok(())
            }
            (ChangeKind::Erasure, Some(subject)) => {
                self.forget_subject(&subject);
                Ok(())
            }
            (ChangeKind::Consent, Some(subject)) => {
                let rows = self.database.consents_for(&subject).await?;
                let mut records = Vec::with_capacity(rows.len());
                for row in rows {
                    let stored: StoredConsent =
                        serde_json::from_slice(&row.body).map_err(AppError::internal)?;
                    records.push(stored.record);
                }
                {
                    let mut index = self.consents.write().unwrap();
                    index.forget(&subject);
                    for r in &records {
                        index.record(r);
                    }
                }
                self.recs.consent_changed(self, &subject);
                Ok(())
            }
            (kind, None) => Err(AppError::internal(format!(
                "change note {} of kind {kind:?} names nobody",
                note.ledger_index
            ))),
        }
    }

    async fn reload_policies(&self) -> Result<(), AppError> {
        let known = self.consents.read().unwrap().policies().all().len();
        let rows = self.database.policies().await?;
        let mut index = self.consents.write().unwrap();
        for row in rows.iter().skip(known) {
            let p: Policy = serde_json::from_slice(&row.body).map_err(AppError::internal)?;
            index.publish(p).map_err(AppError::internal)?;
        }
        Ok(())
    }

    /// Notes this process needed were pruned: rebuild the consent index
    /// from every stored record, and drop every cached key (an erasure
    /// among the missed changes must not leave one behind).
    async fn reload_consents(&self) -> Result<(), AppError> {
        self.reload_policies().await?;
        let rows = self.database.all_consents().await?;
        let policies = self.consents.read().unwrap().policies().as_ref().clone();
        let mut index = fineline_consent::ConsentIndex::new(policies);
        for row in rows {
            let stored: StoredConsent =
                serde_json::from_slice(&row.body).map_err(AppError::internal)?;
            index.record(&stored.record);
        }
        *self.consents.write().unwrap() = index;
        self.forget_all_subject_keys();
        for digest in self.database.device_opt_outs().await? {
            self.footfall.apply_opt_out(digest).await;
        }
        tracing::warn!("replica fell behind the kept change notes; consent state reloaded");
        Ok(())
    }
}

/// The note a consent change, erasure or policy writes with its entries.
pub(crate) fn note(
    kind: ChangeKind,
    subject: Option<fineline_core::Pseudonym>,
    first_index: u64,
) -> WriteOp {
    WriteOp::NoteChange(ChangeNote {
        ledger_index: first_index,
        kind,
        subject,
        at: Timestamp::now(),
    })
}

/// Catch up every [`CATCH_UP_EVERY`] and contend for leadership every
/// [`LEAD_EVERY`], until aborted; the leader also prunes old notes.
/// Nothing to do (no task) on the embedded database.
pub fn spawn(app: App) -> Option<tokio::task::JoinHandle<()>> {
    if !app.database.shared() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CATCH_UP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_lead = tokio::time::Instant::now() - LEAD_EVERY;
        let mut last_prune = tokio::time::Instant::now();
        let mut last_stores = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if last_stores.elapsed() >= STORES_EVERY {
                last_stores = tokio::time::Instant::now();
                if let Err(e) = app.adopt_footfall_stores().await {
                    tracing::warn!(error = %e, "taking in new stores failed; will retry");
                }
            }
            if let Err(e) = app.catch_up().await {
                tracing::warn!(error = %e, "catching up with the other replicas failed; will retry");
            }
            if last_lead.elapsed() >= LEAD_EVERY {
                last_lead = tokio::time::Instant::now();
                if let Err(e) = app.contend_for_leadership().await {
                    app.replica.leader.store(false, Ordering::Release);
                    tracing::warn!(error = %e, "leader election failed; not leading");
                }
            }
            if app.is_leader() && last_prune.elapsed() >= NOTES_KEPT / 10 {
                last_prune = tokio::time::Instant::now();
                let before = Timestamp::now().plus_millis(-(NOTES_KEPT.as_millis() as i64));
                let op = WriteOp::PruneChangeNotes { before };
                if let Err(e) = app.database.apply(op.into()).await {
                    tracing::warn!(error = %e, "pruning change notes failed; will retry");
                }
            }
        }
    }))
}
