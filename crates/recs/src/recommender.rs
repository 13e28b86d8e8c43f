//! The facade the server serves from: tiers, reasons, exclusions, forgetting.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use fineline_core::{ItemId, Pseudonym};

use crate::data::{baskets, Catalogue, Interaction, ItemIndex, Progress};
use crate::ease::{Ease, EaseConfig, EaseFit};
use crate::knn::{ItemKnn, KnnConfig};
use crate::score::{top_n, Scores, CONTEXT, NOBODY, PENDING};
use crate::RecsError;

/// Which personal model answers when both are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Item-item neighbours ([`crate::ItemKnn`]).
    Neighbours,
    /// Steck's closed-form linear model ([`crate::Ease`]).
    Ease,
}

/// Which models to train and how to mix their answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecsConfig {
    /// Settings of the neighbourhood model, always trained.
    pub knn: KnnConfig,
    /// `None` trains only the neighbourhood model.
    pub ease: Option<EaseConfig>,
    /// Preferred personal model; falls back to neighbours while EASE is
    /// untrained or stale after a forgetting.
    pub serve: Algorithm,
    /// Weight of `sim(context, j)` next to personal scores.
    pub context_weight: f32,
}

impl Default for RecsConfig {
    fn default() -> Self {
        Self {
            knn: KnnConfig::default(),
            ease: Some(EaseConfig::default()),
            serve: Algorithm::Ease,
            context_weight: 1.0,
        }
    }
}

/// What the person's consent allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// `personalization` granted: the history drives the answer.
    Personalized,
    /// No personalization consent: popularity and the context item only; the
    /// history is not read at all, not even to exclude purchases. Answers
    /// come from public data only: the context item's public neighbours
    /// ([`crate::ItemKnn::public_similar`]) and items held by at least
    /// [`crate::KnnConfig::min_support`] people, never from EASE.
    NonPersonal,
}

/// Why an item is recommended, in words a person can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The history item that contributed most to the score.
    BecauseYouViewed(ItemId),
    /// The context item (the page the person is on).
    SimilarTo(ItemId),
    /// Nothing personal: among the most held items.
    PopularRightNow,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::BecauseYouViewed(item) => write!(f, "because you viewed {}", item.as_str()),
            Reason::SimilarTo(item) => write!(f, "similar to {}", item.as_str()),
            Reason::PopularRightNow => f.write_str("popular right now"),
        }
    }
}

/// One recommended item, with why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The catalogue item recommended.
    pub item: ItemId,
    /// Ranking score (higher first); comparable only within one answer.
    pub score: f32,
    /// Why it is recommended, shown to the person.
    pub reason: Reason,
}

/// One question to the recommender.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The person's events, newest included (fold-in). Ignored for `NonPersonal`.
    pub history: &'a [Interaction],
    /// How many items to return at most.
    pub n: usize,
    /// The item on the page the person is on, if any.
    pub context: Option<&'a ItemId>,
    /// What the person's consent allows this answer to read.
    pub tier: Tier,
    /// Interest categories the person removed: items in them neither
    /// contribute from the history nor get recommended.
    pub removed_interests: &'a [String],
    /// Exclude everything in the history, not only purchases (offline evaluation).
    pub exclude_seen: bool,
}

impl<'a> Request<'a> {
    /// A personalized request for `n` items from this history.
    pub fn personalized(history: &'a [Interaction], n: usize) -> Self {
        Self {
            history,
            n,
            context: None,
            tier: Tier::Personalized,
            removed_interests: &[],
            exclude_seen: false,
        }
    }

    /// A request that reads no history: popularity and context only.
    pub fn non_personal(n: usize) -> Self {
        Self {
            tier: Tier::NonPersonal,
            ..Self::personalized(&[], n)
        }
    }

    /// Adds the item on the page as context.
    pub fn with_context(mut self, item: &'a ItemId) -> Self {
        self.context = Some(item);
        self
    }

    /// Leaves out the interest categories the person removed.
    pub fn without_interests(mut self, removed: &'a [String]) -> Self {
        self.removed_interests = removed;
        self
    }
}

/// A trained, immutable-by-default set of models. Serving holds it in an
/// `Arc` and swaps in a newly trained value; nothing here blocks on training.
/// Cloning is cheap (the large parts are shared), so a copy can forget
/// someone while readers still hold the original.
#[derive(Debug, Clone)]
pub struct Recommender {
    index: Arc<ItemIndex>,
    catalogue: Arc<Catalogue>,
    knn: ItemKnn,
    ease: Option<Arc<Ease>>,
    popular: Vec<u32>,
    config: RecsConfig,
}

impl Recommender {
    /// Trains every model on `interactions`, which must hold only events the
    /// subjects consented to for personalization.
    pub fn train(
        interactions: &[Interaction],
        catalogue: Catalogue,
        config: RecsConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, RecsError> {
        let index = ItemIndex::from_ids(
            interactions
                .iter()
                .map(|i| &i.item)
                .chain(catalogue.item_ids()),
        );
        let knn = ItemKnn::train(
            index.len(),
            baskets(&index, interactions),
            config.knn,
            progress,
        );
        let ease = match config.ease {
            Some(c) => Some(Arc::new(Ease::train(&knn, c, progress)?)),
            None => None,
        };
        let popular = popularity(knn.degree());
        Ok(Self {
            index: Arc::new(index),
            catalogue: Arc::new(catalogue),
            knn,
            ease,
            popular,
            config,
        })
    }

    /// Forgets a subject at once: the neighbourhood model and popularity
    /// drop their counts exactly; EASE stops being served until
    /// [`Self::retrain_ease`] (answers fall back to neighbours meanwhile).
    /// Returns whether the subject was in the models.
    pub fn forget(&mut self, subject: &Pseudonym) -> bool {
        if !self.knn.forget(subject) {
            return false;
        }
        if self.ease.is_some() {
            self.ease = None;
        }
        self.popular = popularity(self.knn.degree());
        true
    }

    /// A copy of this model without `subject`, for serving while the old
    /// value is still being read (`None` if they were never in it). Only
    /// the count rows the subject touched are copied.
    pub fn without(&self, subject: &Pseudonym) -> Option<Self> {
        if !self.knows(subject) {
            return None;
        }
        let mut next = self.clone();
        next.forget(subject);
        Some(next)
    }

    /// Refits EASE from the current counts (identical to training from scratch on them).
    pub fn retrain_ease(&mut self, progress: &mut dyn FnMut(Progress)) -> Result<(), RecsError> {
        if let Some(c) = self.config.ease {
            self.ease = Some(Arc::new(Ease::train(&self.knn, c, progress)?));
        }
        Ok(())
    }

    /// What an EASE refit reads from the current counts, copied so the
    /// refit can run without holding this model (`None` without EASE).
    /// The result belongs to exactly these counts: give it to
    /// [`Self::with_ease`] only if nobody was forgotten since.
    pub fn ease_input(&self) -> Option<EaseFit> {
        self.config.ease.map(|c| Ease::prepare(&self.knn, c))
    }

    /// This model serving `ease`, fitted by [`EaseFit::fit`] on
    /// [`Self::ease_input`] of the same counts.
    pub fn with_ease(&self, ease: Ease) -> Self {
        Self {
            ease: Some(Arc::new(ease)),
            ..self.clone()
        }
    }

    /// A new model value without the subject, every model fresh: swap it in.
    pub fn retrain_without(
        &self,
        subject: &Pseudonym,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, RecsError> {
        let mut next = self.clone();
        next.forget(subject);
        next.retrain_ease(progress)?;
        Ok(next)
    }

    /// Whether EASE is trained and current (not stale after a forgetting).
    pub fn ease_ready(&self) -> bool {
        self.ease.is_some()
    }

    /// Whether the subject's events are in the models.
    pub fn knows(&self, subject: &Pseudonym) -> bool {
        self.knn.knows(subject)
    }

    /// How many people's events are in the models.
    pub fn subjects(&self) -> usize {
        self.knn.baskets().len()
    }

    /// Index, catalogue and neighbourhood model, for the public export.
    pub(crate) fn parts(&self) -> (&ItemIndex, &Catalogue, &ItemKnn) {
        (&self.index, &self.catalogue, &self.knn)
    }

    /// The catalogue facts the models were trained with.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Items most similar to `item` (Amazon 2003 item-to-item), best first,
    /// over pairs held by at least [`crate::KnnConfig::min_support`] people
    /// only: this answer is public, so no pair one person (or a handful)
    /// made may show. Never from EASE, whose weights mix everyone's rows.
    pub fn similar(&self, item: &ItemId, n: usize) -> Vec<Recommendation> {
        let Some(i) = self.index.get(item) else {
            return Vec::new();
        };
        self.knn
            .public_similar(i, n)
            .iter()
            .map(|&(j, s)| Recommendation {
                item: self.index.id(j).clone(),
                score: s,
                reason: Reason::SimilarTo(item.clone()),
            })
            .collect()
    }

    /// Ranked items for one request; at most `n`, padded with popular items.
    pub fn recommend(&self, req: &Request<'_>) -> Vec<Recommendation> {
        let removed: HashSet<&str> = req.removed_interests.iter().map(String::as_str).collect();
        let in_removed = |item: &ItemId| {
            !removed.is_empty()
                && self
                    .catalogue
                    .categories(item)
                    .iter()
                    .any(|c| removed.contains(c.as_str()))
        };
        let mut blocked: HashSet<u32> = HashSet::new();
        let mut history: Vec<(u32, f32)> = Vec::new();
        if req.tier == Tier::Personalized {
            for it in req.history {
                let Some(i) = self.index.get(&it.item) else {
                    continue;
                };
                let bought = it.purchase && !self.catalogue.is_repeatable(&it.item);
                if req.exclude_seen || bought {
                    blocked.insert(i);
                }
                if it.weight > 0.0 && !in_removed(&it.item) {
                    history.push((i, 1.0));
                }
            }
            history.sort_unstable_by_key(|h| h.0);
            history.dedup_by_key(|h| h.0);
        }
        let context = req.context.and_then(|c| self.index.get(c));
        if let Some(c) = context {
            blocked.insert(c);
        }

        let mut scores = Scores::new(self.index.len());
        match (&self.ease, self.config.serve) {
            (Some(ease), Algorithm::Ease) => ease.score_into(&history, &mut scores),
            _ => self.knn.score_into(&history, &mut scores),
        }
        // A non-personal answer may be shown to anyone: public lists and
        // well-held items only. A personal one may use the full model.
        let public = req.tier == Tier::NonPersonal;
        if let Some(c) = context {
            let w = self.config.context_weight;
            let neighbours = match public {
                true => self.knn.public_similar(c, usize::MAX),
                false => self.knn.similar(c, usize::MAX),
            };
            for &(j, s) in neighbours {
                scores.add(j, w * s, CONTEXT);
            }
        }
        let min_support = self.config.knn.min_support;
        let degree = self.knn.degree();
        let well_held = |j: u32| !public || degree[j as usize] >= min_support;
        let allowed = |j: u32| !blocked.contains(&j) && !in_removed(self.index.id(j));
        let candidates: Vec<_> = scores.candidates().filter(|c| allowed(c.0)).collect();
        let mut ranked = top_n(candidates, req.n);
        if ranked.len() < req.n {
            let have: HashSet<u32> = ranked.iter().map(|r| r.0).collect();
            let subjects = self.subjects().max(1) as f32;
            ranked.extend(
                self.popular
                    .iter()
                    .filter(|&&j| allowed(j) && well_held(j) && !have.contains(&j))
                    .take(req.n - ranked.len())
                    .map(|&j| (j, degree[j as usize] as f32 / subjects, NOBODY)),
            );
        }
        let ease = match (&self.ease, self.config.serve) {
            (Some(ease), Algorithm::Ease) => Some(ease),
            _ => None,
        };
        ranked
            .into_iter()
            .map(|(j, score, because)| match because {
                PENDING => (
                    j,
                    score,
                    ease.and_then(|e| e.because(&history, j)).unwrap_or(NOBODY),
                ),
                _ => (j, score, because),
            })
            .map(|(j, score, because)| Recommendation {
                item: self.index.id(j).clone(),
                score,
                reason: match (because, req.context) {
                    (CONTEXT, Some(c)) => Reason::SimilarTo(c.clone()),
                    (NOBODY, _) | (CONTEXT, None) => Reason::PopularRightNow,
                    (i, _) => Reason::BecauseYouViewed(self.index.id(i).clone()),
                },
            })
            .collect()
    }
}

/// Held items by number of holders, most first, ties by index.
fn popularity(degree: &[u32]) -> Vec<u32> {
    let mut items: Vec<u32> = (0..degree.len() as u32)
        .filter(|&i| degree[i as usize] > 0)
        .collect();
    items.sort_unstable_by(|&a, &b| degree[b as usize].cmp(&degree[a as usize]).then(a.cmp(&b)));
    items
}
