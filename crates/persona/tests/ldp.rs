//! Level 1's privacy accounting: the mechanism's probabilities are the
//! formula's, its ε is never above the stated one (opendp's own privacy
//! map agrees), the lifetime cap refuses and never resets, and the
//! server's estimator has the error the theory says.

use std::collections::HashSet;

use fineline_persona::{
    estimate_totals, estimator_sd, odds_q20, reports_needed, Budget, Coins, PersonaError,
    RandomizedResponse, ONE_Q20,
};
use opendp::measurements::make_randomized_response;
use proptest::prelude::*;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// How many draws `r ∈ [0, total)` give each answer: the mechanism's
/// exact distribution (times `total`), found from the boundaries the
/// integer ranges have, checked at each side.
fn preimage_sizes(mech: &RandomizedResponse, truth: u32) -> Vec<u64> {
    let k = mech.categories();
    let mut sizes = vec![0u64; k as usize];
    sizes[truth as usize] = mech.odds();
    for other in 0..k - 1 {
        let lo = mech.odds() + other as u64 * ONE_Q20;
        let hi = lo + ONE_Q20 - 1;
        let answer = mech.outcome(truth, lo);
        assert_eq!(
            answer,
            mech.outcome(truth, hi),
            "a range maps to one answer"
        );
        assert_ne!(answer, truth);
        sizes[answer as usize] += ONE_Q20;
    }
    assert_eq!(mech.outcome(truth, mech.odds() - 1), truth);
    assert_ne!(mech.outcome(truth, mech.odds()), truth);
    sizes
}

proptest! {
    /// P(truth) = e^ε'/(e^ε' + k − 1) and P(other) = 1/(e^ε' + k − 1) with
    /// e^ε' = odds/2²⁰ ≤ e^ε, every other answer reachable exactly once.
    #[test]
    fn probabilities_follow_the_formula(k in 2u32..40, eps in 1u64..=8_000_000, truth_seed in any::<u32>()) {
        let mech = RandomizedResponse::new(k, eps).unwrap();
        let truth = truth_seed % k;
        let sizes = preimage_sizes(&mech, truth);
        prop_assert_eq!(sizes.iter().sum::<u64>(), mech.total());
        let e = mech.odds() as f64 / ONE_Q20 as f64;
        let p = e / (e + (k - 1) as f64);
        let q = 1.0 / (e + (k - 1) as f64);
        for (a, &s) in sizes.iter().enumerate() {
            let expect = if a as u32 == truth { p } else { q };
            prop_assert!((s as f64 / mech.total() as f64 - expect).abs() < 1e-12);
        }
        // Never more ε than stated, and no more than 2⁻²⁰ relative below it.
        let stated = eps as f64 / 1e6;
        prop_assert!(mech.effective_epsilon() <= stated + 1e-12);
        prop_assert!(stated.exp() - e <= stated.exp() * 1e-6 + 1.0 / ONE_Q20 as f64);
    }

    /// opendp's privacy map for randomized response at the same truth
    /// probability gives the mechanism's ε, which is within the stated ε.
    #[test]
    fn opendp_agrees_on_epsilon(k in 2u32..20, eps in 10_000u64..=8_000_000) {
        let mech = RandomizedResponse::new(k, eps).unwrap();
        let cats: HashSet<u32> = (0..k).collect();
        let m = make_randomized_response(cats, mech.p_truth()).unwrap();
        let theirs = m.map(&1).unwrap();
        prop_assert!((theirs - mech.effective_epsilon()).abs() < 1e-9, "{} vs {}", theirs, mech.effective_epsilon());
        prop_assert!(theirs <= eps as f64 / 1e6 + 1e-9);
    }

    /// The rejection sampler's accepted draws are uniform: every value
    /// below n has the same number of accepted 64-bit words.
    #[test]
    fn draws_accept_a_multiple_of_n(n in 1u64..u64::MAX, r in any::<u64>()) {
        let mut coins_bytes = r.to_be_bytes().to_vec();
        coins_bytes.extend_from_slice(&0u64.to_be_bytes());
        let v = Coins::new(&coins_bytes).below(n).unwrap();
        prop_assert!(v < n);
        // Accepted words are exactly [0, 2⁶⁴ − 2⁶⁴ mod n): a multiple of n.
        let rem = (u64::MAX % n + 1) % n;
        let accepted = (u64::MAX as u128 + 1) - rem as u128;
        prop_assert_eq!(accepted % n as u128, 0);
        if (r as u128) < accepted { prop_assert_eq!(v, r % n); } else { prop_assert_eq!(v, 0); }
    }
}

#[test]
fn odds_are_exp_rounded_down() {
    assert_eq!(odds_q20(0), ONE_Q20);
    for eps in [1u64, 500_000, 1_000_000, 2_000_000, 4_000_000, 8_000_000] {
        let exact = (eps as f64 / 1e6).exp() * ONE_Q20 as f64;
        let got = odds_q20(eps) as f64;
        assert!(
            got <= exact && exact - got < 2.0 + exact * 1e-12,
            "ε_µ {eps}: {got} vs {exact}"
        );
    }
}

#[test]
fn the_lifetime_cap_refuses_and_never_resets() {
    let mut b = Budget {
        cap_micro: 2_500_000,
        spent_micro: 0,
    };
    b.charge(1_000_000).unwrap();
    b.charge(1_000_000).unwrap();
    let refused = b.charge(1_000_000);
    assert!(matches!(
        refused,
        Err(PersonaError::BudgetExhausted {
            asked_micro: 1_000_000,
            remaining_micro: 500_000
        })
    ));
    assert_eq!(b.spent_micro, 2_000_000, "a refused report spends nothing");
    b.charge(500_000).unwrap();
    assert_eq!(b.remaining_micro(), 0);
}

/// Devices report through the mechanism; the server's estimate of each
/// category's count has the error the formula states (empirical RMSE
/// within 5% of the theoretical sd) and its 95% intervals cover the truth
/// about 95% of the time.
#[test]
fn estimator_error_matches_the_theory() {
    let k = 5u32;
    let mech = RandomizedResponse::new(k, 1_000_000).unwrap();
    let n = 2_000u64;
    // True answers: 40% category 0, 30% 1, 20% 2, 10% 3, none 4.
    let truth: Vec<u32> = (0..n)
        .map(|i| match i * 10 / n {
            0..=3 => 0,
            4..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        })
        .collect();
    let true_counts = [800.0, 600.0, 400.0, 200.0, 0.0];
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    let trials = 2_000;
    let mut sq = [0.0f64; 5];
    let mut covered = [0u32; 5];
    let mut bytes = [0u8; 32];
    for _ in 0..trials {
        let mut counts = vec![0u64; k as usize];
        for &t in &truth {
            rng.fill_bytes(&mut bytes);
            counts[mech.respond(t, &mut Coins::new(&bytes)).unwrap() as usize] += 1;
        }
        for (c, e) in estimate_totals(&mech, &counts, 1.96).iter().enumerate() {
            sq[c] += (e.total - true_counts[c]).powi(2);
            covered[c] += (e.low <= true_counts[c] && true_counts[c] <= e.high) as u32;
        }
    }
    for c in 0..k as usize {
        let rmse = (sq[c] / trials as f64).sqrt();
        let theory = estimator_sd(&mech, n, true_counts[c]);
        assert!(
            (rmse / theory - 1.0).abs() < 0.05,
            "category {c}: empirical {rmse:.2} vs theoretical {theory:.2}"
        );
        let coverage = covered[c] as f64 / trials as f64;
        assert!(
            (0.93..=0.97).contains(&coverage),
            "category {c}: coverage {coverage}"
        );
    }
    // More devices are needed for a rarer category at the same relative precision.
    assert!(reports_needed(&mech, 0.05, 0.2) > reports_needed(&mech, 0.2, 0.2));
}
