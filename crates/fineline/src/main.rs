//! The `fineline` binary: the server and the command line. The only place
//! that uses `anyhow`; everything below returns typed errors.

mod cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "fineline",
    version,
    about = "Personalization with permission: consent, proofs, personal data rights, private insights."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server keeps its data: the embedded database and the key file in
/// `--data-dir`, or PostgreSQL when `--database-url` is given (the key
/// file stays in the data dir either way).
/// Which recommender `serve` and `train` fit.
#[derive(clap::Args, Clone)]
pub struct RecsArgs {
    /// `ease` (default): item-item cosine for similar items, EASE for
    /// people's lists; `cosine`: the neighbourhood model alone;
    /// `rp3beta[:ALPHA:BETA:K]`: RP3beta neighbours alone (default
    /// 0.5:0.3:100), the fastest to train that still beats the open peers
    /// (docs/benchmarks.md).
    #[arg(long, env = "FINELINE_RECS_MODEL", default_value = "ease", value_parser = parse_recs_model)]
    pub recs_model: fineline_recs::RecsConfig,
    /// Distinct consenting people who must have held a pair of items
    /// before it may show in a public answer (`GET /v1/items/{item}/similar`,
    /// non-personal recommendations), and an item before it may show as
    /// popular there (docs/security.md says why 10).
    #[arg(long, env = "FINELINE_RECS_PUBLIC_MIN_PEOPLE", default_value_t = fineline_recs::DEFAULT_MIN_SUPPORT,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub recs_public_min_people: u32,
}

impl RecsArgs {
    /// The recommender configuration these options ask for.
    pub fn config(&self) -> fineline_recs::RecsConfig {
        let mut config = self.recs_model;
        config.knn.min_support = self.recs_public_min_people;
        config
    }
}

fn parse_recs_model(text: &str) -> Result<fineline_recs::RecsConfig, String> {
    use fineline_recs::{Algorithm, KnnConfig, RecsConfig, Weighting};
    let neighbours_only = |knn: KnnConfig| RecsConfig {
        knn,
        ease: None,
        serve: Algorithm::Neighbours,
        ..RecsConfig::default()
    };
    let mut parts = text.split(':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("ease"), None, ..) => Ok(RecsConfig::default()),
        (Some("cosine"), None, ..) => Ok(neighbours_only(KnnConfig::default())),
        (Some("rp3beta"), None, ..) => Ok(neighbours_only(KnnConfig {
            neighbours: 100,
            weighting: Weighting::Rp3 {
                alpha: 0.5,
                beta: 0.3,
            },
            ..KnnConfig::default()
        })),
        (Some("rp3beta"), Some(a), Some(b), Some(k), None) => {
            let number = |s: &str, what: &str| -> Result<f64, String> {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && (0.0..=2.0).contains(v))
                    .ok_or_else(|| {
                        format!("rp3beta {what} must be a number from 0 to 2, not {s:?}")
                    })
            };
            let k = k
                .parse::<usize>()
                .ok()
                .filter(|k| (1..=1000).contains(k))
                .ok_or_else(|| {
                    format!("rp3beta K must be a whole number from 1 to 1000, not {k:?}")
                })?;
            Ok(neighbours_only(KnnConfig {
                neighbours: k,
                weighting: Weighting::Rp3 {
                    alpha: number(a, "ALPHA")?,
                    beta: number(b, "BETA")?,
                },
                ..KnnConfig::default()
            }))
        }
        _ => Err(format!(
            "expected ease, cosine, rp3beta or rp3beta:ALPHA:BETA:K, not {text:?}"
        )),
    }
}

#[derive(clap::Args, Clone)]
pub struct DatabaseArgs {
    #[arg(long, env = "FINELINE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "FINELINE_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    // Boxed: the server's flags outweigh every other command's.
    Serve(Box<cmd::serve::Args>),
    /// Train the recommender from the database, with a progress bar.
    Train(cmd::train::Args),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: cmd::keys::KeysCommand,
    },
    /// Issue subject tokens for the privacy center.
    Tokens {
        #[command(subcommand)]
        command: cmd::keys::TokensCommand,
    },
    /// Send events (NDJSON or CSV) to a running server, with progress.
    Import(cmd::import::Args),
    /// Write a synthetic shop's events as NDJSON (seeded, reproducible).
    DemoData(cmd::demo::Args),
    /// Check a consent receipt offline.
    Verify(cmd::verify::VerifyArgs),
    /// Check that a later tree head extends an earlier one.
    VerifyConsistency(cmd::verify::ConsistencyArgs),
    /// Differentially private queries against a server (analyst key).
    Insights {
        #[command(subcommand)]
        command: cmd::insights::InsightsCommand,
    },
    /// Back up or restore the database (without the per-person keys).
    Backup {
        #[command(subcommand)]
        command: cmd::backup::BackupCommand,
    },
    /// A device simulator for the persona (docs/persona.md): init,
    /// record, set-level SHOP N, approve, recommend, disclose, receipts.
    Persona(cmd::persona::Args),
    /// Print the OpenAPI document.
    Openapi,
    /// The Apache Ballista scheduler and executors that run insights
    /// queries for `serve --analytics-cluster` (built with `--features
    /// ballista`; scripts/ballista.sh starts a cluster on loopback).
    #[cfg(feature = "ballista")]
    Analytics {
        #[command(subcommand)]
        command: cmd::cluster::ClusterCommand,
    },
    /// Benchmarks that print the figures recorded in docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        command: cmd::bench::BenchCommand,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FINELINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // The cluster's processes run on a runtime of their own (deep stacks).
    let command = match cli.command {
        #[cfg(feature = "ballista")]
        Command::Analytics { command } => {
            return match cmd::cluster::run(command) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        other => other,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match command {
            Command::Serve(a) => cmd::serve::run(*a).await,
            Command::Train(a) => cmd::train::run(a).await,
            Command::Keys { command } => cmd::keys::run_keys(command).await,
            Command::Tokens { command } => cmd::keys::run_tokens(command).await,
            Command::Import(a) => cmd::import::run(a).await,
            Command::DemoData(a) => cmd::demo::run(a),
            Command::Verify(a) => cmd::verify::verify(a),
            Command::VerifyConsistency(a) => cmd::verify::consistency(a).await,
            Command::Openapi => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&fineline_server::openapi::document())?
                );
                Ok(())
            }
            Command::Insights { command } => cmd::insights::run(command).await,
            Command::Bench { command } => cmd::bench::run(command).await,
            Command::Backup { command } => cmd::backup::run(command).await,
            Command::Persona(a) => cmd::persona::run(a).await,
            #[cfg(feature = "ballista")]
            Command::Analytics { .. } => unreachable!("dispatched before the runtime starts"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
