pub mod backup;
pub mod bench;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod demo;
pub mod demo_shop;
pub mod import;
pub mod insights;
pub mod insights_analytics;
pub mod keys;
pub mod persona;
pub mod serve;
pub mod sightings;
pub mod train;
pub mod verify;

use crate::DatabaseArgs;

/// Open the vault and the database from `--data-dir` / `--database-url` and
/// load the application on them (no server needed).
pub async fn open_app(args: &DatabaseArgs) -> anyhow::Result<fineline_app::App> {
    std::fs::create_dir_all(&args.data_dir)?;
    let vault = fineline_vault::Vault::open_or_create(&args.data_dir)?;
    let database =
        fineline_app::open_database(&args.data_dir, args.database_url.as_deref()).await?;
    Ok(fineline_app::App::load(database, vault).await?)
}
