//! `fineline bench insights --analytics`: the same synthetic rows written to
//! an analytic dataset (Parquet) and each query answered there on
//! DataFusion, beside the database's figures in the same run.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use fineline_analytics::{
    to_engine, AnalyticDataset, Capture, Catalogue, Consenting, Engine, Options,
};
use fineline_insights::bench::Synthetic;
use fineline_insights::{GroupKey, KeyValue, NoisePlan, Plan, Query, Sensitivity};

use crate::cmd::bench::anon_rss_mib;

/// Rows per append: a flush of `serve --analytics` under load is this size.
const CHUNK: usize = 200_000;
/// The days the rows spread over (one partition per day and bucket).
const DAYS: i64 = 7;

/// The item an event is about: `app{category}`, as the database load names them.
fn item(c: u16) -> String {
    format!("app{c}")
}

/// Writes `syn`'s rows to a dataset in `dir`, compacted to one file per
/// partition, and prints how long that took and its size.
pub async fn write(syn: &Synthetic, dir: &Path) -> anyhow::Result<AnalyticDataset> {
    let dataset = AnalyticDataset::open_dir(dir, Options::default()).await?;
    // A directory kept from an earlier run (a cluster's, say) starts empty.
    dataset.reset().await?;
    let t = Instant::now();
    let now = fineline_core::Timestamp::now().0;
    let n = syn.subject.len();
    for start in (0..n).step_by(CHUNK) {
        let rows: Vec<Capture> = (start..(start + CHUNK).min(n))
            .map(|i| Capture {
                person: syn.subject[i] as u64,
                // Within the last week, as the database's rows are within a day:
                // the query has no time filter, so both read everything.
                at: now - (i as i64 % DAYS) * 86_400_000 - 1,
                event: i as i64 + 1,
                purpose: "analytics".into(),
                kind: "app_open".into(),
                item: Some(item(syn.category[i])),
                region: Some(Synthetic::region_name(syn.region[i])),
                h3_cell: None,
                location: false,
                value: Some(syn.value[i]),
            })
            .collect();
        dataset.append(&rows).await?;
    }
    let written = t.elapsed().as_secs_f64();
    let t = Instant::now();
    dataset.compact(1).await?;
    let files = dataset.files().await?;
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f.as_ref())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "analytic dataset: wrote {n} rows as Parquet in {written:.1}s, compacted in {:.1}s: {} files, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        files.len(),
        bytes as f64 / 1_048_576.0
    );
    Ok(dataset)
}

/// Each (category, region) group's unbounded truth: counts, or sums of
/// clamped values.
fn raw_truth(syn: &Synthetic, query: &Query) -> HashMap<GroupKey, i64> {
    let mut raw: HashMap<(u16, u16), i64> = HashMap::new();
    for i in 0..syn.subject.len() {
        *raw.entry((syn.category[i], syn.region[i])).or_default() += query
            .clamp()
            .map_or(1, |(lo, hi)| syn.value[i].clamp(lo, hi));
    }
    raw.into_iter()
        .map(|((c, r), v)| {
            let key = GroupKey(vec![
                KeyValue::ItemCategory(Synthetic::category_name(c)),
                KeyValue::Region(Synthetic::region_name(r)),
            ]);
            (key, v)
        })
        .collect()
}

/// An engine as `--analytics-engines` names it.
pub fn engine(name: &str) -> anyhow::Result<Engine> {
    match name {
        "in-process" => Ok(Engine::InProcess),
        "plan" => Ok(Engine::Plan),
        url => crate::cmd::serve::engine(Some(url), 3600),
    }
}

/// Answers `query` on the dataset (everyone consenting), times it against
/// the database path's `database_secs` if it ran, and measures the
/// release's error over `repeats` noise draws against the mechanism's own
/// expected error.
pub async fn round(
    dataset: &AnalyticDataset,
    syn: &Synthetic,
    query: &Query,
    repeats: usize,
    round: usize,
    database_secs: Option<f64>,
) -> anyhow::Result<()> {
    let consenting = Consenting::new((0..syn.spec.people as u64).map(|p| (p, true)));
    let catalogue =
        Catalogue::new((0..syn.spec.categories).map(|c| (item(c), Synthetic::category_name(c))));
    let declared = syn.declared();
    let rss0 = anon_rss_mib();
    let t = Instant::now();
    let groups = dataset
        .aggregate(query, &declared, &consenting, &catalogue, rand::random())
        .await?;
    let (keys, agg) = to_engine(&groups, None);
    let plan = Plan::new(query, &declared, 0)?;
    let release = plan.release(&keys, &agg)?;
    let secs = t.elapsed().as_secs_f64();
    let rss = anon_rss_mib() - rss0;
    let is_sum = query.clamp().is_some();
    let truth = |key: &fineline_insights::GroupKey| -> i64 {
        keys.lookup_key(key).map_or(0, |k| {
            if is_sum {
                agg.sum[k as usize]
            } else {
                agg.count[k as usize]
            }
        })
    };
    let raw = raw_truth(syn, query);
    let (mut abs, mut abs_raw) = (0.0, 0.0);
    let mut n = 0usize;
    for _ in 0..repeats {
        for g in plan.release(&keys, &agg)?.groups {
            abs += (g.estimate.value - truth(&g.key) as f64).abs();
            abs_raw += (g.estimate.value - raw.get(&g.key).copied().unwrap_or(0) as f64).abs();
            n += 1;
        }
    }
    let mae = abs / n.max(1) as f64;
    let mae_raw = abs_raw / n.max(1) as f64;
    let (g, r) = (
        query.bounds.max_groups,
        query.bounds.max_rows_per_group as i64,
    );
    let linf = query
        .clamp()
        .map_or(r, |(lo, hi)| r * lo.abs().max(hi.abs()));
    let floor = NoisePlan::vector(
        query.mechanism,
        Sensitivity { l0: g, linf },
        query.cost_nano_rho(),
    )?
    .expected_abs_error();
    let ratio = database_secs.map_or(String::new(), |d| {
        format!(" ({:.2}x the database path)", secs / d)
    });
    println!(
        "analytic round {round} {:<5} {secs:.3}s end to end on {}{ratio}, {} groups  MAE {mae:.3}  floor {floor:.3}  MAE/floor {:.3}  MAE vs raw {mae_raw:.3}  anonymous resident memory {rss:+.0} MiB",
        if is_sum { "sum" } else { "count" },
        match dataset.engine() {
            Engine::InProcess => "DataFusion in-process".to_string(),
            Engine::Plan => "DataFusion, one plan".to_string(),
            #[allow(unreachable_patterns)]
            other => format!("{other:?}"),
        },
        release.groups.len(),
        mae / floor
    );
    Ok(())
}
