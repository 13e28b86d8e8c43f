//! Grouped DP count and sum on DataFusion over Parquet vs the in-memory
//! engine, on the same synthetic rows (`fineline_insights::bench`), in one run.
//!
//! CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo run -p fineline-analytics \
//!     --example analytics_bench --features engine -- [--rows 10000000] [--dir target/analytics-bench]
//!
//! (The dev profile with the workspace crates at opt-level 2, as the
//! dependencies already are: a release build of DataFusion takes far longer
//! on this machine; both paths get the same optimisation.)

use std::time::Instant;

use fineline_analytics::{to_engine, AnalyticDataset, Capture, Catalogue, Consenting, Options};
use fineline_insights::bench::{generate, grouped_query, Spec, Synthetic};
use fineline_insights::{Bounds, Metric, Plan};

const DAY: i64 = 86_400_000;
/// Catalogue items per category: queries reach categories through items.
const ITEMS_PER_CATEGORY: usize = 20;

fn item_name(category: u16, i: usize) -> String {
    format!("sku-{category:02}-{:02}", i % ITEMS_PER_CATEGORY)
}

fn rss_anon_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let spec = Spec {
        rows: arg("--rows").map_or(10_000_000, |v| v.parse().expect("--rows")),
        ..Spec::default()
    };
    let dir = std::path::PathBuf::from(arg("--dir").unwrap_or("target/analytics-bench".into()));
    let epsilon = 1.0;
    let bounds = Bounds::default();
    let syn = generate(spec);
    let declared = syn.declared();

    // Write once; reuse the files if they are there from an earlier run.
    let fresh = !dir.join("dictionary").exists();
    let store = AnalyticDataset::open_dir(&dir, Options::default())
        .await
        .expect("open");
    if fresh {
        let t = Instant::now();
        const CHUNK: usize = 1_000_000;
        for start in (0..spec.rows).step_by(CHUNK) {
            let chunk: Vec<Capture> = (start..(start + CHUNK).min(spec.rows))
                .map(|i| Capture {
                    person: syn.subject[i] as u64,
                    at: 20_000 * DAY + (i as i64 % 7) * DAY,
                    event: i as i64 + 1,
                    purpose: "analytics".into(),
                    kind: "app_open".into(),
                    item: Some(item_name(syn.category[i], i)),
                    region: Some(Synthetic::region_name(syn.region[i])),
                    h3_cell: None,
                    location: false,
                    value: Some(syn.value[i]),
                })
                .collect();
            store.append(&chunk).await.expect("append");
        }
        // One file per partition, as compaction leaves them.
        store.compact(1).await.expect("compact");
        println!(
            "write {} rows as Parquet {:.2}s",
            spec.rows,
            t.elapsed().as_secs_f64()
        );
    }
    let files = store.files().await.expect("files");
    let bytes: u64 = walk(&dir);
    println!(
        "rows={} people={} files={} parquet_mib={:.1} epsilon={epsilon} bounds={}x{}",
        spec.rows,
        spec.people,
        files.len(),
        bytes as f64 / 1048576.0,
        bounds.max_groups,
        bounds.max_rows_per_group
    );
    let consenting = Consenting::new((0..spec.people as u64).map(|p| (p, false)));
    let catalogue = Catalogue::new((0..spec.categories).flat_map(|c| {
        (0..ITEMS_PER_CATEGORY).map(move |i| (item_name(c, i), Synthetic::category_name(c)))
    }));

    let rss0 = rss_anon_mib();
    let t = Instant::now();
    let rows = syn.to_rowset();
    let load = t.elapsed().as_secs_f64();
    let rss_rows = rss_anon_mib() - rss0;
    println!("in-memory load {load:.2}s (+{rss_rows:.0} MiB RssAnon)");

    for metric in [
        Metric::Count,
        Metric::Sum {
            lower: Some(0),
            upper: Some(100),
        },
    ] {
        let name = if matches!(metric, Metric::Count) {
            "count"
        } else {
            "sum"
        };
        let q = grouped_query(metric, epsilon, bounds);
        let plan = Plan::new(&q, &declared, 0).expect("plan");
        for round in 1..=2 {
            let t = Instant::now();
            let groups = store
                .aggregate(&q, &declared, &consenting, &catalogue, 7)
                .await
                .expect("datafusion");
            let (keys, agg) = to_engine(&groups, None);
            let rel = plan.release(&keys, &agg).expect("release");
            let df = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let mem = plan.run(&rows, 7).expect("engine");
            let engine = t.elapsed().as_secs_f64();
            let kept = |a: &[i64]| a.iter().sum::<i64>();
            let peak = rss_anon_mib();
            println!(
                "{name} round {round}: datafusion {df:.2}s ({} groups, {} people kept) | \
                 in-memory engine {engine:.2}s, +load {:.2}s ({} groups) | ratio datafusion/in-memory-with-load {:.2} | RssAnon {peak:.0} MiB",
                rel.groups.len(),
                kept(&agg.distinct),
                engine + load,
                mem.groups.len(),
                df / (engine + load),
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
