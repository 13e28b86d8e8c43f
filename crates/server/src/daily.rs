//! Daily summaries: once a day has passed, its accepted and refused
//! counts are sealed into the ledger, so "events after my withdrawal were
//! refused" is checkable by anyone holding a tree head.

use std::time::Duration;

use fineline_core::Timestamp;
use fineline_ledger::LedgerEntry;
use fineline_store::WriteOp;

use crate::error::ApiError;
use crate::routes::events::DAILY_SETTING;
use crate::state::AppState;

/// Seal every finished day that has counts but no summary yet.
pub async fn seal_finished_days(state: &AppState) -> Result<usize, ApiError> {
    let today = Timestamp::now().day();
    let _order = state.ingest_order.lock().await;
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
    let value = serde_json::to_vec(&days).map_err(ApiError::internal)?;
    state
        .ledger
        .append(state.store(), &entries, |_| {
            vec![WriteOp::PutSetting {
                name: DAILY_SETTING.into(),
                value,
            }]
        })
        .await?;
    state.set_daily_counts(days);
    Ok(entries.len())
}

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = seal_finished_days(&state).await {
                tracing::warn!(code = e.code, "daily summary failed; will retry");
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    })
}
