//! `fineline insights query FILE.json` (a DP query against a server, printed
//! as a table) and `fineline bench insights` (grouped count/sum over
//! synthetic events stored in the embedded database or PostgreSQL).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use fineline_app::insights_data::{rows_from_facts, scan_for, Admitted};
use fineline_core::{EventKind, ItemId, Purpose, Timestamp};
use fineline_db::{InsightEventRow, ItemRow, NewEvent, WriteOp, WriteSet};
use fineline_insights::bench::{generate, grouped_query, Spec, Synthetic};
use fineline_insights::{Bounds, Metric, Plan, RowSet};
use serde_json::Value;

use crate::cmd::bench::{anon_rss_mib, peak_rss_mib};

#[derive(clap::Subcommand)]
pub enum InsightsCommand {
    /// Post a query file (the JSON of POST /v1/insights/query) and print the release.
    Query(QueryArgs),
}

#[derive(clap::Args)]
pub struct QueryArgs {
    /// Query file, e.g. {"metric":{"kind":"count"},"event_types":["app_open"],"group_by":[{"kind":"region"}]}
    pub file: PathBuf,
    #[arg(long, env = "FINELINE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An analyst (or admin) API key.
    #[arg(long, env = "FINELINE_KEY")]
    pub key: String,
}

pub async fn run(cmd: InsightsCommand) -> anyhow::Result<()> {
    match cmd {
        InsightsCommand::Query(a) => query(a).await,
    }
}

async fn query(a: QueryArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    let body: Value = serde_json::from_str(&text).context("the query file is not JSON")?;
    let url = format!("{}/v1/insights/query", a.server.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&a.key)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let out: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let e = &out["error"];
        let field = e["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        let mut msg = format!("{status}: {}{field}", e["message"].as_str().unwrap_or(""));
        if let Some(left) = e["detail"]["remaining"]["remaining_nano_rho"].as_u64() {
            msg.push_str(&format!("; remaining budget {left} nano-rho"));
        }
        anyhow::bail!(msg);
    }
    print!("{}", table(&out));
    Ok(())
}

/// The release as an aligned text table, with its privacy figures below.
pub fn table(out: &Value) -> String {
    let groups = out["groups"].as_array().cloned().unwrap_or_default();
    let mut dims: Vec<String> = Vec::new();
    for g in &groups {
        if let Some(k) = g["key"].as_object() {
            for name in k.keys() {
                if !dims.contains(name) {
                    dims.push(name.clone());
                }
            }
        }
    }
    let has_bins = groups.iter().any(|g| g.get("bin").is_some());
    let mut header: Vec<String> = dims.clone();
    if has_bins {
        header.push("bin".into());
    }
    header.extend(["value", "±95%", "noise scale"].map(String::from));
    let mut rows = vec![header];
    for g in &groups {
        let mut r: Vec<String> = dims
            .iter()
            .map(|d| match &g["key"][d] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            })
            .collect();
        if has_bins {
            r.push(format!("{}..={}", g["bin"]["lower"], g["bin"]["upper"]));
        }
        let v = g["value"].as_f64().unwrap_or(0.0);
        let hi = g["ci95"][1].as_f64().unwrap_or(v);
        r.push(format!("{v:.1}"));
        r.push(format!("{:.1}", hi - v));
        r.push(format!("{:.2}", g["noise_scale"].as_f64().unwrap_or(0.0)));
        rows.push(r);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        s.push_str(cells.join("  ").trim_end());
        s.push('\n');
    }
    let p = &out["privacy"];
    s.push_str(&format!(
        "{} groups; cost {} nano-rho (rho {}, epsilon {:.4}, delta {:e}); {} left this period\n",
        groups.len(),
        out["cost"]["nano_rho"],
        p["rho"],
        p["epsilon"].as_f64().unwrap_or(0.0),
        p["delta"].as_f64().unwrap_or(0.0),
        out["budget"]["remaining_nano_rho"],
    ));
    s
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Synthetic events (app opens by category and region).
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: usize,
    /// People; rows / 10 if absent.
    #[arg(long)]
    pub people: Option<u32>,
    #[arg(long, default_value_t = 1.0)]
    pub epsilon: f64,
    /// Noise redraws for the error figure.
    #[arg(long, default_value_t = 20)]
    pub repeats: usize,
    /// Run on PostgreSQL (a fresh schema, dropped afterwards) instead of the embedded database.
    #[arg(long, env = "FINELINE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Also write the same rows to an analytic dataset (Parquet in a
    /// temporary directory, as `serve --analytics` keeps it) and answer each
    /// query there on DataFusion, in the same run.
    #[arg(long)]
    pub analytics: bool,
    /// Only the analytic dataset: no database is loaded (for sizes the
    /// database path would take hours to load).
    #[arg(long, requires = "analytics")]
    pub analytics_only: bool,
    /// Where to write the analytic dataset, kept afterwards (e.g. for
    /// scripts/pipelinedp-crosscheck.py); a temporary directory if absent.
    #[arg(long, requires = "analytics")]
    pub analytics_dir: Option<std::path::PathBuf>,
    /// Where the dataset's queries run, each in the same run: `in-process`
    /// (DataFusion per bucket, bounding in Rust), `plan` (the cluster's one
    /// plan, run in this process) and `ballista://HOST:PORT` (a cluster
    /// started over --analytics-dir; needs the `ballista` feature).
    #[arg(
        long,
        requires = "analytics",
        value_delimiter = ',',
        default_value = "in-process"
    )]
    pub analytics_engines: Vec<String>,
}

const BATCH: usize = 20_000;

async fn load(database: &dyn fineline_db::Database, syn: &Synthetic) -> anyhow::Result<()> {
    for c in 0..syn.spec.categories {
        database
            .put_item(ItemRow {
                item: ItemId::new(&format!("app{c}"))?,
                category: Synthetic::category_name(c),
                title: format!("app {c}"),
                repeatable: true,
            })
            .await?;
    }
    let kind = EventKind::new("app_open")?;
    let items: Vec<ItemId> = (0..syn.spec.categories)
        .map(|c| ItemId::new(&format!("app{c}")))
        .collect::<Result<_, _>>()?;
    let regions: Vec<String> = (0..syn.spec.regions).map(Synthetic::region_name).collect();
    let base = Timestamp::now().0 - 86_400_000;
    let n = syn.subject.len();
    let bar = indicatif::ProgressBar::new(n as u64);
    for start in (0..n).step_by(BATCH) {
        let end = (start + BATCH).min(n);
        let mut events = Vec::with_capacity(end - start);
        let mut facts = Vec::with_capacity(end - start);
        for i in start..end {
            let subject = Synthetic::pseudonym(syn.subject[i]);
            let at = Timestamp(base + i as i64);
            let item = items[syn.category[i] as usize].clone();
            facts.push(InsightEventRow {
                event: i - start,
                subject,
                kind: "app_open".into(),
                at,
                item: Some(item.clone()),
                region: Some(regions[syn.region[i] as usize].clone()),
                h3_cell: None,
                value: Some(syn.value[i]),
            });
            events.push(NewEvent {
                subject,
                kind: kind.clone(),
                item: Some(item),
                purpose: Purpose::Analytics,
                at,
                sealed_properties: Vec::new(),
            });
        }
        database
            .apply(WriteSet::from(vec![
                WriteOp::PutEvents(events),
                WriteOp::PutInsightEvents(facts),
            ]))
            .await?;
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

pub async fn bench(a: BenchArgs) -> anyhow::Result<()> {
    let spec = Spec {
        rows: a.rows,
        people: a.people.unwrap_or((a.rows / 10).max(1) as u32),
        ..Spec::default()
    };
    let syn = generate(spec);
    let dir = tempfile::tempdir()?;
    let analytics_dir = a
        .analytics_dir
        .clone()
        .unwrap_or_else(|| dir.path().join("analytics"));
    let engines = a
        .analytics_engines
        .iter()
        .map(|e| crate::cmd::insights_analytics::engine(e))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if a.analytics_only {
        let dataset = crate::cmd::insights_analytics::write(&syn, &analytics_dir).await?;
        let dataset = std::sync::Arc::new(dataset);
        for round in [1, 2] {
            for metric in [
                Metric::Count,
                Metric::Sum {
                    lower: Some(0),
                    upper: Some(100),
                },
            ] {
                let q = grouped_query(metric, a.epsilon, Bounds::default());
                for engine in &engines {
                    let on = dataset.reopen(engine.clone()).await?;
                    crate::cmd::insights_analytics::round(&on, &syn, &q, a.repeats, round, None)
                        .await?;
                }
            }
        }
        println!("peak RSS {:.0} MiB", peak_rss_mib());
        return Ok(());
    }
    let (database, pg): (std::sync::Arc<dyn fineline_db::Database>, _) = match &a.database_url {
        Some(url) => {
            let s = fineline_db::PostgresDatabase::open_isolated(url).await?;
            (std::sync::Arc::new(s.clone()), Some(s))
        }
        None => (
            std::sync::Arc::new(
                fineline_db::SqliteDatabase::open(dir.path().join("fineline.db")).await?,
            ),
            None,
        ),
    };
    let backend = if pg.is_some() {
        "postgresql"
    } else {
        "embedded"
    };
    let t = Instant::now();
    load(database.as_ref(), &syn).await?;
    println!(
        "{backend}: stored {} events of {} people in {:.1}s; epsilon {} (discrete Laplace), bounds {:?}",
        spec.rows,
        spec.people,
        t.elapsed().as_secs_f64(),
        a.epsilon,
        Bounds::default()
    );
    let metrics = [
        Metric::Count,
        Metric::Sum {
            lower: Some(0),
            upper: Some(100),
        },
    ];
    // The server does this at start and after each retention sweep: on
    // the embedded database it fills the in-memory copy of the analytic rows.
    let (t, cpu0, rss0) = (Instant::now(), cpu_seconds(), anon_rss_mib());
    database.prepare_insight_facts().await?;
    println!(
        "{backend}: prepared for insights in {:.3}s (CPU {:.2}s), anonymous resident memory {:+.0} MiB",
        t.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
        anon_rss_mib() - rss0
    );
    let dataset = if a.analytics {
        Some(crate::cmd::insights_analytics::write(&syn, &analytics_dir).await?)
    } else {
        None
    };
    for (round, metric) in [1, 2]
        .into_iter()
        .flat_map(|r| metrics.clone().map(|m| (r, m)))
    {
        let q = grouped_query(metric, a.epsilon, Bounds::default());
        let (t, cpu0) = (Instant::now(), cpu_seconds());
        let facts = database.insight_facts(scan_for(&q)).await?;
        let (sql, sql_cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let (q2, facts_len, declared) = (q.clone(), facts.facts.len(), syn.declared());
        let (rows, groups) = tokio::task::spawn_blocking(move || {
            // Every public key registered up front, as the error check expects.
            let mut rows = RowSet::with_capacity(facts.facts.len(), 1024);
            for k in declared.public_keys(&q2.group_by).unwrap_or_default() {
                rows.key_id(&k);
            }
            // Everyone consents here; the route checks each person once
            // (two consent-index lookups, ~22 ns each).
            let admitted = vec![
                Admitted {
                    insights: true,
                    location: true
                };
                facts.people.len()
            ];
            let rows = rows_from_facts(&facts, &q2, rows, &admitted);
            // Floor 0, as `bench::run`: the figures compare the mechanism on every group.
            let plan = Plan::new(&q2, &declared, 0)?;
            let release = plan.run(&rows, 7)?;
            anyhow::Ok((rows, release.groups.len()))
        })
        .await??;
        let (total, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let o = fineline_insights::bench::run(&syn, &rows, &q, a.repeats, 7)?;
        println!(
            "{backend} round {round} {:<5} {total:.3}s end to end (SQL {sql:.3}s; CPU {cpu:.2}s, SQL {sql_cpu:.2}s), {facts_len} facts → {} rows, {groups} groups  MAE {:.3}  floor {:.3}  MAE/floor {:.3}",
            o.metric,
            rows.len(),
            o.mae,
            o.floor,
            o.mae / o.floor
        );
        if let Some(dataset) = &dataset {
            for engine in &engines {
                let on = dataset.reopen(engine.clone()).await?;
                crate::cmd::insights_analytics::round(&on, &syn, &q, a.repeats, round, Some(total))
                    .await?;
            }
        }
    }
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    if let Some(pg) = pg {
        pg.drop_isolated().await?;
    }
    Ok(())
}

/// CPU seconds this process has used, all threads (Linux; 0 elsewhere):
/// what a query costs when builds share the machine and wall time lies.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command: state, ppid, ..., utime (14th), stime (15th).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_prints_as_an_aligned_table_with_its_privacy_figures() {
        let out = serde_json::json!({
            "groups": [
                {"key": {"region": "north"}, "value": 101.4, "noise_scale": 2.0, "ci95": [97.0, 105.8]},
                {"key": {"region": "south-west"}, "value": 7.0, "noise_scale": 2.0, "ci95": [2.6, 11.4]}
            ],
            "cost": {"nano_rho": 10000000}, "privacy": {"rho": 0.01, "epsilon": 0.53, "delta": 1e-6},
            "budget": {"remaining_nano_rho": 90000000}
        });
        let t = table(&out);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "    region  value  ±95%  noise scale");
        assert_eq!(lines[1], "     north  101.4   4.4         2.00");
        assert!(lines[3].contains("epsilon 0.5300") && lines[3].contains("90000000 left"));
    }
}
