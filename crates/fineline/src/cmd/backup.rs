//! `fineline backup create|restore`: backups of the data store that hold
//! no per-person key, so an erasure (which shreds the key in the vault's
//! key store) reaches every backup taken before it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::DatabaseArgs;

#[derive(clap::Subcommand)]
pub enum BackupCommand {
    /// Write a consistent copy of the data store while the server runs. It
    /// holds sealed rows but no per-person key: back up the key store
    /// (`datakeys.db`, `keys.json`) separately, on a short rotation.
    Create {
        /// The backup file to write (must not exist).
        out: PathBuf,
        #[command(flatten)]
        store: DatabaseArgs,
    },
    /// Restore a backup into a fresh data dir that already holds the key
    /// store (`keys.json`, `datakeys.db`); everyone erased since the backup
    /// was taken (no key any more) is purged from it.
    Restore {
        /// A file written by `fineline backup create`.
        backup: PathBuf,
        #[command(flatten)]
        store: DatabaseArgs,
    },
}

pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { out, store } => create(&out, &store).await,
        BackupCommand::Restore { backup, store } => restore(&backup, &store).await,
    }
}

fn embedded_only(args: &DatabaseArgs, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.database_url.is_none(),
        "PostgreSQL: {what} with `pg_dump`/`pg_restore` (the database holds no \
         per-person key either); back up the key store in --data-dir separately"
    );
    Ok(())
}

async fn create(out: &Path, args: &DatabaseArgs) -> anyhow::Result<()> {
    embedded_only(args, "back up")?;
    let db = args.data_dir.join("fineline.db");
    anyhow::ensure!(db.exists(), "no data store at {}", db.display());
    let vault = fineline_vault::Vault::open_or_create(&args.data_dir)?;
    let store = fineline_db::SqliteDatabase::open(&db).await?;
    // A data dir from before the key store still has keys in the data
    // store; they must not ride along in the backup.
    fineline_app::subject_keys::move_keys_out_of_data_store(&store, &vault).await?;
    store
        .backup_into(out)
        .await
        .with_context(|| format!("writing {}", out.display()))?;
    let bytes = std::fs::metadata(out)?.len();
    println!(
        "backup written to {} ({bytes} bytes); it holds no per-person keys: \
         back up {} and {} separately",
        out.display(),
        args.data_dir.join("datakeys.db").display(),
        vault.path().display()
    );
    Ok(())
}

async fn restore(backup: &Path, args: &DatabaseArgs) -> anyhow::Result<()> {
    embedded_only(args, "restore")?;
    let db = args.data_dir.join("fineline.db");
    anyhow::ensure!(
        !db.exists(),
        "{} exists: restore into a fresh data dir",
        db.display()
    );
    // Without the key store every restored person would look erased.
    for f in ["keys.json", "datakeys.db"] {
        anyhow::ensure!(
            args.data_dir.join(f).exists(),
            "copy the key store ({f}) into {} before restoring",
            args.data_dir.display()
        );
    }
    let vault = fineline_vault::Vault::open_or_create(&args.data_dir)?;
    let store = fineline_db::SqliteDatabase::restore(backup, &db)
        .await
        .with_context(|| format!("restoring {}", backup.display()))?;
    let keys = fineline_app::subject_keys::move_keys_out_of_data_store(&store, &vault).await?;
    let purged = fineline_app::subject_keys::purge_people_without_keys(&store, &vault).await?;
    println!(
        "restored {} into {}; purged {purged} people erased since the backup{}",
        backup.display(),
        db.display(),
        if keys.dropped > 0 {
            format!(" ({} old key rows dropped)", keys.dropped)
        } else {
            String::new()
        }
    );
    Ok(())
}
