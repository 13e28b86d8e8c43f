//! Level 1: k-ary randomized response with explicit coins, the device's
//! lifetime ε budget per business, and the server's estimator of totals.
//!
//! Why hand-written rather than opendp's `make_randomized_response`:
//! opendp 0.16 draws its coins inside the measurement from the OS RNG and
//! keeps the categories in a `HashSet` (unspecified order), so the same
//! inputs do not give the same report and a JavaScript client could not
//! reproduce it. Here the mechanism is integer arithmetic over coins the
//! device drew; the tests check its probabilities against the textbook
//! formula and its ε against opendp's privacy map for the same probability.
//!
//! Mechanism over `k` categories at stated ε (in micro-nats, `ε_µ`):
//! `odds = ⌊e^ε · 2²⁰⌋` by [`odds_q20`] (an integer series, rounded down,
//! so the true ε is never above the stated one); draw `r` uniform in
//! `[0, odds + (k−1)·2²⁰)`; report the truth when `r < odds`, else the
//! `⌊(r − odds) / 2²⁰⌋`-th other category in index order. So
//! `P(truth) = odds / total`, `P(each other) = 2²⁰ / total`, and their
//! ratio is `odds / 2²⁰ ≤ e^ε`.

use crate::coins::Coins;
use crate::PersonaError;

/// One in the Q20 fixed point of [`odds_q20`].
pub const ONE_Q20: u64 = 1 << 20;
/// The largest ε one report may state (8 nats): beyond it randomized
/// response is the truth in all but name.
pub const MAX_REPORT_EPSILON_MICRO: u64 = 8_000_000;
/// The most categories a question may have.
pub const MAX_CATEGORIES: u32 = 1024;

/// `⌊e^(ε_µ/10⁶) · 2²⁰⌋`, computed as `Σₙ tₙ` with `t₀ = 2⁶⁴`,
/// `tₙ = ⌊tₙ₋₁ · ε_µ / (10⁶ · n)⌋` until a term is 0, then `>> 44`.
/// Every step rounds down, so the result never exceeds the true value;
/// `u128` (JavaScript: `BigInt`) holds every intermediate for ε ≤ 8.
pub fn odds_q20(epsilon_micro: u64) -> u64 {
    let x = epsilon_micro as u128;
    let mut term: u128 = 1 << 64;
    let mut sum = term;
    let mut n: u128 = 1;
    while term > 0 {
        term = term * x / (1_000_000 * n);
        sum += term;
        n += 1;
    }
    (sum >> 44) as u64
}

/// k-ary randomized response at a stated ε.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomizedResponse {
    categories: u32,
    epsilon_micro: u64,
    odds: u64,
}

impl RandomizedResponse {
    /// The mechanism over `categories` answers at `epsilon_micro` per report.
    pub fn new(categories: u32, epsilon_micro: u64) -> Result<Self, PersonaError> {
        if !(2..=MAX_CATEGORIES).contains(&categories) {
            return Err(PersonaError::Invalid(
                "a question needs 2 to 1024 categories",
            ));
        }
        if epsilon_micro == 0 || epsilon_micro > MAX_REPORT_EPSILON_MICRO {
            return Err(PersonaError::Invalid("ε per report must be in (0, 8]"));
        }
        Ok(Self {
            categories,
            epsilon_micro,
            odds: odds_q20(epsilon_micro),
        })
    }

    /// Number of categories `k`.
    pub fn categories(&self) -> u32 {
        self.categories
    }

    /// The stated ε per report, in micro-nats.
    pub fn epsilon_micro(&self) -> u64 {
        self.epsilon_micro
    }

    /// `⌊e^ε · 2²⁰⌋`: the weight of the truth against each other answer's 2²⁰.
    pub fn odds(&self) -> u64 {
        self.odds
    }

    /// Size of the range `r` is drawn from.
    pub fn total(&self) -> u64 {
        self.odds + (self.categories as u64 - 1) * ONE_Q20
    }

    /// `P(report = truth)`.
    pub fn p_truth(&self) -> f64 {
        self.odds as f64 / self.total() as f64
    }

    /// `P(report = one given other category)`.
    pub fn p_other(&self) -> f64 {
        ONE_Q20 as f64 / self.total() as f64
    }

    /// The ε the mechanism really has, `ln(odds / 2²⁰)` (≤ the stated one).
    pub fn effective_epsilon(&self) -> f64 {
        (self.odds as f64 / ONE_Q20 as f64).ln()
    }

    /// The report for draw `r ∈ [0, total)`.
    pub fn outcome(&self, truth: u32, r: u64) -> u32 {
        if r < self.odds {
            return truth;
        }
        let other = ((r - self.odds) / ONE_Q20) as u32;
        if other >= truth {
            other + 1
        } else {
            other
        }
    }

    /// A report of `truth` drawn from `coins`.
    pub fn respond(&self, truth: u32, coins: &mut Coins<'_>) -> Result<u32, PersonaError> {
        if truth >= self.categories {
            return Err(PersonaError::Invalid(
                "the true category is outside the question",
            ));
        }
        let r = coins.below(self.total())?;
        Ok(self.outcome(truth, r))
    }
}

/// A business's lifetime ε on one device, in micro-nats. It never resets:
/// once spent, no further level-1 report leaves for that business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    /// The most this business may ever receive from this persona.
    pub cap_micro: u64,
    /// What reports have spent so far.
    pub spent_micro: u64,
}

/// The default lifetime cap per business: 4 nats (Apple spends up to 16
/// per day per use case, every day).
pub const DEFAULT_LIFETIME_CAP_MICRO: u64 = 4_000_000;

impl Default for Budget {
    fn default() -> Self {
        Self {
            cap_micro: DEFAULT_LIFETIME_CAP_MICRO,
            spent_micro: 0,
        }
    }
}

impl Budget {
    /// What is left.
    pub fn remaining_micro(&self) -> u64 {
        self.cap_micro.saturating_sub(self.spent_micro)
    }

    /// Spends `epsilon_micro`, or refuses without spending anything.
    pub fn charge(&mut self, epsilon_micro: u64) -> Result<(), PersonaError> {
        if epsilon_micro > self.remaining_micro() {
            return Err(PersonaError::BudgetExhausted {
                asked_micro: epsilon_micro,
                remaining_micro: self.remaining_micro(),
            });
        }
        self.spent_micro += epsilon_micro;
        Ok(())
    }
}

/// The server's estimate of how many of the reporting devices truly hold a category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Unbiased estimate of the true count (may fall outside `[0, n]`).
    pub total: f64,
    /// Standard deviation of the estimator at the clipped estimate.
    pub sd: f64,
    /// `total − z·sd`.
    pub low: f64,
    /// `total + z·sd`.
    pub high: f64,
}

/// Standard deviation of the count estimator for `n` reports when `t` of
/// them truly hold the category:
/// `√(t·p(1−p) + (n−t)·q(1−q)) / (p − q)`.
pub fn estimator_sd(mech: &RandomizedResponse, n: u64, t: f64) -> f64 {
    let (p, q) = (mech.p_truth(), mech.p_other());
    let n = n as f64;
    let var = t * p * (1.0 - p) + (n - t) * q * (1.0 - q);
    var.max(0.0).sqrt() / (p - q)
}

/// Estimates each category's true count from the observed report counts:
/// `t̂ = (c − n·q) / (p − q)`, with a normal-approximation interval of
/// half-width `z·sd` (z = 1.96 for 95%), sd taken at `t̂` clipped to `[0, n]`.
pub fn estimate_totals(mech: &RandomizedResponse, counts: &[u64], z: f64) -> Vec<Estimate> {
    let n: u64 = counts.iter().sum();
    let (p, q) = (mech.p_truth(), mech.p_other());
    counts
        .iter()
        .map(|&c| {
            let total = (c as f64 - n as f64 * q) / (p - q);
            let sd = estimator_sd(mech, n, total.clamp(0.0, n as f64));
            Estimate {
                total,
                sd,
                low: total - z * sd,
                high: total + z * sd,
            }
        })
        .collect()
}

/// Reports needed before a category held by `share` of devices has a
/// 95% interval no wider than `±relative · share · n`:
/// the least `n` with `1.96 · sd(n, share·n) ≤ relative · share · n`.
pub fn reports_needed(mech: &RandomizedResponse, share: f64, relative: f64) -> u64 {
    let (p, q) = (mech.p_truth(), mech.p_other());
    // sd² = n·(share·p(1−p) + (1−share)·q(1−q)) / (p−q)², so n grows as a closed form.
    let per = (share * p * (1.0 - p) + (1.0 - share) * q * (1.0 - q)) / (p - q).powi(2);
    let want = relative * share / 1.96;
    (per / (want * want)).ceil() as u64
}
