//! EASE for the public model: fitted only on what the k-anonymous release
//! already says — the number of people, each listed item's holder count
//! (at least k) and each pair count at least k people share — so that the
//! weights are post-processing of that release and reveal nothing more.
//!
//! A pair fewer than k people share is not in the release, and the fit
//! must put *something* in its Gram entry. Zero says "nobody holds both",
//! which EASE reads as a strong negative association between two items
//! that are often just unremarkable together; the release does say the
//! count is below k, and the item counts say what it would be if the two
//! were unrelated. [`RarePairs`] chooses.

use faer::Mat;

use crate::ease::primal;
use crate::knn::ItemKnn;
use crate::RecsError;

/// What a public EASE fit puts in the Gram matrix for a pair fewer than
/// k people share (the release only says "fewer than k").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RarePairs {
    /// Zero: read as if nobody held both.
    Zero,
    /// The count expected if holding one item said nothing about holding
    /// the other, `μ = nᵢ·nⱼ/N`, given that it is below k: the mean of a
    /// Poisson(μ) count conditioned on being at most k − 1.
    Independent,
}

/// How the public EASE model is fitted and cut
/// ([`crate::Recommender::public_ease_model`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublicEaseConfig {
    /// L2 regularisation λ added to the Gram diagonal.
    pub lambda: f64,
    /// Only the most held listed items take part (dense `n²`, `n³` time).
    pub max_items: usize,
    /// Weights kept per item (the largest by magnitude when `signed`).
    pub keep: usize,
    /// Gram entries of pairs under the floor.
    pub rare_pairs: RarePairs,
    /// Keep negative weights too (EASE's "people who hold this do not
    /// want that"); otherwise only positive ones.
    pub signed: bool,
}

impl Default for PublicEaseConfig {
    fn default() -> Self {
        Self {
            lambda: 250.0,
            max_items: 4000,
            keep: 200,
            rare_pairs: RarePairs::Independent,
            signed: false,
        }
    }
}

/// A catalogue item and its kept `(item, weight)` pairs, highest weight
/// first, ties to the lower index.
pub(crate) type PublicRow = (u32, Vec<(u32, f32)>);

/// EASE fitted on the release (module docs), each row of `B` cut to its
/// `keep` largest weights (by magnitude when signed, else the positive
/// ones). Where the Gram matrix so built is not positive definite, λ is
/// doubled until it is (λ is a public hyperparameter, so the retries
/// reveal nothing the model does not).
pub(crate) fn public_rows(
    knn: &ItemKnn,
    config: PublicEaseConfig,
    min: u32,
) -> Result<Vec<PublicRow>, RecsError> {
    let degree = knn.degree();
    let mut items: Vec<u32> = (0..degree.len() as u32)
        .filter(|&i| degree[i as usize] >= min.max(1))
        .collect();
    if items.len() > config.max_items {
        items
            .sort_unstable_by(|&a, &b| degree[b as usize].cmp(&degree[a as usize]).then(a.cmp(&b)));
        items.truncate(config.max_items);
        items.sort_unstable();
    }
    let n = items.len();
    let mut position = vec![u32::MAX; degree.len()];
    for (p, &i) in items.iter().enumerate() {
        position[i as usize] = p as u32;
    }
    // The number of people is a count of far more than k people: part of
    // the release like the item counts.
    let people = knn.baskets().values().filter(|b| !b.is_empty()).count() as f64;
    let co: Vec<&[(u32, u32)]> = knn.co_occurrence().collect();
    let mut lambda = config.lambda.max(1.0);
    let b = loop {
        let mut gram = Mat::<f32>::zeros(n, n);
        for (p, &i) in items.iter().enumerate() {
            let ni = degree[i as usize] as f64;
            gram[(p, p)] = (ni + lambda) as f32;
            if config.rare_pairs == RarePairs::Independent && people > 0.0 {
                for (q, &j) in items.iter().enumerate() {
                    if q != p {
                        let mu = ni * degree[j as usize] as f64 / people;
                        gram[(p, q)] = below_floor_mean(mu, min) as f32;
                    }
                }
            }
            for &(j, c) in co[i as usize] {
                let q = position[j as usize];
                if q != u32::MAX && c >= min {
                    gram[(p, q as usize)] = c as f32;
                }
            }
        }
        match primal(gram, &mut |_| {}) {
            Ok(b) => break b,
            Err(_) if lambda < 1e9 => lambda *= 2.0,
            Err(e) => return Err(e),
        }
    };
    Ok(items
        .iter()
        .enumerate()
        .map(|(p, &i)| {
            let weight = |q: usize| b[p * n + q];
            let mut row: Vec<(u32, f32)> = (0..n)
                .filter(|&q| q != p && (weight(q) > 0.0 || (config.signed && weight(q) < 0.0)))
                .map(|q| (items[q], weight(q)))
                .collect();
            // The largest by magnitude (positive first among equals), then
            // highest weight first.
            row.sort_unstable_by(|x, y| {
                y.1.abs()
                    .total_cmp(&x.1.abs())
                    .then(y.1.total_cmp(&x.1))
                    .then(x.0.cmp(&y.0))
            });
            row.truncate(config.keep);
            row.sort_unstable_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            (i, row)
        })
        .collect())
}

/// `E[c | c ≤ k − 1]` for `c ~ Poisson(μ)`: what a pair count is expected
/// to be when the release says only that it is under the floor `k`.
/// Computed in log space so a large μ does not underflow.
fn below_floor_mean(mu: f64, k: u32) -> f64 {
    if k <= 1 || mu <= 0.0 {
        return 0.0;
    }
    // log of μ^c / c! for c = 0..k−1 (the e^−μ cancels in the ratio).
    let mut logs = Vec::with_capacity(k as usize);
    let mut acc = 0.0f64;
    for c in 0..k {
        if c > 0 {
            acc += mu.ln() - (c as f64).ln();
        }
        logs.push(acc);
    }
    let top = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut mass, mut mean) = (0.0, 0.0);
    for (c, l) in logs.iter().enumerate() {
        let w = (l - top).exp();
        mass += w;
        mean += c as f64 * w;
    }
    mean / mass
}

#[cfg(test)]
mod tests {
    use super::below_floor_mean;

    #[test]
    fn the_truncated_mean_stays_under_the_floor() {
        assert_eq!(below_floor_mean(0.0, 10), 0.0);
        assert_eq!(below_floor_mean(5.0, 1), 0.0);
        // Far above the floor the count is almost surely k − 1: the next
        // count down weighs (k − 1)/μ as much, so the mean is ≈ 9 − 9/μ.
        let m = below_floor_mean(1e4, 10);
        assert!((m - (9.0 - 9.0 / 1e4)).abs() < 1e-5, "{m}");
        // Far below, the truncation hardly matters.
        assert!((below_floor_mean(0.5, 10) - 0.5).abs() < 1e-6);
        let m = below_floor_mean(8.0, 10);
        assert!(m > 5.0 && m < 8.0, "{m}");
    }
}
