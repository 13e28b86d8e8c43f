//! Running [`crate::plan`]'s plan on an Apache Ballista cluster.
//!
//! The client side only: a session whose query planner sends the logical
//! plan to the scheduler. The scheduler and executors are processes of the
//! fineline binary (`fineline analytics scheduler|executor`, built with the
//! `ballista` feature) that register [`crate::functions`] and open the
//! dataset's store from the same location, through [`session_state`] and
//! [`runtime`] here, so every process resolves the plan's functions and
//! its `fineline-analytics://store` URL alike.
//!
//! Known gaps of the engine (Ballista 55), and what fineline does:
//! - A job whose shuffle fetch fails is not rerun, and a job whose
//!   executors all died waits forever for one to come back. Each query
//!   here has a deadline (`Engine::Ballista`'s, [`DEFAULT_DEADLINE`] unless
//!   set): past it the query fails with [`crate::AnalyticsError::Cluster`],
//!   nothing is released and no budget is charged (fineline charges after
//!   the answer).

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::SessionContextExt;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;

use crate::dataset::STORE_URL;
use crate::{AnalyticsError, Result};

/// How long a query may take on the cluster before fineline gives up on
/// it, unless the deployment says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(300);

/// A runtime that resolves the dataset's URL to `store`: for the client,
/// the scheduler (which lists the partitions) and each executor (which
/// reads them). `temp` is where spilled sorts go.
pub fn runtime(
    store: Arc<dyn ObjectStore>,
    temp: Option<&str>,
) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new();
    if let Some(dir) = temp {
        b = b.with_temp_file_path(dir);
    }
    let env = b.build()?;
    let url = ObjectStoreUrl::parse(STORE_URL)?;
    env.register_object_store(url.as_ref(), store);
    Ok(Arc::new(env))
}

/// A session state with Ballista's functions, fineline's and the
/// dataset's store: what the scheduler plans each job in.
pub fn session_state(
    config: SessionConfig,
    store: Arc<dyn ObjectStore>,
) -> datafusion::error::Result<datafusion::execution::SessionState> {
    use ballista_core::extension::{
        ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
    };
    let mut scalars = ballista_scalar_functions();
    scalars.extend(crate::functions().into_iter().map(Arc::new));
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime(store, None)?)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(scalars)
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

/// A session whose queries run on the cluster at `url`
/// (`ballista://HOST:PORT`).
pub(crate) async fn connect(url: &str, store: Arc<dyn ObjectStore>) -> Result<SessionContext> {
    use ballista::prelude::SessionConfigExt;
    // Ballista 55's adaptive planner (on by default) never finishes an
    // ungrouped aggregate over a join here: one such job over three small
    // files ran 67,000 tasks in two minutes and was still planning stages
    // (scripts/ballista.sh, 2026-12-07). The static planner runs it at once.
    let config = SessionConfig::new_with_ballista().with_ballista_adaptive_query_planner(false);
    let state = session_state(config, store)?;
    Ok(SessionContext::remote_with_state(url, state).await?)
}

/// `fut` with the cluster's deadline.
pub(crate) async fn within_deadline<T>(
    deadline: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(r) => r.map_err(|e| match e {
            AnalyticsError::DataFusion(e) => AnalyticsError::Cluster(e.to_string()),
            other => other,
        }),
        Err(_) => Err(AnalyticsError::Cluster(format!(
            "no answer within {:.1} s (executors lost, or a failed shuffle fetch, which the \
             engine does not rerun)",
            deadline.as_secs_f64()
        ))),
    }
}
