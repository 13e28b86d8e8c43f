//! `fineline backup create|restore`: backups of the database that hold
//! no per-person key, so an erasure (which shreds the key in the vault's
//! key store) reaches every backup taken before it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::DatabaseArgs;

#[derive(clap::Subcommand)]
pub enum BackupCommand {
    /// Write a consistent copy of the database while the server runs. It
    /// holds sealed rows but no per-person key: back up the key store
    /// (`datakeys.db`, `keys.json`) separately, on a short rotation.
    Create {
        /// The backup file to write (must not exist).
        out: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Restore a backup into a fresh data dir that already holds the key
    /// store (`keys.json`, `datakeys.db`); everyone erased since the backup
    /// was taken (no key any more) is purged from it.
    Restore {
        /// A file written by `fineline backup create`.
        backup: PathBuf,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn run(command: BackupCommand) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { out, database } => create(&out, &database).await,
        BackupCommand::Restore { backup, database } => restore(&backup, &database).await,
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
    let written = fineline_app::backup::create(&args.data_dir, out)
        .await
        .with_context(|| format!("writing {}", out.display()))?;
    let keys: Vec<String> = written
        .key_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "backup written to {} ({} bytes); it holds no per-person keys: \
         back up {} separately",
        out.display(),
        written.bytes,
        keys.join(" and ")
    );
    Ok(())
}

async fn restore(backup: &Path, args: &DatabaseArgs) -> anyhow::Result<()> {
    embedded_only(args, "restore")?;
    let done = fineline_app::backup::restore(backup, &args.data_dir)
        .await
        .with_context(|| format!("restoring {}", backup.display()))?;
    println!(
        "restored {} into {}; purged {} people erased since the backup{}",
        backup.display(),
        done.database.display(),
        done.purged,
        if done.old_key_rows_dropped > 0 {
            format!(" ({} old key rows dropped)", done.old_key_rows_dropped)
        } else {
            String::new()
        }
    );
    Ok(())
}
