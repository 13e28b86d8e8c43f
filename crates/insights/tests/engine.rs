mod common;

use common::{add_people, person, region};
use fineline_insights::*;

fn declared() -> DeclaredKeys {
    DeclaredKeys {
        item_categories: Some(vec!["games".into(), "news".into()]),
        regions: Some(vec!["north".into(), "south".into()]),
        days: None,
    }
}

fn count_by_region(rho: u64, mech: Mechanism) -> Query {
    Query {
        metric: Metric::Count,
        event_types: vec!["purchase".into()],
        filters: vec![],
        group_by: vec![Dimension::Region],
        cost_nano_rho: Some(rho),
        mechanism: mech,
        bounds: Bounds::default(),
        min_subjects: None,
    }
}

#[test]
fn validation_names_the_field() {
    let mut q = count_by_region(1000, Mechanism::Gaussian);
    q.metric = Metric::Sum {
        lower: None,
        upper: Some(10),
    };
    let e = q.validate().unwrap_err();
    assert_eq!(e, QueryError::MissingClampBounds("sum"));
    assert!(e.to_string().contains("metric.lower"));
    q.metric = Metric::Count;
    q.group_by = vec![Dimension::H3Cell { res: 8 }];
    let e = q.validate().unwrap_err();
    assert!(e.to_string().contains("res"), "{e}");
    q.group_by = vec![Dimension::H3Cell { res: 7 }];
    assert!(q.validate().is_ok());
    q.bounds.max_groups = 0;
    assert!(q
        .validate()
        .unwrap_err()
        .to_string()
        .contains("bounds.max_groups"));
}

#[test]
fn query_file_format_round_trips() {
    let q = Query::app_insights(None);
    let text = serde_json::to_string(&q).unwrap();
    assert_eq!(serde_json::from_str::<Query>(&text).unwrap(), q);
    let minimal: Query = serde_json::from_str(
        r#"{"metric":{"kind":"sum","lower":0,"upper":100},"event_types":["purchase"],
            "group_by":[{"kind":"h3_cell","res":7}]}"#,
    )
    .unwrap();
    assert_eq!(minimal.bounds, Bounds::default());
    assert_eq!(
        minimal.min_subjects(0),
        Ok(100),
        "location cells: 100 even without a floor"
    );
    assert_eq!(minimal.min_subjects(300), Ok(300), "the floor when higher");
}

#[test]
fn bounding_caps_each_person() {
    let mut set = RowSet::new();
    // One person, 10 regions, 50 rows each.
    for g in 0..10 {
        add_people(&mut set, 0, 1, 50, &format!("r{g}"), 1);
    }
    let b = Bounds {
        max_groups: 4,
        max_rows_per_group: 10,
    };
    let acc = rows::Accumulate {
        clamp: Some((0, 5)),
        bins: None,
    };
    let a = rows::bound_and_aggregate(&set, b, acc, None, 7);
    assert_eq!(a.count.iter().sum::<i64>(), 40);
    assert_eq!(a.distinct.iter().sum::<i64>(), 4);
    assert_eq!(a.sum.iter().sum::<i64>(), 40);
    assert_eq!(
        a,
        rows::bound_and_aggregate(&set, b, acc, None, 7),
        "seeded"
    );
}

#[test]
fn cost_is_fixed_before_data_and_delta_only_for_unknown_keys() {
    let q = count_by_region(10_000_000, Mechanism::Gaussian);
    let p = Plan::new(&q, &declared(), 0).unwrap();
    assert!(p.keys_are_public());
    assert_eq!(
        p.cost(),
        Cost {
            nano_rho: 10_000_000,
            femto_delta: 0
        }
    );
    let p = Plan::new(&q, &DeclaredKeys::default(), 0).unwrap();
    assert!(!p.keys_are_public());
    assert_eq!(p.cost().nano_rho, 10_000_000);
    assert!(p.cost().femto_delta > 0 && p.cost().delta() <= THRESHOLD_DELTA * 1.000001);
}

#[test]
fn public_keys_are_all_released_even_without_data() {
    let mut set = RowSet::new();
    add_people(&mut set, 0, 500, 3, "north", 1);
    let q = count_by_region(100_000_000, Mechanism::Gaussian);
    let r = Plan::new(&q, &declared(), 0).unwrap().run(&set, 1).unwrap();
    let keys: Vec<_> = r.groups.iter().map(|g| g.key.clone()).collect();
    assert_eq!(keys, vec![region("north"), region("south")]);
    let north = r.groups[0].estimate;
    assert!(
        (north.value - 1500.0).abs() < 8.0 * north.std_dev,
        "{north:?}"
    );
    assert!(north.ci95.0 < north.value && north.value < north.ci95.1);
    assert!(r.privacy.epsilon > 0.0 && r.privacy.delta == REPORT_DELTA);
}

#[test]
fn a_group_of_one_person_never_appears_under_threshold() {
    let mut set = RowSet::new();
    add_people(&mut set, 0, 1000, 2, "crowd", 1);
    add_people(&mut set, 5000, 1, 10, "lonely", 1);
    for mech in [Mechanism::Gaussian, Mechanism::Laplace] {
        let q = Query {
            min_subjects: Some(0),
            ..count_by_region(100_000_000, mech)
        };
        let plan = Plan::new(&q, &DeclaredKeys::default(), 0).unwrap();
        assert!(plan.threshold().unwrap() > 1);
        for seed in 0..50 {
            let r = plan.run(&set, seed).unwrap();
            assert!(r.groups.iter().all(|g| g.key != region("lonely")));
            assert!(r.groups.iter().any(|g| g.key == region("crowd")));
        }
    }
}

#[test]
fn small_location_cells_are_dropped() {
    let paris = cell_key(48.8566, 2.3522, 7).unwrap();
    let lyon = cell_key(45.764, 4.8357, 7).unwrap();
    let mut set = RowSet::new();
    for i in 0..400u64 {
        set.push(&InsightRow {
            subject: person(i),
            key: GroupKey(vec![paris.clone()]),
            value: 0,
        });
    }
    for i in 1000..1040u64 {
        set.push(&InsightRow {
            subject: person(i),
            key: GroupKey(vec![lyon.clone()]),
            value: 0,
        });
    }
    let q = Query::heatmap(7, vec!["visit".into()], Some(50_000_000));
    let plan = Plan::new(&q, &DeclaredKeys::default(), 0).unwrap();
    assert!(plan.threshold().unwrap() >= 100);
    let r = plan.run(&set, 3).unwrap();
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].key.0[0], paris);
    let heat = heatmap_cells(&r).unwrap();
    assert_eq!(heat.len(), 1);
    assert_eq!(heat[0].estimate, r.groups[0].estimate);
    let KeyValue::H3Cell(c) = paris else {
        unreachable!()
    };
    assert_eq!(heat[0].cell, c);
    let ring = cell_boundary(c).unwrap();
    assert_eq!(ring.len(), 7);
    assert_eq!(ring.first(), ring.last());
    assert!(ring
        .iter()
        .all(|p| (p[0] - 2.35).abs() < 0.1 && (p[1] - 48.86).abs() < 0.1));
    assert!(cell_of(48.0, 2.0, 8).is_err());
}

#[test]
fn app_insights_counts_by_category_and_region() {
    let mut set = RowSet::new();
    for i in 0..2000u64 {
        let cat = if i % 2 == 0 { "games" } else { "news" };
        set.push(&InsightRow {
            subject: person(i),
            key: GroupKey(vec![
                KeyValue::ItemCategory(cat.into()),
                KeyValue::Region("north".into()),
            ]),
            value: 0,
        });
    }
    let q = Query::app_insights(Some(50_000_000));
    let r = Plan::new(&q, &declared(), 0).unwrap().run(&set, 9).unwrap();
    assert_eq!(r.groups.len(), 4);
    for g in &r.groups {
        let truth = if g.key.0[1] == KeyValue::Region("north".into()) {
            1000.0
        } else {
            0.0
        };
        assert!(
            (g.estimate.value - truth).abs() < 8.0 * g.estimate.std_dev,
            "{g:?}"
        );
    }
}

#[test]
fn sum_mean_histogram_and_top_k() {
    let mut set = RowSet::new();
    add_people(&mut set, 0, 3000, 2, "north", 40);
    add_people(&mut set, 10_000, 1000, 1, "south", 500); // clamped to 100
    let base = count_by_region(1_000_000_000, Mechanism::Gaussian);
    let run = |metric: Metric| {
        let q = Query {
            metric,
            ..base.clone()
        };
        Plan::new(&q, &declared(), 0).unwrap().run(&set, 5).unwrap()
    };
    let r = run(Metric::Sum {
        lower: Some(0),
        upper: Some(100),
    });
    assert!((r.groups[0].estimate.value - 240_000.0).abs() < 8.0 * r.groups[0].estimate.std_dev);
    assert!((r.groups[1].estimate.value - 100_000.0).abs() < 8.0 * r.groups[1].estimate.std_dev);
    let r = run(Metric::Mean {
        lower: Some(0),
        upper: Some(100),
    });
    for (g, truth) in r.groups.iter().zip([40.0, 100.0]) {
        let e = g.estimate;
        assert!((e.value - truth).abs() < 8.0 * e.std_dev, "{g:?}");
        assert!(e.std_dev < 4.0, "{g:?}");
    }
    let r = run(Metric::Histogram {
        lower: Some(0),
        upper: Some(99),
        bins: 4,
    });
    assert_eq!(r.groups.len(), 8);
    let b = r.groups[1].bin.unwrap();
    assert_eq!((b.index, b.lower, b.upper), (1, 25, 49));
    assert!((r.groups[1].estimate.value - 6000.0).abs() < 8.0 * r.groups[1].estimate.std_dev);
    let r = run(Metric::TopK { k: 1 });
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].key, region("north"));
}

#[test]
fn distinct_counts_over_public_keys_release_every_key() {
    let mut set = RowSet::new();
    add_people(&mut set, 0, 3, 1, "north", 1);
    for metric in [Metric::DistinctSubjects, Metric::Count] {
        let q = Query {
            metric,
            bounds: Bounds {
                max_groups: 1,
                max_rows_per_group: 1,
            },
            ..count_by_region(1_000_000, Mechanism::Laplace)
        };
        for seed in 0..20 {
            let r = Plan::new(&q, &declared(), 0)
                .unwrap()
                .run(&set, seed)
                .unwrap();
            assert_eq!(
                r.groups.len(),
                2,
                "negative noisy values must not hide a public key"
            );
        }
    }
}
