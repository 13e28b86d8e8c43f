//! Noise from OpenDP's exact discrete samplers (immune to Mironov's floating-point attack).
//!
//! A [`NoisePlan`] is fixed from public parameters only (cost, bounds, mechanism), before
//! any data is touched: its scale, threshold and δ never depend on the rows.

use std::collections::HashMap;

use opendp::accuracy::{
    discrete_gaussian_scale_to_accuracy, discrete_laplacian_scale_to_accuracy,
    gaussian_scale_to_accuracy,
};
use opendp::domains::{AtomDomain, MapDomain, VectorDomain};
use opendp::measurements::{
    make_gaussian, make_gaussian_threshold, make_laplace, make_laplace_threshold,
};
use opendp::measures::{Approximate, MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{AbsoluteDistance, L01InfDistance, L02InfDistance, L1Distance, L2Distance};

use crate::budget::NANO;
use crate::query::Mechanism;

/// How much one person can move the released vector: at most `l0` entries, each by at most `linf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sensitivity {
    /// Most released entries one person can change.
    pub l0: u32,
    /// Most one person can change one entry by.
    pub linf: i64,
}

impl Sensitivity {
    /// L1 sensitivity: `l0 × linf` (saturating), for Laplace noise.
    pub fn l1(self) -> i64 {
        self.linf.saturating_mul(self.l0 as i64)
    }
    /// L2 sensitivity: `linf × √l0`, rounded up, for Gaussian noise.
    pub fn l2(self) -> f64 {
        // Rounded up: an understated sensitivity would understate the privacy loss.
        self.linf as f64 * (self.l0 as f64).sqrt() * (1.0 + 1e-12)
    }
}

/// Why noise could not be planned or drawn.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoiseError {
    /// OpenDP refused to build or run the measurement; carries its message.
    #[error("OpenDP refused: {0}")]
    OpenDp(String),
    /// No threshold reaches this δ at this cost; carries the δ.
    #[error("cost too small for these bounds: no threshold reaches delta {0}")]
    NoThreshold(f64),
    /// The measurement OpenDP built costs more than was charged.
    #[error("mechanism spends {actual} but only {allowed} was charged")]
    Overspend {
        /// ρ the measurement spends.
        actual: f64,
        /// ρ that was charged.
        allowed: f64,
    },
}

fn odp(e: opendp::error::Error) -> NoiseError {
    NoiseError::OpenDp(e.to_string())
}

/// Public, data-independent parameters of one noisy release.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisePlan {
    /// Which sampler adds the noise.
    pub mechanism: Mechanism,
    /// How much one person can move the released values.
    pub sensitivity: Sensitivity,
    /// Privacy cost spent, in nano-ρ (zCDP ρ × 10⁹).
    pub nano_rho: u64,
    /// Gaussian σ, or the Laplace scale b (P(x) ∝ exp(-|x|/b)).
    pub scale: f64,
    /// For unknown keys: keep only noisy values ≥ `threshold`; `delta` is its cost.
    pub threshold: Option<(i64, f64)>,
    /// Error figures, computed once: they are sums over the noise distribution.
    pub accuracy: Accuracy,
}

/// What a partner should expect of each released value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// Standard deviation of one noise draw.
    pub std_dev: f64,
    /// Half-width of a 95% interval (OpenDP's accuracy bounds).
    pub ci95_half_width: f64,
    /// E|noise|: the error floor a release cannot beat at this cost.
    pub expected_abs_error: f64,
}

impl NoisePlan {
    /// Noise for a vector over public keys, spending `nano_rho`.
    pub fn vector(
        mechanism: Mechanism,
        sensitivity: Sensitivity,
        nano_rho: u64,
    ) -> Result<Self, NoiseError> {
        let rho = nano_rho as f64 / NANO as f64;
        // Slightly wider than the formula so float rounding can only help privacy.
        let scale = match mechanism {
            Mechanism::Gaussian => sensitivity.l2() / (2.0 * rho).sqrt(),
            Mechanism::Laplace => sensitivity.l1() as f64 / (2.0 * rho).sqrt(),
        } * (1.0 + 1e-9);
        let plan = NoisePlan {
            mechanism,
            sensitivity,
            nano_rho,
            scale,
            threshold: None,
            accuracy: Accuracy::of(mechanism, scale),
        };
        let spent = plan.rho_by_opendp()?;
        if spent > rho {
            return Err(NoiseError::Overspend {
                actual: spent,
                allowed: rho,
            });
        }
        Ok(plan)
    }

    /// Noise plus threshold for a map over keys that are not public: the smallest threshold
    /// `>= min_threshold` whose δ (by OpenDP's privacy map) is at most `target_delta`.
    pub fn thresholded(
        mechanism: Mechanism,
        sensitivity: Sensitivity,
        nano_rho: u64,
        min_threshold: i64,
        target_delta: f64,
    ) -> Result<Self, NoiseError> {
        let base = Self::vector(mechanism, sensitivity, nano_rho)?;
        let lo = min_threshold.max(sensitivity.linf).max(1);
        let delta_at = |t: i64| base.threshold_cost(t).map(|(_, d)| d);
        let mut hi = lo;
        while delta_at(hi)? > target_delta {
            hi = hi
                .checked_mul(2)
                .ok_or(NoiseError::NoThreshold(target_delta))?;
        }
        let mut lo = lo;
        if hi != lo {
            // invariant: delta(hi) <= target < delta(lo)
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if delta_at(mid)? <= target_delta {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        let (rho, delta) = base.threshold_cost(hi)?;
        let allowed = nano_rho as f64 / NANO as f64;
        if rho > allowed {
            return Err(NoiseError::Overspend {
                actual: rho,
                allowed,
            });
        }
        Ok(NoisePlan {
            threshold: Some((hi, delta)),
            ..base
        })
    }

    fn d_in_l2(&self) -> f64 {
        self.sensitivity.l2()
    }

    /// ρ of the vector release as OpenDP's privacy map states it.
    pub fn rho_by_opendp(&self) -> Result<f64, NoiseError> {
        let vd = VectorDomain::new(AtomDomain::<i64>::default());
        match self.mechanism {
            Mechanism::Gaussian => {
                let m = make_gaussian::<_, _, ZeroConcentratedDivergence>(
                    vd,
                    L2Distance::<f64>::default(),
                    self.scale,
                    None,
                )
                .map_err(odp)?;
                m.map(&self.d_in_l2()).map_err(odp)
            }
            Mechanism::Laplace => {
                let m = make_laplace::<_, _, MaxDivergence>(
                    vd,
                    L1Distance::<i64>::default(),
                    self.scale,
                    None,
                )
                .map_err(odp)?;
                let eps = m.map(&self.sensitivity.l1()).map_err(odp)?;
                Ok(eps * eps / 2.0)
            }
        }
    }

    /// (ρ, δ) of a thresholded release at threshold `t`, by OpenDP's privacy map.
    pub fn threshold_cost(&self, t: i64) -> Result<(f64, f64), NoiseError> {
        let md = MapDomain::new(AtomDomain::<u32>::default(), AtomDomain::<i64>::default());
        let s = self.sensitivity;
        match self.mechanism {
            Mechanism::Gaussian => {
                let m = make_gaussian_threshold::<_, _, Approximate<ZeroConcentratedDivergence>>(
                    md,
                    L02InfDistance::<AbsoluteDistance<i64>>::default(),
                    self.scale,
                    t,
                    None,
                )
                .map_err(odp)?;
                m.map(&(s.l0, s.l1(), s.linf)).map_err(odp)
            }
            Mechanism::Laplace => {
                let m = make_laplace_threshold::<_, _, Approximate<MaxDivergence>>(
                    md,
                    L01InfDistance::<AbsoluteDistance<i64>>::default(),
                    self.scale,
                    t,
                    None,
                )
                .map_err(odp)?;
                let (eps, delta) = m.map(&(s.l0, s.l1(), s.linf)).map_err(odp)?;
                Ok((eps * eps / 2.0, delta))
            }
        }
    }

    /// Adds noise to every entry (public keys: all are released).
    pub fn release_vector(&self, values: Vec<i64>) -> Result<Vec<i64>, NoiseError> {
        let vd = VectorDomain::new(AtomDomain::<i64>::default());
        match self.mechanism {
            Mechanism::Gaussian => make_gaussian::<_, _, ZeroConcentratedDivergence>(
                vd,
                L2Distance::<f64>::default(),
                self.scale,
                None,
            )
            .map_err(odp)?
            .invoke(&values)
            .map_err(odp),
            Mechanism::Laplace => make_laplace::<_, _, MaxDivergence>(
                vd,
                L1Distance::<i64>::default(),
                self.scale,
                None,
            )
            .map_err(odp)?
            .invoke(&values)
            .map_err(odp),
        }
    }

    /// Adds noise and keeps only entries whose noisy value reaches the threshold.
    pub fn release_map(&self, values: HashMap<u32, i64>) -> Result<HashMap<u32, i64>, NoiseError> {
        let (t, _) = self.threshold.ok_or(NoiseError::NoThreshold(0.0))?;
        let md = MapDomain::new(AtomDomain::<u32>::default(), AtomDomain::<i64>::default());
        match self.mechanism {
            Mechanism::Gaussian => {
                make_gaussian_threshold::<_, _, Approximate<ZeroConcentratedDivergence>>(
                    md,
                    L02InfDistance::<AbsoluteDistance<i64>>::default(),
                    self.scale,
                    t,
                    None,
                )
                .map_err(odp)?
                .invoke(&values)
                .map_err(odp)
            }
            Mechanism::Laplace => make_laplace_threshold::<_, _, Approximate<MaxDivergence>>(
                md,
                L01InfDistance::<AbsoluteDistance<i64>>::default(),
                self.scale,
                t,
                None,
            )
            .map_err(odp)?
            .invoke(&values)
            .map_err(odp),
        }
    }

    /// Half-width of a 95% interval around each released value.
    pub fn ci95_half_width(&self) -> f64 {
        self.accuracy.ci95_half_width
    }

    /// Standard deviation of one noise draw.
    pub fn std_dev(&self) -> f64 {
        self.accuracy.std_dev
    }

    /// E|noise| of one draw.
    pub fn expected_abs_error(&self) -> f64 {
        self.accuracy.expected_abs_error
    }
}

impl Accuracy {
    /// Error figures of `mechanism` at noise `scale`, from the distribution alone.
    pub fn of(mechanism: Mechanism, scale: f64) -> Accuracy {
        match mechanism {
            Mechanism::Laplace => {
                let a = (-1.0 / scale).exp();
                Accuracy {
                    std_dev: (2.0 * a).sqrt() / (1.0 - a),
                    ci95_half_width: discrete_laplacian_scale_to_accuracy(scale, 0.05)
                        .unwrap_or(f64::INFINITY),
                    // E|X| = 2a/(1-a²), a = e^{-1/b}, which is 1/sinh(1/b).
                    expected_abs_error: 1.0 / (1.0 / scale).sinh(),
                }
            }
            Mechanism::Gaussian => Accuracy {
                std_dev: discrete_gaussian_moment(scale, 2).sqrt(),
                ci95_half_width: if scale < 1e4 {
                    discrete_gaussian_scale_to_accuracy(scale, 0.05)
                } else {
                    gaussian_scale_to_accuracy(scale, 0.05)
                }
                .unwrap_or(f64::INFINITY),
                expected_abs_error: discrete_gaussian_moment(scale, 1),
            },
        }
    }
}

/// E|X|^p of the discrete Gaussian with parameter σ, summed exactly for moderate σ.
fn discrete_gaussian_moment(sigma: f64, p: i32) -> f64 {
    // Beyond σ = 1000 the discrete and continuous moments agree to far below f64 noise.
    if sigma > 1e3 {
        return match p {
            1 => sigma * (2.0 / std::f64::consts::PI).sqrt(),
            _ => sigma * sigma,
        };
    }
    let n = (sigma * 40.0).ceil() as i64 + 1;
    let (mut z, mut m) = (1.0, 0.0);
    for x in 1..=n {
        let w = (-(x as f64).powi(2) / (2.0 * sigma * sigma)).exp();
        z += 2.0 * w;
        m += 2.0 * w * (x as f64).powi(p);
    }
    m / z
}
