//! What every end-to-end benchmark starts from: the real server on a
//! loopback port over a fresh database, with an admin and an ingest key and
//! the demo policy published, so the timed part is only what it names.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fineline_core::Timestamp;
use fineline_db::Database;
use fineline_server::loopback::Loopback;
use fineline_server::AppState;

pub use fineline_server::loopback::fresh_database;

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
    /// The embedded database itself (None on PostgreSQL), for figures only
    /// it keeps, such as the WAL pages an erasure writes.
    pub sqlite: Option<fineline_db::SqliteDatabase>,
    server: Loopback,
}

impl BenchServer {
    /// Start on a fresh database; the vault lives in `dir`. `configure` runs
    /// before the server starts serving (e.g. to turn scheduled training off).
    pub async fn start(
        dir: &Path,
        url: Option<&str>,
        configure: impl FnOnce(&AppState),
    ) -> anyhow::Result<Self> {
        let (database, sqlite): (Arc<dyn Database>, _) = match url {
            Some(_) => (fresh_database(dir, url, "fineline").await?, None),
            None => {
                let s = fineline_db::SqliteDatabase::open(&dir.join("fineline.db")).await?;
                (Arc::new(s.clone()), Some(s))
            }
        };
        let server = Loopback::start(database, dir, configure).await?;
        let http = reqwest::Client::new();
        http.post(format!("{}/v1/policy", server.base))
            .bearer_auth(&server.admin)
            .json(&fineline_consent::demo_policy(1, Timestamp::now()))
            .send()
            .await?
            .error_for_status()?;
        Ok(Self {
            state: server.state.clone(),
            base: server.base.clone(),
            admin: server.admin.clone(),
            ingest: server.ingest.clone(),
            http,
            sqlite,
            server,
        })
    }

    /// Shut down gracefully, as `serve` does on SIGTERM.
    pub async fn stop(self) -> anyhow::Result<()> {
        Ok(self.server.stop().await?)
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
