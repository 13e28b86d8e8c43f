//! How long shredding one person's key takes (the key store's share of an
//! erasure): a durable delete plus the WAL truncation, on a key store
//! holding `PEOPLE` keys, with a few creations between shreds so the WAL
//! is never empty when a shred starts (as in a live server).
//!
//! `cargo run --release -p fineline-vault --example shred_timing [PEOPLE] [SHREDS]`

use std::time::Instant;

use fineline_core::Pseudonym;
use fineline_vault::{KeyStore, MasterKey};

fn person(i: u64) -> Pseudonym {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&i.to_be_bytes());
    d[8] = 0xa5;
    Pseudonym::new(1, d)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().unwrap());
    let people = args.next().unwrap_or(10_000);
    let shreds = args.next().unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyStore::open(&dir.path().join("datakeys.db"), MasterKey::generate()).unwrap();
    let t = Instant::now();
    for i in 0..people {
        keys.create(&person(i)).unwrap();
    }
    let per_create = t.elapsed().as_secs_f64() * 1e3 / people as f64;
    let mut ms = Vec::with_capacity(shreds as usize);
    for n in 0..shreds {
        for j in 0..5 {
            keys.create(&person(people + n * 5 + j)).unwrap();
        }
        let who = person(n * (people / shreds));
        let t = Instant::now();
        assert!(keys.shred(&who).unwrap());
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let get = Instant::now();
    for i in 0..10_000 {
        keys.get(&person(people / 2 + i % 1000)).unwrap();
    }
    let per_get_us = get.elapsed().as_secs_f64() * 1e6 / 10_000.0;
    println!(
        "key store with {people} people: create {per_create:.2} ms, get (unwrap) {per_get_us:.1} µs, \
         shred p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({shreds} shreds)",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}
