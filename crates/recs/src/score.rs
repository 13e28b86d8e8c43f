//! Dense per-query score accumulator that remembers each candidate's best reason.

/// Scores for every item in the catalogue, plus which history item
/// contributed most to each (the "because you viewed X" of the answer).
#[derive(Debug, Clone)]
pub struct Scores {
    score: Vec<f32>,
    best: Vec<f32>,
    because: Vec<u32>,
    touched: Vec<u32>,
}

/// No history item is responsible (popularity, context).
pub const NOBODY: u32 = u32::MAX;
/// The context item is responsible.
pub const CONTEXT: u32 = u32::MAX - 1;
/// Some history item is responsible; the model names it on demand.
pub const PENDING: u32 = u32::MAX - 2;

impl Scores {
    /// Empty scores for a catalogue of `n_items` items.
    pub fn new(n_items: usize) -> Self {
        Self {
            score: vec![0.0; n_items],
            best: vec![f32::NEG_INFINITY; n_items],
            because: vec![NOBODY; n_items],
            touched: Vec::new(),
        }
    }

    /// Adds `amount` to the item's score; `because` is a history index or `NOBODY`, `CONTEXT`, `PENDING`.
    pub fn add(&mut self, item: u32, amount: f32, because: u32) {
        let i = item as usize;
        if self.because[i] == NOBODY && self.best[i] == f32::NEG_INFINITY {
            self.touched.push(item);
        }
        self.score[i] += amount;
        // Ties go to the earlier (lower-index) history item, deterministically.
        if amount > self.best[i] {
            self.best[i] = amount;
            self.because[i] = because;
        }
    }

    /// Candidates that received any contribution, with score and reason.
    pub fn candidates(&self) -> impl Iterator<Item = (u32, f32, u32)> + '_ {
        self.touched
            .iter()
            .map(|&j| (j, self.score[j as usize], self.because[j as usize]))
    }
}

/// Keeps the best `n` of `(item, score, reason)` by score, ties by lower item index.
pub fn top_n(mut all: Vec<(u32, f32, u32)>, n: usize) -> Vec<(u32, f32, u32)> {
    let order = |a: &(u32, f32, u32), b: &(u32, f32, u32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if all.len() > n && n > 0 {
        all.select_nth_unstable_by(n, order);
    }
    all.truncate(n);
    all.sort_unstable_by(order);
    all
}

/// Maps `0..n` to values on every core, in contiguous ranges, keeping order.
/// Each value is computed by one thread alone, so results do not depend on
/// the thread count.
pub(crate) fn par_map<T: Send>(
    n: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync,
) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    if threads < 2 || n < 256 {
        return f(0..n);
    }
    let per = n.div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                let f = &f;
                scope.spawn(move || f(start..(start + per).min(n)))
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("worker panicked"))
            .collect()
    })
}
