//! Partitions on an object store: appending rows, compacting erased people
//! out, and the DataFusion session that scans them.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, BooleanArray, Int64Array, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use futures_util::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::dictionary::Dictionary;
use crate::marks::{Marks, MARKS};
use crate::row::{self, AnalyticRow, Capture, DAY_MS};
use crate::{AnalyticsError, Engine, Result};

/// Where the dictionary lives: outside every `day=` partition, so scans never read it.
const DICTIONARY: &str = "dictionary/texts.parquet";
/// Every dataset registers its object store under this URL in its own session.
pub(crate) const STORE_URL: &str = "fineline-analytics://store";

/// A query's consenting set older than this was left by a query that died.
const STALE_QUERY_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How partitions are laid out and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Person buckets per day (1 to 4096): an erasure rewrites one bucket
    /// per day, and a query could read a sample of buckets.
    pub buckets: u16,
    /// zstd-compress pages; off only where a test reads the raw bytes.
    pub compress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            buckets: 16,
            compress: true,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Partitions rewritten.
    pub partitions: usize,
    /// Files read and deleted.
    pub files_removed: usize,
    /// Marked rows dropped.
    pub rows_dropped: usize,
    /// Mark objects applied and deleted.
    pub marks_applied: usize,
    /// Rows dropped because the partition held their (person, event) already.
    pub duplicates_dropped: usize,
}

/// Analytic rows on an object store (a local directory now; an S3-compatible
/// bucket is the same [`ObjectStore`]), and the DataFusion session over them.
pub struct AnalyticDataset {
    pub(crate) store: Arc<dyn ObjectStore>,
    options: Options,
    pub(crate) dict: Mutex<Dictionary>,
    /// Appends and compactions one at a time: a compaction must not delete
    /// a file an append wrote after it listed the partition.
    writing: tokio::sync::Mutex<()>,
    files_written: AtomicU64,
    engine: Engine,
}

impl std::fmt::Debug for AnalyticDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticDataset")
            .field("store", &self.store.to_string())
            .field("options", &self.options)
            .finish()
    }
}

/// The object store at `location` (see [`AnalyticDataset::open_url`]): a
/// process that runs plans over the dataset (a cluster's scheduler and
/// executors) opens the same store from the same location.
pub fn store_at(location: &str) -> Result<Arc<dyn ObjectStore>> {
    let bad = |why: String| AnalyticsError::Location(location.to_string(), why);
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket after s3://".into()));
        }
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
        };
        return Ok(store);
    }
    let dir = location.strip_prefix("file://").unwrap_or(location);
    if dir.is_empty() || dir.contains("://") {
        return Err(bad(
            "a directory, a file:// URL or s3://BUCKET[/PREFIX]".into()
        ));
    }
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
}

impl AnalyticDataset {
    /// Opens the dataset at `location`: a local directory (created if
    /// missing), a `file://` URL, or `s3://BUCKET[/PREFIX]` (credentials,
    /// region and, for S3-compatible stores, `AWS_ENDPOINT` and
    /// `AWS_ALLOW_HTTP` from the environment, as the AWS tools read them).
    pub async fn open_url(location: &str, options: Options) -> Result<Self> {
        Self::open(store_at(location)?, options).await
    }

    /// Where queries run from now on.
    pub fn with_engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// Another handle on the same store whose queries run on `engine`
    /// (for comparing engines; writes belong to one handle).
    pub async fn reopen(&self, engine: Engine) -> Result<Self> {
        Ok(Self::open(self.store.clone(), self.options)
            .await?
            .with_engine(engine))
    }

    /// Where queries run.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Opens (creating) a dataset in a local directory.
    pub async fn open_dir(dir: &std::path::Path, options: Options) -> Result<Self> {
        let loc =
            |e: std::io::Error| AnalyticsError::Location(dir.display().to_string(), e.to_string());
        std::fs::create_dir_all(dir).map_err(loc)?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Self::open(Arc::new(fs), options).await
    }

    /// Opens a dataset on any object store, reading its dictionary.
    pub async fn open(store: Arc<dyn ObjectStore>, options: Options) -> Result<Self> {
        if !(1..=4096).contains(&options.buckets) {
            return Err(AnalyticsError::Location(
                store.to_string(),
                format!("buckets must be 1 to 4096, got {}", options.buckets),
            ));
        }
        let mut dict = Dictionary::new();
        match store.get(&Path::from(DICTIONARY)).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                    dict.extend_from(&batch?, DICTIONARY)?;
                }
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(AnalyticDataset {
            store,
            options,
            dict: Mutex::new(dict),
            writing: tokio::sync::Mutex::new(()),
            files_written: AtomicU64::new(0),
            engine: Engine::default(),
        })
    }

    /// A fresh DataFusion session over this dataset for one query. Not kept:
    /// a session caches file listings, and compaction deletes files.
    pub(crate) fn session(&self) -> Result<SessionContext> {
        let ctx = SessionContext::new();
        let url = ObjectStoreUrl::parse(STORE_URL)?;
        ctx.register_object_store(url.as_ref(), self.store.clone());
        Ok(ctx)
    }

    /// The layout options.
    pub fn options(&self) -> Options {
        self.options
    }

    /// A copy of the dictionary as stored.
    pub fn dictionary(&self) -> Dictionary {
        self.dict.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn bucket(&self, person: u64) -> u16 {
        (person % self.options.buckets as u64) as u16
    }

    fn writer_props(&self) -> WriterProperties {
        let c = if self.options.compress {
            Compression::ZSTD(ZstdLevel::default())
        } else {
            Compression::UNCOMPRESSED
        };
        WriterProperties::builder().set_compression(c).build()
    }

    /// A file name unique across processes and restarts without
    /// coordination (time, this dataset's counter, random bits), sorting in
    /// the order written.
    pub(crate) fn new_name(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.files_written.fetch_add(1, Ordering::Relaxed);
        let r: u32 = rand::random();
        format!("{nanos:024}-{n:06}-{r:08x}")
    }

    fn new_file(&self, day: i64, bucket: u16) -> Path {
        let name = self.new_name();
        Path::from(format!("day={day}/bucket={bucket:04}/{name}.parquet"))
    }

    async fn put_batch(&self, path: &Path, batch: &RecordBatch) -> Result<()> {
        let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(self.writer_props()))?;
        w.write(batch)?;
        let bytes = w.into_inner()?;
        self.store.put(path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Writes `rows` as one new file per (day, bucket) they fall in. The
    /// dictionary goes first, so every stored code can be read back.
    pub async fn append(&self, rows: &[Capture]) -> Result<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        let _turn = self.writing.lock().await;
        let (coded, dict) = {
            let mut dict = self.dict.lock().unwrap_or_else(|e| e.into_inner());
            let before = dict.len();
            let coded: Vec<AnalyticRow> = rows
                .iter()
                .map(|c| AnalyticRow::code(c, &mut dict, rand::random()))
                .collect();
            (coded, (dict.len() > before).then(|| dict.clone()))
        };
        if let Some(dict) = dict {
            self.put_batch(&Path::from(DICTIONARY), &dict.to_batch()?)
                .await?;
        }
        let mut parts: BTreeMap<(i64, u16), Vec<AnalyticRow>> = BTreeMap::new();
        for r in coded {
            parts
                .entry((r.day(), self.bucket(r.person)))
                .or_default()
                .push(r);
        }
        for ((day, bucket), rows) in &parts {
            self.put_batch(&self.new_file(*day, *bucket), &row::to_batch(rows)?)
                .await?;
        }
        Ok(parts.len())
    }

    /// Days that have a partition, ascending.
    pub async fn days(&self) -> Result<Vec<i64>> {
        let listed = self.store.list_with_delimiter(None).await?;
        let mut days: Vec<i64> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.as_ref().strip_prefix("day=")?.parse().ok())
            .collect();
        days.sort_unstable();
        Ok(days)
    }

    /// Every Parquet file of the partitions, in path order.
    pub async fn files(&self) -> Result<Vec<Path>> {
        self.files_of(self.days().await?).await
    }

    /// The Parquet files of the partitions of `days`, in path order: a
    /// query lists only the days it reads (on S3 a listing is a request
    /// per thousand objects).
    pub(crate) async fn files_of(&self, days: impl IntoIterator<Item = i64>) -> Result<Vec<Path>> {
        let mut files: Vec<Path> = Vec::new();
        for day in days {
            let prefix = Path::from(format!("day={day}"));
            let mut listed: Vec<Path> = self
                .store
                .list(Some(&prefix))
                .map_ok(|m| m.location)
                .try_collect()
                .await?;
            files.append(&mut listed);
        }
        files.retain(|p| p.as_ref().ends_with(".parquet"));
        files.sort();
        Ok(files)
    }

    /// Every person number any stored file holds: what an audit of an
    /// erasure reads (the files themselves, not an answer).
    pub async fn stored_people(&self) -> Result<HashSet<u64>> {
        let mut people = HashSet::new();
        for f in self.files().await? {
            let bytes = self.store.get(&f).await?.bytes().await?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
            let mask = datafusion::parquet::arrow::ProjectionMask::columns(
                reader.parquet_schema(),
                ["person"],
            );
            for batch in reader.with_projection(mask).build()? {
                let batch = batch?;
                let col = batch
                    .column_by_name("person")
                    .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                    .ok_or_else(|| AnalyticsError::Corrupt(f.to_string(), "no person".into()))?;
                people.extend(col.values().iter().copied());
            }
        }
        Ok(people)
    }

    /// Deletes every partition file, before the copy is made again from its
    /// source. Marks stay (they name rows a concurrent writer may still
    /// hold, and match nothing once applied), as does the dictionary: codes
    /// are never reused.
    pub async fn clear(&self) -> Result<()> {
        let _turn = self.writing.lock().await;
        for f in self.files().await? {
            match self.store.delete(&f).await {
                // Compacted away by another process meanwhile.
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Deletes every partition file and every mark: a dataset started
    /// afresh (a benchmark's, a test's), not one being made again.
    pub async fn reset(&self) -> Result<()> {
        self.clear().await?;
        let (_, marks) = self.pending_marks().await?;
        for f in &marks {
            self.store.delete(f).await?;
        }
        Ok(())
    }

    /// Records `marks` on the store: from now on queries leave their rows
    /// out, and the next [`AnalyticDataset::compact`] removes them.
    pub async fn record(&self, marks: &Marks) -> Result<()> {
        if marks.is_empty() {
            return Ok(());
        }
        let name = self.new_name();
        let path = Path::from(format!("{MARKS}/{name}.txt"));
        self.store
            .put(&path, PutPayload::from(marks.to_text().into_bytes()))
            .await?;
        Ok(())
    }

    /// Every mark not yet compacted away, merged, and the objects holding them.
    pub async fn pending_marks(&self) -> Result<(Marks, Vec<Path>)> {
        let prefix = Path::from(MARKS);
        let mut files: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        files.sort();
        let mut marks = Marks::default();
        for f in &files {
            let bytes = self.store.get(f).await?.bytes().await?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| AnalyticsError::Corrupt(f.to_string(), e.to_string()))?;
            marks.merge(Marks::parse(text, f.as_ref())?);
        }
        Ok((marks, files))
    }

    /// Rewrites, as one file each, the partitions that pending marks touch
    /// (the buckets of erased people and deleted events, the days before a
    /// purpose's cutoff) and those holding more than `merge_over` files,
    /// without the marked rows; then deletes the files replaced and the
    /// marks applied.
    ///
    /// The new file is written before the old ones are deleted: a crash in
    /// between leaves both, and the next compaction must run before queries
    /// are trusted again (a query would count the partition twice). Marked
    /// rows are already out of every answer, compacted or not.
    pub async fn compact(&self, merge_over: usize) -> Result<Compacted> {
        self.compact_with(merge_over, false).await
    }

    /// [`AnalyticDataset::compact`], and with `dedupe` also every partition
    /// of more than one file, keeping one row per (person, event): after a
    /// repair copied rows that other writers were writing too.
    pub async fn compact_with(&self, merge_over: usize, dedupe: bool) -> Result<Compacted> {
        let _turn = self.writing.lock().await;
        let (marks, mark_files) = self.pending_marks().await?;
        let drop = Dropping::new(&marks, &self.dictionary());
        let buckets: HashSet<u16> = marks
            .erased
            .iter()
            .copied()
            .chain(marks.retracted.iter().map(|(p, _)| *p))
            .map(|p| self.bucket(p))
            .collect();
        let latest_cutoff = drop.expired.iter().map(|(_, t)| *t).max();
        let mut by_part: BTreeMap<String, Vec<Path>> = BTreeMap::new();
        for f in self.files().await? {
            let dir = f
                .as_ref()
                .rsplit_once('/')
                .map_or("", |(d, _)| d)
                .to_string();
            by_part.entry(dir).or_default().push(f);
        }
        let mut done = Compacted::default();
        for (dir, files) in by_part {
            let (day, bucket) = parse_partition(&dir)
                .ok_or_else(|| AnalyticsError::Corrupt(dir.clone(), "not day=/bucket=".into()))?;
            let touched = buckets.contains(&bucket)
                || latest_cutoff.is_some_and(|t| day.saturating_mul(DAY_MS) < t)
                || files.len() > merge_over
                || (dedupe && files.len() > 1);
            if !touched {
                continue;
            }
            let mut batches = Vec::new();
            let (mut dropped, mut twice) = (0, 0);
            let mut seen: HashSet<(u64, i64)> = HashSet::new();
            for f in &files {
                let bytes = self.store.get(f).await?.bytes().await?;
                for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                    let batch = batch?;
                    let mut keep = drop.keep_mask(&batch, f.as_ref())?;
                    dropped += keep.false_count();
                    if dedupe {
                        let first = first_sight(&batch, &keep, &mut seen, f.as_ref())?;
                        twice += keep.true_count() - first.true_count();
                        keep = first;
                    }
                    batches.push(filter_record_batch(&batch, &keep)?);
                }
            }
            if files.len() == 1 && dropped == 0 && twice == 0 {
                continue;
            }
            let merged = concat_batches(&row::schema(), &batches)?;
            if merged.num_rows() > 0 {
                self.put_batch(&self.new_file(day, bucket), &merged).await?;
            }
            for f in &files {
                self.store.delete(f).await?;
            }
            done.partitions += 1;
            done.files_removed += files.len();
            done.rows_dropped += dropped;
            done.duplicates_dropped += twice;
        }
        for f in &mark_files {
            self.store.delete(f).await?;
        }
        done.marks_applied = mark_files.len();
        // Consenting sets a query could not delete (its process died): they
        // name people who may since have withdrawn or been erased.
        let stale = now_ms() - STALE_QUERY_MS;
        let queries: Vec<_> = self
            .store
            .list(Some(&Path::from(crate::plan::QUERIES)))
            .try_collect()
            .await?;
        for q in queries {
            if q.last_modified.timestamp_millis() < stale {
                self.store.delete(&q.location).await?;
            }
        }
        Ok(done)
    }
}

/// Marks as the row columns test them: purposes as dictionary codes (a
/// purpose never written has no rows to drop).
pub(crate) struct Dropping<'a> {
    marks: &'a Marks,
    pub(crate) expired: Vec<(u32, i64)>,
}

impl<'a> Dropping<'a> {
    pub(crate) fn new(marks: &'a Marks, dict: &Dictionary) -> Self {
        let expired = marks
            .expired
            .iter()
            .filter_map(|(p, t)| Some((dict.lookup(p)?, *t)))
            .collect();
        Dropping { marks, expired }
    }

    fn keep_mask(&self, batch: &RecordBatch, file: &str) -> Result<BooleanArray> {
        let corrupt = |c: &str| AnalyticsError::Corrupt(file.into(), format!("no column {c}"));
        let col = |c: &str| batch.column_by_name(c).ok_or_else(|| corrupt(c));
        let people = col("person")?
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| corrupt("person"))?;
        let events = col("event")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| corrupt("event"))?;
        let at = col("at")?
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| corrupt("at"))?;
        let purposes = col("purpose")?
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| corrupt("purpose"))?;
        Ok((0..people.len())
            .map(|i| {
                let p = people.value(i);
                let gone = self.marks.erased.contains(&p)
                    || self.marks.retracted.contains(&(p, events.value(i)))
                    || self
                        .expired
                        .iter()
                        .any(|&(code, t)| purposes.value(i) == code && at.value(i) < t);
                Some(!gone)
            })
            .collect())
    }
}

/// `keep`, less the rows whose (person, event) is in `seen`, which takes
/// in those kept.
fn first_sight(
    batch: &RecordBatch,
    keep: &BooleanArray,
    seen: &mut HashSet<(u64, i64)>,
    file: &str,
) -> Result<BooleanArray> {
    let corrupt = |c: &str| AnalyticsError::Corrupt(file.into(), format!("no column {c}"));
    let people = batch
        .column_by_name("person")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or_else(|| corrupt("person"))?;
    let events = batch
        .column_by_name("event")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| corrupt("event"))?;
    Ok((0..batch.num_rows())
        .map(|i| Some(keep.value(i) && seen.insert((people.value(i), events.value(i)))))
        .collect())
}

pub(crate) fn parse_partition(dir: &str) -> Option<(i64, u16)> {
    let (d, b) = dir.split_once('/')?;
    Some((
        d.strip_prefix("day=")?.parse().ok()?,
        b.strip_prefix("bucket=")?.parse().ok()?,
    ))
}
