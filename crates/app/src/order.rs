//! The locks that serialise fineline's writers, and the one order they are
//! taken in. Every writer that needs one gets it here; the mutexes are
//! private, so no other code can take them in another order.
//!
//! - **consent**: consent changes, policy publication and consent imports,
//!   so the in-memory consent index and the database agree.
//! - **ingest**: event batches and the daily summaries, so unsealed day
//!   totals are written in order and a batch that passed its consent
//!   check re-checks it before it commits.
//! - **release**: insights budget charges, so an analyst's release
//!   history (kept beside the budget) loses no entry.
//!
//! Order: consent, then ingest. Only erasure holds both (no consent change
//! may recreate the person's keys mid-erasure, and no batch may commit rows
//! for them after it), and it can only get ingest through the consent
//! guard ([`ConsentTurn::and_ingest`]). Release is never held with the
//! others: a charge touches neither consents nor events.

use tokio::sync::{Mutex, MutexGuard};

/// The writers' locks. See the module docs for the order.
#[derive(Default)]
pub struct WriteOrder {
    consent: Mutex<()>,
    ingest: Mutex<()>,
    release: Mutex<()>,
}

/// Held while consent records or policies are written.
pub struct ConsentTurn<'a> {
    order: &'a WriteOrder,
    _consent: MutexGuard<'a, ()>,
}

/// Held while event batches or daily summaries are written.
pub struct IngestTurn<'a> {
    _ingest: MutexGuard<'a, ()>,
}

/// Held while an analyst's budget is charged.
pub struct ReleaseTurn<'a> {
    _release: MutexGuard<'a, ()>,
}

/// Held by erasure: no consent change and no ingestion meanwhile.
pub struct ExclusiveTurn<'a> {
    _consent: ConsentTurn<'a>,
    _ingest: IngestTurn<'a>,
}

impl WriteOrder {
    /// Wait for the consent writers' turn.
    pub async fn consent(&self) -> ConsentTurn<'_> {
        ConsentTurn {
            order: self,
            _consent: self.consent.lock().await,
        }
    }

    /// Wait for the ingestion writers' turn. Never call it while holding a
    /// [`ConsentTurn`]: use [`ConsentTurn::and_ingest`].
    pub async fn ingest(&self) -> IngestTurn<'_> {
        IngestTurn {
            _ingest: self.ingest.lock().await,
        }
    }

    /// Wait for the budget writers' turn.
    pub async fn release(&self) -> ReleaseTurn<'_> {
        ReleaseTurn {
            _release: self.release.lock().await,
        }
    }

    /// Both consent and ingest, in that order.
    pub async fn exclusive(&self) -> ExclusiveTurn<'_> {
        self.consent().await.and_ingest().await
    }
}

impl<'a> ConsentTurn<'a> {
    /// Keep the consent turn and wait for the ingest one too.
    pub async fn and_ingest(self) -> ExclusiveTurn<'a> {
        let ingest = self.order.ingest().await;
        ExclusiveTurn {
            _consent: self,
            _ingest: ingest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Erasure's exclusive turn waits for a running batch and holds off
    /// consent changes until it is done; a budget charge is never held up.
    #[tokio::test]
    async fn exclusive_waits_for_ingest_and_blocks_consent() {
        let order = Arc::new(WriteOrder::default());
        let batch = order.ingest().await;
        let o = order.clone();
        let erasure = tokio::spawn(async move {
            let _all = o.exclusive().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!erasure.is_finished(), "erasure ran beside a batch");
        // The erasure holds consent while it waits for the batch.
        assert!(order.consent.try_lock().is_err());
        let _charge = tokio::time::timeout(Duration::from_millis(100), order.release())
            .await
            .expect("a charge does not wait for erasure");
        drop(batch);
        erasure.await.unwrap();
        assert!(order.consent.try_lock().is_ok());
        assert!(order.ingest.try_lock().is_ok());
    }
}
