//! `fineline train`: train the recommender straight from the database (the
//! data dir or the database), with a progress bar, and store the derived
//! interests. A running server trains its own model on its schedule or on
//! `POST /v1/recs/train`; this command shows what a training yields.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::DatabaseArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub recs: crate::RecsArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let state = super::open_app(&args.database).await?;
    state.set_recs_config(args.recs.config());
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{msg:>14} [{bar:40}] {pos}/{len} {elapsed_precise}",
    )?);
    let progress = {
        let bar = bar.clone();
        Arc::new(move |p: fineline_recs::Progress| {
            bar.set_message(p.stage);
            bar.set_length(p.total);
            bar.set_position(p.done);
        })
    };
    let status = state
        .train(progress)
        .await
        .map_err(|e| anyhow::anyhow!("training failed: {e}"))?;
    bar.finish_and_clear();
    println!(
        "trained {} on {} consented events: {} subjects, {} items, {} ms",
        status.algorithm, status.events_used, status.subjects, status.items, status.training_ms
    );
    match status.holdout {
        Some(h) => println!(
            "holdout (seeded 80/20, {} users): precision@10 {:.4}, NDCG@10 {:.4}",
            h.users, h.precision_at_10, h.ndcg_at_10
        ),
        None => println!("holdout: skipped (too little or too much data)"),
    }
    Ok(())
}
