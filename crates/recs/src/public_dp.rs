//! A differentially private public EASE model: the second option beside
//! the k-anonymous one ([`crate::Recommender::public_ease_model`]), for
//! measuring what DP costs (docs/benchmarks.md, "Level 0 on the device").
//!
//! Mechanism: each person counts with at most `per_person` of their items
//! (a random subset, drawn from the seed alone, so the choice reads no one
//! else's data); their contribution to the Gram matrix (upper triangle
//! with the diagonal) then has L2 norm at most `√(L(L+1)/2)`. Every entry
//! of that triangle gets independent Gaussian noise of the σ that makes
//! the release ρ-zCDP, converted to (ε, δ) by `ε = ρ + 2√(ρ ln(1/δ))`
//! (Bun & Steinke 2016). Which items the model may list:
//! - a **public domain** (the shop's catalogue, which it publishes anyway):
//!   every item of it is listed, held or not, and items outside it do not
//!   count; the whole δ goes to the Gaussian.
//! - no domain: the candidates are the items people held (the
//!   recommender's index), and an item is listed when its noisy count
//!   clears a threshold an item held by one person alone passes with
//!   probability at most δ / 2 per item that person holds (the stability
//!   argument for histograms over an unknown domain), δ split evenly
//!   between the two. The threshold is what small shops cannot afford:
//!   on MovieLens-100k at ε = 8 it lists 18 items (docs/benchmarks.md).
//!
//! Everything else (EASE, the weight cut, fixed point) is post-processing.
//!
//! The noise is drawn in floating point from a seeded ChaCha stream, which
//! is fine for measuring quality; a release would draw it with opendp's
//! samplers, which are hardened against floating-point attacks.

use faer::Mat;
use fineline_core::ItemId;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::ease::primal;
use crate::public::{fixed, PublicItem, PublicModel};
use crate::recommender::Recommender;
use crate::{PublicEaseConfig, RecsError};

/// The privacy parameters of [`Recommender::private_ease_model`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianGram {
    /// ε of the (ε, δ) guarantee for one person (all their events).
    pub epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// Items a person counts with at most (the clipping bound L).
    pub per_person: usize,
}

impl GaussianGram {
    /// ρ of ρ-zCDP that gives (ε, δ): the root of `ρ + 2√(ρ ln(1/δ)) = ε`.
    pub fn rho(&self) -> f64 {
        let l = (1.0 / self.delta).ln();
        let x = -l.sqrt() + (l + self.epsilon).sqrt();
        x * x
    }

    /// The Gaussian noise σ per Gram entry for half of δ (the other half
    /// pays for the listing threshold, needed without a public domain).
    pub fn sigma(&self) -> f64 {
        GaussianGram {
            delta: self.delta / 2.0,
            ..*self
        }
        .sigma_for_all_of_delta()
    }

    /// The Gaussian noise σ per Gram entry when all of δ goes to it (a
    /// public domain: nothing is spent on choosing which items to list).
    pub fn sigma_for_all_of_delta(&self) -> f64 {
        let l = self.per_person as f64;
        (l * (l + 1.0) / 2.0).sqrt() / (2.0 * self.rho()).sqrt()
    }

    /// The count an item needs to be listed: 1 + σ·z with `P(N(0,1) > z)`
    /// at most δ / (2L).
    pub fn threshold(&self) -> f64 {
        let tail = self.delta / (2.0 * self.per_person.max(1) as f64);
        // Gaussian tail bound P(Z > z) ≤ exp(−z²/2): z = √(2 ln(1/tail)).
        1.0 + self.sigma() * (2.0 * (1.0 / tail).ln()).sqrt()
    }
}

fn gaussian(rng: &mut ChaCha20Rng) -> f64 {
    // Box–Muller: measurement-grade (module docs).
    let u: f64 = 1.0 - rng.gen::<f64>();
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

impl Recommender {
    /// A public EASE model fitted on a Gaussian-noised Gram matrix
    /// (module docs), `seed` the noise's only source, over `domain` (a
    /// public item list, e.g. the catalogue) when given. Popularity is the
    /// noisy count, rounded; `min_support` is 0 (there is no floor).
    pub fn private_ease_model(
        &self,
        version: u64,
        config: PublicEaseConfig,
        privacy: GaussianGram,
        domain: Option<&[ItemId]>,
        seed: [u8; 32],
    ) -> Result<PublicModel, RecsError> {
        let (index, catalogue, knn) = self.parts();
        // Candidate position → item id, and index → candidate position.
        let (ids, position): (Vec<ItemId>, Vec<Option<usize>>) = match domain {
            None => (
                (0..index.len() as u32)
                    .map(|i| index.id(i).clone())
                    .collect(),
                (0..index.len()).map(Some).collect(),
            ),
            Some(domain) => {
                let mut ids = domain.to_vec();
                ids.sort_unstable();
                ids.dedup();
                let position = (0..index.len() as u32)
                    .map(|i| ids.binary_search(index.id(i)).ok())
                    .collect();
                (ids, position)
            }
        };
        let n_all = ids.len();
        if n_all > 20_000 {
            // The noise must reach every candidate pair: n² dense entries.
            return Err(RecsError::Numerical(
                "too many candidate items for a private Gram matrix",
            ));
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        let sigma = match domain {
            Some(_) => privacy.sigma_for_all_of_delta(),
            None => privacy.sigma(),
        };
        // Clipped true counts over every candidate item (dense: the noise
        // must reach every entry, held or not).
        let mut gram = vec![0f32; n_all * n_all];
        for basket in knn.baskets().values() {
            // Items outside the domain do not count; the clip comes after,
            // so what is clipped is a function of this person alone.
            let mut held: Vec<usize> = basket
                .iter()
                .filter_map(|&i| position[i as usize])
                .collect();
            if held.len() > privacy.per_person {
                held.shuffle(&mut rng);
                held.truncate(privacy.per_person);
            }
            for &i in &held {
                for &j in &held {
                    gram[i * n_all + j] += 1.0;
                }
            }
        }
        for i in 0..n_all {
            for j in i..n_all {
                let noisy = gram[i * n_all + j] + (sigma * gaussian(&mut rng)) as f32;
                gram[i * n_all + j] = noisy;
                gram[j * n_all + i] = noisy;
            }
        }
        let count = |i: usize| gram[i * n_all + i] as f64;
        let threshold = match domain {
            Some(_) => f64::NEG_INFINITY,
            None => privacy.threshold(),
        };
        let mut items: Vec<usize> = (0..n_all).filter(|&i| count(i) >= threshold).collect();
        if items.len() > config.max_items {
            items.sort_unstable_by(|&a, &b| count(b).total_cmp(&count(a)).then(a.cmp(&b)));
            items.truncate(config.max_items);
            items.sort_unstable();
        }
        let n = items.len();
        let mut lambda = config.lambda.max(1.0);
        let b = loop {
            let mut g = Mat::<f32>::zeros(n, n);
            for (p, &i) in items.iter().enumerate() {
                for (q, &j) in items.iter().enumerate() {
                    g[(p, q)] = gram[i * n_all + j].max(0.0);
                }
                g[(p, p)] += lambda as f32;
            }
            match primal(g, &mut |_| {}) {
                Ok(b) => break b,
                Err(_) if lambda < 1e9 => lambda *= 2.0,
                Err(e) => return Err(e),
            }
        };
        let listed = items
            .iter()
            .enumerate()
            .map(|(p, &i)| {
                let id = ids[i].clone();
                let weight = |q: usize| b[p * n + q];
                let mut row: Vec<(u32, i32)> = (0..n)
                    .filter(|&q| q != p)
                    .map(|q| (q as u32, fixed(weight(q))))
                    .filter(|&(_, s)| s > 0 || (config.signed && s < 0))
                    .collect();
                row.sort_unstable_by(|x, y| {
                    y.1.unsigned_abs()
                        .cmp(&x.1.unsigned_abs())
                        .then(y.1.cmp(&x.1))
                        .then(x.0.cmp(&y.0))
                });
                row.truncate(config.keep);
                row.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                PublicItem {
                    categories: catalogue.categories(&id).to_vec(),
                    id,
                    popularity: count(i).round().clamp(0.0, u32::MAX as f64) as u32,
                    neighbours: row,
                }
            })
            .collect();
        Ok(PublicModel::new(version, 0, listed))
    }
}

#[cfg(test)]
mod tests {
    use super::GaussianGram;

    #[test]
    fn rho_inverts_the_conversion() {
        let g = GaussianGram {
            epsilon: 2.0,
            delta: 1e-6,
            per_person: 10,
        };
        let rho = g.rho();
        let eps = rho + 2.0 * (rho * (1e6f64).ln()).sqrt();
        assert!((eps - 2.0).abs() < 1e-9, "{eps}");
    }
}
