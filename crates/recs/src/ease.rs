//! EASE (Steck 2019): a closed-form linear item-item model.
//!
//! `B = I - P·diag(1/diag P)` with `P = (XᵀX + λI)⁻¹`, so `B` has a zero
//! diagonal. A subject's scores are their history row times `B`: new events
//! change their recommendations at once, without retraining (fold-in).
//!
//! The Gram matrix `XᵀX` of the binary subject×item matrix is exactly the
//! neighbourhood model's integer counts, so training EASE from the counts
//! that remain after forgetting a subject gives the same `B` as training from
//! scratch without them. Forgetting therefore means retraining `B`
//! ([`crate::Recommender::retrain_without`]); until then the stale `B` is
//! not served.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};

use crate::data::Progress;
use crate::knn::ItemKnn;
use crate::score::Scores;
use crate::RecsError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EaseConfig {
    /// L2 regularisation λ added to the Gram diagonal.
    pub lambda: f64,
    /// Only the most held items take part (dense `n²` memory, `n³` time).
    pub max_items: usize,
}

impl Default for EaseConfig {
    fn default() -> Self {
        Self {
            lambda: 250.0,
            max_items: 4000,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ease {
    /// Catalogue index of each model row/column, ascending.
    items: Vec<u32>,
    /// Model position of each catalogue item, or `u32::MAX` when left out.
    position: Vec<u32>,
    /// `B` row-major in `f32`: row `i` is what history item `i` adds to everyone.
    b: Vec<f32>,
}

impl Ease {
    /// Fits `B` on the counts of `knn`.
    pub fn train(
        knn: &ItemKnn,
        config: EaseConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, RecsError> {
        let degree = knn.degree();
        let mut held: Vec<u32> = (0..degree.len() as u32)
            .filter(|&i| degree[i as usize] > 0)
            .collect();
        if held.len() > config.max_items {
            held.sort_unstable_by(|&a, &b| {
                degree[b as usize].cmp(&degree[a as usize]).then(a.cmp(&b))
            });
            held.truncate(config.max_items);
            held.sort_unstable();
        }
        let items = held;
        let n = items.len();
        let mut position = vec![u32::MAX; degree.len()];
        for (p, &i) in items.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        progress(Progress {
            stage: "gram",
            done: 0,
            total: 3,
        });
        let mut gram = Mat::<f64>::zeros(n, n);
        let co = knn.co_occurrence();
        for (p, &i) in items.iter().enumerate() {
            gram[(p, p)] = degree[i as usize] as f64 + config.lambda;
            for &(j, c) in &co[i as usize] {
                let q = position[j as usize];
                if q != u32::MAX {
                    gram[(p, q as usize)] = c as f64;
                }
            }
        }
        progress(Progress {
            stage: "inverse",
            done: 1,
            total: 3,
        });
        let p_mat = gram
            .llt(Side::Lower)
            .map_err(|_| RecsError::Numerical("Gram matrix is not positive definite"))?
            .inverse();
        drop(gram);
        progress(Progress {
            stage: "weights",
            done: 2,
            total: 3,
        });
        let mut b = vec![0f32; n * n];
        for col in 0..n {
            let d = p_mat[(col, col)];
            for row in 0..n {
                if row != col {
                    b[row * n + col] = (-p_mat[(row, col)] / d) as f32;
                }
            }
        }
        progress(Progress {
            stage: "weights",
            done: 3,
            total: 3,
        });
        Ok(Self { items, position, b })
    }

    /// Adds `weight × B[i, ·]` for each history item, keeping the largest
    /// contributor per candidate as its reason.
    pub fn score_into(&self, history: &[(u32, f32)], scores: &mut Scores) {
        let n = self.items.len();
        for &(i, w) in history {
            let Some(&p) = self.position.get(i as usize) else {
                continue;
            };
            if p == u32::MAX {
                continue;
            }
            let row = &self.b[p as usize * n..(p as usize + 1) * n];
            for (q, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    scores.add(self.items[q], w * v, i);
                }
            }
        }
    }

    /// Items in the model.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
