//! Backups of the embedded database that hold no per-person key, so an
//! erasure (which shreds the key in the vault's key store) reaches every
//! backup taken before it. PostgreSQL deployments use `pg_dump`: the
//! database holds no per-person key there either.

use std::path::{Path, PathBuf};

use fineline_db::SqliteDatabase;

use crate::subject_keys::{move_keys_out_of_database, purge_people_without_keys};
use crate::AppError;

/// The embedded database's file in a data dir.
const DATABASE_FILE: &str = "fineline.db";
/// The key store's files, backed up apart from the database.
const KEY_FILES: [&str; 2] = ["keys.json", "datakeys.db"];

/// What [`create`] wrote.
#[derive(Debug)]
pub struct Written {
    /// Size of the backup file.
    pub bytes: u64,
    /// The key store's files, to back up separately on a shorter rotation.
    pub key_files: Vec<PathBuf>,
}

/// What [`restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The database file restored into.
    pub database: PathBuf,
    /// People in the backup whose key is gone (erased since): purged.
    pub purged: usize,
    /// Key rows from before the key store, dropped from the restored copy.
    pub old_key_rows_dropped: usize,
}

/// Write a consistent copy of the embedded database in `data_dir` to
/// `out` (which must not exist) while a server may be running. Keys left
/// in the database by a version from before the key store are moved out
/// first, so none rides along.
pub async fn create(data_dir: &Path, out: &Path) -> Result<Written, AppError> {
    let db = data_dir.join(DATABASE_FILE);
    if !db.exists() {
        return Err(AppError::bad_request(format!(
            "no database at {}",
            db.display()
        )));
    }
    let vault = fineline_vault::Vault::open_or_create(data_dir)?;
    let database = SqliteDatabase::open(&db).await?;
    move_keys_out_of_database(&database, &vault).await?;
    database.backup_into(out).await?;
    let bytes = std::fs::metadata(out)
        .map_err(|e| AppError::internal(format!("reading {}: {e}", out.display())))?
        .len();
    Ok(Written {
        bytes,
        key_files: KEY_FILES.iter().map(|f| data_dir.join(f)).collect(),
    })
}

/// Restore `backup` into `data_dir`, which must hold the key store and no
/// database yet; everyone erased since the backup was taken (no key any
/// more) is purged from the restored copy.
pub async fn restore(backup: &Path, data_dir: &Path) -> Result<Restored, AppError> {
    let db = data_dir.join(DATABASE_FILE);
    if db.exists() {
        return Err(AppError::bad_request(format!(
            "{} exists: restore into a fresh data dir",
            db.display()
        )));
    }
    // Without the key store every restored person would look erased.
    for f in KEY_FILES {
        if !data_dir.join(f).exists() {
            return Err(AppError::bad_request(format!(
                "copy the key store ({f}) into {} before restoring",
                data_dir.display()
            )));
        }
    }
    let vault = fineline_vault::Vault::open_or_create(data_dir)?;
    let database = SqliteDatabase::restore(backup, &db).await?;
    let keys = move_keys_out_of_database(&database, &vault).await?;
    let purged = purge_people_without_keys(&database, &vault).await?;
    Ok(Restored {
        database: db,
        purged,
        old_key_rows_dropped: keys.dropped,
    })
}
