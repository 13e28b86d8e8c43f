//! Whether the dataset is a whole copy of its source while several
//! processes (replicas) copy into it at once.
//!
//! Each writing process keeps a small object under `state/writers/` that it
//! rewrites after its flushes ("everything I queued before time T is in the
//! files") and deletes when it stops cleanly. A writer object that stops
//! moving belongs to a process that died with rows queued: the copy may
//! miss them. A process that finds one asks for a repair (an object under
//! `state/repairs/`); while one is asked for, answers come from the
//! record instead, and one process (the deployment's leader) makes the
//! copy again from the record without stopping the other writers, then
//! drops the rows it and they both wrote ([`AnalyticDataset::compact_with`]).
//!
//! Object stores have no locks, so nothing here is a lock: one object per
//! writer and per request, each written by one process, listed by all.

use std::sync::Arc;

use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::dataset::AnalyticDataset;
use crate::{AnalyticsError, Result};

/// Where the copy's state is kept ([`CopyState`]).
const COPY_STATE: &str = "state/copy.txt";
/// One object per writing process: the time it last flushed through.
const WRITERS: &str = "state/writers";
/// One object per repair asked for, until a repair that listed it is done.
const REPAIRS: &str = "state/repairs";

/// Whether a dataset was ever made a whole copy of its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyState {
    /// Never filled: rows written before the copy began are missing.
    Never,
    /// Filled once, and kept whole since by its writers unless one of them
    /// died with rows queued ([`AnalyticDataset::writers`] tells).
    Filled,
    /// A writer of an earlier version (one state for every writer) did not
    /// stop cleanly: rows it had queued may be missing.
    Interrupted,
}

/// A process copying into the dataset, as its object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The process's random id.
    pub id: String,
    /// Every row it queued before this time (ms, its clock) is in the files.
    pub flushed_through: i64,
}

/// A request for a repair, as listed: a repair deletes only those it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairRequest {
    path: Path,
    /// Why it was asked for.
    pub reason: String,
}

fn writer_path(id: &str) -> Result<Path> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(AnalyticsError::Location(
            id.into(),
            "a writer id is letters, digits and '-'".into(),
        ));
    }
    Ok(Path::from(format!("{WRITERS}/{id}.txt")))
}

async fn list(store: &Arc<dyn ObjectStore>, prefix: &str) -> Result<Vec<Path>> {
    let mut found: Vec<Path> = store
        .list(Some(&Path::from(prefix)))
        .map_ok(|m| m.location)
        .try_collect()
        .await?;
    found.sort();
    Ok(found)
}

async fn read_text(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<Option<String>> {
    match store.get(path).await {
        Ok(got) => {
            let bytes = got.bytes().await?;
            String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|e| AnalyticsError::Corrupt(path.to_string(), e.to_string()))
        }
        // Deleted between the listing and the read: gone, not an error.
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn delete(store: &Arc<dyn ObjectStore>, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl AnalyticDataset {
    /// The copy's state as last recorded.
    pub async fn copy_state(&self) -> Result<CopyState> {
        let path = Path::from(COPY_STATE);
        Ok(match read_text(&self.store, &path).await?.as_deref() {
            None => CopyState::Never,
            // "closed" is what the single-state version wrote on a clean stop.
            Some("filled" | "closed") => CopyState::Filled,
            Some("running") => CopyState::Interrupted,
            Some(other) => {
                return Err(AnalyticsError::Corrupt(
                    COPY_STATE.into(),
                    format!("unknown state {other:?}"),
                ))
            }
        })
    }

    /// Records the copy's state.
    pub async fn set_copy_state(&self, state: CopyState) -> Result<()> {
        let path = Path::from(COPY_STATE);
        let text: &[u8] = match state {
            CopyState::Never => return delete(&self.store, &path).await,
            CopyState::Filled => b"filled",
            CopyState::Interrupted => b"running",
        };
        self.store
            .put(&path, PutPayload::from(text.to_vec()))
            .await?;
        Ok(())
    }

    /// Records that writer `id` has written every row it queued before
    /// `flushed_through` (ms): at start, and after its flushes.
    pub async fn writer_flushed(&self, id: &str, flushed_through: i64) -> Result<()> {
        self.store
            .put(
                &writer_path(id)?,
                PutPayload::from(flushed_through.to_string().into_bytes()),
            )
            .await?;
        Ok(())
    }

    /// Removes writer `id`'s object: it stopped with nothing queued, or a
    /// repair has made up for what it lost.
    pub async fn writer_gone(&self, id: &str) -> Result<()> {
        delete(&self.store, &writer_path(id)?).await
    }

    /// Every writer with an object, in id order.
    pub async fn writers(&self) -> Result<Vec<Writer>> {
        let mut writers = Vec::new();
        for path in list(&self.store, WRITERS).await? {
            let Some(text) = read_text(&self.store, &path).await? else {
                continue;
            };
            let id = path
                .filename()
                .and_then(|f| f.strip_suffix(".txt"))
                .unwrap_or_default()
                .to_string();
            let flushed_through = text.trim().parse().map_err(|_| {
                AnalyticsError::Corrupt(path.to_string(), format!("not a time: {text:?}"))
            })?;
            writers.push(Writer {
                id,
                flushed_through,
            });
        }
        Ok(writers)
    }

    /// Asks for a repair: until one that lists this request is done,
    /// [`AnalyticDataset::repairs`] is not empty.
    pub async fn request_repair(&self, reason: &str) -> Result<()> {
        let path = Path::from(format!("{REPAIRS}/{}.txt", self.new_name()));
        self.store
            .put(&path, PutPayload::from(reason.as_bytes().to_vec()))
            .await?;
        Ok(())
    }

    /// The repairs asked for and not yet done.
    pub async fn repairs(&self) -> Result<Vec<RepairRequest>> {
        let mut requests = Vec::new();
        for path in list(&self.store, REPAIRS).await? {
            if let Some(reason) = read_text(&self.store, &path).await? {
                requests.push(RepairRequest { path, reason });
            }
        }
        Ok(requests)
    }

    /// Whether a repair is asked for (one listing: cheap enough per query).
    pub async fn repair_pending(&self) -> Result<bool> {
        Ok(!list(&self.store, REPAIRS).await?.is_empty())
    }

    /// Marks `requests` done: asked for before a repair began, so it made
    /// up for them. Requests made meanwhile stay for the next repair.
    pub async fn repaired(&self, requests: &[RepairRequest]) -> Result<()> {
        for r in requests {
            delete(&self.store, &r.path).await?;
        }
        Ok(())
    }
}
