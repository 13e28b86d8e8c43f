//! Grouped DP count and sum over synthetic events: latency and error vs the floor.
//!
//! cargo run --release -p fineline-insights --example insights_bench -- \
//!     [--rows 10000000] [--epsilon 1.0] [--repeats 20] [--data bench/data/insights]
//!
//! With `--data DIR` the events and fineline's figures (`fineline.tsv`) are written there for
//! `bench/insights_peers.py`, which runs OpenDP (Python) and PipelineDP on the same rows.

use std::time::Instant;

use fineline_insights::bench::{generate, grouped_query, run, Spec};
use fineline_insights::{Bounds, Metric};

fn main() {
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
    let epsilon: f64 = arg("--epsilon").map_or(1.0, |v| v.parse().expect("--epsilon"));
    let repeats: usize = arg("--repeats").map_or(20, |v| v.parse().expect("--repeats"));
    let bounds = Bounds::default();

    let t = Instant::now();
    let syn = generate(spec);
    eprintln!(
        "generated {} rows in {:.2}s",
        spec.rows,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let rows = syn.to_rowset();
    let load_secs = t.elapsed().as_secs_f64();
    println!(
        "rows={} people={} groups={} epsilon={} max_groups={} max_rows_per_group={}",
        spec.rows,
        rows.num_subjects(),
        rows.num_keys(),
        epsilon,
        bounds.max_groups,
        bounds.max_rows_per_group
    );
    println!("load (pseudonym interning) {load_secs:.3}s");
    let mut tsv = String::from("metric\tsecs\tload_secs\tmae\tfloor\tmae_vs_raw\n");
    let metrics = [
        Metric::Count,
        Metric::Sum {
            lower: Some(0),
            upper: Some(100),
        },
    ];
    for metric in metrics {
        let q = grouped_query(metric, epsilon, bounds);
        let o = run(&syn, &rows, &q, repeats, 7).expect("bench query");
        println!(
            "{:<5} query {:.3}s (with load {:.3}s)  MAE {:.2}  floor {:.2}  MAE/floor {:.3}  MAE vs raw truth {:.2}",
            o.metric,
            o.query_secs,
            o.query_secs + load_secs,
            o.mae,
            o.floor,
            o.mae / o.floor,
            o.mae_vs_raw
        );
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            o.metric, o.query_secs, load_secs, o.mae, o.floor, o.mae_vs_raw
        ));
    }
    if let Some(dir) = arg("--data") {
        let dir = std::path::Path::new(&dir);
        syn.write_dir(dir).expect("write data");
        std::fs::write(dir.join("fineline.tsv"), tsv).expect("write figures");
        eprintln!("wrote data and figures to {}", dir.display());
    }
}
