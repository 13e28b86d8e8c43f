//! Item-item neighbourhood model kept as exact co-occurrence counts.
//!
//! The model's whole state is integers: how many subjects hold each item
//! (`degree`) and each pair of items (`co`). Similarities and the top-K
//! neighbour lists are a pure function of those integers, recomputed after
//! every change. So forgetting a subject (decrementing their pairs) leaves a
//! model bit-identical to one trained from scratch without them.

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
    Bm25 { k1: f64, b: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    /// Neighbours kept per item (K).
    pub neighbours: usize,
    pub weighting: Weighting,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self {
            neighbours: 50,
            weighting: Weighting::Cosine,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemKnn {
    config: KnnConfig,
    baskets: Baskets,
    /// Subjects holding each item.
    degree: Vec<u32>,
    /// Off-diagonal co-occurrence rows, sorted by item, no zero entries.
    co: Vec<Vec<(u32, u32)>>,
    /// Top-K neighbours per item, best first, ties broken by lower index.
    neighbours: Vec<Vec<(u32, f32)>>,
}

impl ItemKnn {
    /// Counts co-occurrences of `baskets` over a catalogue of `n_items` items.
    pub fn train(
        n_items: usize,
        baskets: Baskets,
        config: KnnConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Self {
        let mut holders: Vec<Vec<&[u32]>> = vec![Vec::new(); n_items];
        let mut degree = vec![0u32; n_items];
        for items in baskets.values() {
            for &i in items {
                holders[i as usize].push(items);
                degree[i as usize] += 1;
            }
        }
        // Row by row with a dense scratch row: the sparse product XᵀX without hashing.
        progress(Progress {
            stage: "co-occurrence",
            done: 0,
            total: 2,
        });
        let co = par_map(n_items, |range| {
            let mut scratch = vec![0u32; n_items];
            let mut touched: Vec<u32> = Vec::new();
            range
                .map(|i| {
                    for items in &holders[i] {
                        for &j in *items {
                            if j as usize != i {
                                if scratch[j as usize] == 0 {
                                    touched.push(j);
                                }
                                scratch[j as usize] += 1;
                            }
                        }
                    }
                    // Sorting a long touched list costs more than sweeping the scratch row.
                    let row: Vec<(u32, u32)> = if touched.len() * 16 > n_items {
                        scratch
                            .iter_mut()
                            .enumerate()
                            .filter(|(_, c)| **c > 0)
                            .map(|(j, c)| (j as u32, std::mem::take(c)))
                            .collect()
                    } else {
                        touched.sort_unstable();
                        touched
                            .iter()
                            .map(|&j| (j, std::mem::take(&mut scratch[j as usize])))
                            .collect()
                    };
                    touched.clear();
                    row
                })
                .collect()
        });
        progress(Progress {
            stage: "neighbours",
            done: 1,
            total: 2,
        });
        drop(holders);
        let mut model = Self {
            config,
            baskets,
            degree,
            co,
            neighbours: Vec::new(),
        };
        model.rebuild_neighbours();
        progress(Progress {
            stage: "neighbours",
            done: 2,
            total: 2,
        });
        model
    }

    /// Removes everything the subject contributed. Returns whether they were known.
    ///
    /// Costs O(|basket|² log row) for the counts plus one neighbour rebuild.
    pub fn forget(&mut self, subject: &Pseudonym) -> bool {
        let Some(items) = self.baskets.remove(subject) else {
            return false;
        };
        for &i in &items {
            self.degree[i as usize] -= 1;
            let row = &mut self.co[i as usize];
            for &j in &items {
                if j == i {
                    continue;
                }
                let at = row
                    .binary_search_by_key(&j, |e| e.0)
                    .expect("a counted pair is in its row");
                row[at].1 -= 1;
                if row[at].1 == 0 {
                    row.remove(at);
                }
            }
        }
        self.rebuild_neighbours();
        true
    }

    fn rebuild_neighbours(&mut self) {
        let k = self.config.neighbours;
        let subjects = self.baskets.len() as f64;
        let avg_mass = {
            let held = self.degree.iter().filter(|&&d| d > 0).count().max(1);
            let mass: u64 = self
                .co
                .iter()
                .flat_map(|r| r.iter().map(|e| e.1 as u64))
                .sum();
            mass as f64 / held as f64
        };
        let (co, degree, weighting) = (&self.co, &self.degree, self.config.weighting);
        let neighbours = par_map(co.len(), |range| {
            range
                .map(|i| {
                    let row = &co[i];
                    let ni = degree[i] as f64;
                    let mass: u64 = row.iter().map(|e| e.1 as u64).sum();
                    let mut sims: Vec<(u32, f32)> = row
                        .iter()
                        .map(|&(j, c)| {
                            let nj = degree[j as usize] as f64;
                            let c = c as f64;
                            let s = match weighting {
                                Weighting::Cosine => c / (ni * nj).sqrt(),
                                Weighting::Bm25 { k1, b } => {
                                    let idf = (1.0 + (subjects - nj + 0.5) / (nj + 0.5)).ln();
                                    let norm = k1 * (1.0 - b + b * mass as f64 / avg_mass.max(1.0));
                                    idf * c * (k1 + 1.0) / (c + norm)
                                }
                            };
                            (j, s as f32)
                        })
                        .collect();
                    let order =
                        |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                    if sims.len() > k {
                        sims.select_nth_unstable_by(k, order);
                        sims.truncate(k);
                    }
                    sims.sort_unstable_by(order);
                    sims
                })
                .collect()
        });
        self.neighbours = neighbours;
    }

    /// Items most similar to `item`, best first (Amazon 2003 "customers who
    /// bought this also bought").
    pub fn similar(&self, item: u32, n: usize) -> &[(u32, f32)] {
        let list = self
            .neighbours
            .get(item as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        &list[..n.min(list.len())]
    }

    /// Adds `weight × sim(i, j)` for every history item `i` and neighbour `j`,
    /// remembering which history item contributed most to each `j`.
    pub fn score_into(&self, history: &[(u32, f32)], scores: &mut Scores) {
        for &(i, w) in history {
            for &(j, s) in self.similar(i, usize::MAX) {
                scores.add(j, w * s, i);
            }
        }
    }

    /// Subjects holding each item: the popularity signal.
    pub fn degree(&self) -> &[u32] {
        &self.degree
    }

    /// Pair counts between distinct items, for the EASE Gram matrix.
    pub fn co_occurrence(&self) -> &[Vec<(u32, u32)>] {
        &self.co
    }

    pub fn baskets(&self) -> &Baskets {
        &self.baskets
    }

    pub fn knows(&self, subject: &Pseudonym) -> bool {
        self.baskets.contains_key(subject)
    }

    pub fn config(&self) -> KnnConfig {
        self.config
    }

    pub fn n_items(&self) -> usize {
        self.degree.len()
    }
}
