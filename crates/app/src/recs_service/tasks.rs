//! Background work: scheduled retraining, debounced EASE refits, and the
//! batched ledger entries of personalized reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ACCESS_FLUSH;
use crate::state::App;

/// Background work: scheduled retraining, debounced EASE refits, and the
/// batched ledger entries of personalized reads.
pub fn spawn(state: App) -> Vec<tokio::task::JoinHandle<()>> {
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ACCESS_FLUSH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.recs.flush_reads(&state).await {
                    tracing::error!(error = %e, "recommendation read entries not yet in the ledger");
                }
            }
        })
    };
    let trainer = tokio::spawn(async move {
        let recs = &state.recs;
        let mut next = Instant::now();
        loop {
            let schedule = *recs.schedule.read().unwrap();
            let due = schedule.is_some() && Instant::now() >= next;
            let (refit, retrain) = {
                let w = recs.wants.lock().unwrap();
                (w.refit, w.retrain)
            };
            if due || retrain {
                if let Err(e) = recs.train(&state, Arc::new(|_| {})).await {
                    tracing::error!(error = %e, "recommender training failed");
                }
                next = Instant::now() + schedule.unwrap_or(Duration::from_secs(3600));
                continue;
            }
            if refit {
                let due = recs.refit_due();
                if Instant::now() < due {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = recs.wake.notified() => {}
                    }
                    continue;
                }
                if let Err(e) = recs.refit().await {
                    tracing::error!(error = %e, "EASE refit failed");
                }
                continue;
            }
            let wait = schedule
                .map(|_| next.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = recs.wake.notified() => {}
            }
        }
    });
    vec![flusher, trainer]
}
