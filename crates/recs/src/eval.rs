//! Offline evaluation: a seeded per-interaction split and ranking metrics.
//!
//! Definitions (k = 10 in the benchmark), over every subject with at least
//! one held-out item, `T_u` their held-out items and `L_u` our top-k list
//! (training items excluded):
//! - `precision` = mean over u of `|L_u ∩ T_u| / k` (the textbook P@k);
//! - `precision_capped` = `Σ_u |L_u ∩ T_u| / Σ_u min(k, |T_u|)`, which is
//!   what `implicit.evaluation.ranking_metrics_at_k` calls "precision";
//! - `ndcg` = mean over u of `DCG_u / IDCG_u` with binary gains,
//!   `DCG_u = Σ_{r<k, L_u[r] ∈ T_u} 1/log2(r+2)` and
//!   `IDCG_u = Σ_{r < min(k,|T_u|)} 1/log2(r+2)` (as `implicit` does).

use std::collections::{BTreeMap, HashMap, HashSet};

use fineline_core::{ItemId, Pseudonym};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::Interaction;

/// Interactions divided into what models learn from and what they must find.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Interactions the models learn from.
    pub train: Vec<Interaction>,
    /// Held-out interactions the models must find.
    pub test: Vec<Interaction>,
}

/// Holds out exactly `round(test_share × N)` interactions chosen by a
/// ChaCha8 shuffle seeded with `seed`; both halves keep the input order.
pub fn split(interactions: &[Interaction], test_share: f64, seed: u64) -> Split {
    let mut order: Vec<usize> = (0..interactions.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_test = (test_share * interactions.len() as f64).round() as usize;
    let mut is_test = vec![false; interactions.len()];
    for &i in &order[..n_test] {
        is_test[i] = true;
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, it) in interactions.iter().enumerate() {
        if is_test[i] {
            test.push(it.clone());
        } else {
            train.push(it.clone());
        }
    }
    Split { train, test }
}

/// Ranking quality at `k`, averaged over evaluated subjects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Subjects evaluated (those with held-out items).
    pub users: usize,
    /// Hits in the top `k` divided by `k` (precision@k).
    pub precision: f64,
    /// Hits divided by `min(k, held-out items)` in total, as `implicit` reports it.
    pub precision_capped: f64,
    /// Normalised discounted cumulative gain at `k` (binary relevance).
    pub ndcg: f64,
}

/// Scores ranked lists against a split's held-out items.
#[derive(Debug, Clone)]
pub struct Evaluator {
    k: usize,
    held_out: BTreeMap<Pseudonym, HashSet<ItemId>>,
    history: HashMap<Pseudonym, Vec<Interaction>>,
}

impl Evaluator {
    /// Indexes the held-out positives and each subject's training history; ranks are cut at `k`.
    pub fn new(split: &Split, k: usize) -> Self {
        let mut held_out: BTreeMap<Pseudonym, HashSet<ItemId>> = BTreeMap::new();
        for it in split.test.iter().filter(|i| i.weight > 0.0) {
            held_out
                .entry(it.subject)
                .or_default()
                .insert(it.item.clone());
        }
        let mut history: HashMap<Pseudonym, Vec<Interaction>> = HashMap::new();
        for it in &split.train {
            history.entry(it.subject).or_default().push(it.clone());
        }
        Self {
            k,
            held_out,
            history,
        }
    }

    /// Subjects that will be evaluated, in order.
    pub fn subjects(&self) -> impl Iterator<Item = &Pseudonym> {
        self.held_out.keys()
    }

    /// A subject's training interactions (empty if they have none).
    pub fn history(&self, subject: &Pseudonym) -> &[Interaction] {
        self.history.get(subject).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Asks `rank` for each subject's list given their training history.
    pub fn evaluate(
        &self,
        mut rank: impl FnMut(&Pseudonym, &[Interaction]) -> Vec<ItemId>,
    ) -> Metrics {
        let lists: HashMap<Pseudonym, Vec<ItemId>> = self
            .subjects()
            .map(|s| (*s, rank(s, self.history(s))))
            .collect();
        self.score_lists(&lists)
    }

    /// Scores given lists (e.g. a peer's); a missing list scores zero.
    pub fn score_lists(&self, lists: &HashMap<Pseudonym, Vec<ItemId>>) -> Metrics {
        let gain = |r: usize| 1.0 / ((r + 2) as f64).log2();
        let (mut hits_total, mut capped_div, mut precision, mut ndcg) = (0usize, 0usize, 0.0, 0.0);
        for (subject, truth) in &self.held_out {
            let list = lists.get(subject).map(Vec::as_slice).unwrap_or(&[]);
            let top = &list[..list.len().min(self.k)];
            let mut hits = 0;
            let mut dcg = 0.0;
            for (r, item) in top.iter().enumerate() {
                if truth.contains(item) {
                    hits += 1;
                    dcg += gain(r);
                }
            }
            let ideal: f64 = (0..truth.len().min(self.k)).map(gain).sum();
            hits_total += hits;
            capped_div += truth.len().min(self.k);
            precision += hits as f64 / self.k as f64;
            ndcg += dcg / ideal;
        }
        let users = self.held_out.len();
        let per_user = |x: f64| if users == 0 { 0.0 } else { x / users as f64 };
        Metrics {
            users,
            precision: per_user(precision),
            precision_capped: if capped_div == 0 {
                0.0
            } else {
                hits_total as f64 / capped_div as f64
            },
            ndcg: per_user(ndcg),
        }
    }
}
