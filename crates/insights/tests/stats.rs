//! Statistical checks of the mechanisms. Contribution bounding uses fixed seeds; the noise
//! itself comes from OpenDP's secure source (not seedable), so tolerances are set several
//! standard errors wide.

mod common;

use common::add_people;
use fineline_insights::*;

fn plan(rho: u64, mech: Mechanism, bounds: Bounds) -> Plan {
    let q = Query {
        metric: Metric::Count,
        event_types: vec!["purchase".into()],
        filters: vec![],
        group_by: vec![Dimension::Region],
        cost_nano_rho: Some(rho),
        mechanism: mech,
        bounds,
        min_subjects: None,
    };
    let declared = DeclaredKeys {
        regions: Some(vec!["north".into()]),
        ..Default::default()
    };
    Plan::new(&q, &declared, 0).unwrap()
}

#[test]
fn empirical_error_matches_theoretical_scale() {
    let mut set = RowSet::new();
    add_people(&mut set, 0, 200, 3, "north", 1);
    let bounds = Bounds {
        max_groups: 2,
        max_rows_per_group: 3,
    };
    for mech in [Mechanism::Gaussian, Mechanism::Laplace] {
        let p = plan(20_000_000, mech, bounds);
        let n = 2000;
        let errs: Vec<f64> = (0..n)
            .map(|s| p.run(&set, s).unwrap().groups[0].estimate.value - 600.0)
            .collect();
        let est = p.run(&set, 0).unwrap().groups[0].estimate;
        let mean = errs.iter().sum::<f64>() / n as f64;
        let sd = (errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let mae = errs.iter().map(|e| e.abs()).sum::<f64>() / n as f64;
        assert!(
            (sd / est.std_dev - 1.0).abs() < 0.10,
            "{mech:?}: sd {sd} vs {}",
            est.std_dev
        );
        let floor = NoisePlan::vector(mech, Sensitivity { l0: 2, linf: 3 }, 20_000_000)
            .unwrap()
            .expected_abs_error();
        assert!(
            (mae / floor - 1.0).abs() < 0.10,
            "{mech:?}: mae {mae} vs {floor}"
        );
        assert!(
            mean.abs() < 5.0 * sd / (n as f64).sqrt(),
            "unbiased: {mean}"
        );
        let inside = errs
            .iter()
            .filter(|e| e.abs() <= est.ci95.1 - est.value)
            .count();
        assert!(
            inside as f64 / n as f64 >= 0.93,
            "{mech:?}: ci95 covers {inside}/{n}"
        );
    }
}

/// The attacker queries D and D + one person (who contributes the maximum) and guesses
/// "present" when the noisy count reaches a cut. For ε-DP every such test obeys
/// TPR <= e^ε · FPR + δ; we check it at every cut over many trials.
#[test]
fn differencing_attack_is_bounded_by_epsilon() {
    let bounds = Bounds {
        max_groups: 1,
        max_rows_per_group: 2,
    };
    let mut without = RowSet::new();
    add_people(&mut without, 0, 100, 2, "north", 1);
    let mut with = RowSet::new();
    add_people(&mut with, 0, 101, 2, "north", 1);
    let trials = 3000;
    for mech in [Mechanism::Laplace, Mechanism::Gaussian] {
        let rho = 125_000_000; // Laplace: ε = sqrt(2ρ) = 0.5
        let p = plan(rho, mech, bounds);
        let (eps, delta) = match mech {
            Mechanism::Laplace => ((2.0 * 0.125f64).sqrt(), 0.0),
            Mechanism::Gaussian => {
                let d = 1e-3;
                (zcdp_epsilon(0.125, d).unwrap(), d)
            }
        };
        let sample = |set: &RowSet| -> Vec<i64> {
            (0..trials)
                .map(|s| p.run(set, s).unwrap().groups[0].estimate.value as i64)
                .collect()
        };
        let (a, b) = (sample(&without), sample(&with));
        let mut power_seen = false;
        for cut in 190..=212 {
            let fpr = a.iter().filter(|&&x| x >= cut).count() as f64 / trials as f64;
            let tpr = b.iter().filter(|&&x| x >= cut).count() as f64 / trials as f64;
            // 4 binomial standard errors of slack for sampling.
            let slack = 4.0 * (0.25 / trials as f64).sqrt() * (1.0 + eps.exp());
            assert!(
                tpr <= eps.exp() * fpr + delta + slack,
                "{mech:?} cut {cut}: {tpr} vs {fpr}"
            );
            // Same bound the other way round (removing the person).
            let (fnr, tnr) = (1.0 - tpr, 1.0 - fpr);
            assert!(tnr <= eps.exp() * fnr + delta + slack, "{mech:?} cut {cut}");
            power_seen |= tpr > fpr + 0.02;
        }
        assert!(power_seen, "{mech:?}: the attack should have some power");
    }
}

#[test]
fn bench_helpers_reach_the_floor_on_small_data() {
    use fineline_insights::bench::{generate, grouped_query, run, Spec};
    let spec = Spec {
        rows: 50_000,
        people: 5_000,
        categories: 5,
        regions: 10,
        seed: 1,
    };
    let syn = generate(spec);
    assert!(
        syn.subject.windows(2).all(|w| w[0] <= w[1]),
        "ordered by person"
    );
    let rows = syn.to_rowset();
    assert_eq!(rows.len(), 50_000);
    for metric in [
        Metric::Count,
        Metric::Sum {
            lower: Some(0),
            upper: Some(100),
        },
    ] {
        let q = grouped_query(metric, 1.0, Bounds::default());
        let o = run(&syn, &rows, &q, 40, 3).unwrap();
        assert_eq!(o.groups, 50);
        assert!((o.mae / o.floor - 1.0).abs() < 0.10, "{o:?}");
    }
}
