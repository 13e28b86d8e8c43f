//! `fineline bench numbers`: the analytic numbers of everyone consenting,
//! as the first insights query after a start needs them (rows in the
//! analytic dataset name people by a number derived from their vault salt;
//! a process keeps them in memory once met). Baseline: a key-store lookup
//! per person (the data key unwrapped too), as before; against one walk of
//! the key store reading salts only. Same key store, same run.

use std::collections::HashSet;
use std::time::Instant;

use fineline_app::analytics::person_number;
use fineline_core::Pseudonym;

#[derive(clap::Args)]
pub struct Args {
    /// People holding keys.
    #[arg(long, default_value_t = 1_000_000)]
    pub people: usize,
    /// Of whom this share consents to partner insights (and is looked up).
    #[arg(long, default_value_t = 0.5)]
    pub consenting: f64,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&a.consenting),
        "--consenting is a share between 0 and 1"
    );
    let dir = tempfile::tempdir()?;
    let vault = fineline_vault::Vault::open_or_create(dir.path())?;
    let keys = vault.key_store().clone();
    let people: Vec<Pseudonym> = (0..a.people)
        .map(|i| vault.keyring().pseudonymize(&format!("numbers-bench-{i}")))
        .collect();
    let t = Instant::now();
    for chunk in people.chunks(10_000) {
        keys.create_many(chunk)?;
    }
    println!(
        "key store: {} people's keys created in {:.1}s",
        people.len(),
        t.elapsed().as_secs_f64()
    );
    let wanted = (people.len() as f64 * a.consenting).round() as usize;
    let missing = &people[..wanted];

    let t = Instant::now();
    let mut by_lookup = Vec::with_capacity(wanted);
    for p in missing {
        if let Some(k) = keys.get(p)? {
            by_lookup.push((*p, person_number(&k.salt)));
        }
    }
    let lookup = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let want: HashSet<Pseudonym> = missing.iter().copied().collect();
    let mut by_walk = Vec::with_capacity(wanted);
    keys.for_each_salt(10_000, |p, salt| {
        if want.contains(&p) {
            by_walk.push((p, person_number(&salt)));
        }
    })?;
    let walk = t.elapsed().as_secs_f64();

    by_lookup.sort_unstable();
    by_walk.sort_unstable();
    anyhow::ensure!(by_lookup == by_walk, "the two ways found different numbers");
    println!(
        "{wanted} numbers of {} people: a lookup each {lookup:.2}s ({:.1} µs/person), one walk {walk:.2}s; walk / lookup {:.3}",
        people.len(),
        lookup * 1e6 / wanted.max(1) as f64,
        walk / lookup
    );
    Ok(())
}
