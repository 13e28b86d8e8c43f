//! `cargo run --release -p fineline-ledger --example ledger_bench [LEAVES] [SIGN_EVERY]`
//! Defaults: 10,000,000 leaves, a signed tree head every 1,000 entries.

use fineline_ledger::bench::{run, BenchConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = BenchConfig {
        leaves: 10_000_000,
        ..BenchConfig::default()
    };
    if let Some(leaves) = args.next() {
        config.leaves = leaves.parse().expect("LEAVES is a whole number");
    }
    if let Some(every) = args.next() {
        config.sign_every = every.parse().expect("SIGN_EVERY is a whole number");
    }
    println!("{}", run(&config));
}
