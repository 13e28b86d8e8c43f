//! Reads a hot standby serves (`serve --read-database-url`), never staler
//! than the request.
//!
//! A PostgreSQL standby replays the primary's write-ahead log a little
//! behind it. A read sent there must not miss what the primary had
//! already acknowledged (a person's erasure, a withdrawal, a deleted
//! event), so it is gated on log positions, not on a lag allowance:
//!
//! 1. [`App::standby_since`] reads the primary's write position when the
//!    request starts: every write acknowledged before it, by any replica,
//!    ends at or before that position (with `synchronous_commit` on, the
//!    default: a commit is acknowledged once its record is flushed);
//! 2. the use case does what must happen on the primary (the read's own
//!    ledger entry, invariant 3);
//! 3. [`App::standby_reader`] hands out the standby only once its replayed
//!    position has reached the first one, waiting at most
//!    [`STANDBY_WAIT`] (configurable); otherwise (behind, unreachable, promoted) the
//!    primary serves the read. A read that fails on the standby (a query
//!    cancelled by replay) is done again on the primary.
//!
//! So a read from the standby sees at least what a read from the primary
//! at the request's start would have seen; its staleness bound is zero
//! writes acknowledged before the request. The standby only takes load.
//!
//! Which reads go there is decided per use case: a person's export and
//! summary (whole histories, the heaviest personal reads) and the rows an
//! insights query scans. Nothing that writes or decides (consent checks,
//! ledger appends, budgets, footfall publication) reads the standby.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fineline_db::Database;

use crate::{App, AppError};

/// How long a read waits by default for the standby to replay up to the
/// request's start before the primary serves it (`serve
/// --read-database-wait-ms`).
pub const STANDBY_WAIT: Duration = Duration::from_millis(100);

/// After the standby fails to answer, how long reads skip it (so a
/// standby that is down costs one slow read, not every read).
const SKIP_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Where the reads a standby may serve went, by outcome.
#[derive(Debug, Default)]
struct Counts {
    standby: AtomicU64,
    behind: AtomicU64,
    unreachable: AtomicU64,
    not_standby: AtomicU64,
    failed: AtomicU64,
}

/// A hot standby and what this process counted about it.
pub(crate) struct Standby {
    database: Arc<dyn Database>,
    /// How long a read waits for the standby to catch up.
    wait: Duration,
    counts: Counts,
    started: Instant,
    /// Milliseconds after `started` until which reads skip the standby.
    skip_until_ms: AtomicU64,
}

/// The position on the primary a gated read must see; from
/// [`App::standby_since`].
#[derive(Debug, Clone, Copy)]
pub struct Since(Option<u64>);

/// Where a gated read is served from.
pub struct Reader {
    database: Arc<dyn Database>,
    on_standby: bool,
}

impl Reader {
    /// The database to read from.
    pub fn database(&self) -> &dyn Database {
        self.database.as_ref()
    }

    /// Whether that is the standby (a failure there is retried on the
    /// primary with [`App::standby_failed`]).
    pub fn on_standby(&self) -> bool {
        self.on_standby
    }
}

/// The standby's state as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandbyLag {
    /// Bytes of log the primary has written and the standby not replayed.
    pub bytes: u64,
    /// How long ago the primary committed the last transaction the
    /// standby replayed, when it has more to replay; 0 when caught up.
    pub seconds: f64,
}

impl App {
    /// Serve the reads that may go to a standby from `standby`, a hot
    /// standby of this app's PostgreSQL database. Refused on the embedded
    /// database, twice, or when `standby` answers and is not a standby; a
    /// standby that does not answer yet is accepted (reads go to the
    /// primary until it does). A read waits at most `wait` for the
    /// standby to catch up ([`STANDBY_WAIT`] is the default).
    pub async fn set_standby(
        &self,
        standby: Arc<dyn Database>,
        wait: Duration,
    ) -> Result<(), AppError> {
        if !self.database().shared() {
            return Err(AppError::bad_request(
                "a read standby needs a PostgreSQL primary (--database-url)",
            ));
        }
        match standby.wal_position().await {
            Ok(Some(p)) if !p.standby => {
                return Err(AppError::bad_request(
                    "the read database is not a hot standby (pg_is_in_recovery() is false)",
                ))
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "the read standby does not answer yet: reads go to the primary until it does"
            ),
        }
        let standby = Standby {
            database: standby,
            wait,
            counts: Counts::default(),
            started: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
        };
        self.standby
            .set(standby)
            .map_err(|_| AppError::bad_request("a read standby is already set"))
    }

    /// The primary's write position now, if a standby may serve reads:
    /// call when a gated read's request starts, before its ledger entry.
    pub async fn standby_since(&self) -> Since {
        if self.standby.get().is_none() {
            return Since(None);
        }
        match self.database().wal_position().await {
            Ok(p) => Since(p.map(|p| p.lsn)),
            Err(e) => {
                tracing::warn!(error = %e, "primary log position unknown: reading the primary");
                Since(None)
            }
        }
    }

    /// The standby if it has replayed everything up to `since` within the
    /// wait set with [`App::set_standby`], else the primary; counted
    /// either way.
    pub async fn standby_reader(&self, since: Since) -> Reader {
        let primary = Reader {
            database: self.database.clone(),
            on_standby: false,
        };
        let (Some(s), Some(target)) = (self.standby.get(), since.0) else {
            return primary;
        };
        let now_ms = s.started.elapsed().as_millis() as u64;
        if now_ms < s.skip_until_ms.load(Ordering::Relaxed) {
            s.counts.unreachable.fetch_add(1, Ordering::Relaxed);
            return primary;
        }
        let deadline = Instant::now() + s.wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match s.database.wal_position().await {
                Ok(Some(p)) if !p.standby => {
                    s.counts.not_standby.fetch_add(1, Ordering::Relaxed);
                    return primary;
                }
                Ok(Some(p)) if p.lsn >= target => {
                    s.counts.standby.fetch_add(1, Ordering::Relaxed);
                    return Reader {
                        database: s.database.clone(),
                        on_standby: true,
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "read standby unreachable: reading the primary");
                    let until = s.started.elapsed() + SKIP_AFTER_FAILURE;
                    s.skip_until_ms
                        .store(until.as_millis() as u64, Ordering::Relaxed);
                    s.counts.unreachable.fetch_add(1, Ordering::Relaxed);
                    return primary;
                }
            }
            if Instant::now() + pause > deadline {
                s.counts.behind.fetch_add(1, Ordering::Relaxed);
                return primary;
            }
            // Replay usually trails by a few ms: poll often, briefly.
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(5));
        }
    }

    /// A read on the standby failed: count it; the caller reads the
    /// primary instead.
    pub fn standby_failed(&self, error: &AppError) {
        tracing::warn!(error = %error, "read failed on the standby: reading the primary");
        if let Some(s) = self.standby.get() {
            s.counts.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gated reads by outcome: `standby` (served there), `behind`,
    /// `unreachable`, `not_standby`, `failed` (served by the primary).
    /// Empty without a standby.
    pub fn standby_reads(&self) -> Vec<(&'static str, u64)> {
        let Some(s) = self.standby.get() else {
            return Vec::new();
        };
        let c = &s.counts;
        [
            ("standby", &c.standby),
            ("behind", &c.behind),
            ("unreachable", &c.unreachable),
            ("not_standby", &c.not_standby),
            ("failed", &c.failed),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.load(Ordering::Relaxed)))
        .collect()
    }

    /// How far the standby is behind the primary now; `None` without a
    /// standby or when either does not answer.
    pub async fn standby_lag(&self) -> Option<StandbyLag> {
        let s = self.standby.get()?;
        let replayed = s.database.wal_position().await.ok()??;
        let written = self.database().wal_position().await.ok()??;
        Some(StandbyLag {
            bytes: written.lsn.saturating_sub(replayed.lsn),
            seconds: replayed.replay_delay_ms.unwrap_or(0) as f64 / 1e3,
        })
    }

    /// The standby's lines for `/metrics` (Prometheus text); empty
    /// without a standby.
    pub async fn standby_metrics(&self) -> String {
        use std::fmt::Write;
        let reads = self.standby_reads();
        if reads.is_empty() {
            return String::new();
        }
        let mut out = String::from(
            "# HELP fineline_standby_reads_total Reads a standby may serve, by where they went \
             (standby, or the primary because the standby was behind, unreachable, not a \
             standby, or failed).\n# TYPE fineline_standby_reads_total counter\n",
        );
        for (outcome, n) in reads {
            let _ = writeln!(
                out,
                "fineline_standby_reads_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let lag = self.standby_lag().await;
        out.push_str(
            "# HELP fineline_standby_up Whether the standby answered this scrape.\n\
             # TYPE fineline_standby_up gauge\n",
        );
        let _ = writeln!(out, "fineline_standby_up {}", u8::from(lag.is_some()));
        if let Some(lag) = lag {
            out.push_str(
                "# HELP fineline_standby_lag_bytes Log the primary wrote that the standby has \
                 not replayed.\n# TYPE fineline_standby_lag_bytes gauge\n",
            );
            let _ = writeln!(out, "fineline_standby_lag_bytes {}", lag.bytes);
            out.push_str(
                "# HELP fineline_standby_lag_seconds Age of the last commit the standby \
                 replayed, while it has more to replay (0 when caught up).\n\
                 # TYPE fineline_standby_lag_seconds gauge\n",
            );
            let _ = writeln!(out, "fineline_standby_lag_seconds {}", lag.seconds);
        }
        out
    }
}
