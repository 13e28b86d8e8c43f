//! The embedded backend: one SQLite file in WAL mode.
//!
//! One writer connection behind a mutex (SQLite allows one writer anyway)
//! and a bounded pool of readers, which WAL lets run beside the writer. Every
//! call runs on tokio's blocking pool so the async runtime never waits on
//! disk. `synchronous=FULL` makes each commit durable before `apply`
//! returns; `secure_delete` overwrites erased rows instead of leaving them
//! in free pages.

mod backup;
mod footfall;
mod insight_cache;
mod insight_scan;
mod insights;
mod reads;
mod replicas;
mod schema;
mod settle;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::{DatabaseError, Result};

/// Reader connections, at most. A read waits (asynchronously) for a free
/// one rather than opening another: under load, opening and closing
/// connections per read (each with a cold page cache) cost more than the
/// reads themselves.
fn max_readers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (2 * cores).max(4)
}

/// The embedded [`crate::Database`]. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    reader_slots: Arc<tokio::sync::Semaphore>,
    /// The analytic rows in memory, for insights queries.
    insight_cache: Arc<tokio::sync::Mutex<insight_cache::FactCache>>,
    /// WAL frames found at the checkpoint after each erasure, summed: what
    /// an erasure costs in page writes (`bench erasure` reports it).
    erasure_wal_frames: std::sync::atomic::AtomicU64,
    /// Arrivals waiting to be moved into the person-clustered table.
    recent: settle::RecentTier,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// The indexed integer standing in for a subject in the events table. Digests
/// are HMAC outputs, so 8 bytes spread evenly; queries still compare the
/// full subject text.
pub(super) fn subject_key(subject: &fineline_core::Pseudonym) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&subject.digest[..8]);
    i64::from_be_bytes(b)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 64 MiB of page cache (default 2 MiB). Events are indexed by subject,
    // so a batch touches one index leaf per person in it; with a small
    // cache those pages spill and are re-read on every batch, which made
    // ingestion 3x slower than the same rows with clustered subjects.
    conn.pragma_update(None, "cache_size", -65536)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl SqliteDatabase {
    /// Opens (creating if needed) the database file and brings its schema
    /// up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(path)).await?
    }

    fn open_blocking(path: PathBuf) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DatabaseError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let mut writer = Connection::open(&path)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DatabaseError::Backend(format!(
                "journal_mode is {mode}, not WAL"
            )));
        }
        configure(&writer)?;
        schema::migrate(&mut writer)?;
        let recent = settle::RecentTier::open(&writer)?;
        Ok(SqliteDatabase {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                reader_slots: Arc::new(tokio::sync::Semaphore::new(max_readers())),
                insight_cache: Default::default(),
                erasure_wal_frames: Default::default(),
                recent,
            }),
        })
    }

    /// The database file (backups copy from it).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// WAL frames (pages) written since the previous checkpoint, summed over
    /// the checkpoints that follow erasures. The WAL is truncated after every
    /// erasure, so the difference across one erasure (with no other writer)
    /// is the pages it wrote.
    pub fn erasure_wal_frames(&self) -> u64 {
        self.inner
            .erasure_wal_frames
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Copies the WAL into the database file and truncates it, as every
    /// erasure does; benchmarks use it to start from an empty WAL.
    pub async fn checkpoint_truncate(&self) -> Result<()> {
        self.write(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    /// Runs `f` with the writer connection on the blocking pool.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await?
    }

    /// Runs `f` with a pooled reader connection on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let slot = inner
            .reader_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DatabaseError::Backend("reader pool closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &inner.path,
                        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    configure(&c)?;
                    c.pragma_update(None, "query_only", "ON")?;
                    c
                }
            };
            let out = f(&conn);
            // At most `max_readers` exist: one per slot.
            inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            out
        })
        .await?
    }
}
