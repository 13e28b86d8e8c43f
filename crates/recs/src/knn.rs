//! Item-item neighbourhood model kept as exact co-occurrence counts.
//!
//! The model's whole state is integers: how many subjects hold each item
//! (`degree`) and each pair of items (`co`). Similarities and the top-K
//! neighbour lists are a pure function of those integers, computed on first
//! read and cached per item. Forgetting a subject decrements their pairs and
//! drops the cached lists those counts feed, so the model answers exactly as
//! one trained from scratch without them, and an erasure costs the subject's
//! own pairs rather than a pass over every item.
//!
//! Each item has two lists: the full one, which personal answers read, and
//! the public one ([`ItemKnn::public_similar`]), which keeps only pairs held
//! by at least [`KnnConfig::min_support`] people. `co(i, j)` counts distinct
//! people (baskets hold each item once), so it *is* the pair's support, and
//! forgetting decrements it like every other count: a pair that falls under
//! the floor leaves the public list exactly as if it had never reached it.

use std::sync::{Arc, OnceLock};

use fineline_core::Pseudonym;

use crate::data::{Baskets, Progress};
use crate::score::{par_map, Scores};

/// How co-occurrence counts become similarities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weighting {
    /// `co(i,j) / sqrt(n_i n_j)`: Amazon 2003 item-to-item.
    Cosine,
    /// BM25 over the co-occurrence row of `i` seen as a document: saturates
    /// large counts (`k1`), normalises by row mass (`b`) and discounts
    /// ubiquitous neighbours by `idf(j) = ln(1 + (N - n_j + 0.5) / (n_j + 0.5))`.
    Bm25 {
        /// Count saturation: larger lets big co-occurrence counts weigh more (e.g. 1.2).
        k1: f64,
        /// Row-mass normalisation, from 0 (none) to 1 (full).
        b: f64,
    },
    /// RP3beta (Paudel et al. 2016): a walk item → person → item in which
    /// each step is discounted by the degree it leaves from,
    /// `n_i^-α · Σ_{u holds i and j} |u|^-α · n_j^-β`. The sums over people
    /// are kept in fixed point ([`WALK_ONE`]), so forgetting a person
    /// subtracts exactly what training added.
    Rp3 {
        /// Discount exponent α for the degree of the item and person a step leaves from.
        alpha: f64,
        /// Popularity discount exponent β for the item reached.
        beta: f64,
    },
}

/// Fixed-point one of the RP3beta person weights `|u|^-α ≤ 1`.
pub const WALK_ONE: f64 = (1u64 << 32) as f64;

impl Weighting {
    /// A person's step weight in RP3beta's sums, from their basket size.
    fn step(self, basket: usize) -> u64 {
        match self {
            Weighting::Rp3 { alpha, .. } => {
                ((basket as f64).powf(-alpha) * WALK_ONE).round() as u64
            }
            _ => 0,
        }
    }

    /// RP3beta's `n^-β` for an item held by `n` people (unused otherwise).
    fn discount(self, n: u32) -> f64 {
        match self {
            Weighting::Rp3 { beta, .. } if n > 0 => (n as f64).powf(-beta),
            _ => 0.0,
        }
    }

    fn walks(self) -> bool {
        matches!(self, Weighting::Rp3 { .. })
    }
}

/// How the neighbourhood model is built and what it may publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    /// Neighbours kept per item (K).
    pub neighbours: usize,
    /// How co-occurrence counts become similarities.
    pub weighting: Weighting,
    /// Distinct people who must hold a pair before it may appear in a
    /// public list (similar items, non-personal answers). 1 publishes
    /// everything.
    pub min_support: u32,
}

/// The default [`KnnConfig::min_support`]: see docs/security.md for why 10.
pub const DEFAULT_MIN_SUPPORT: u32 = 10;

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            neighbours: 50,
            weighting: Weighting::Cosine,
            min_support: DEFAULT_MIN_SUPPORT,
        }
    }
}

type Neighbours = Box<[(u32, f32)]>;

/// Cloning is cheap: count rows are shared between copies (a copy serving
/// readers while another forgets) until one of them changes a row.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    config: KnnConfig,
    baskets: Baskets,
    /// Subjects holding each item.
    degree: Vec<u32>,
    /// Items held by at least one subject.
    held: usize,
    /// Off-diagonal co-occurrence rows, sorted by item, no zero entries.
    co: Vec<Arc<Vec<(u32, u32)>>>,
    /// RP3beta only (else empty rows): beside each entry of `co`, the sum
    /// of its holders' step weights ([`Weighting::step`]).
    walk: Vec<Arc<Vec<u64>>>,
    /// RP3beta only (else empty): `n_j^-β` per item, kept with `degree`;
    /// a power per pair was most of ranking's time.
    popularity_discount: Vec<f64>,
    /// Sum of each row's counts (BM25's document length) and of all rows,
    /// kept exact as counts change so no read sums every row.
    mass: Vec<u64>,
    total_mass: u64,
    /// Top-K neighbours per item, best first, ties broken by lower index;
    /// filled on first read.
    neighbours: Vec<OnceLock<Neighbours>>,
    /// The same over pairs held by at least `min_support` people only
    /// (not a filtered copy of the full list: the K best supported pairs).
    public: Vec<OnceLock<Neighbours>>,
}

impl ItemKnn {
    /// Counts co-occurrences of `baskets` over a catalogue of `n_items` items.
    pub fn train(
        n_items: usize,
        baskets: Baskets,
        config: KnnConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Self {
        let weighting = config.weighting;
        let mut holders: Vec<Vec<(&[u32], u64)>> = vec![Vec::new(); n_items];
        let mut degree = vec![0u32; n_items];
        for items in baskets.values() {
            let step = weighting.step(items.len());
            for &i in items {
                holders[i as usize].push((items, step));
                degree[i as usize] += 1;
            }
        }
        // Row by row with a dense scratch row: the sparse product XᵀX without
        // hashing. A bitmap of the items touched yields the row in item order
        // without sorting and without a branch per pair.
        progress(Progress {
            stage: "co-occurrence",
            done: 0,
            total: 2,
        });
        let walks = weighting.walks();
        let rows = par_map(n_items, |range| {
            let mut scratch = vec![0u32; n_items];
            let mut walked = vec![0u64; if walks { n_items } else { 0 }];
            let mut touched = vec![0u64; n_items.div_ceil(64)];
            range
                .map(|i| {
                    // A loop per weighting, so plain counting carries no walk sums.
                    for &(items, step) in &holders[i] {
                        if walks {
                            for &j in items {
                                scratch[j as usize] += 1;
                                walked[j as usize] += step;
                                touched[j as usize / 64] |= 1 << (j % 64);
                            }
                        } else {
                            for &j in items {
                                scratch[j as usize] += 1;
                                touched[j as usize / 64] |= 1 << (j % 64);
                            }
                        }
                    }
                    // Pairs are between distinct items.
                    scratch[i] = 0;
                    touched[i / 64] &= !(1 << (i % 64));
                    if walks {
                        walked[i] = 0;
                    }
                    let len = touched.iter().map(|w| w.count_ones() as usize).sum();
                    let mut row: Vec<(u32, u32)> = Vec::with_capacity(len);
                    let mut walk: Vec<u64> = Vec::with_capacity(if walks { len } else { 0 });
                    for (w, word) in touched.iter_mut().enumerate() {
                        let mut bits = std::mem::take(word);
                        while bits != 0 {
                            let j = w * 64 + bits.trailing_zeros() as usize;
                            row.push((j as u32, std::mem::take(&mut scratch[j])));
                            if walks {
                                walk.push(std::mem::take(&mut walked[j]));
                            }
                            bits &= bits - 1;
                        }
                    }
                    (Arc::new(row), Arc::new(walk))
                })
                .collect()
        });
        let (co, walk): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        progress(Progress {
            stage: "neighbours",
            done: 1,
            total: 2,
        });
        drop(holders);
        let mass: Vec<u64> = co
            .iter()
            .map(|r| r.iter().map(|e| e.1 as u64).sum())
            .collect();
        let popularity_discount = match weighting.walks() {
            true => degree.iter().map(|&d| weighting.discount(d)).collect(),
            false => Vec::new(),
        };
        let model = Self {
            config,
            held: degree.iter().filter(|&&d| d > 0).count(),
            baskets,
            degree,
            co,
            walk,
            popularity_discount,
            total_mass: mass.iter().sum(),
            mass,
            neighbours: (0..n_items).map(|_| OnceLock::new()).collect(),
            public: (0..n_items).map(|_| OnceLock::new()).collect(),
        };
        // A freshly trained model answers its first reads at full speed.
        let lists = par_map(n_items, |range| range.map(|i| model.rank_both(i)).collect());
        for ((cell, public), (list, supported)) in
            model.neighbours.iter().zip(&model.public).zip(lists)
        {
            let _ = cell.set(list);
            let _ = public.set(supported);
        }
        progress(Progress {
            stage: "neighbours",
            done: 2,
            total: 2,
        });
        model
    }

    /// Removes everything the subject contributed. Returns whether they were known.
    ///
    /// Costs O(|basket|² + Σ row length over the basket): the subject's own
    /// pairs, then dropping the cached lists that read them.
    pub fn forget(&mut self, subject: &Pseudonym) -> bool {
        let Some(items) = self.baskets.remove(subject) else {
            return false;
        };
        match self.config.weighting {
            // sim(r, x) reads co(r, x) (or walk(r, x)), n_r and n_x only: a
            // list goes stale when its item or one of its co-occurring items
            // lost a holder. Rows are symmetric, so the basket's rows name
            // every such item.
            // The public list reads the same counts (support is co(r, x)).
            Weighting::Cosine | Weighting::Rp3 { .. } => {
                let mut stale = vec![false; self.n_items()];
                for &i in &items {
                    stale[i as usize] = true;
                    for &(r, _) in self.co[i as usize].iter() {
                        stale[r as usize] = true;
                    }
                }
                for ((cell, public), _) in self
                    .neighbours
                    .iter_mut()
                    .zip(self.public.iter_mut())
                    .zip(stale)
                    .filter(|s| s.1)
                {
                    cell.take();
                    public.take();
                }
            }
            // Every idf reads the subject count and every norm the average
            // row mass: each list changes.
            Weighting::Bm25 { .. } => {
                for cell in self.neighbours.iter_mut().chain(self.public.iter_mut()) {
                    cell.take();
                }
            }
        }
        let pairs = items.len() as u64 - 1;
        let step = self.config.weighting.step(items.len());
        for &i in &items {
            self.degree[i as usize] -= 1;
            if let Some(d) = self.popularity_discount.get_mut(i as usize) {
                *d = self.config.weighting.discount(self.degree[i as usize]);
            }
            if self.degree[i as usize] == 0 {
                self.held -= 1;
            }
            self.mass[i as usize] -= pairs;
            self.total_mass -= pairs;
            let walk = match self.config.weighting.walks() {
                true => Some((Arc::make_mut(&mut self.walk[i as usize]), step)),
                false => None,
            };
            decrement(Arc::make_mut(&mut self.co[i as usize]), walk, i, &items);
        }
        true
    }

    /// Rank keys of every pair of item `i` held by at least `min` people,
    /// in row order.
    fn keys(&self, i: usize, min: u32) -> Vec<u64> {
        let subjects = self.baskets.len() as f64;
        let avg_mass = self.total_mass as f64 / self.held.max(1) as f64;
        let row = &self.co[i];
        let walk = &self.walk[i];
        let ni = self.degree[i] as f64;
        let mass = self.mass[i];
        // RP3beta's n_i^-α, the same for the whole row.
        let row_scale = match self.config.weighting {
            Weighting::Rp3 { alpha, .. } => ni.powf(-alpha),
            _ => 1.0,
        };
        // Best first, ties to the lower index, as one integer per entry:
        // integer keys select and sort several times faster than a
        // comparator on (index, score) pairs, which was most of ranking.
        row.iter()
            .enumerate()
            .filter(|(_, &(_, c))| c >= min)
            .map(|(at, &(j, c))| {
                let nj = self.degree[j as usize] as f64;
                let c = c as f64;
                let s = match self.config.weighting {
                    Weighting::Cosine => c / (ni * nj).sqrt(),
                    Weighting::Bm25 { k1, b } => {
                        let idf = (1.0 + (subjects - nj + 0.5) / (nj + 0.5)).ln();
                        let norm = k1 * (1.0 - b + b * mass as f64 / avg_mass.max(1.0));
                        idf * c * (k1 + 1.0) / (c + norm)
                    }
                    Weighting::Rp3 { .. } => {
                        row_scale
                            * (walk[at] as f64 / WALK_ONE)
                            * self.popularity_discount[j as usize]
                    }
                };
                rank_key(j, s as f32)
            })
            .collect()
    }

    /// The best K of `keys`, best first.
    fn top(&self, mut keys: Vec<u64>) -> Neighbours {
        let k = self.config.neighbours;
        if keys.len() > k {
            keys.select_nth_unstable(k);
            keys.truncate(k);
        }
        keys.sort_unstable();
        keys.into_iter().map(from_rank_key).collect()
    }

    /// The top-K list of item `i` over pairs held by at least `min` people,
    /// from the current counts.
    fn rank(&self, i: usize, min: u32) -> Neighbours {
        self.top(self.keys(i, min))
    }

    /// The full and the public list of item `i`, scoring each pair once
    /// (training fills both, and scoring is most of ranking).
    fn rank_both(&self, i: usize) -> (Neighbours, Neighbours) {
        let keys = self.keys(i, 1);
        let min = self.config.min_support;
        let supported: Vec<u64> = match min <= 1 {
            true => keys.clone(),
            false => self.co[i]
                .iter()
                .zip(&keys)
                .filter(|(e, _)| e.1 >= min)
                .map(|(_, &k)| k)
                .collect(),
        };
        (self.top(keys), self.top(supported))
    }

    /// Items most similar to `item`, best first (Amazon 2003 "customers who
    /// bought this also bought").
    pub fn similar(&self, item: u32, n: usize) -> &[(u32, f32)] {
        let Some(cell) = self.neighbours.get(item as usize) else {
            return &[];
        };
        let list = cell.get_or_init(|| self.rank(item as usize, 1));
        &list[..n.min(list.len())]
    }

    /// [`Self::similar`] over pairs held by at least
    /// [`KnnConfig::min_support`] people: what may be shown to anyone.
    pub fn public_similar(&self, item: u32, n: usize) -> &[(u32, f32)] {
        let Some(cell) = self.public.get(item as usize) else {
            return &[];
        };
        let min = self.config.min_support;
        let list = cell.get_or_init(|| self.rank(item as usize, min));
        &list[..n.min(list.len())]
    }

    /// Adds `weight × sim(i, j)` for every history item `i` and neighbour `j`,
    /// remembering which history item contributed most to each `j`.
    pub fn score_into(&self, history: &[(u32, f32)], scores: &mut Scores) {
        self.fill(history.iter().map(|h| h.0));
        for &(i, w) in history {
            for &(j, s) in self.similar(i, usize::MAX) {
                scores.add(j, w * s, i);
            }
        }
    }

    /// Ranks the stale lists among `items` on every core: after a
    /// forgetting, a long history would otherwise rank them one by one.
    fn fill(&self, items: impl Iterator<Item = u32>) {
        let stale: Vec<usize> = items
            .map(|i| i as usize)
            .filter(|&i| self.neighbours.get(i).is_some_and(|c| c.get().is_none()))
            .collect();
        if stale.len() < 64 {
            return;
        }
        let lists = par_map(stale.len(), |range| {
            range.map(|k| (stale[k], self.rank(stale[k], 1))).collect()
        });
        for (i, list) in lists {
            let _ = self.neighbours[i].set(list);
        }
    }

    /// Subjects holding each item: the popularity signal.
    pub fn degree(&self) -> &[u32] {
        &self.degree
    }

    /// Pair counts between distinct items, row by row, for the EASE Gram matrix.
    pub fn co_occurrence(&self) -> impl ExactSizeIterator<Item = &[(u32, u32)]> + '_ {
        self.co.iter().map(|r| r.as_slice())
    }

    /// Each subject's positive items, as the model holds them.
    pub fn baskets(&self) -> &Baskets {
        &self.baskets
    }

    /// Whether the subject's events are in the model.
    pub fn knows(&self, subject: &Pseudonym) -> bool {
        self.baskets.contains_key(subject)
    }

    /// The settings the model was trained with.
    pub fn config(&self) -> KnnConfig {
        self.config
    }

    /// How many items the model spans (its index length).
    pub fn n_items(&self) -> usize {
        self.degree.len()
    }
}

/// An integer whose ascending order is descending `score` (IEEE total
/// order, as `f32::total_cmp`), then ascending `item`.
fn rank_key(item: u32, score: f32) -> u64 {
    let b = score.to_bits();
    let ascending = if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    };
    ((!ascending as u64) << 32) | item as u64
}

fn from_rank_key(key: u64) -> (u32, f32) {
    let ascending = !((key >> 32) as u32);
    let b = if ascending & 0x8000_0000 != 0 {
        ascending & 0x7fff_ffff
    } else {
        !ascending
    };
    (key as u32, f32::from_bits(b))
}

/// Takes one from `row`'s count of every other item in `items`, and
/// `step` from the walk sums beside them when there are; both are sorted,
/// so one merge walk finds them all (galloping over long gaps).
fn decrement(
    row: &mut Vec<(u32, u32)>,
    mut walk: Option<(&mut Vec<u64>, u64)>,
    own: u32,
    items: &[u32],
) {
    let (mut at, mut emptied) = (0, false);
    for &j in items {
        if j == own {
            continue;
        }
        let mut step = 1;
        while at + step < row.len() && row[at + step].0 < j {
            at += step;
            step *= 2;
        }
        let end = (at + step + 1).min(row.len());
        at += row[at..end].partition_point(|e| e.0 < j);
        debug_assert_eq!(row[at].0, j, "a counted pair is in its row");
        row[at].1 -= 1;
        emptied |= row[at].1 == 0;
        if let Some((walk, step)) = walk.as_mut() {
            walk[at] -= *step;
        }
    }
    if emptied {
        if let Some((walk, _)) = walk {
            let mut counts = row.iter().map(|e| e.1);
            // A pair nobody holds any more has walked nothing either.
            walk.retain(|_| counts.next().is_some_and(|c| c > 0));
        }
        row.retain(|e| e.1 > 0);
    }
}

/// Equal counts and equal neighbour lists, full and public, for every item
/// (ranking any list not yet read), whatever each side happens to have cached.
impl PartialEq for ItemKnn {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.baskets == other.baskets
            && self.degree == other.degree
            && self.held == other.held
            && self.co == other.co
            && self.walk == other.walk
            && self.mass == other.mass
            && self.total_mass == other.total_mass
            && (0..self.n_items() as u32).all(|i| {
                self.similar(i, usize::MAX) == other.similar(i, usize::MAX)
                    && self.public_similar(i, usize::MAX) == other.public_similar(i, usize::MAX)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Keys order as the neighbour lists promise (best score first by
        /// `total_cmp`, ties to the lower item) and give both back intact.
        #[test]
        fn rank_keys_order_as_scores_then_items(
            a in (any::<u32>(), any::<f32>()),
            b in (any::<u32>(), any::<f32>()),
        ) {
            let by_pairs = b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            prop_assert_eq!(rank_key(a.0, a.1).cmp(&rank_key(b.0, b.1)), by_pairs);
            let back = from_rank_key(rank_key(a.0, a.1));
            prop_assert_eq!((back.0, back.1.to_bits()), (a.0, a.1.to_bits()));
        }
    }
}
