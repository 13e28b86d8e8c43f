//! Level 0 quality: recommendations computed on the device from the public
//! model and the person's local history, against the server's
//! personalization, on the split `bench/recs.sh` writes (MovieLens-100k,
//! seeded 80/20, NDCG@10 over the same held-out items).
//!
//! persona_bench <split dir>   (after `recs_bench split movielens FILE DIR`)
//! persona_bench <split dir> ROW...   only the server rows and these public
//!   EASE rows, each `λ:keep:zero|independent:positive|signed:k` (a sweep)
//!   or `dp:λ:keep:ε:L[:catalogue]` (the DP model, clipped to L items a
//!   person, over the held items or the public item list)

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use fineline_core::ItemId;
use fineline_persona::recommend;
use fineline_recs::bench::{read_split, run_ours};
use fineline_recs::eval::{Evaluator, Metrics};
use fineline_recs::{
    Algorithm, Catalogue, EaseConfig, GaussianGram, KnnConfig, PublicEaseConfig, RarePairs,
    Recommender, RecsConfig, RecsError, Weighting, DEFAULT_MIN_SUPPORT,
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

/// A device row: name, neighbour weighting and size (for the neighbour
/// models), the public EASE settings (`None`: the neighbour model), floor.
type Device = (String, Weighting, usize, Option<Fit>, u32);

/// How a device row's EASE model is fitted: on the k-anonymous release,
/// or on a Gaussian-noised Gram matrix.
#[derive(Clone, Copy)]
enum Fit {
    Floor(PublicEaseConfig),
    /// The bool: over the public item list (the items of the whole
    /// dataset, standing in for the shop's catalogue), not the held items.
    Private(PublicEaseConfig, GaussianGram, bool),
}

fn ease(lambda: f64, keep: usize, rare_pairs: RarePairs, signed: bool) -> PublicEaseConfig {
    PublicEaseConfig {
        lambda,
        max_items: 4000,
        keep,
        rare_pairs,
        signed,
    }
}

fn ease_row(e: PublicEaseConfig, k: u32) -> Device {
    let name = format!(
        "EASE λ={} top-{} {} {}",
        e.lambda,
        e.keep,
        match e.rare_pairs {
            RarePairs::Zero => "rare=0",
            RarePairs::Independent => "rare=indep",
        },
        if e.signed { "signed" } else { "positive" }
    );
    (name, Weighting::Cosine, 50, Some(Fit::Floor(e)), k)
}

fn dp_row(e: PublicEaseConfig, epsilon: f64, per_person: usize, catalogue: bool) -> Device {
    let privacy = GaussianGram {
        epsilon,
        delta: 1e-6,
        per_person,
    };
    let name = format!(
        "EASE λ={} top-{} DP ε={epsilon} δ=1e-6 L={per_person} σ={:.1}{}",
        e.lambda,
        e.keep,
        if catalogue {
            privacy.sigma_for_all_of_delta()
        } else {
            privacy.sigma()
        },
        if catalogue { " catalogue" } else { "" }
    );
    (
        name,
        Weighting::Cosine,
        50,
        Some(Fit::Private(e, privacy, catalogue)),
        1,
    )
}

fn parse_device(arg: &str) -> Result<Device, RecsError> {
    let bad = || {
        RecsError::Data(format!(
            "row {arg:?}: want λ:keep:zero|independent:positive|signed:k or dp:λ:keep:ε:L[:catalogue]"
        ))
    };
    let parts: Vec<&str> = arg.split(':').collect();
    if let ["dp", lambda, keep, epsilon, per_person, rest @ ..] = parts.as_slice() {
        let catalogue = match rest {
            [] => false,
            ["catalogue"] => true,
            _ => return Err(bad()),
        };
        let e = ease(
            lambda.parse().map_err(|_| bad())?,
            keep.parse().map_err(|_| bad())?,
            RarePairs::Zero,
            true,
        );
        return Ok(dp_row(
            e,
            epsilon.parse().map_err(|_| bad())?,
            per_person.parse().map_err(|_| bad())?,
            catalogue,
        ));
    }
    let [lambda, keep, rare, sign, k] = parts.as_slice() else {
        return Err(bad());
    };
    let rare = match *rare {
        "zero" => RarePairs::Zero,
        "independent" => RarePairs::Independent,
        _ => return Err(bad()),
    };
    let e = ease(
        lambda.parse().map_err(|_| bad())?,
        keep.parse().map_err(|_| bad())?,
        rare,
        *sign == "signed",
    );
    Ok(ease_row(e, k.parse().map_err(|_| bad())?))
}

/// The published table's rows. Rows at k = 5 and 20 show what the floor
/// costs; the k = 1 rows are references no floor protects: they separate
/// what the floor costs from what the top-N cut costs. The served floor
/// is k = 10.
fn default_devices(k: u32) -> Vec<Device> {
    let served = PublicEaseConfig::default();
    vec![
        ("cosine K=50".into(), Weighting::Cosine, 50, None, k),
        ("RP3beta K=100".into(), RP3, 100, None, k),
        ease_row(ease(250.0, 200, RarePairs::Zero, false), 1),
        ease_row(ease(250.0, 200, RarePairs::Zero, true), 1),
        ease_row(ease(250.0, 200, RarePairs::Zero, false), k),
        ease_row(ease(250.0, 200, RarePairs::Independent, false), k),
        ease_row(ease(250.0, 200, RarePairs::Zero, true), k),
        ease_row(served, 5),
        ease_row(served, k),
        ease_row(served, 20),
    ]
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((dir, extra)) = args.split_first() else {
        eprintln!("usage: persona_bench SPLIT_DIR [EASE_ROW ...]");
        return ExitCode::FAILURE;
    };
    match run(Path::new(dir), extra) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persona_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &Path, extra: &[String]) -> Result<(), RecsError> {
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
    let k = DEFAULT_MIN_SUPPORT;
    let devices = if extra.is_empty() {
        default_devices(k)
    } else {
        extra
            .iter()
            .map(|a| parse_device(a))
            .collect::<Result<_, _>>()?
    };
    for (name, weighting, neighbours, ease, min_support) in devices {
        let config = knn(weighting, neighbours, min_support);
        let trained = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {})?;
        let started = Instant::now();
        let model = match ease {
            None => trained.public_model(1),
            Some(Fit::Floor(ease)) => trained.public_ease_model(1, ease)?,
            Some(Fit::Private(ease, privacy, catalogue)) => {
                let domain: Option<Vec<ItemId>> = catalogue.then(|| {
                    let mut all: Vec<ItemId> = (split.train.iter())
                        .chain(&split.test)
                        .map(|i| i.item.clone())
                        .collect();
                    all.sort_unstable();
                    all.dedup();
                    all
                });
                trained.private_ease_model(1, ease, privacy, domain.as_deref(), [7; 32])?
            }
        };
        let export = started.elapsed();
        let pairs: usize = model.items.iter().map(|i| i.neighbours.len()).sum();
        let negative: usize = model
            .items
            .iter()
            .map(|i| i.neighbours.iter().filter(|n| n.1 < 0).count())
            .sum();
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
                "model {} items, {pairs} pairs ({negative} negative), {bytes} bytes canonical ({:.1} KiB), export {:.0} ms",
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
