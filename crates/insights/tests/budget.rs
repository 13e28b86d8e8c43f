use std::sync::{Arc, Mutex};

use fineline_insights::budget::zcdp_epsilon_classical;
use fineline_insights::*;
use opendp::combinators::{make_fix_delta, make_zCDP_to_approxDP};
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_gaussian;
use opendp::measures::ZeroConcentratedDivergence;
use opendp::metrics::L2Distance;
use proptest::prelude::*;

#[test]
fn composition_is_additive_and_exact() {
    let mut l = BudgetLedger::default();
    let q = Cost {
        nano_rho: 10_000_000,
        femto_delta: 0,
    };
    for i in 1..=10 {
        let left = l.charge("acme", "2026-12", q).unwrap();
        assert_eq!(left.nano_rho, DEFAULT_BUDGET.nano_rho - i * q.nano_rho);
    }
    match l.charge("acme", "2026-12", q) {
        Err(BudgetError::Exhausted { remaining, .. }) => assert_eq!(remaining.nano_rho, 0),
        other => panic!("{other:?}"),
    }
    // Other periods and analysts are separate budgets.
    assert!(l.charge("acme", "2027-01", q).is_ok());
    assert!(l.charge("other", "2026-12", q).is_ok());
    // δ is a budget too.
    let d = Cost {
        nano_rho: 1,
        femto_delta: DEFAULT_BUDGET.femto_delta + 1,
    };
    assert!(l.charge("third", "2026-12", d).is_err());
}

#[test]
fn fifty_concurrent_charges_on_a_budget_for_ten() {
    let l = Arc::new(Mutex::new(BudgetLedger::default()));
    let q = Cost {
        nano_rho: 10_000_000,
        femto_delta: 0,
    };
    let ok: usize = (0..50)
        .map(|_| {
            let l = l.clone();
            std::thread::spawn(move || l.lock().unwrap().charge("a", "p", q).is_ok())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap() as usize)
        .sum();
    assert_eq!(ok, 10);
}

#[test]
fn epsilon_matches_opendp_conversion() {
    for (sigma, delta) in [(1.0, 1e-6), (10.0, 1e-9), (3.5, 1e-5)] {
        let m = make_gaussian::<_, _, ZeroConcentratedDivergence>(
            VectorDomain::new(AtomDomain::<i64>::default()),
            L2Distance::<f64>::default(),
            sigma,
            None,
        )
        .unwrap();
        let rho = m.map(&1.0).unwrap();
        let approx = make_fix_delta(&make_zCDP_to_approxDP(m).unwrap(), delta).unwrap();
        let (eps, d) = approx.map(&1.0).unwrap();
        assert_eq!(d, delta);
        let ours = zcdp_epsilon(rho, delta).unwrap();
        assert!((ours - eps).abs() <= 1e-9 * eps.max(1.0), "{ours} vs {eps}");
        assert!(ours <= zcdp_epsilon_classical(rho, delta));
        assert!(ours > 0.5 * zcdp_epsilon_classical(rho, delta));
    }
    let c = Cost {
        nano_rho: 10_000_000,
        femto_delta: 1_000_000,
    };
    let a = c.to_approx_dp(1e-6).unwrap();
    assert!((a.delta - (1e-6 + 1e-9)).abs() < 1e-18);
    assert!(a.epsilon < zcdp_epsilon_classical(0.01, 1e-6));
}

proptest! {
    #[test]
    fn accountant_never_overspends(
        total in 0u64..1_000_000,
        total_d in 0u64..1_000,
        charges in prop::collection::vec((0u64..400_000, 0u64..400), 0..40),
    ) {
        let budget = Cost { nano_rho: total, femto_delta: total_d };
        let mut l = BudgetLedger::new(budget);
        let mut granted = Cost::ZERO;
        for (r, d) in charges {
            let c = Cost { nano_rho: r, femto_delta: d };
            let before = l.account("a", "p");
            match l.charge("a", "p", c) {
                Ok(left) => {
                    granted = granted.checked_add(c).unwrap();
                    prop_assert_eq!(left, budget.saturating_sub(granted));
                }
                Err(BudgetError::Exhausted { remaining, .. }) => {
                    prop_assert_eq!(l.account("a", "p"), before);
                    prop_assert_eq!(remaining, before.remaining());
                    prop_assert!(!c.fits_within(remaining));
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
            prop_assert!(granted.fits_within(budget));
            prop_assert_eq!(l.account("a", "p").spent, granted);
        }
    }

    #[test]
    fn overflowing_charges_are_refused(a in any::<u64>(), b in any::<u64>()) {
        let acc = Account { total: Cost { nano_rho: u64::MAX, femto_delta: u64::MAX }, spent: Cost { nano_rho: a, femto_delta: 0 } };
        let r = acc.try_charge(Cost { nano_rho: b, femto_delta: 0 });
        prop_assert_eq!(r.is_ok(), a.checked_add(b).is_some());
    }
}
