//! The ledger entries of personalized reads: queued per answer, appended
//! in one batch every [`super::ACCESS_FLUSH`] and on shutdown.

use fineline_core::{Pseudonym, Timestamp};
use fineline_ledger::{Access, Actor, LedgerEntry};

use super::RecsService;
use crate::error::AppError;
use crate::state::App;
use crate::subject_keys::LedgerSalt;

impl RecsService {
    /// Queue a ledger entry for a personalized read of `subject`.
    pub async fn log_read(
        &self,
        state: &App,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<(), AppError> {
        let Some(keys) = state.subject_keys(subject).await? else {
            return Ok(());
        };
        self.access_queue
            .lock()
            .unwrap()
            .push(LedgerEntry::DataAccess {
                commitment: keys.commitment(subject),
                what: Access::Recommendations,
                actor,
                at: Timestamp::now(),
            });
        Ok(())
    }

    /// Append every queued read entry in one ledger write; when it returns,
    /// every read queued before the call is in the ledger.
    pub async fn flush_reads(&self, state: &App) -> Result<usize, AppError> {
        let _one = self.flushing.lock().await;
        let batch = std::mem::take(&mut *self.access_queue.lock().unwrap());
        if batch.is_empty() {
            return Ok(0);
        }
        match state
            .ledger
            .append(state.database(), &batch, |_| Vec::new())
            .await
        {
            Ok(_) => Ok(batch.len()),
            Err(e) => {
                // Keep them for the next flush, in order.
                let mut q = self.access_queue.lock().unwrap();
                let later = std::mem::replace(&mut *q, batch);
                q.extend(later);
                Err(e)
            }
        }
    }
}
