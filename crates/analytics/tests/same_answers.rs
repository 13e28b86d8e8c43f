//! The DataFusion scan answers what today's path answers before noise: the
//! same rows, consent and filters applied as the stores and
//! `rows_from_facts` do, then `fineline_insights`' own bounding.
//!
//! Bounding samples: which of a person's groups and rows are kept is random
//! (ChaCha in the engine, a keyed hash here), so aggregates are compared
//! exactly wherever they do not depend on that draw: everything when bounds
//! do not bind; counts and distinct people when no person has more groups
//! than `max_groups`; and always the total of distinct people, which is
//! each person's min(groups, max_groups) summed.

use std::collections::{BTreeMap, HashMap};

use fineline_analytics::{
    AnalyticDataset, Capture, Catalogue, Consenting, Engine, GroupAggregate, Marks, Options,
};
use fineline_core::Pseudonym;
use fineline_insights::rows::{bound_and_aggregate, Accumulate};
use fineline_insights::{
    cell_of, Bounds, DeclaredKeys, Dimension, Filter, GroupKey, KeyValue, Mechanism, Metric, Query,
    RowSet,
};
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const T0: i64 = 20_100 * DAY;
const KINDS: [&str; 3] = ["app_open", "purchase", "location"];
/// Items and their categories now; `x-9` is not in the catalogue (an item
/// removed since), so it has no category.
const ITEMS: [(&str, &str); 4] = [
    ("g-1", "games"),
    ("n-1", "news"),
    ("m-1", "maps"),
    ("g-2", "games"),
];
const PURPOSES: [&str; 2] = ["analytics", "ads"];
const REGIONS: [&str; 2] = ["north", "south"];

fn cells() -> Vec<u64> {
    // Two near each other (one parent at coarse resolutions), two apart.
    [
        (51.50, -0.12),
        (51.51, -0.13),
        (48.85, 2.35),
        (40.71, -74.0),
    ]
    .iter()
    .map(|&(lat, lng)| cell_of(lat, lng, 7).unwrap())
    .collect()
}

fn person(i: usize) -> u64 {
    i as u64 * 1_000_003 + 17
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<Capture>,
    /// Per person: grants `partner_insights` now, grants `location` now.
    consent: Vec<(bool, bool)>,
    query: Query,
    declared: DeclaredKeys,
    /// Rows (by index) whose event was deleted since.
    retracted: Vec<usize>,
    /// A purpose's retention cutoff swept since.
    expired: Option<(usize, i64)>,
    /// Compact before asking: answers must not change.
    compact: bool,
}

fn category(item: &Option<String>) -> Option<String> {
    let item = item.as_deref()?;
    ITEMS
        .iter()
        .find(|(i, _)| *i == item)
        .map(|(_, c)| c.to_string())
}

fn catalogue() -> Catalogue {
    Catalogue::new(ITEMS.iter().map(|(i, c)| (i.to_string(), c.to_string())))
}

fn arb_row(people: usize) -> impl Strategy<Value = Capture> {
    (
        0..people,
        0i64..3,
        0i64..24,
        0usize..3,
        proptest::option::of(0usize..5),
        proptest::option::of(0usize..2),
        0usize..4,
        proptest::option::of(-100i64..300),
        0usize..2,
    )
        .prop_map(|(p, day, hour, kind, item, region, cell, value, purpose)| {
            let location = KINDS[kind] == "location";
            Capture {
                person: person(p),
                at: T0 + day * DAY + hour * HOUR + 17,
                event: 0,
                purpose: PURPOSES[purpose].into(),
                kind: KINDS[kind].into(),
                item: item.map(|i| ITEMS.get(i).map_or("x-9", |(i, _)| i).into()),
                region: region.map(|r| REGIONS[r].into()),
                h3_cell: location.then(|| cells()[cell]),
                location,
                value,
            }
        })
}

fn arb_metric() -> impl Strategy<Value = Metric> {
    (0usize..6, -50i64..50, 0i64..250, 1u32..6, 1u32..4).prop_map(|(m, lo, span, bins, k)| {
        let (lower, upper) = (Some(lo), Some(lo + span));
        match m {
            0 => Metric::Count,
            1 => Metric::DistinctSubjects,
            2 => Metric::Sum { lower, upper },
            3 => Metric::Mean { lower, upper },
            4 => Metric::Histogram { lower, upper, bins },
            _ => Metric::TopK { k },
        }
    })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (1usize..10).prop_flat_map(|people| {
        (
            proptest::collection::vec(arb_row(people), 0..80),
            proptest::collection::vec((prop::bool::weighted(0.8), any::<bool>()), people),
            arb_metric(),
            proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3),
            proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4], 0..=2),
            5u8..=7,
            (any::<bool>(), 1u32..4, 1u32..4),
            (
                proptest::option::of((0i64..40, 1i64..60)),
                any::<bool>(),
                any::<bool>(),
            ),
            any::<bool>(),
            (
                proptest::collection::vec(0usize..80, 0..4),
                proptest::option::of((0usize..2, 0i64..72)),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    mut rows,
                    consent,
                    metric,
                    kinds,
                    dims,
                    res,
                    bounds,
                    filters,
                    declared,
                    marks,
                )| {
                    for (i, r) in rows.iter_mut().enumerate() {
                        r.event = i as i64 + 1;
                    }
                    let (retracted, expired, compact) = marks;
                    let expired = expired.map(|(p, h)| (p, T0 + h * HOUR));
                    let (loose, g, r) = bounds;
                    let (time, by_region, by_cat) = filters;
                    let mut filters = Vec::new();
                    if let Some((from_h, len_h)) = time {
                        let from = T0 + from_h * HOUR;
                        filters.push(Filter::TimeRange {
                            from,
                            to: from + len_h * HOUR,
                        });
                    }
                    if by_region {
                        filters.push(Filter::Region {
                            any_of: vec!["NORTH".into()],
                        });
                    }
                    if by_cat {
                        filters.push(Filter::ItemCategory {
                            any_of: vec!["games".into(), "maps".into(), "unknown".into()],
                        });
                    }
                    let group_by: Vec<Dimension> = dims
                        .iter()
                        .map(|d| match d {
                            0 => Dimension::ItemCategory,
                            1 => Dimension::Region,
                            2 => Dimension::Day,
                            3 => Dimension::Hour,
                            _ => Dimension::H3Cell { res },
                        })
                        .collect();
                    let query = Query {
                        metric,
                        event_types: kinds.iter().map(|k| KINDS[*k].to_string()).collect(),
                        filters,
                        group_by,
                        cost_nano_rho: None,
                        mechanism: Mechanism::Gaussian,
                        bounds: if loose {
                            Bounds {
                                max_groups: 1000,
                                max_rows_per_group: 1000,
                            }
                        } else {
                            Bounds {
                                max_groups: g,
                                max_rows_per_group: r,
                            }
                        },
                        min_subjects: None,
                    };
                    let declared = if declared {
                        DeclaredKeys {
                            item_categories: Some(vec!["games".into(), "news".into()]),
                            regions: Some(vec!["south".into()]),
                            days: Some(vec![20_100, 20_102]),
                        }
                    } else {
                        DeclaredKeys::default()
                    };
                    Case {
                        retracted: retracted.into_iter().filter(|&i| i < rows.len()).collect(),
                        rows,
                        consent,
                        query,
                        declared,
                        expired,
                        compact,
                    }
                },
            )
    })
}

fn parent(cell: u64, res: u8) -> Option<u64> {
    let c = h3o::CellIndex::try_from(cell).ok()?;
    c.parent(h3o::Resolution::try_from(res).ok()?)
        .map(u64::from)
}

/// Today's path on the same rows: the store's filters, `rows_from_facts`'
/// consent and keys, into the engine's `RowSet`.
fn reference_rows(case: &Case) -> RowSet {
    let q = &case.query;
    let mut rows = RowSet::new();
    for (n, c) in case.rows.iter().enumerate() {
        let i = ((c.person - 17) / 1_000_003) as usize;
        let (insights, location) = case.consent[i];
        if !insights || (c.location && !location) || !q.event_types.contains(&c.kind) {
            continue;
        }
        let expired = case
            .expired
            .is_some_and(|(p, cutoff)| c.purpose == PURPOSES[p] && c.at < cutoff);
        if case.retracted.contains(&n) || expired {
            continue;
        }
        let pass = q.filters.iter().all(|f| match f {
            Filter::TimeRange { from, to } => (*from..*to).contains(&c.at),
            Filter::ItemCategory { any_of } => {
                category(&c.item).is_some_and(|x| any_of.contains(&x))
            }
            Filter::Region { any_of } => c
                .region
                .as_ref()
                .is_some_and(|x| any_of.iter().any(|a| a.to_lowercase() == *x)),
        });
        if !pass {
            continue;
        }
        let key: Option<Vec<KeyValue>> = q
            .group_by
            .iter()
            .map(|d| match d {
                Dimension::ItemCategory => category(&c.item).map(KeyValue::ItemCategory),
                Dimension::Region => c.region.clone().map(KeyValue::Region),
                Dimension::Day => Some(KeyValue::Day(c.at.div_euclid(DAY))),
                Dimension::Hour => Some(KeyValue::Hour((c.at.rem_euclid(DAY) / HOUR) as u8)),
                Dimension::H3Cell { res } => c
                    .h3_cell
                    .and_then(|h| parent(h, *res))
                    .map(KeyValue::H3Cell),
            })
            .collect();
        let Some(key) = key else { continue };
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&c.person.to_le_bytes());
        let s = rows.subject_id(&Pseudonym::new(0, digest));
        let k = rows.key_id(&GroupKey(key));
        rows.push_ids(s, k, c.value.unwrap_or(0));
    }
    rows
}

/// The engine's aggregates as groups, as `Plan::run` bounds them.
fn reference(case: &Case, rows: &RowSet) -> Vec<GroupAggregate> {
    let q = &case.query;
    let allowed: Option<Vec<bool>> = case.declared.public_keys(&q.group_by).map(|keys| {
        let mut a = vec![false; rows.num_keys()];
        keys.iter()
            .filter_map(|k| rows.lookup_key(k))
            .for_each(|i| a[i as usize] = true);
        a
    });
    let bins = match q.metric {
        Metric::Histogram { bins, .. } => Some(bins),
        _ => None,
    };
    let acc = Accumulate {
        clamp: q.clamp(),
        bins,
    };
    let agg = bound_and_aggregate(rows, q.bounds, acc, allowed.as_deref(), 99);
    let mut out: Vec<GroupAggregate> = (0..rows.num_keys())
        .filter(|&i| agg.distinct[i] > 0)
        .map(|i| GroupAggregate {
            key: rows.key(i as u32).clone(),
            count: agg.count[i],
            distinct: agg.distinct[i],
            sum: agg.sum[i],
            bins: agg.bins.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// Whether some person has more (allowed) groups than `max_groups`.
fn groups_bind(case: &Case, reference: &[GroupAggregate]) -> bool {
    // Total distinct = Σ min(groups, g); it equals Σ groups only if none binds.
    let rows = reference_rows(case);
    let unbounded = Case {
        query: Query {
            bounds: Bounds {
                max_groups: 1000,
                max_rows_per_group: 1,
            },
            ..case.query.clone()
        },
        ..case.clone()
    };
    let all: i64 = self::reference(&unbounded, &rows)
        .iter()
        .map(|g| g.distinct)
        .sum();
    all != reference.iter().map(|g| g.distinct).sum::<i64>()
}

const OPTIONS: Options = Options {
    buckets: 3,
    compress: true,
};

/// A running Ballista cluster to hold to the same answers
/// (scripts/ballista.sh): its scheduler's URL and the dataset location its
/// processes opened. Cases then run in that location, one at a time.
fn cluster() -> Option<(String, String)> {
    Some((
        std::env::var("FINELINE_TEST_BALLISTA_URL").ok()?,
        std::env::var("FINELINE_TEST_BALLISTA_DATA").ok()?,
    ))
}

/// The aggregates in-process (bounded in Rust), then by each other engine
/// on the same files: the one plan a cluster runs (bounded by window
/// functions) in this process and, when one is running, on a cluster.
async fn analytic(
    case: &Case,
    dir: &std::path::Path,
) -> (Vec<GroupAggregate>, Vec<(Engine, Vec<GroupAggregate>)>) {
    let location = match cluster() {
        Some((_, data)) => data,
        None => dir.to_str().unwrap().to_string(),
    };
    let store = AnalyticDataset::open_url(&location, OPTIONS).await.unwrap();
    store.reset().await.unwrap();
    // Two appends: answers must not depend on how rows fall into files.
    let half = case.rows.len() / 2;
    store.append(&case.rows[..half]).await.unwrap();
    store.append(&case.rows[half..]).await.unwrap();
    let marks = Marks {
        retracted: case
            .retracted
            .iter()
            .map(|&i| (case.rows[i].person, case.rows[i].event))
            .collect(),
        expired: case
            .expired
            .iter()
            .map(|&(p, t)| (PURPOSES[p].to_string(), t))
            .collect(),
        ..Marks::default()
    };
    store.record(&marks).await.unwrap();
    if case.compact {
        store.compact(1).await.unwrap();
        assert!(store.pending_marks().await.unwrap().0.is_empty());
    }
    let consenting = Consenting::new(
        case.consent
            .iter()
            .enumerate()
            .filter(|(_, c)| c.0)
            .map(|(i, c)| (person(i), c.1)),
    );
    let in_process = store
        .aggregate(&case.query, &case.declared, &consenting, &catalogue(), 5)
        .await
        .unwrap();
    #[allow(unused_mut)]
    let mut engines = vec![Engine::Plan];
    #[cfg(feature = "ballista")]
    if let Some((url, _)) = cluster() {
        engines.push(Engine::Ballista {
            url,
            deadline: std::time::Duration::from_secs(120),
        });
    }
    let mut others = Vec::new();
    for engine in engines {
        let got = AnalyticDataset::open_url(&location, OPTIONS)
            .await
            .unwrap()
            .with_engine(engine.clone())
            .aggregate(&case.query, &case.declared, &consenting, &catalogue(), 5)
            .await
            .unwrap();
        others.push((engine, got));
    }
    (in_process, others)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn same_pre_noise_aggregates_as_the_engine(case in arb_case()) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (got, others) = rt.block_on(analytic(&case, dir.path()));
        // The same seed keeps the same rows, whichever engine bounds them.
        for (engine, answer) in &others {
            prop_assert_eq!(answer, &got, "{:?}'s answer", engine);
        }
        let rows = reference_rows(&case);
        let want = reference(&case, &rows);
        let b = case.query.bounds;
        if b.max_groups == 1000 && b.max_rows_per_group == 1000 {
            prop_assert_eq!(&got, &want);
        } else {
            let total = |g: &[GroupAggregate]| g.iter().map(|g| g.distinct).sum::<i64>();
            prop_assert_eq!(total(&got), total(&want), "distinct people kept");
            if !groups_bind(&case, &want) {
                let counts = |g: &[GroupAggregate]| -> BTreeMap<GroupKey, (i64, i64)> {
                    g.iter().map(|g| (g.key.clone(), (g.count, g.distinct))).collect()
                };
                prop_assert_eq!(counts(&got), counts(&want));
            }
            let known: HashMap<&GroupKey, ()> = (0..rows.num_keys() as u32).map(|i| (rows.key(i), ())).collect();
            for g in &got {
                prop_assert!(known.contains_key(&g.key), "group {:?} from no row", g.key);
                prop_assert!(g.count <= g.distinct * b.max_rows_per_group as i64);
            }
        }
    }
}
