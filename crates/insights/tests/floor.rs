//! The deployment's floor: whatever the metric, mechanism, key mode or cost, a group of
//! fewer people than the floor is never released, and a query cannot ask for less.

mod common;

use common::{add_people, region};
use fineline_insights::query::MIN_FLOOR;
use fineline_insights::*;
use proptest::prelude::*;

const RHOS: [u64; 3] = [NANO, 10 * NANO, 1000 * NANO];

fn metric(i: u8) -> Metric {
    let (lower, upper) = (Some(0), Some(10));
    match i % 6 {
        0 => Metric::Count,
        1 => Metric::DistinctSubjects,
        2 => Metric::Sum { lower, upper },
        3 => Metric::Mean { lower, upper },
        4 => Metric::Histogram {
            lower,
            upper,
            bins: 3,
        },
        _ => Metric::TopK { k: 5 },
    }
}

fn query(metric: Metric, mechanism: Mechanism, nano_rho: u64, min: Option<u64>) -> Query {
    Query {
        metric,
        event_types: vec!["purchase".into()],
        filters: vec![],
        group_by: vec![Dimension::Region],
        cost_nano_rho: Some(nano_rho),
        mechanism,
        bounds: Bounds::default(),
        min_subjects: min,
    }
}

fn keys(public: bool) -> DeclaredKeys {
    DeclaredKeys {
        regions: public.then(|| vec!["big".into(), "small".into(), "empty".into()]),
        ..Default::default()
    }
}

fn released(r: &Release) -> Vec<GroupKey> {
    let mut k: Vec<GroupKey> = r.groups.iter().map(|g| g.key.clone()).collect();
    k.dedup();
    k
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A small group (at most a quarter of the floor: far enough below it that even
    /// Laplace noise at ρ = 1 cannot lift it over) never appears, at ρ = 1, 10 and 1000;
    /// a group well above the floor does, so the check is not vacuous.
    #[test]
    fn no_group_under_the_floor_is_released_at_any_cost(
        floor in 200u64..400,
        small_frac in 0.0f64..0.25,
        m in 0u8..6,
        laplace in any::<bool>(),
        public in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let small = ((floor as f64 * small_frac) as u64).max(1);
        let big = 2 * floor + 200;
        let mut set = RowSet::new();
        add_people(&mut set, 0, big, 3, "big", 5);
        add_people(&mut set, 100_000, small, 3, "small", 5);
        let mech = if laplace { Mechanism::Laplace } else { Mechanism::Gaussian };
        for rho in RHOS {
            let plan = Plan::new(&query(metric(m), mech, rho, None), &keys(public), floor).unwrap();
            prop_assert_eq!(plan.min_subjects(), floor);
            if let Some(t) = plan.threshold() {
                prop_assert!(t >= floor as i64, "threshold {} under floor {}", t, floor);
            }
            let r = plan.run(&set, seed).unwrap();
            prop_assert_eq!(r.min_subjects, floor);
            prop_assert_eq!(released(&r), vec![region("big")], "rho {}", rho);
        }
    }

    /// Asking below the floor is refused with the floor named; asking above it is honoured.
    #[test]
    fn min_subjects_may_rise_above_the_floor_never_below(
        floor in MIN_FLOOR..400,
        below in 0u64..MIN_FLOOR,
        m in 0u8..6,
        public in any::<bool>(),
    ) {
        let asked = floor.saturating_sub(below + 1);
        let q = query(metric(m), Mechanism::Gaussian, 1000 * NANO, Some(asked));
        let e = Plan::new(&q, &keys(public), floor).unwrap_err();
        prop_assert_eq!(&e, &InsightError::Query(QueryError::BelowFloor { asked, floor }));
        prop_assert!(e.to_string().contains(&floor.to_string()), "{}", e);

        // A group of 2·floor people vanishes when the query asks for 3·floor.
        let mut set = RowSet::new();
        add_people(&mut set, 0, 2 * floor, 2, "big", 5);
        let q = query(metric(m), Mechanism::Gaussian, 1000 * NANO, Some(3 * floor));
        let plan = Plan::new(&q, &keys(public), floor).unwrap();
        prop_assert_eq!(plan.min_subjects(), 3 * floor);
        prop_assert!(plan.run(&set, 1).unwrap().groups.is_empty());
        let q = query(metric(m), Mechanism::Gaussian, 1000 * NANO, Some(floor));
        let r = Plan::new(&q, &keys(public), floor).unwrap().run(&set, 1).unwrap();
        prop_assert_eq!(released(&r), vec![region("big")]);
    }
}
