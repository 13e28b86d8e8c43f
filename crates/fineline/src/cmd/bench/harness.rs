//! What every end-to-end benchmark starts from: the real server on a
//! loopback port over a fresh store, with an admin and an ingest key and
//! the demo policy published, so the timed part is only what it names.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fineline_core::{Role, Timestamp};
use fineline_db::Database;
use fineline_server::AppState;

/// A fresh store: a new SQLite file `name.db` in `dir`, or a new schema
/// on the PostgreSQL server at `url`.
pub async fn fresh_store(
    dir: &Path,
    url: Option<&str>,
    name: &str,
) -> anyhow::Result<Arc<dyn Database>> {
    Ok(match url {
        Some(url) => Arc::new(fineline_db::PostgresDatabase::open_isolated(url).await?),
        None => Arc::new(fineline_db::SqliteDatabase::open(&dir.join(format!("{name}.db"))).await?),
    })
}

pub fn backend_name(url: Option<&str>) -> &'static str {
    if url.is_some() {
        "postgresql"
    } else {
        "embedded (SQLite)"
    }
}

pub struct BenchServer {
    pub state: AppState,
    pub base: String,
    pub admin: String,
    pub ingest: String,
    pub http: reqwest::Client,
    /// The embedded store itself (None on PostgreSQL), for figures only it
    /// keeps, such as the WAL pages an erasure writes.
    pub sqlite: Option<fineline_db::SqliteDatabase>,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchServer {
    /// Start on a fresh store; the vault lives in `dir`. `configure` runs
    /// before the server starts serving (e.g. to turn scheduled training off).
    pub async fn start(
        dir: &Path,
        url: Option<&str>,
        configure: impl FnOnce(&AppState),
    ) -> anyhow::Result<Self> {
        let (store, sqlite): (Arc<dyn Database>, _) = match url {
            Some(_) => (fresh_store(dir, url, "fineline").await?, None),
            None => {
                let s = fineline_db::SqliteDatabase::open(&dir.join("fineline.db")).await?;
                (Arc::new(s.clone()), Some(s))
            }
        };
        let vault = fineline_vault::Vault::open_or_create(dir)?;
        let state = AppState::load(store, vault).await?;
        configure(&state);
        let admin = fineline_app::api_keys::create_key(state.database(), Role::Admin).await?;
        let ingest = fineline_app::api_keys::create_key(state.database(), Role::Ingest).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(fineline_server::serve_on(state.clone(), listener, async {
            let _ = stop_rx.await;
        }));
        let http = reqwest::Client::new();
        http.post(format!("{base}/v1/policy"))
            .bearer_auth(&admin)
            .json(&fineline_consent::demo_policy(1, Timestamp::now()))
            .send()
            .await?
            .error_for_status()?;
        Ok(Self {
            state,
            base,
            admin,
            ingest,
            http,
            sqlite,
            stop,
            server,
        })
    }

    /// Shut down gracefully, as `serve` does on SIGTERM.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        Ok(self.server.await??)
    }
}

/// The `q` quantile of sorted latencies, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Anonymous resident memory of this process now (RssAnon: not the files
/// it maps, such as a database a scan reads), in MiB.
pub fn anon_rss_mib() -> f64 {
    status_mib("RssAnon:")
}

/// A `kB` field of /proc/self/status in MiB (NaN where there is none).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}
