//! `fineline analytics scheduler|executor`: Apache Ballista's scheduler and
//! executor processes with fineline's functions and the analytic dataset's
//! store registered, so they can run the plan `serve --analytics-cluster`
//! sends (crates/analytics/src/plan.rs). Stock Ballista binaries cannot:
//! they know neither the `fl_*` functions nor the dataset's URL.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

/// The engine cluster's processes.
#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// A Ballista scheduler: plans each job and hands its tasks out.
    Scheduler {
        /// The dataset's location, as `serve --analytics` has it.
        #[arg(long, env = "FINELINE_ANALYTICS")]
        analytics: String,
        /// Address the executors and fineline servers connect to.
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: SocketAddr,
    },
    /// A Ballista executor: runs tasks, keeps shuffle output in its work
    /// directory and serves it to the others over Arrow Flight.
    Executor {
        /// The dataset's location, as `serve --analytics` has it.
        #[arg(long, env = "FINELINE_ANALYTICS")]
        analytics: String,
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Host the executor binds and advertises.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Arrow Flight port (shuffle reads).
        #[arg(long, default_value_t = 50051)]
        flight_port: u16,
        /// gRPC port (tasks pushed by the scheduler).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Partitions run at once (default: this machine's cores).
        #[arg(long)]
        vcores: Option<usize>,
        /// Where shuffle files and spills go (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

/// Runs the process until it is stopped. Both decode plans recursively, so
/// they run on a runtime with deep stacks, as Ballista's own binaries do.
pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        match command {
            ClusterCommand::Scheduler { analytics, listen } => scheduler(&analytics, listen).await,
            ClusterCommand::Executor {
                analytics,
                scheduler,
                host,
                flight_port,
                grpc_port,
                vcores,
                work_dir,
            } => {
                let (scheduler_host, scheduler_port) = scheduler
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                    .context("--scheduler: expected HOST:PORT")?;
                let store = fineline_analytics::store_at(&analytics)
                    .map_err(|e| anyhow::anyhow!("--analytics: {e}"))?;
                let mut registry = BallistaFunctionRegistry::default();
                for f in fineline_analytics::functions() {
                    registry
                        .scalar_functions
                        .insert(f.name().to_string(), Arc::new(f));
                }
                let temp = work_dir.clone();
                let mut config = ExecutorProcessConfig {
                    bind_host: host.clone(),
                    external_host: Some(host),
                    port: flight_port,
                    grpc_port,
                    scheduler_host,
                    scheduler_port,
                    work_dir,
                    override_function_registry: Some(Arc::new(registry)),
                    override_runtime_producer: Some(Arc::new(move |_| {
                        fineline_analytics::cluster::runtime(store.clone(), temp.as_deref())
                    })),
                    ..ExecutorProcessConfig::default()
                };
                if let Some(v) = vcores {
                    config.vcores = v;
                }
                start_executor_process(Arc::new(config))
                    .await
                    .map_err(|e| anyhow::anyhow!("executor: {e}"))
            }
        }
    })
}

async fn scheduler(analytics: &str, listen: SocketAddr) -> anyhow::Result<()> {
    let store =
        fineline_analytics::store_at(analytics).map_err(|e| anyhow::anyhow!("--analytics: {e}"))?;
    let config = SchedulerConfig {
        bind_host: listen.ip().to_string(),
        bind_port: listen.port(),
        external_host: listen.ip().to_string(),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(move |config| {
        fineline_analytics::cluster::session_state(config, store.clone())
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow::anyhow!("scheduler: {e}"))?;
    start_server(cluster, listen, Arc::new(config))
        .await
        .map_err(|e| anyhow::anyhow!("scheduler: {e}"))
}
