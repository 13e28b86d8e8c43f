//! `fineline import`: stream a file of events to a running server in
//! batches, with a progress bar, and report refusals by reason.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct Args {
    /// NDJSON (one event per line) or CSV (header: subject_id,type,item,timestamp,purpose).
    pub file: PathBuf,
    #[arg(long, env = "FINELINE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An ingest API key.
    #[arg(long, env = "FINELINE_KEY")]
    pub key: String,
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// What the file holds.
    #[arg(long, value_enum, default_value = "events")]
    pub kind: Kind,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Events,
    /// CSV with header sensor_id,mac,rssi,timestamp; batches up to 50,000.
    Sightings,
}

/// Read the file into wire-format JSON values, naming the line of any
/// that cannot be read.
fn read_records(path: &PathBuf) -> anyhow::Result<Vec<serde_json::Value>> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let mut out = Vec::new();
    if is_csv {
        let mut rdr = csv::Reader::from_path(path)?;
        let headers = rdr.headers()?.clone();
        for (i, rec) in rdr.records().enumerate() {
            let rec =
                rec.map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 2))?;
            let mut obj = serde_json::Map::new();
            for (h, v) in headers.iter().zip(rec.iter()) {
                if v.is_empty() {
                    continue;
                }
                let value = match h {
                    "timestamp" => v
                        .parse::<i64>()
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| v.into()),
                    "properties" => serde_json::from_str(v).map_err(|e| {
                        anyhow::anyhow!("{}: line {}: properties: {e}", path.display(), i + 2)
                    })?,
                    _ => v.into(),
                };
                obj.insert(h.to_string(), value);
            }
            out.push(serde_json::Value::Object(obj));
        }
    } else {
        let f = std::io::BufReader::new(std::fs::File::open(path)?);
        for (i, line) in f.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            out.push(
                serde_json::from_str(&line)
                    .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 1))?,
            );
        }
    }
    Ok(out)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.kind == Kind::Sightings {
        return super::sightings::import(&args.file, &args.server, &args.key, args.batch).await;
    }
    anyhow::ensure!(
        (1..=10_000).contains(&args.batch),
        "--batch must be 1..=10000"
    );
    let records = read_records(&args.file)?;
    let bar = ProgressBar::new(records.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
    )?);
    let http = reqwest::Client::new();
    let mut accepted = 0u64;
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    for chunk in records.chunks(args.batch) {
        let resp = http
            .post(format!("{}/v1/events", args.server.trim_end_matches('/')))
            .bearer_auth(&args.key)
            .json(chunk)
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        anyhow::ensure!(
            status.is_success(),
            "server refused the batch ({status}): {body}"
        );
        accepted += body["accepted"].as_u64().unwrap_or(0);
        for r in body["rejected"].as_array().into_iter().flatten() {
            *refused
                .entry(r["reason"].as_str().unwrap_or("unknown").to_string())
                .or_default() += 1;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    println!("accepted {accepted} of {} events", records.len());
    for (reason, n) in refused {
        println!("  refused {n}: {reason}");
    }
    Ok(())
}
