//! Daily summaries: once a day has passed, its accepted and refused
//! counts are sealed into the ledger, so "events after my withdrawal were
//! refused" is checkable by anyone holding a tree head.

use std::collections::BTreeMap;
use std::time::Duration;

use fineline_core::Timestamp;
use fineline_db::WriteOp;
use fineline_ledger::LedgerEntry;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state::App;

/// Counts of one arrival day, kept in the database with each batch so a
/// crash loses none, and sealed into the ledger as a daily summary.
#[derive(Default, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DayCounts {
    /// Events accepted that day.
    pub accepted: u64,
    /// Refusals for lack of consent, by the purpose the event claimed.
    pub refused_by_purpose: BTreeMap<fineline_core::Purpose, u64>,
}

/// Setting holding every unsealed day's counts (a few entries at most).
pub const DAILY_SETTING: &str = "daily_counts";

/// Setting holding the counts of every sealed day, by day number.
pub const SEALED_SETTING: &str = "daily_counts_sealed";

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

/// Seal every finished day that has counts but no summary yet.
pub async fn seal_finished_days(state: &App) -> Result<usize, AppError> {
    let today = Timestamp::now().day();
    let _turn = state.order.ingest().await;
    let mut days = state.daily_counts();
    let finished: Vec<i64> = days.keys().copied().filter(|d| *d < today).collect();
    if finished.is_empty() {
        return Ok(0);
    }
    let now = Timestamp::now();
    let entries: Vec<LedgerEntry> = finished
        .iter()
        .map(|day| {
            let counts = days.remove(day).unwrap_or_default();
            LedgerEntry::DailySummary {
                day: *day,
                accepted: counts.accepted,
                rejected_by_purpose: counts.refused_by_purpose,
                at: now,
            }
        })
        .collect();
    let value = serde_json::to_vec(&days).map_err(AppError::internal)?;
    // Sealed days stay countable for the console without reading the
    // ledger back: one small row per day, written with the seal.
    let mut history = sealed_days(state).await?;
    for (day, entry) in finished.iter().zip(&entries) {
        if let LedgerEntry::DailySummary {
            accepted,
            rejected_by_purpose,
            ..
        } = entry
        {
            history.insert(
                *day,
                DayCounts {
                    accepted: *accepted,
                    refused_by_purpose: rejected_by_purpose.clone(),
                },
            );
        }
    }
    let history = serde_json::to_vec(&history).map_err(AppError::internal)?;
    state
        .ledger
        .append(state.database(), &entries, |_| {
            vec![
                WriteOp::PutSetting {
                    name: DAILY_SETTING.into(),
                    value,
                },
                WriteOp::PutSetting {
                    name: SEALED_SETTING.into(),
                    value: history,
                },
            ]
        })
        .await?;
    state.set_daily_counts(days);
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
