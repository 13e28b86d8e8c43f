//! The recommendation use cases on [`App`]: a person's recommendations
//! (consent checked now, the read logged), similar items, the catalogue
//! and training control. The recommender's machinery is `recs_service`.

use std::sync::Arc;

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::{ItemRow, WriteOp, WriteSet};
use fineline_ledger::Actor;
use fineline_recs::{Recommendation, Request};

use crate::recs_service::{ProgressFn, Trained, TrainingStatus};
use crate::{App, AppError};

/// A person's recommendations and the model that made them.
pub struct Recommended {
    /// Whether the person's history was used (personalization granted now).
    pub personalized: bool,
    /// The ranked items with their reasons.
    pub items: Vec<Recommendation>,
    /// The model that answered, for titles and categories; `None` before
    /// the first training.
    pub model: Option<Arc<Trained>>,
}

impl App {
    /// Ranked items for a person. With `personalization` granted now their
    /// history (events newer than the model included) drives the answer
    /// and the read is queued for the ledger (flushed within 20 ms); without
    /// it only popularity and the context item are used.
    pub async fn recommend(
        &self,
        subject: &Pseudonym,
        n: usize,
        context: Option<&ItemId>,
        actor: Actor,
    ) -> Result<Recommended, AppError> {
        let personalized = self.consents.read().unwrap().allowed(
            subject,
            Purpose::Personalization,
            Timestamp::now(),
        );
        let Some(trained) = self.recs.current() else {
            return Ok(Recommended {
                personalized,
                items: Vec::new(),
                model: None,
            });
        };
        let trained = if !personalized && trained.model.knows(subject) {
            // Consent lapsed without a withdrawal (e.g. a new policy
            // version): forget them now, as a withdrawal would have.
            self.recs.forget(subject);
            self.recs.current().unwrap_or(trained)
        } else {
            trained
        };
        let history;
        let mut req = Request::non_personal(n);
        if personalized {
            history = self.recs.history(self, subject).await?;
            req =
                Request::personalized(&history.interactions, n).without_interests(&history.removed);
        }
        if let Some(c) = context {
            req = req.with_context(c);
        }
        let items = trained.model.recommend(&req);
        if personalized {
            self.recs.log_read(self, subject, actor).await?;
        }
        Ok(Recommended {
            personalized,
            items,
            model: Some(trained),
        })
    }

    /// Items bought or viewed together with `item` (no personal data).
    pub fn similar_items(&self, item: &ItemId, n: usize) -> Recommended {
        let model = self.recs.current();
        let items = model
            .as_ref()
            .map(|t| t.model.similar(item, n))
            .unwrap_or_default();
        Recommended {
            personalized: false,
            items,
            model,
        }
    }

    /// Insert or replace catalogue items; they reach recommendations at
    /// the next training, and the persona offer's taxonomy at once.
    pub async fn put_items(&self, items: Vec<ItemRow>) -> Result<usize, AppError> {
        let stored = items.len();
        let ops = items.into_iter().map(WriteOp::PutItem).collect();
        self.database().apply(WriteSet { ops }).await?;
        self.persona_catalogue_changed();
        Ok(stored)
    }

    /// Train the recommender now and wait for it; serving continues from
    /// the previous model meanwhile.
    pub async fn train(&self, progress: ProgressFn) -> Result<TrainingStatus, AppError> {
        self.recs.train(self, progress).await
    }

    /// The last training, if any.
    pub fn training_status(&self) -> Option<TrainingStatus> {
        self.recs.status()
    }

    /// Append every queued recommendation read to the ledger (shutdown).
    pub async fn flush_reads(&self) -> Result<usize, AppError> {
        self.recs.flush_reads(self).await
    }

    /// The recommender's settings for the next training.
    pub fn set_recs_config(&self, config: fineline_recs::RecsConfig) {
        self.recs.set_config(config);
    }

    /// The recommender's settings.
    pub fn recs_config(&self) -> fineline_recs::RecsConfig {
        self.recs.config()
    }

    /// Retrain every `every` in the background; `None` trains on demand only.
    pub fn set_training_schedule(&self, every: Option<std::time::Duration>) {
        self.recs.set_schedule(every);
    }

    /// Ask the background trainer for a training as soon as it can.
    pub fn request_retrain(&self) {
        self.recs.request_retrain();
    }
}
