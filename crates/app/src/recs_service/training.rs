//! Training from the database: consented personalization events and the
//! catalogue in, a new model swapped in, derived interests stored, and a
//! holdout measured on the same data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::{EventPage, EventScan, InterestRow, WriteOp, WriteSet};
use fineline_recs::{
    eval, Algorithm, Catalogue, Interaction, ItemFacts, Progress, Recommender, RecsConfig, Request,
    Weighting,
};

use super::history::interaction;
use super::{Holdout, ProgressFn, RecsService, Trained, TrainingStatus};
use crate::error::AppError;
use crate::state::App;

/// Events read per database page while collecting training data.
const PAGE: usize = 20_000;
/// Above this many interactions the holdout evaluation is skipped (it
/// doubles training time).
const HOLDOUT_MAX: usize = 300_000;

impl RecsService {
    /// Train from the database and swap the new model in. Waits for any
    /// running training; serving continues meanwhile.
    pub async fn train(
        &self,
        state: &App,
        progress: ProgressFn,
    ) -> Result<TrainingStatus, AppError> {
        let _one = self.training.lock().await;
        self.wants.lock().unwrap().retrain = false;
        let started = Instant::now();
        {
            let _w = self.writer.lock().unwrap();
            self.forgotten_log.lock().unwrap().clear();
        }
        let (interactions, catalogue, titles) = collect(state, &progress).await?;
        let config = self.config();
        let events_used = interactions.len() as u64;
        let items = {
            let mut ids: Vec<&ItemId> = interactions
                .iter()
                .map(|i| &i.item)
                .chain(catalogue.item_ids())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        };
        let (model, interactions) = tokio::task::spawn_blocking(move || {
            let p = progress.clone();
            Recommender::train(&interactions, catalogue, config, &mut |x| p(x))
                .map(|m| (m, interactions))
        })
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)?;
        let trained_at = Timestamp::now();
        let status = {
            let _w = self.writer.lock().unwrap();
            let mut model = model;
            let forgotten = std::mem::take(&mut *self.forgotten_log.lock().unwrap());
            let mut n_forgotten = 0;
            for s in &forgotten {
                n_forgotten += usize::from(model.forget(s));
            }
            if n_forgotten > 0 {
                self.want_refit();
            }
            let status = TrainingStatus {
                trained_at: trained_at.millis(),
                training_ms: started.elapsed().as_millis() as u64,
                events_used,
                subjects: model.subjects(),
                items,
                algorithm: algorithm_name(&config),
                ease_ready: model.ease_ready(),
                forgotten_since: n_forgotten,
                holdout: None,
            };
            *self.model.write().unwrap() = Some(Arc::new(Trained {
                model,
                trained_at,
                titles: Arc::new(titles),
            }));
            *self.status.write().unwrap() = Some(status.clone());
            status
        };
        let forgotten_now: Vec<Pseudonym> = self.forgotten_log.lock().unwrap().clone();
        let interactions: Vec<Interaction> = interactions
            .into_iter()
            .filter(|i| !forgotten_now.contains(&i.subject))
            .collect();
        self.store_interests(state, &interactions).await?;
        let holdout = tokio::task::spawn_blocking(move || holdout(&interactions, config))
            .await
            .map_err(AppError::internal)?;
        let mut out = status;
        if let Some(s) = self.status.write().unwrap().as_mut() {
            if s.trained_at == out.trained_at {
                s.holdout = holdout;
            }
        }
        out.holdout = holdout;
        Ok(out)
    }

    /// Derived interests of everyone trained on, keeping removed ones removed.
    async fn store_interests(
        &self,
        state: &App,
        interactions: &[Interaction],
    ) -> Result<(), AppError> {
        let Some(cur) = self.current() else {
            return Ok(());
        };
        let catalogue = cur.model.catalogue();
        if !catalogue
            .item_ids()
            .any(|i| !catalogue.categories(i).is_empty())
        {
            return Ok(());
        }
        let mut by_subject: BTreeMap<Pseudonym, Vec<Interaction>> = BTreeMap::new();
        for it in interactions {
            by_subject.entry(it.subject).or_default().push(it.clone());
        }
        let mut ops = Vec::new();
        for (subject, history) in by_subject {
            // Someone erased or withdrawn since the scan gets no new rows.
            let allowed = state.consents.read().unwrap().allowed(
                &subject,
                Purpose::Personalization,
                Timestamp::now(),
            );
            if !allowed || !cur.model.knows(&subject) {
                continue;
            }
            let rows = state
                .database()
                .interests_for(&subject)
                .await
                .map_err(AppError::internal)?;
            let removed: Vec<String> = rows
                .iter()
                .filter(|r| r.removed)
                .map(|r| r.category.clone())
                .collect();
            for i in fineline_recs::interests(&history, catalogue, &removed) {
                ops.push(WriteOp::PutInterest(InterestRow {
                    subject,
                    category: i.category,
                    weight: i.weight as f64,
                    removed: false,
                }));
            }
            if ops.len() >= 5_000 {
                apply(state, std::mem::take(&mut ops)).await?;
            }
        }
        apply(state, ops).await
    }
}

async fn apply(state: &App, ops: Vec<WriteOp>) -> Result<(), AppError> {
    if ops.is_empty() {
        return Ok(());
    }
    state
        .database()
        .apply(WriteSet { ops })
        .await
        .map(drop)
        .map_err(AppError::internal)
}

fn algorithm_name(config: &RecsConfig) -> String {
    match (config.ease.is_some(), config.serve, config.knn.weighting) {
        (true, Algorithm::Ease, _) => "ease".into(),
        (_, _, Weighting::Rp3 { .. }) => "rp3beta".into(),
        _ => "neighbours".into(),
    }
}

/// Consented personalization events and the catalogue, from the database.
async fn collect(
    state: &App,
    progress: &ProgressFn,
) -> Result<(Vec<Interaction>, Catalogue, HashMap<ItemId, String>), AppError> {
    let database = state.database();
    let total = database.count_events().await.map_err(AppError::internal)?;
    let scan = EventScan {
        purpose: Some(Purpose::Personalization),
        ..EventScan::all()
    };
    let mut out = Vec::new();
    let (mut after, mut seen) = (None, 0u64);
    loop {
        let EventPage { rows: page, next } = database
            .scan_events(scan, after, PAGE)
            .await
            .map_err(AppError::internal)?;
        seen += page.len() as u64;
        let now = Timestamp::now();
        let consents = state.consents.read().unwrap();
        out.extend(
            page.iter()
                .filter(|r| consents.allowed(&r.subject, Purpose::Personalization, now))
                .filter_map(interaction),
        );
        drop(consents);
        progress(Progress {
            stage: "events",
            done: seen.min(total),
            total: total.max(seen),
        });
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut catalogue = Catalogue::new();
    let mut titles = HashMap::new();
    for row in database.items().await.map_err(AppError::internal)? {
        let categories = if row.category.is_empty() {
            Vec::new()
        } else {
            vec![row.category.clone()]
        };
        catalogue.insert(
            row.item.clone(),
            ItemFacts {
                repeatable: row.repeatable,
                categories,
            },
        );
        if !row.title.is_empty() {
            titles.insert(row.item, row.title);
        }
    }
    Ok((out, catalogue, titles))
}

/// Seeded 80/20 holdout on the same data, when cheap enough.
fn holdout(interactions: &[Interaction], config: RecsConfig) -> Option<Holdout> {
    if interactions.len() > HOLDOUT_MAX || interactions.len() < 50 {
        return None;
    }
    let split = eval::split(interactions, 0.2, 42);
    let evaluator = eval::Evaluator::new(&split, 10);
    let model = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {}).ok()?;
    let m = evaluator.evaluate(|_, history| {
        let mut req = Request::personalized(history, 10);
        req.exclude_seen = true;
        model.recommend(&req).into_iter().map(|r| r.item).collect()
    });
    Some(Holdout {
        users: m.users,
        precision_at_10: m.precision,
        ndcg_at_10: m.ndcg,
    })
}
