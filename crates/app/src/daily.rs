//! Daily summaries: once a day has passed, its accepted and refused
//! counts are sealed into the ledger, so "events after my withdrawal were
//! refused" is checkable by anyone holding a tree head.

use std::collections::BTreeMap;
use std::time::Duration;

use fineline_core::Timestamp;
use fineline_db::{DayCount, WriteOp, WriteSet};
use fineline_ledger::LedgerEntry;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state::App;

/// Counts of one arrival day, added to the database's day counters with
/// each batch so a crash loses none, and sealed into the ledger as a
/// daily summary.
#[derive(Default, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DayCounts {
    /// Events accepted that day.
    pub accepted: u64,
    /// Refusals for lack of consent, by the purpose the event claimed.
    pub refused_by_purpose: BTreeMap<fineline_core::Purpose, u64>,
}

/// Setting holding the counts of every sealed day, by day number.
pub const SEALED_SETTING: &str = "daily_counts_sealed";

/// How long after midnight (UTC) a day is sealed: a replica whose clock
/// runs up to this much behind the leader's still adds to the day before
/// it is sealed and its counters dropped.
pub const SEAL_GRACE: Duration = Duration::from_secs(10 * 60);

const ACCEPTED: &str = "accepted";
const REFUSED: &str = "refused/";

/// The ops adding one batch's counts to a day's counters: added, not
/// replaced, so batches written by several replicas at once all count.
pub(crate) fn add_ops(day: i64, counts: &DayCounts) -> Vec<WriteOp> {
    let mut rows = Vec::with_capacity(1 + counts.refused_by_purpose.len());
    if counts.accepted > 0 {
        rows.push(DayCount {
            day,
            counter: ACCEPTED.into(),
            count: counts.accepted,
        });
    }
    for (purpose, n) in &counts.refused_by_purpose {
        if *n > 0 {
            rows.push(DayCount {
                day,
                counter: format!("{REFUSED}{}", purpose.as_str()),
                count: *n,
            });
        }
    }
    if rows.is_empty() {
        Vec::new()
    } else {
        vec![WriteOp::AddDayCounts(rows)]
    }
}

/// Adds counts to a day, as ingestion does with each batch (tools and
/// tests use it to stand in for traffic on a past day).
pub async fn record(state: &App, day: i64, counts: &DayCounts) -> Result<(), AppError> {
    state
        .database()
        .apply(WriteSet {
            ops: add_ops(day, counts),
        })
        .await?;
    Ok(())
}

/// Counts of every day not yet sealed, as every replica added them.
pub async fn unsealed_days(state: &App) -> Result<BTreeMap<i64, DayCounts>, AppError> {
    let mut days: BTreeMap<i64, DayCounts> = BTreeMap::new();
    for row in state.database().day_counts().await? {
        let counts = days.entry(row.day).or_default();
        if row.counter == ACCEPTED {
            counts.accepted += row.count;
        } else if let Some(purpose) = row
            .counter
            .strip_prefix(REFUSED)
            .and_then(|p| p.parse::<fineline_core::Purpose>().ok())
        {
            *counts.refused_by_purpose.entry(purpose).or_default() += row.count;
        } else {
            // Written by a newer fineline: kept, not sealed under a wrong name.
            tracing::warn!(counter = %row.counter, "unknown day counter skipped");
        }
    }
    Ok(days)
}

/// Counts of days already sealed into the ledger.
pub async fn sealed_days(state: &App) -> Result<BTreeMap<i64, DayCounts>, AppError> {
    match state
        .database()
        .setting(SEALED_SETTING)
        .await
        .map_err(AppError::internal)?
    {
        Some(b) => serde_json::from_slice(&b).map_err(AppError::internal),
        None => Ok(BTreeMap::new()),
    }
}

/// Seal every finished day (ended more than [`SEAL_GRACE`] ago) that has
/// counts but no summary yet.
pub async fn seal_finished_days(state: &App) -> Result<usize, AppError> {
    let grace = i64::try_from(SEAL_GRACE.as_millis()).unwrap_or(i64::MAX);
    let cutoff = Timestamp::now().plus_millis(-grace).day();
    seal_days_before(state, cutoff).await
}

/// Seal every day before `day` that has counts: one daily summary each in
/// the ledger, their counters dropped in the same transaction.
pub async fn seal_days_before(state: &App, day: i64) -> Result<usize, AppError> {
    let _turn = state.order.ingest().await;
    let mut days = unsealed_days(state).await?;
    days.retain(|d, _| *d < day);
    if days.is_empty() {
        return Ok(0);
    }
    let now = Timestamp::now();
    // Sealed days stay countable for the console without reading the
    // ledger back: one small row per day, written with the seal.
    let mut history = sealed_days(state).await?;
    let mut entries = Vec::with_capacity(days.len());
    for (day, counts) in &days {
        history.insert(*day, counts.clone());
        entries.push(LedgerEntry::DailySummary {
            day: *day,
            accepted: counts.accepted,
            rejected_by_purpose: counts.refused_by_purpose.clone(),
            at: now,
        });
    }
    let history = serde_json::to_vec(&history).map_err(AppError::internal)?;
    let sealed: Vec<i64> = days.keys().copied().collect();
    state
        .ledger
        .append(state.database(), &entries, |_| {
            vec![
                WriteOp::DeleteDayCounts(sealed),
                WriteOp::PutSetting {
                    name: SEALED_SETTING.into(),
                    value: history,
                },
            ]
        })
        .await?;
    Ok(entries.len())
}

/// Seals finished days into the ledger every minute, for the life of the
/// process; a failed attempt is logged and retried on the next round.
pub fn spawn(state: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Once per deployment: only the leader seals (`crate::replication`).
            if !state.is_leader() {
                tokio::time::sleep(Duration::from_secs(60)).await;
                continue;
            }
            if let Err(e) = seal_finished_days(&state).await {
                tracing::warn!(error = %e, "daily summary failed; will retry");
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    })
}
