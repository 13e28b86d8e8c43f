//! Keeping the dataset a whole copy of the record while several processes
//! (replicas on one database) copy into it, any of which may die with rows
//! queued.
//!
//! Each process records how far it has flushed ([`Analytics::flush`]); one
//! whose record stops moving for [`Analytics::with_stale_after`] is taken
//! for dead. A process starting alone makes a copy that needs it again
//! before serving; with other writers live it asks for a repair instead of
//! clearing files they are writing to. The leader repairs: it copies every
//! stored event again while the others keep writing, waits until each has
//! flushed past the end of that copy, then compacts keeping one row per
//! (person, event). While a repair is asked for, answers come from the
//! record ([`Analytics::under_repair`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fineline_analytics::{CopyState, Marks, RepairRequest, Writer};
use fineline_core::{Pseudonym, Timestamp};
use fineline_db::EventScan;
use fineline_vault::{subject_aad, SubjectKeys};

use super::{person_number, to_capture, Analytics, MERGE_OVER};
use crate::error::AppError;
use crate::insights_data::{capture, EventView};
use crate::state::App;

/// Events per page when the dataset is made again from the database.
const REBUILD_PAGE: usize = 20_000;
/// Between a committed event and its row in the queue (the same task, but
/// it may be descheduled): a repair waits for flushes this far past its copy.
const QUEUE_LAG_MS: i64 = 2_000;

/// What a repair did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    /// Rows copied again from the record.
    pub copied: u64,
    /// Rows the compaction after it found twice (a live writer's and the
    /// repair's) and kept once.
    pub duplicates_dropped: usize,
    /// Dead writers whose lost rows the copy made up for.
    pub dead_writers: usize,
}

impl Analytics {
    fn stale_ms(&self) -> i64 {
        self.stale_after.as_millis() as i64
    }

    /// Whether `w`, another writer, has recorded a flush recently enough
    /// to be alive. On an embedded database no other process writes, so
    /// any other writer's object was left by a process that died.
    fn alive(&self, w: &Writer, now: i64) -> bool {
        w.id != self.writer
            && self.shared.load(Ordering::Acquire)
            && now - w.flushed_through <= self.stale_ms()
    }

    /// After a flush that started at `through`: records it for the other
    /// writers, every second while rows flow and every sixth of the stale
    /// time when idle. Silent for longer than that time, this process may
    /// have been taken for dead by a repair (which then deletes its record)
    /// and its late rows written twice: it asks for another, which drops them.
    pub(super) async fn flushed_through(&self, through: i64, wrote: bool) -> Result<(), AppError> {
        let last = *self.beat.lock().unwrap();
        let every = if wrote { 1_000 } else { self.stale_ms() / 6 };
        if last.is_some_and(|l| through - l < every.max(1)) {
            return Ok(());
        }
        let silent = self.shared.load(Ordering::Acquire)
            && last.is_some_and(|l| through - l > self.stale_ms());
        let taken_for_dead = silent && {
            let listed = self.dataset.writers().await.map_err(AppError::internal)?;
            !listed.iter().any(|w| w.id == self.writer)
                || self
                    .dataset
                    .repair_pending()
                    .await
                    .map_err(AppError::internal)?
        };
        self.dataset
            .writer_flushed(&self.writer, through)
            .await
            .map_err(AppError::internal)?;
        *self.beat.lock().unwrap() = Some(through);
        if taken_for_dead {
            tracing::warn!(
                "this process was silent long enough to be taken for dead by a repair; \
                 asking for another"
            );
            self.dataset
                .request_repair("a writer taken for dead wrote again")
                .await
                .map_err(AppError::internal)?;
        }
        Ok(())
    }

    /// After a copy from the record: forgets the writers that were dead
    /// before it began (everything they committed was in the record it read;
    /// one that died since asks for the next repair), records the copy
    /// whole, and deletes the repair requests it answered (not any asked
    /// for meanwhile).
    async fn whole_again(
        &self,
        dead: &[Writer],
        requests: &[RepairRequest],
    ) -> Result<(), AppError> {
        for w in dead {
            self.dataset
                .writer_gone(&w.id)
                .await
                .map_err(AppError::internal)?;
        }
        self.dataset
            .set_copy_state(CopyState::Filled)
            .await
            .map_err(AppError::internal)?;
        self.dataset
            .repaired(requests)
            .await
            .map_err(AppError::internal)
    }

    /// Whether a repair is asked for: the copy may miss a dead writer's rows.
    pub(super) async fn under_repair(&self) -> Result<bool, AppError> {
        self.dataset.repair_pending().await.map_err(|e| {
            AppError::Unavailable(format!(
                "the analytic dataset cannot say whether it is whole: {e}"
            ))
        })
    }
}

impl App {
    /// Turns on the analytic dataset: from now on committed analytic rows are
    /// copied there and insights queries are answered from it. Once, before
    /// serving. A dataset never filled, or left by a process that died with
    /// rows queued, is first made again from every stored event, here when
    /// no other process is writing to it (returns how many rows that
    /// copied), else by the leader (a repair is asked for).
    pub async fn enable_analytics(&self, analytics: Analytics) -> Result<Option<u64>, AppError> {
        let dataset = &analytics.dataset;
        analytics
            .shared
            .store(self.database().shared(), Ordering::Release);
        // Recorded first, so a process starting at the same time sees this one.
        let started = Timestamp::now().0;
        dataset
            .writer_flushed(&analytics.writer, started)
            .await
            .map_err(AppError::internal)?;
        *analytics.beat.lock().unwrap() = Some(started);
        let others: Vec<Writer> = dataset
            .writers()
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .filter(|w| w.id != analytics.writer)
            .collect();
        let (live, dead): (Vec<Writer>, Vec<Writer>) = others
            .into_iter()
            .partition(|w| analytics.alive(w, started));
        let state = dataset.copy_state().await.map_err(AppError::internal)?;
        let requests = dataset.repairs().await.map_err(AppError::internal)?;
        let whole = state == CopyState::Filled && dead.is_empty() && requests.is_empty();
        let rebuilt = if whole {
            None
        } else if live.is_empty() {
            let copied = self.rebuild_analytics(&analytics).await?;
            analytics.whole_again(&dead, &requests).await?;
            Some(copied)
        } else {
            tracing::warn!(
                live = live.len(),
                dead = dead.len(),
                "the analytic copy is not whole and other processes write to it: \
                 the leader repairs it; insights come from the record meanwhile"
            );
            dataset
                .request_repair("a process started on a copy that was not whole")
                .await
                .map_err(AppError::internal)?;
            None
        };
        self.analytics
            .set(std::sync::Arc::new(analytics))
            .map_err(|_| AppError::conflict("the analytic dataset is already set"))?;
        Ok(rebuilt)
    }

    /// Empties the dataset and copies into it the analytic row of every
    /// stored event whose person had granted `partner_insights` at its time,
    /// as ingestion would have: properties opened with the person's key.
    async fn rebuild_analytics(&self, analytics: &Analytics) -> Result<u64, AppError> {
        analytics
            .dataset
            .clear()
            .await
            .map_err(AppError::internal)?;
        let mut after = None;
        let mut copied = 0u64;
        loop {
            let page = self
                .database()
                .scan_events(EventScan::all(), after, REBUILD_PAGE)
                .await?;
            let mut people: Vec<Pseudonym> = page.rows.iter().map(|e| e.subject).collect();
            people.sort_unstable();
            people.dedup();
            let store = self.vault.key_store().clone();
            let keys: HashMap<Pseudonym, SubjectKeys> = tokio::task::spawn_blocking(move || {
                people
                    .into_iter()
                    .filter_map(|p| store.get(&p).transpose().map(|k| k.map(|k| (p, k))))
                    .collect::<Result<_, _>>()
            })
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
            let mut rows = Vec::new();
            for e in &page.rows {
                // Erased since: nothing of theirs is copied.
                let Some(k) = keys.get(&e.subject) else {
                    continue;
                };
                let props = k
                    .data_key
                    .open(&e.sealed_properties, &subject_aad(&e.subject))
                    .ok()
                    .and_then(|p| String::from_utf8(p).ok());
                let view = EventView {
                    at: e.at,
                    kind: &e.kind,
                    item: e.item.as_ref(),
                    properties: props.as_deref(),
                };
                if let Some(row) = capture(self, &e.subject, view, 0) {
                    let number = person_number(&k.salt);
                    rows.push(to_capture(&row, number, e.id, e.purpose));
                }
            }
            analytics
                .dataset
                .append(&rows)
                .await
                .map_err(AppError::internal)?;
            copied += rows.len() as u64;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        tracing::info!(
            rows = copied,
            "analytic dataset made again from stored events"
        );
        Ok(copied)
    }

    /// The leader's care of the copy ([`TEND_EVERY`](super::TEND_EVERY)):
    /// asks for a repair when a writer has died, and does the repairs asked
    /// for. `None` when there was nothing to repair, one is under way, or
    /// this process is not (or stopped being) the leader.
    pub async fn tend_analytics(&self) -> Result<Option<Repaired>, AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(None);
        };
        // Two repairs at once would each compact the other's copy in.
        if !self.is_leader() {
            return Ok(None);
        }
        let Ok(_turn) = analytics.repairing.try_lock() else {
            return Ok(None);
        };
        let dataset = &analytics.dataset;
        let started = Timestamp::now().0;
        let dead: Vec<Writer> = dataset
            .writers()
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .filter(|w| w.id != analytics.writer && !analytics.alive(w, started))
            .collect();
        let mut requests = dataset.repairs().await.map_err(AppError::internal)?;
        if !dead.is_empty() && requests.is_empty() {
            dataset
                .request_repair("a writer died with rows queued")
                .await
                .map_err(AppError::internal)?;
            requests = dataset.repairs().await.map_err(AppError::internal)?;
        }
        if requests.is_empty() {
            return Ok(None);
        }
        tracing::info!(
            dead = dead.len(),
            requests = requests.len(),
            "repairing the analytic copy"
        );
        let copied = self.rebuild_analytics(analytics).await?;
        // Live writers may hold rows of events the copy just took in: wait
        // until each has flushed past it (or died), so the compaction sees
        // every row written twice.
        let copy_end = Timestamp::now().0;
        loop {
            let now = Timestamp::now().0;
            let waiting = dataset
                .writers()
                .await
                .map_err(AppError::internal)?
                .iter()
                .any(|w| analytics.alive(w, now) && w.flushed_through <= copy_end + QUEUE_LAG_MS);
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // This process's own queue, for the same reason.
        tokio::time::sleep(Duration::from_millis(QUEUE_LAG_MS as u64)).await;
        analytics.flush().await?;
        // Leadership moved during the copy (this process lost the lock but
        // lives on): the new leader repairs again, once; the requests stay.
        if !self.is_leader() {
            tracing::warn!("leadership moved during a repair of the analytic copy; leaving it");
            return Ok(None);
        }
        let done = dataset
            .compact_with(MERGE_OVER, true)
            .await
            .map_err(AppError::internal)?;
        analytics.whole_again(&dead, &requests).await?;
        let repaired = Repaired {
            copied,
            duplicates_dropped: done.duplicates_dropped,
            dead_writers: dead.len(),
        };
        tracing::info!(
            copied,
            duplicates = done.duplicates_dropped,
            "analytic copy repaired"
        );
        Ok(Some(repaired))
    }

    /// Writes what is queued and retires this process as a writer (a clean
    /// stop): the copy needs nothing from it.
    pub(crate) async fn close_analytics(&self) -> Result<(), AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(());
        };
        analytics.flush().await?;
        // A mark still unrecorded is lost with this process: its writer
        // object stays, so the copy is made again from the record.
        analytics.record(Marks::default()).await?;
        analytics
            .dataset
            .writer_gone(&analytics.writer)
            .await
            .map_err(AppError::internal)
    }
}
