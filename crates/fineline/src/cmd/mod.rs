pub mod backup;
pub mod bench;
pub mod demo;
pub mod demo_shop;
pub mod import;
pub mod insights;
pub mod keys;
pub mod serve;
pub mod sightings;
pub mod train;
pub mod verify;

use crate::StoreArgs;

/// Open the vault, the store and the server state from `--data-dir` /
/// `--database-url`.
pub async fn open_state(args: &StoreArgs) -> anyhow::Result<fineline_server::AppState> {
    std::fs::create_dir_all(&args.data_dir)?;
    let vault = fineline_vault::Vault::open_or_create(&args.data_dir)?;
    let store = fineline_server::open_store(&args.data_dir, args.database_url.as_deref()).await?;
    fineline_server::AppState::load(store, vault)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load state: {}", e.message))
}
