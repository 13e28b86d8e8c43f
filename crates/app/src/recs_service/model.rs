//! The served model: forgetting a person at once (an exact copy without
//! them swapped in), and the debounced EASE refit that follows.

use std::sync::Arc;
use std::time::Instant;

use fineline_core::{Pseudonym, Purpose, Timestamp};

use super::{RecsService, Trained, REFIT_MAX_WAIT};
use crate::error::AppError;
use crate::state::App;

impl RecsService {
    /// Forget `subject` from the served model now and schedule an EASE
    /// refit. Cheap when the model does not know them.
    pub fn forget(&self, subject: &Pseudonym) {
        self.history_changed([subject]);
        let _w = self.writer.lock().unwrap();
        self.forgotten_log.lock().unwrap().push(*subject);
        let Some(cur) = self.current() else {
            return;
        };
        // The copy shares all but the count rows the person touched, so
        // it costs their own pairs; readers keep the current value until
        // the pointer swap.
        let Some(model) = cur.model.without(subject) else {
            return;
        };
        let next = Arc::new(Trained {
            model,
            trained_at: cur.trained_at,
            titles: cur.titles.clone(),
        });
        *self.model.write().unwrap() = Some(next);
        drop(cur);
        if let Some(s) = self.status.write().unwrap().as_mut() {
            s.forgotten_since += 1;
        }
        self.want_refit();
    }

    /// EASE went (or stays) stale: schedule a refit, restarting its debounce.
    pub(super) fn want_refit(&self) {
        let mut w = self.wants.lock().unwrap();
        let now = Instant::now();
        w.refit = true;
        w.stale_since.get_or_insert(now);
        w.last_forget = Some(now);
        drop(w);
        self.wake.notify_one();
    }

    /// When the pending EASE refit is due: after the refit delay without
    /// forgetting, or [`REFIT_MAX_WAIT`] after EASE went stale.
    pub(super) fn refit_due(&self) -> Instant {
        let delay = *self.refit_delay.read().unwrap();
        let w = self.wants.lock().unwrap();
        match (w.stale_since, w.last_forget) {
            (Some(first), Some(last)) => (last + delay).min(first + delay.max(REFIT_MAX_WAIT)),
            _ => Instant::now(),
        }
    }

    /// After a consent change: forget the person if personalization is no
    /// longer allowed to them.
    pub fn consent_changed(&self, state: &App, subject: &Pseudonym) {
        let allowed = state.consents.read().unwrap().allowed(
            subject,
            Purpose::Personalization,
            Timestamp::now(),
        );
        if !allowed {
            self.forget(subject);
        }
    }

    /// Refit EASE on the served model's current counts. Returns whether
    /// the refit was installed: it is dropped (and another one wanted) if
    /// the served model changed while it ran, since its `B` would still
    /// carry whoever was forgotten meanwhile.
    pub async fn refit(&self) -> Result<bool, AppError> {
        let _one = self.training.lock().await;
        let cur = {
            let mut w = self.wants.lock().unwrap();
            w.refit = false;
            w.stale_since = None;
            drop(w);
            self.current()
        };
        let Some(cur) = cur else { return Ok(false) };
        if cur.model.ease_ready() {
            return Ok(true);
        }
        let basis = Arc::downgrade(&cur);
        let (done, fitted) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("ease-refit".into())
            .spawn(move || {
                lowest_cpu_priority();
                // Copy the counts the fit reads, then let go of the model
                // so forgetting never copies rows on account of the refit.
                let input = cur.model.ease_input();
                drop(cur);
                let _ = done.send(input.map(|i| i.fit(&mut |_| {})).transpose());
            })
            .map_err(AppError::internal)?;
        let ease = fitted
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        let Some(ease) = ease else { return Ok(false) };
        let _w = self.writer.lock().unwrap();
        let mut served = self.model.write().unwrap();
        let Some(now) = served
            .as_ref()
            .filter(|m| std::ptr::eq(Arc::as_ptr(m), basis.as_ptr()))
        else {
            drop(served);
            self.want_refit();
            return Ok(false);
        };
        let next = Arc::new(Trained {
            model: now.model.with_ease(ease),
            trained_at: now.trained_at,
            titles: now.titles.clone(),
        });
        *served = Some(next);
        Ok(true)
    }
}

/// Lowers the calling thread (and threads it starts) to the lowest CPU
/// priority, so a refit takes only cores requests leave idle. Best effort.
fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority reads no memory; on Linux, `who = 0` with
    // PRIO_PROCESS names the calling thread only.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}
