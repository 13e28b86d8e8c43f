//! `fineline bench ...`: each prints the figures docs/benchmarks.md records.

mod erasure;
mod fleet;
mod harness;
mod ingest;
mod load;
mod numbers;
mod recs;
mod recs_serving;
mod tally;

pub use harness::{anon_rss_mib, peak_rss_mib};

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Events/s through the HTTP batch API (consent checks on) vs a bare bulk insert.
    Ingest(ingest::Args),
    /// Erasure latency among 1M events and export latency for 10k events.
    Erasure(erasure::Args),
    /// Sightings/s through ingestion + sessionization (engine, or with --http the real route end to end).
    Footfall(crate::cmd::sightings::BenchArgs),
    /// Grouped DP count/sum over synthetic events in the database: latency, MAE vs the floor.
    Insights(crate::cmd::insights::BenchArgs),
    /// Recommendation quality vs implicit's peers (runs bench/recs.sh).
    Recs(recs::Args),
    /// p50/p99 of GET recommendations over loopback on a trained server.
    RecsServing(recs_serving::Args),
    /// Analytic numbers of everyone consenting after a start: a key lookup each vs one walk of the key store.
    Numbers(numbers::Args),
    /// Open-loop mixed traffic at a fixed rate (default 5,000 req/s, 60 s): latency per route class.
    Load(load::Args),
    /// Ledger appends/s (signing every N) and proof latency at a given size.
    Ledger {
        #[arg(long, default_value_t = 10_000_000)]
        leaves: u64,
        #[arg(long, default_value_t = 1_000)]
        sign_every: u64,
    },
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(a) => ingest::run(a).await,
        BenchCommand::Erasure(a) => erasure::run(a).await,
        BenchCommand::Footfall(a) => crate::cmd::sightings::bench(a).await,
        BenchCommand::Insights(a) => crate::cmd::insights::bench(a).await,
        BenchCommand::Recs(a) => recs::run(a).await,
        BenchCommand::RecsServing(a) => recs_serving::run(a).await,
        BenchCommand::Load(a) => load::run(a).await,
        BenchCommand::Numbers(a) => numbers::run(a).await,
        BenchCommand::Ledger { leaves, sign_every } => {
            let config = fineline_ledger::bench::BenchConfig {
                leaves,
                sign_every,
                ..Default::default()
            };
            let report =
                tokio::task::spawn_blocking(move || fineline_ledger::bench::run(&config)).await?;
            println!("{report}");
            Ok(())
        }
    }
}
