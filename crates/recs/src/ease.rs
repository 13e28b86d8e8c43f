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
//! not served. A refit copies what it reads first ([`Ease::prepare`]) and
//! runs the cubic part ([`EaseFit::fit`]) without the model, so the model
//! can keep forgetting people meanwhile.

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, MatRef, Side};

use crate::data::Progress;
use crate::knn::ItemKnn;
use crate::score::{Scores, PENDING};
use crate::RecsError;

/// How EASE is fitted: regularisation and how many items it covers.
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

/// A fitted EASE model: the item-item weight matrix `B` over the most held items.
#[derive(Debug, Clone, PartialEq)]
pub struct Ease {
    /// Catalogue index of each model row/column, ascending.
    items: Vec<u32>,
    /// Model position of each catalogue item, or `u32::MAX` when left out.
    position: Vec<u32>,
    /// `B` row-major in `f32`: row `i` is what history item `i` adds to everyone.
    b: Vec<f32>,
}

/// The part of the counts an EASE fit reads, detached from the model.
#[derive(Debug)]
pub struct EaseFit {
    items: Vec<u32>,
    position: Vec<u32>,
    lambda: f64,
    input: FitInput,
}

#[derive(Debug)]
enum FitInput {
    /// Fewer subjects than items: their rows, for the Woodbury form.
    Subjects(Vec<Vec<u32>>),
    /// The item Gram matrix with λ on the diagonal.
    Gram(Mat<f32>),
}

impl Ease {
    /// Fits `B` on the counts of `knn`.
    pub fn train(
        knn: &ItemKnn,
        config: EaseConfig,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, RecsError> {
        Self::prepare(knn, config).fit(progress)
    }

    /// Copies what a fit on the counts of `knn` reads: subject rows or the
    /// Gram matrix, whichever the cheaper form needs.
    pub fn prepare(knn: &ItemKnn, config: EaseConfig) -> EaseFit {
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
        // Rows of the subject×item matrix restricted to the model's items.
        let rows: Vec<Vec<u32>> = knn
            .baskets()
            .values()
            .map(|b| {
                b.iter()
                    .map(|&i| position[i as usize])
                    .filter(|&p| p != u32::MAX)
                    .collect::<Vec<u32>>()
            })
            .filter(|r| !r.is_empty())
            .collect();
        let input = if rows.len() < n {
            FitInput::Subjects(rows)
        } else {
            drop(rows);
            FitInput::Gram(gram(knn, &items, &position, config.lambda))
        };
        EaseFit {
            items,
            position,
            lambda: config.lambda,
            input,
        }
    }

    /// Adds `Σ weight × B[i, ·]` over the history, each candidate's reason
    /// left [`PENDING`]: summing whole rows vectorises, and only the few
    /// answers shown need [`Self::because`].
    pub fn score_into(&self, history: &[(u32, f32)], scores: &mut Scores) {
        let n = self.items.len();
        let mut acc = vec![0f32; n];
        let mut any = false;
        for (p, w) in self.rows_of(history) {
            for (x, &v) in acc.iter_mut().zip(&self.b[p * n..(p + 1) * n]) {
                *x += w * v;
            }
            any = true;
        }
        if any {
            for (q, &v) in acc.iter().enumerate() {
                scores.add(self.items[q], v, PENDING);
            }
        }
    }

    /// The history item contributing most to `item`'s score (ties: earlier in history).
    pub fn because(&self, history: &[(u32, f32)], item: u32) -> Option<u32> {
        let n = self.items.len();
        let q = *self.position.get(item as usize)?;
        if q == u32::MAX {
            return None;
        }
        let mut best: Option<(f32, u32)> = None;
        for (&(i, _), (p, w)) in history
            .iter()
            .filter(|h| self.model_position(h.0).is_some())
            .zip(self.rows_of(history))
        {
            let c = w * self.b[p * n + q as usize];
            if best.is_none_or(|b| c > b.0) {
                best = Some((c, i));
            }
        }
        best.map(|b| b.1)
    }

    fn model_position(&self, item: u32) -> Option<usize> {
        match self.position.get(item as usize) {
            Some(&p) if p != u32::MAX => Some(p as usize),
            _ => None,
        }
    }

    fn rows_of<'h>(&'h self, history: &'h [(u32, f32)]) -> impl Iterator<Item = (usize, f32)> + 'h {
        history
            .iter()
            .filter_map(|&(i, w)| self.model_position(i).map(|p| (p, w)))
    }

    /// Items in the model.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item made it into the model.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn step(progress: &mut dyn FnMut(Progress), stage: &'static str, done: u64) {
    progress(Progress {
        stage,
        done,
        total: 3,
    });
}

impl EaseFit {
    /// The cubic part of training: `B` from the copied counts.
    pub fn fit(self, progress: &mut dyn FnMut(Progress)) -> Result<Ease, RecsError> {
        let n = self.items.len();
        let b = match self.input {
            FitInput::Subjects(rows) => dual(&rows, n, self.lambda, progress)?,
            FitInput::Gram(gram) => primal(gram, progress)?,
        };
        Ok(Ease {
            items: self.items,
            position: self.position,
            b,
        })
    }
}

/// `XᵀX + λI` over the model's items, in `f32`: it halves the inverse's
/// time and λ keeps the system well conditioned.
fn gram(knn: &ItemKnn, items: &[u32], position: &[u32], lambda: f64) -> Mat<f32> {
    let n = items.len();
    let degree = knn.degree();
    let mut gram = Mat::<f32>::zeros(n, n);
    let co: Vec<&[(u32, u32)]> = knn.co_occurrence().collect();
    for (p, &i) in items.iter().enumerate() {
        gram[(p, p)] = (degree[i as usize] as f64 + lambda) as f32;
        for &(j, c) in co[i as usize] {
            let q = position[j as usize];
            if q != u32::MAX {
                gram[(p, q as usize)] = c as f32;
            }
        }
    }
    gram
}

/// `B` from the `n×n` Gram matrix: one `n³` inverse.
pub(crate) fn primal(
    gram: Mat<f32>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<f32>, RecsError> {
    let n = gram.nrows();
    step(progress, "gram", 0);
    step(progress, "inverse", 1);
    let p_mat = gram
        .llt(Side::Lower)
        .map_err(|_| RecsError::Numerical("Gram matrix is not positive definite"))?
        .inverse();
    drop(gram);
    step(progress, "weights", 2);
    let mut b = vec![0f32; n * n];
    for col in 0..n {
        let d = p_mat[(col, col)];
        for row in 0..n {
            if row != col {
                b[row * n + col] = -p_mat[(row, col)] / d;
            }
        }
    }
    step(progress, "weights", 3);
    Ok(b)
}

/// `B` through Woodbury when there are fewer subjects (`m`) than items:
/// `(XᵀX + λI)⁻¹ = (I − XᵀMX)/λ` with `M = (XXᵀ + λI)⁻¹`, so the inverse is
/// `m³` and, writing `Q = XᵀMX`, `B[i,j] = Q[i,j] / (1 − Q[j,j])` off the diagonal.
fn dual(
    rows: &[Vec<u32>],
    n: usize,
    lambda: f64,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<f32>, RecsError> {
    let m = rows.len();
    step(progress, "gram", 0);
    let mut holders: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (u, r) in rows.iter().enumerate() {
        for &i in r {
            holders[i as usize].push(u as u32);
        }
    }
    // K = XXᵀ + λI, column by column: what subject u shares with each
    // later subject (holders are in subject order). The factorisation reads
    // only the lower triangle, so the upper one is left empty.
    let mut k = vec![0f32; m * m];
    par_blocks(&mut k, m, 16, |first, block| {
        for (c, col) in block.chunks_exact_mut(m).enumerate() {
            let u = first + c;
            for &i in &rows[u] {
                let h = &holders[i as usize];
                for &v in &h[h.partition_point(|&v| (v as usize) < u)..] {
                    col[v as usize] += 1.0;
                }
            }
            col[u] += lambda as f32;
        }
    });
    step(progress, "inverse", 1);
    let inv = MatRef::from_column_major_slice(&k, m, m)
        .llt(Side::Lower)
        .map_err(|_| RecsError::Numerical("subject Gram matrix is not positive definite"))?
        .inverse();
    drop(k);
    step(progress, "weights", 2);
    // R = M·X, built column by column as sums of M's columns (contiguous),
    // then transposed so that rows of B are sums of rows of R.
    let mut r_cols = vec![0f32; n * m];
    par_blocks(&mut r_cols, m, 16, |first, block| {
        for (c, out) in block.chunks_exact_mut(m).enumerate() {
            sum_into(out, 0, || {
                holders[first + c]
                    .iter()
                    .map(|&v| inv.col_as_slice(v as usize))
            });
        }
    });
    drop(inv);
    let scale: Vec<f32> = r_cols
        .chunks_exact(m)
        .zip(&holders)
        .map(|(col, h)| 1.0 / (1.0 - h.iter().map(|&u| col[u as usize]).sum::<f32>()))
        .collect();
    let r = transpose(&r_cols, n, m);
    drop(r_cols);
    // Row i of B sums the rows of R of i's holders. Column tiles keep the
    // tile of R being summed in the core's cache; tiling changes no sum's order.
    let tile = ((256 * 1024) / m.max(1)).clamp(16, n.max(16)) / 16 * 16;
    let mut b = vec![0f32; n * n];
    par_blocks(&mut b, n, 64, |first, block| {
        for c0 in (0..n).step_by(tile) {
            let c1 = (c0 + tile).min(n);
            for (k, row) in block.chunks_exact_mut(n).enumerate() {
                let out = &mut row[c0..c1];
                sum_into(out, c0, || {
                    holders[first + k]
                        .iter()
                        .map(|&u| &r[u as usize * n..(u as usize + 1) * n])
                });
                for (x, &s) in out.iter_mut().zip(&scale[c0..c1]) {
                    *x *= s;
                }
            }
        }
        for (k, row) in block.chunks_exact_mut(n).enumerate() {
            row[first + k] = 0.0;
        }
    });
    step(progress, "weights", 3);
    Ok(b)
}

/// Sets `out` to the sum of `source[offset..offset + out.len()]` over the
/// sources, added in order from zero. Lanes accumulate in registers so each
/// source is read once and `out` written once.
fn sum_into<'a, I: Iterator<Item = &'a [f32]>>(
    out: &mut [f32],
    offset: usize,
    sources: impl Fn() -> I,
) {
    const LANES: usize = 32;
    let len = out.len();
    let mut chunks = out.chunks_exact_mut(LANES);
    for (c, chunk) in chunks.by_ref().enumerate() {
        let at = offset + c * LANES;
        let mut acc = [0f32; LANES];
        for source in sources() {
            for (a, &x) in acc.iter_mut().zip(&source[at..at + LANES]) {
                *a += x;
            }
        }
        chunk.copy_from_slice(&acc);
    }
    let rest = chunks.into_remainder();
    let at = offset + len - rest.len();
    rest.fill(0.0);
    for source in sources() {
        for (a, &x) in rest.iter_mut().zip(&source[at..]) {
            *a += x;
        }
    }
}

/// The `cols × rows` transpose of a row-major `rows × cols` matrix, in
/// square tiles so that neither side is walked with a stride.
fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 32;
    let mut out = vec![0f32; rows * cols];
    par_blocks(&mut out, rows, T, |first, block| {
        let width = block.len() / rows.max(1);
        for r0 in (0..rows).step_by(T) {
            for c in 0..width {
                let src = (first + c) + r0 * cols;
                for r in r0..(r0 + T).min(rows) {
                    block[c * rows + r] = data[src + (r - r0) * cols];
                }
            }
        }
    });
    out
}

/// Fills a row-major matrix `width` wide in blocks of up to `rows` rows on
/// every core, handing blocks out in turn so that a preempted thread holds
/// back little. `fill` gets the block's first row index; each row is
/// computed by one thread alone, so the result does not depend on the
/// thread count or the schedule.
fn par_blocks(
    data: &mut [f32],
    width: usize,
    rows: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) {
    let step = (rows * width).max(1);
    let blocks = data.len().div_ceil(step);
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(blocks);
    let queue = std::sync::Mutex::new(data.chunks_mut(step).enumerate());
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        match next {
            Some((c, block)) => fill(c * rows, block),
            None => break,
        }
    };
    if threads < 2 {
        return work();
    }
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
}
