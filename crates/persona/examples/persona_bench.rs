//! Level 0 quality: recommendations computed on the device from the public
//! model and the person's local history, against the server's
//! personalization, on the split `bench/recs.sh` writes (MovieLens-100k,
//! seeded 80/20, NDCG@10 over the same held-out items).
//!
//! persona_bench <split dir>   (after `recs_bench split movielens FILE DIR`)

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use fineline_core::ItemId;
use fineline_persona::recommend;
use fineline_recs::bench::{read_split, run_ours};
use fineline_recs::eval::{Evaluator, Metrics};
use fineline_recs::{
    Algorithm, Catalogue, EaseConfig, KnnConfig, Recommender, RecsConfig, RecsError, Weighting,
    DEFAULT_MIN_SUPPORT,
};

const K: usize = 10;

fn knn(weighting: Weighting, neighbours: usize, min_support: u32) -> RecsConfig {
    RecsConfig {
        knn: KnnConfig {
            neighbours,
            weighting,
            min_support,
        },
        ease: None,
        serve: Algorithm::Neighbours,
        ..RecsConfig::default()
    }
}

/// The benchmark's MovieLens settings (crates/recs/examples/recs_bench.rs).
const RP3: Weighting = Weighting::Rp3 {
    alpha: 0.75,
    beta: 0.5,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: persona_bench SPLIT_DIR");
        return ExitCode::FAILURE;
    };
    match run(Path::new(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persona_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path) -> Result<(), RecsError> {
    let split = read_split(dir)?;
    let evaluator = Evaluator::new(&split, K);
    let server = [
        (
            "server EASE λ=250 items≤4000 (best served)".to_string(),
            RecsConfig {
                ease: Some(EaseConfig {
                    lambda: 250.0,
                    max_items: 4000,
                }),
                serve: Algorithm::Ease,
                ..RecsConfig::default()
            },
        ),
        (
            "server item-item cosine K=50".to_string(),
            knn(Weighting::Cosine, 50, DEFAULT_MIN_SUPPORT),
        ),
        (
            "server item-item RP3beta K=100".to_string(),
            knn(RP3, 100, DEFAULT_MIN_SUPPORT),
        ),
    ];
    let mut rows: Vec<(String, Metrics, String)> = Vec::new();
    for (name, config) in server {
        let run = run_ours(&name, config, &split, &evaluator, K)?;
        rows.push((name, run.metrics, String::new()));
    }
    let best = rows[0].1.ndcg;
    let ease = EaseConfig {
        lambda: 250.0,
        max_items: 4000,
    };
    let k = DEFAULT_MIN_SUPPORT;
    // Rows at k = 5 and 20 show what the floor costs; the last row is a
    // reference no floor protects (k = 1): it separates what the floor
    // costs from what the top-N cut costs. The served floor is k = 10.
    let devices: [(&str, Weighting, usize, Option<usize>, u32); 9] = [
        ("cosine K=50", Weighting::Cosine, 50, None, k),
        ("RP3beta K=100", RP3, 100, None, 5),
        ("RP3beta K=100", RP3, 100, None, k),
        ("RP3beta K=100", RP3, 100, None, 20),
        ("EASE λ=250 top-200", Weighting::Cosine, 50, Some(200), 5),
        ("EASE λ=250 top-50", Weighting::Cosine, 50, Some(50), k),
        ("EASE λ=250 top-100", Weighting::Cosine, 50, Some(100), k),
        ("EASE λ=250 top-200", Weighting::Cosine, 50, Some(200), k),
        ("EASE λ=250 top-200", Weighting::Cosine, 50, Some(200), 1),
    ];
    for (name, weighting, neighbours, ease_keep, min_support) in devices {
        let config = knn(weighting, neighbours, min_support);
        let trained = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {})?;
        let started = Instant::now();
        let model = match ease_keep {
            None => trained.public_model(1),
            Some(keep) => trained.public_ease_model(1, ease, keep)?,
        };
        let export = started.elapsed();
        let pairs: usize = model.items.iter().map(|i| i.neighbours.len()).sum();
        let bytes = model.canonical_bytes().len();
        let metrics = evaluator.evaluate(|_, history| {
            let items: Vec<ItemId> = history.iter().map(|h| h.item.clone()).collect();
            recommend(&model, &items, K)
                .into_iter()
                .map(|r| r.item)
                .collect()
        });
        rows.push((
            format!("level 0 on-device, public {name} k={min_support}"),
            metrics,
            format!(
                "model {} items, {pairs} pairs, {bytes} bytes canonical ({:.1} KiB), export {:.0} ms",
                model.items.len(),
                bytes as f64 / 1024.0,
                export.as_secs_f64() * 1e3
            ),
        ));
    }
    println!(
        "{:<58} {:>7} {:>7} {:>9} {:>9}",
        "model", "P@10", "NDCG@10", "xEASE", "xsame"
    );
    for (name, m, note) in &rows {
        // The on-device row's own server counterpart: same weighting, all pairs.
        let same = rows
            .iter()
            .find(|(n, _, _)| {
                n.starts_with("server")
                    && ((name.contains("cosine") && n.contains("cosine"))
                        || (name.contains("RP3") && n.contains("RP3"))
                        || (name.contains("EASE") && n.contains("EASE")))
            })
            .map(|r| m.ndcg / r.1.ndcg);
        println!(
            "{:<58} {:>7.4} {:>7.4} {:>9.3} {:>9}",
            name,
            m.precision,
            m.ndcg,
            m.ndcg / best,
            same.map(|s| format!("{s:.3}")).unwrap_or_default()
        );
        if !note.is_empty() {
            println!("    {note}");
        }
    }
    println!(
        "users evaluated: {}; xEASE = NDCG@10 / the served EASE's; xsame = / the server model of the same weighting (all pairs)",
        rows[0].1.users
    );
    Ok(())
}
