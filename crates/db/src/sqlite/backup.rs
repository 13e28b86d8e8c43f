//! Online backups of the embedded database, and restoring one.
//!
//! `VACUUM INTO` writes a consistent snapshot (one read transaction, so
//! ingestion keeps committing meanwhile) as a single compact file: no WAL
//! beside it and no free pages, so nothing already deleted rides along.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::SqliteDatabase;
use crate::{DatabaseError, Result};

/// `VACUUM INTO` needs an absent or empty file; create it empty and private
/// first, so the copy is never readable by others, even briefly.
fn create_private(out: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(out)
        .map(drop)
        .map_err(|e| DatabaseError::Backend(format!("cannot create {}: {e}", out.display())))
}

fn vacuum_into(from: &Path, out: &Path) -> Result<()> {
    let out_text = out
        .to_str()
        .ok_or_else(|| DatabaseError::Backend("backup path is not UTF-8".into()))?;
    create_private(out)?;
    let copy = || -> Result<()> {
        let conn = Connection::open_with_flags(
            from,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute("VACUUM INTO ?1", [out_text])?;
        std::fs::File::open(out)
            .and_then(|f| f.sync_all())
            .map_err(|e| DatabaseError::Backend(format!("syncing {}: {e}", out.display())))
    };
    copy().inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })
}

impl SqliteDatabase {
    /// Writes a consistent copy of the whole store to `out` (which must not
    /// exist) while the database stays in use.
    pub async fn backup_into(&self, out: &Path) -> Result<()> {
        let (from, out) = (self.path().to_path_buf(), out.to_path_buf());
        tokio::task::spawn_blocking(move || vacuum_into(&from, &out)).await?
    }

    /// Restores a backup written by [`SqliteDatabase::backup_into`] as a new
    /// store at `into` (which must not exist) and opens it.
    pub async fn restore(backup: &Path, into: &Path) -> Result<SqliteDatabase> {
        let (from, out) = (backup.to_path_buf(), into.to_path_buf());
        tokio::task::spawn_blocking(move || vacuum_into(&from, &out)).await??;
        SqliteDatabase::open(into).await
    }
}
