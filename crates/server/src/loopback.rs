//! A real server on a loopback port, started the way `serve` starts one:
//! the one harness the integration tests (`tests/common`) and the
//! end-to-end benchmarks (`fineline bench`) build on, so neither drifts
//! from the other or from the binary.

use std::path::Path;
use std::sync::Arc;

use fineline_app::AppError;
use fineline_core::Role;
use fineline_db::{Database, PostgresDatabase, SqliteDatabase};

use crate::AppState;

/// A fresh database: a new SQLite file `name.db` in `dir`, or a new schema
/// (dropped by nobody: tests run in `fl_test_*` schemas the test script
/// clears) on the PostgreSQL server at `url`.
pub async fn fresh_database(
    dir: &Path,
    url: Option<&str>,
    name: &str,
) -> Result<Arc<dyn Database>, AppError> {
    Ok(match url {
        Some(url) => Arc::new(PostgresDatabase::open_isolated(url).await?),
        None => Arc::new(SqliteDatabase::open(&dir.join(format!("{name}.db"))).await?),
    })
}

/// A server serving on `127.0.0.1:<free port>` with an admin, an ingest
/// and an analyst key. Dropping it stops the server; [`Loopback::stop`]
/// also waits for the graceful shutdown to finish.
pub struct Loopback {
    /// The application the server runs, for white-box checks.
    pub state: AppState,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An admin key.
    pub admin: String,
    /// An ingest key.
    pub ingest: String,
    /// An analyst key.
    pub analyst: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Loopback {
    /// Load the application over `database` with its vault in `vault_dir`,
    /// run `configure` on it before it serves (e.g. to turn scheduled
    /// training off), and start serving.
    pub async fn start(
        database: Arc<dyn Database>,
        vault_dir: &Path,
        configure: impl FnOnce(&AppState),
    ) -> Result<Loopback, AppError> {
        let vault = fineline_vault::Vault::open_or_create(vault_dir)?;
        let state = AppState::load(database, vault).await?;
        configure(&state);
        let admin = state.create_api_key(Role::Admin).await?;
        let ingest = state.create_api_key(Role::Ingest).await?;
        let analyst = state.create_api_key(Role::Analyst).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(AppError::internal)?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(AppError::internal)?
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve_on(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        Ok(Loopback {
            state,
            base,
            admin,
            ingest,
            analyst,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// Shut down gracefully, as `serve` does on SIGTERM, and wait for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
