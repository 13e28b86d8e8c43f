//! Level 1 figures for docs/persona.md: for a 10-category taxonomy (11
//! answers with "(none)") at several ε per report, how many reports a
//! category held by a given share of devices needs before its 95%
//! interval is ±20% of its count, and a simulation's error against the
//! formula (seeded, so the figures reproduce).
//!
//! cargo run -p fineline-persona --example ldp_table

use fineline_persona::{estimate_totals, estimator_sd, reports_needed, Coins, RandomizedResponse};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn main() {
    let k = 11;
    println!("reports needed for a 95% interval of ±20% of the count (k = {k} answers):");
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>10}",
        "ε", "share 1%", "share 5%", "share 20%", "P(truth)"
    );
    for eps in [500_000u64, 1_000_000, 2_000_000, 4_000_000] {
        let mech = RandomizedResponse::new(k, eps).unwrap();
        println!(
            "{:>8.1} {:>10} {:>10} {:>10} {:>10.3}",
            eps as f64 / 1e6,
            reports_needed(&mech, 0.01, 0.2),
            reports_needed(&mech, 0.05, 0.2),
            reports_needed(&mech, 0.20, 0.2),
            mech.p_truth()
        );
    }
    // Simulation: 10,000 devices, shares 40/20/10/5/… , 2,000 trials at ε = 1.
    let mech = RandomizedResponse::new(k, 1_000_000).unwrap();
    let n = 10_000u64;
    let shares = [
        0.40, 0.20, 0.10, 0.05, 0.05, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01,
    ];
    let mut truth = Vec::new();
    for (c, s) in shares.iter().enumerate() {
        truth.extend(std::iter::repeat_n(
            c as u32,
            (s * n as f64).round() as usize,
        ));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let trials = 2_000;
    let mut sq = vec![0.0f64; k as usize];
    let mut bytes = [0u8; 32];
    for _ in 0..trials {
        let mut counts = vec![0u64; k as usize];
        for &t in &truth {
            rng.fill_bytes(&mut bytes);
            counts[mech.respond(t, &mut Coins::new(&bytes)).unwrap() as usize] += 1;
        }
        for (c, e) in estimate_totals(&mech, &counts, 1.96).iter().enumerate() {
            sq[c] += (e.total - shares[c] * n as f64).powi(2);
        }
    }
    println!("\nsimulation: {n} devices, ε = 1, {trials} trials; RMSE of the count estimate vs the formula's sd:");
    for c in [0usize, 1, 3, 10] {
        let rmse = (sq[c] / trials as f64).sqrt();
        let sd = estimator_sd(&mech, n, shares[c] * n as f64);
        println!(
            "  share {:>4.0}%: true {:>5.0}, RMSE {:>6.1}, formula {:>6.1}, ratio {:.3}",
            shares[c] * 100.0,
            shares[c] * n as f64,
            rmse,
            sd,
            rmse / sd
        );
    }
}
