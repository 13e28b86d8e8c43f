//! Partner insights on the columnar analytic dataset (`serve --analytics`):
//! analytic rows copied as Parquet after their events commit, queries
//! scanned, bounded and pre-aggregated on DataFusion, and the marks that
//! take erased people, deleted events and expired rows out of it.
//!
//! the database stays the record: its analytic rows are written in
//! the events' transaction as before. The Parquet copy is written after
//! the commit, a second at most later (a crash loses at most that second of
//! the copy, never an event). Noise, floors, budgets and the ledger entry
//! stay with `fineline_insights::Plan` and the caller, as on the other path.
//!
//! Parquet names people by a number derived from their per-person salt in
//! the vault ([`person_number`]): no pseudonym reaches the files, and once
//! an erasure shreds the salt nothing links the number to anyone; a person
//! who comes back gets a new salt and a new number.

mod copy;

pub use copy::Repaired;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

pub use fineline_analytics::Engine;
use fineline_analytics::{
    to_engine, AnalyticDataset, Capture, Catalogue, Compacted, Consenting, Marks, Options,
};
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_db::InsightEventRow;
use fineline_insights::rows::Aggregates;
use fineline_insights::{DeclaredKeys, Metric, Query, RowSet};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;
use crate::insights_data::LOCATION_KIND;
use crate::state::App;

/// Longest a captured row waits before it is written as Parquet.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows that make a flush start before [`FLUSH_EVERY`].
const FLUSH_ROWS: usize = 200_000;
/// How often the leader compacts: marks applied, small files merged.
pub const COMPACT_EVERY: Duration = Duration::from_secs(600);
/// A partition with more files than this is merged at the next compaction
/// (one file per flush per partition accumulates otherwise).
pub const MERGE_OVER: usize = 16;
/// A writer whose "flushed through" time is older than this is taken for
/// dead, its queued rows lost ([`Analytics::with_stale_after`]).
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// How often the leader looks for dead writers and asked-for repairs.
pub const TEND_EVERY: Duration = Duration::from_secs(10);
/// Above this many people without a number yet (a first query after a
/// start), the key store is read through once instead of person by person.
const WALK_KEYS_OVER: usize = 2_000;
/// People per page of that read (the key store is free between pages).
const WALK_PAGE: usize = 10_000;

/// The number Parquet rows name a person by: an HMAC of a fixed label
/// under the person's vault salt (random per person, shredded on erasure).
pub fn person_number(salt: &[u8; 32]) -> u64 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(b"fineline analytic person number v1");
    let out = mac.finalize().into_bytes();
    u64::from_le_bytes(out[..8].try_into().expect("8 bytes"))
}

/// The dataset's row of an analytic row the database keeps.
fn to_capture(r: &InsightEventRow, person: u64, event: i64, purpose: Purpose) -> Capture {
    Capture {
        person,
        at: r.at.0,
        event,
        purpose: purpose.as_str().to_string(),
        location: r.kind == LOCATION_KIND,
        kind: r.kind.clone(),
        item: r.item.as_ref().map(|i| i.as_str().to_string()),
        region: r.region.clone(),
        h3_cell: r.h3_cell,
        value: r.value,
    }
}

/// The analytic dataset of a deployment and what feeds it.
pub struct Analytics {
    dataset: AnalyticDataset,
    /// Numbers of people met since start (ingested, or looked up by a
    /// query): the consenting set is built from these.
    numbers: Mutex<HashMap<Pseudonym, u64>>,
    /// Rows of committed events not yet written.
    pending: Mutex<Vec<Capture>>,
    /// One flush at a time, so rows reach the files in commit order.
    flushing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    /// Marks not yet on the store (it failed): queries are refused until
    /// they are, so no answer counts rows the record no longer holds.
    unrecorded: Mutex<Marks>,
    /// This process's random id among the dataset's writers (`copy`).
    writer: String,
    /// When this process last recorded how far it has flushed (ms).
    beat: Mutex<Option<i64>>,
    /// See [`STALE_AFTER`].
    stale_after: Duration,
    /// Whether other processes write too (a shared database): only then
    /// can another take this one's silence for death.
    shared: AtomicBool,
    /// One repair at a time.
    repairing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("dataset", &self.dataset)
            .finish()
    }
}

/// Where a query's pre-noise figures come from.
pub enum Scanned {
    /// the database: rows for `Plan::run` to bound.
    Rows(RowSet),
    /// The analytic dataset: groups already bounded, for `Plan::release`.
    Aggregated(RowSet, Aggregates),
}

impl Analytics {
    /// Opens the analytic dataset at `location`: a directory (created if
    /// missing), a `file://` URL or `s3://BUCKET[/PREFIX]`, queried where
    /// `engine` says.
    pub async fn open(location: &str, engine: Engine) -> Result<Self, AppError> {
        if location.starts_with("ballista://") {
            return Err(AppError::field(
                "analytics",
                "the dataset's location is a directory, a file:// URL or an s3:// bucket; \
                 a ballista:// cluster is where it is queried (--analytics-cluster)",
            ));
        }
        let dataset = AnalyticDataset::open_url(location, Options::default())
            .await
            .map_err(|e| AppError::field("analytics", e.to_string()))?
            .with_engine(engine);
        Ok(Analytics {
            dataset,
            numbers: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            flushing: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            unrecorded: Mutex::new(Marks::default()),
            writer: format!("{:016x}", rand::random::<u64>()),
            beat: Mutex::new(None),
            stale_after: STALE_AFTER,
            shared: AtomicBool::new(false),
            repairing: tokio::sync::Mutex::new(()),
        })
    }

    /// How long a writer may go without recording a flush before others
    /// take it for dead (tests shorten it; a flush is every second).
    pub fn with_stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// The dataset itself (files, marks, compaction).
    pub fn dataset(&self) -> &AnalyticDataset {
        &self.dataset
    }

    /// Remembers `subject`'s number (ingestion has their keys at hand).
    pub(crate) fn met(&self, subject: Pseudonym, number: u64) {
        self.numbers.lock().unwrap().insert(subject, number);
    }

    /// Forgets `subject`'s number: they were erased (here or on another
    /// replica), and if they come back their new salt gives a new number.
    pub(crate) fn forget(&self, subject: &Pseudonym) {
        self.numbers.lock().unwrap().remove(subject);
    }

    fn number_of(&self, subject: &Pseudonym) -> Option<u64> {
        self.numbers.lock().unwrap().get(subject).copied()
    }

    /// Queues the analytic rows of a committed write: `rows[i]` is about
    /// `numbers[i]`, `ids` and `purposes` are the write's events in order.
    pub(crate) fn committed(
        &self,
        rows: &[InsightEventRow],
        numbers: &[u64],
        ids: &[i64],
        purposes: &[Purpose],
    ) {
        let captures = rows.iter().zip(numbers).filter_map(|(r, &person)| {
            Some(to_capture(
                r,
                person,
                *ids.get(r.event)?,
                *purposes.get(r.event)?,
            ))
        });
        let mut pending = self.pending.lock().unwrap();
        pending.extend(captures);
        if pending.len() >= FLUSH_ROWS {
            self.wake.notify_one();
        }
    }

    /// Writes every queued row, and records how far this process has
    /// flushed for the other writers (`copy`).
    pub async fn flush(&self) -> Result<(), AppError> {
        let _turn = self.flushing.lock().await;
        // Every row queued before this instant is in `rows` or written.
        let through = Timestamp::now().0;
        let rows = std::mem::take(&mut *self.pending.lock().unwrap());
        if !rows.is_empty() {
            if let Err(e) = self.dataset.append(&rows).await {
                // Back at the front, so the next flush retries them in order.
                let mut pending = self.pending.lock().unwrap();
                let later = std::mem::replace(&mut *pending, rows);
                pending.extend(later);
                return Err(AppError::internal(e));
            }
        }
        self.flushed_through(through, !rows.is_empty()).await
    }

    /// Records `marks` on the store, with any an earlier call could not:
    /// they leave answers now. Queued rows are written first, so the marks
    /// cover them before a compaction can apply and drop the marks. On
    /// failure the marks are kept, and queries refused, until a later call
    /// (the next query, mark or compaction) records them.
    async fn record(&self, marks: Marks) -> Result<(), AppError> {
        let all = {
            let mut unrecorded = self.unrecorded.lock().unwrap();
            unrecorded.merge(marks);
            unrecorded.clone()
        };
        if all.is_empty() {
            return Ok(());
        }
        self.flush().await?;
        self.dataset
            .record(&all)
            .await
            .map_err(AppError::internal)?;
        let mut unrecorded = self.unrecorded.lock().unwrap();
        // Only what was recorded: marks added meanwhile wait for the next call.
        unrecorded.erased.retain(|p| !all.erased.contains(p));
        unrecorded.retracted.retain(|r| !all.retracted.contains(r));
        unrecorded
            .expired
            .retain(|p, t| all.expired.get(p).is_none_or(|done| *t > *done));
        Ok(())
    }

    /// Records marks earlier calls could not; an error means answers from
    /// the dataset could still count rows the record no longer holds.
    async fn record_unrecorded(&self) -> Result<(), AppError> {
        self.record(Marks::default()).await.map_err(|e| {
            AppError::Unavailable(format!(
                "insights are unavailable until the analytic dataset records a pending \
                 erasure, deletion or retention cutoff: {e}"
            ))
        })
    }

    /// Applies marks and merges small files.
    pub async fn compact(&self) -> Result<Compacted, AppError> {
        self.record_unrecorded().await?;
        self.dataset
            .compact(MERGE_OVER)
            .await
            .map_err(AppError::internal)
    }
}

impl App {
    /// The analytic dataset, if the deployment has one.
    pub fn analytics(&self) -> Option<&std::sync::Arc<Analytics>> {
        self.analytics.get()
    }

    /// The pre-noise figures of `query`: from the analytic dataset when there
    /// is one, else from the database. `seed` keys the analytic dataset's
    /// bounding; `Plan::run` takes it for the rows.
    pub async fn scan_insights(
        &self,
        query: &Query,
        declared: &DeclaredKeys,
        seed: u64,
    ) -> Result<Scanned, AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(Scanned::Rows(
                crate::insights_data::load_rows(self, query).await?,
            ));
        };
        // Everything committed before the query counts, as on the other
        // path, and nothing the record has dropped.
        analytics.flush().await?;
        analytics.record_unrecorded().await?;
        if analytics.under_repair().await? {
            // The copy may miss a dead writer's rows or hold some twice
            // until the leader's repair is done: the record answers.
            return Ok(Scanned::Rows(
                crate::insights_data::load_rows(self, query).await?,
            ));
        }
        let consenting = self.consenting(analytics).await?;
        let catalogue = Catalogue::new(
            self.database()
                .items()
                .await?
                .into_iter()
                .map(|i| (i.item.as_str().to_string(), i.category)),
        );
        let groups = analytics
            .dataset
            .aggregate(query, declared, &consenting, &catalogue, seed)
            .await
            .map_err(|e| match e {
                fineline_analytics::AnalyticsError::Query(q) => {
                    AppError::field("query", q.to_string())
                }
                fineline_analytics::AnalyticsError::Cluster(m) => AppError::Unavailable(m),
                e => AppError::internal(e),
            })?;
        let bins = match query.metric {
            Metric::Histogram { bins, .. } => Some(bins),
            _ => None,
        };
        let (keys, agg) = to_engine(&groups, bins);
        Ok(Scanned::Aggregated(keys, agg))
    }

    /// Who counts now: everyone granting `partner_insights` (with their
    /// `location` grant), by number. Numbers not met since start are looked
    /// up in the key store once.
    async fn consenting(&self, analytics: &Analytics) -> Result<Consenting, AppError> {
        let now = Timestamp::now();
        let granting: Vec<(Pseudonym, bool)> = {
            let index = self.consents.read().unwrap();
            index
                .subjects()
                .filter(|s| index.allowed(s, Purpose::PartnerInsights, now))
                .map(|s| (*s, index.allowed(s, Purpose::Location, now)))
                .collect()
        };
        let missing: Vec<Pseudonym> = {
            let numbers = analytics.numbers.lock().unwrap();
            granting
                .iter()
                .filter(|(s, _)| !numbers.contains_key(s))
                .map(|(s, _)| *s)
                .collect()
        };
        if !missing.is_empty() {
            let keys = self.vault.key_store().clone();
            let (many, t) = (missing.len(), std::time::Instant::now());
            let found = tokio::task::spawn_blocking(move || {
                if missing.len() <= WALK_KEYS_OVER {
                    return missing
                        .into_iter()
                        .filter_map(|s| match keys.get(&s) {
                            Ok(Some(k)) => Some(Ok((s, person_number(&k.salt)))),
                            Ok(None) => None,
                            Err(e) => Some(Err(e)),
                        })
                        .collect::<Result<Vec<_>, _>>();
                }
                // The first query after a start meets everyone at once.
                let missing: HashSet<Pseudonym> = missing.into_iter().collect();
                let mut found = Vec::with_capacity(missing.len());
                keys.for_each_salt(WALK_PAGE, |s, salt| {
                    if missing.contains(&s) {
                        found.push((s, person_number(&salt)));
                    }
                })?;
                Ok(found)
            })
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
            if many > WALK_KEYS_OVER {
                tracing::info!(
                    people = many,
                    seconds = t.elapsed().as_secs_f64(),
                    "analytic numbers looked up"
                );
            }
            analytics.numbers.lock().unwrap().extend(found);
        }
        let numbers = analytics.numbers.lock().unwrap();
        Ok(Consenting::new(
            granting
                .iter()
                .filter_map(|(s, loc)| numbers.get(s).map(|n| (*n, *loc))),
        ))
    }

    /// An erasure committed: the person's rows leave every answer now and
    /// the files at the next compaction. Called before their salt is
    /// shredded (the number cannot be derived after).
    pub(crate) async fn analytics_erased(
        &self,
        subject: &Pseudonym,
        salt: &[u8; 32],
    ) -> Result<(), AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(());
        };
        analytics.forget(subject);
        analytics
            .record(Marks {
                erased: [person_number(salt)].into(),
                ..Marks::default()
            })
            .await
    }

    /// A person is deleting one of their events: its analytic row leaves
    /// answers first (a mark naming an event that is not theirs matches
    /// no row).
    pub(crate) async fn analytics_event_deleted(
        &self,
        subject: &Pseudonym,
        event: i64,
    ) -> Result<(), AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(());
        };
        let number = match analytics.number_of(subject) {
            Some(n) => n,
            None => match self.subject_keys(subject).await? {
                Some(k) => person_number(&k.salt),
                None => return Ok(()),
            },
        };
        analytics
            .record(Marks {
                retracted: [(number, event)].into(),
                ..Marks::default()
            })
            .await
    }

    /// A retention sweep is deleting `purpose`'s events before `cutoff`.
    /// On failure the sweep goes on (the record must not keep data past
    /// its retention because the copy is down) and the mark waits, queries
    /// on the dataset refused meanwhile.
    pub(crate) async fn analytics_expired(
        &self,
        purpose: Purpose,
        cutoff: Timestamp,
    ) -> Result<(), AppError> {
        let Some(analytics) = self.analytics() else {
            return Ok(());
        };
        analytics
            .record(Marks {
                expired: [(purpose.as_str().to_string(), cutoff.0)].into(),
                ..Marks::default()
            })
            .await
    }
}

/// Flushes queued rows every [`FLUSH_EVERY`] (sooner when many wait) and,
/// on the leader, looks after the copy every [`TEND_EVERY`] (in a task of
/// its own: a repair takes as long as copying every stored event) and
/// compacts every [`COMPACT_EVERY`]; `None` without an analytic dataset.
pub fn spawn(app: App) -> Option<tokio::task::JoinHandle<()>> {
    let analytics = app.analytics()?.clone();
    Some(tokio::spawn(async move {
        let mut last_compaction = tokio::time::Instant::now();
        let mut last_tend = tokio::time::Instant::now();
        loop {
            let _ = tokio::time::timeout(FLUSH_EVERY, analytics.wake.notified()).await;
            if let Err(e) = analytics.flush().await {
                tracing::warn!(error = %e, "analytic rows not written; will retry");
            }
            if last_tend.elapsed() >= TEND_EVERY && app.is_leader() {
                last_tend = tokio::time::Instant::now();
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = app.tend_analytics().await {
                        tracing::warn!(error = %e, "analytic copy not repaired; will retry");
                    }
                });
            }
            if last_compaction.elapsed() >= COMPACT_EVERY && app.is_leader() {
                last_compaction = tokio::time::Instant::now();
                match analytics.compact().await {
                    Ok(done) => tracing::info!(
                        partitions = done.partitions,
                        rows_dropped = done.rows_dropped,
                        marks = done.marks_applied,
                        "analytic dataset compacted"
                    ),
                    Err(e) => tracing::warn!(error = %e, "analytic compaction failed; will retry"),
                }
            }
        }
    }))
}
