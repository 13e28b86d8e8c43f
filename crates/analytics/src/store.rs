//! Partitions on an object store: appending rows, compacting erased people
//! out, and the DataFusion session that scans them.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, UInt64Array};
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
use crate::row::{self, AnalyticRow, Capture};
use crate::{AnalyticsError, Result};

/// Where the dictionary lives: outside every `day=` partition, so scans never read it.
const DICTIONARY: &str = "dictionary/texts.parquet";
/// Every store registers under this URL in its own session.
pub(crate) const STORE_URL: &str = "fineline-analytics://store";

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
    /// Rows of erased people dropped.
    pub rows_dropped: usize,
}

/// Analytic rows on an object store (a local directory now; an S3-compatible
/// bucket is the same [`ObjectStore`]), and the DataFusion session over them.
pub struct AnalyticStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    options: Options,
    pub(crate) dict: Mutex<Dictionary>,
    /// Appends and compactions one at a time: a compaction must not delete
    /// a file an append wrote after it listed the partition.
    writing: tokio::sync::Mutex<()>,
    files_written: AtomicU64,
}

impl std::fmt::Debug for AnalyticStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyticStore")
            .field("store", &self.store.to_string())
            .field("options", &self.options)
            .finish()
    }
}

impl AnalyticStore {
    /// Opens (creating) a store in a local directory.
    pub async fn open_dir(dir: &std::path::Path, options: Options) -> Result<Self> {
        let loc =
            |e: std::io::Error| AnalyticsError::Location(dir.display().to_string(), e.to_string());
        std::fs::create_dir_all(dir).map_err(loc)?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Self::open(Arc::new(fs), options).await
    }

    /// Opens a store on any object store, reading its dictionary.
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
        Ok(AnalyticStore {
            store,
            options,
            dict: Mutex::new(dict),
            writing: tokio::sync::Mutex::new(()),
            files_written: AtomicU64::new(0),
        })
    }

    /// A fresh DataFusion session over this store for one query. Not kept:
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

    fn new_file(&self, day: i64, bucket: u16) -> Path {
        // Unique across processes and restarts without coordination: time,
        // this store's counter, and random bits.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.files_written.fetch_add(1, Ordering::Relaxed);
        let r: u32 = rand::random();
        Path::from(format!(
            "day={day}/bucket={bucket:04}/{nanos:024}-{n:06}-{r:08x}.parquet"
        ))
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
        let mut files: Vec<Path> = Vec::new();
        for day in self.days().await? {
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

    /// Rewrites each partition as one file without the rows of `erased`
    /// people, deleting the files it replaces. Partitions already a single
    /// file with none of them are left alone.
    ///
    /// The new file is written before the old ones are deleted: a crash in
    /// between leaves both, and the next compaction must run before queries
    /// are trusted again (a query would count the partition twice). The
    /// erased people are already out of every answer by the consenting set.
    pub async fn compact(&self, erased: &HashSet<u64>) -> Result<Compacted> {
        let _turn = self.writing.lock().await;
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
            let mut batches = Vec::new();
            let mut dropped = 0;
            for f in &files {
                let bytes = self.store.get(f).await?.bytes().await?;
                for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
                    let batch = batch?;
                    let keep = keep_mask(&batch, erased, f.as_ref())?;
                    dropped += keep.false_count();
                    batches.push(filter_record_batch(&batch, &keep)?);
                }
            }
            if files.len() == 1 && dropped == 0 {
                continue;
            }
            let merged = concat_batches(&row::schema(), &batches)?;
            if merged.num_rows() > 0 {
                let (day, bucket) = parse_partition(&dir).ok_or_else(|| {
                    AnalyticsError::Corrupt(dir.clone(), "not day=/bucket=".into())
                })?;
                self.put_batch(&self.new_file(day, bucket), &merged).await?;
            }
            for f in &files {
                self.store.delete(f).await?;
            }
            done.partitions += 1;
            done.files_removed += files.len();
            done.rows_dropped += dropped;
        }
        Ok(done)
    }
}

fn parse_partition(dir: &str) -> Option<(i64, u16)> {
    let (d, b) = dir.split_once('/')?;
    Some((
        d.strip_prefix("day=")?.parse().ok()?,
        b.strip_prefix("bucket=")?.parse().ok()?,
    ))
}

fn keep_mask(batch: &RecordBatch, erased: &HashSet<u64>, file: &str) -> Result<BooleanArray> {
    let people = batch
        .column_by_name("person")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
        .ok_or_else(|| AnalyticsError::Corrupt(file.into(), "no u64 person column".into()))?;
    Ok((0..people.len())
        .map(|i| Some(!erased.contains(&people.value(i))))
        .collect())
}
