//! The retention sweep: each purpose's events are kept no longer than the
//! policy says (`retention_days`), then deleted.
//!
//! The retention used for a purpose is the one declared by the latest
//! policy version that declares it, so a purpose dropped from the policy
//! keeps its last promised retention instead of living forever. The sweep
//! logs counts per purpose only, never whose events went.

use std::time::Duration;

use fineline_core::{Purpose, Timestamp};

use crate::error::AppError;
use crate::state::App;

const DAY_MS: i64 = 86_400_000;

/// How often the server sweeps: hourly is well inside a retention counted
/// in days.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one sweep deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Per purpose swept: (retention in days, events deleted).
    pub purposes: Vec<(Purpose, u32, u64)>,
}

impl SweepReport {
    /// Events deleted, all purposes together.
    pub fn deleted(&self) -> u64 {
        self.purposes.iter().map(|(_, _, n)| n).sum()
    }
}

/// Delete every event older than its purpose's retention as of `now`.
pub async fn sweep(state: &App, now: Timestamp) -> Result<SweepReport, AppError> {
    let retention: Vec<(Purpose, u32)> = {
        let index = state.consents.read().unwrap();
        let all = index.policies().all();
        Purpose::ALL
            .iter()
            .filter_map(|p| {
                all.iter()
                    .rev()
                    .find_map(|pol| pol.declaration(*p))
                    .map(|d| (*p, d.retention_days))
            })
            .collect()
    };
    let mut report = SweepReport::default();
    for (purpose, days) in retention {
        let cutoff = Timestamp(now.millis().saturating_sub(days as i64 * DAY_MS));
        // The analytic copy's mark first: rows past retention may leave
        // it before they leave the record, never after. If the copy's store
        // fails, the mark is kept and insights refused until it is
        // recorded; the record's own retention goes on.
        if let Err(e) = state.analytics_expired(purpose, cutoff).await {
            tracing::warn!(
                purpose = purpose.as_str(),
                error = %e,
                "analytic dataset: retention mark not recorded yet; insights wait for it"
            );
        }
        let n = state
            .database()
            .delete_events_before(purpose, cutoff)
            .await
            .map_err(AppError::internal)?;
        if n > 0 {
            state.notify_events_expired(purpose, cutoff);
        }
        tracing::info!(
            purpose = purpose.as_str(),
            retention_days = days,
            deleted = n,
            "retention sweep"
        );
        report.purposes.push((purpose, days, n));
    }
    Ok(report)
}

/// Sweep now, then every `every`, until the task is aborted; after each
/// sweep, have the database prepare for insights queries.
pub fn spawn(state: App, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Once per deployment: only the leader sweeps (`crate::replication`).
            if !state.is_leader() {
            } else if let Err(e) = sweep(&state, Timestamp::now()).await {
                tracing::warn!(error = %e, "retention sweep failed; will retry");
            }
            // At start and after a sweep that deleted rows, the embedded
            // store refills its copy of analytic rows: here, not in the
            // next analyst's query.
            if let Err(e) = state.database().prepare_insight_facts().await {
                tracing::warn!(error = %e, "preparing insights failed; the next query will");
            }
        }
    })
}
