//! Throughput and latency of the ledger at a chosen size
//! (`fineline bench ledger`, `examples/ledger_bench.rs`).
//!
//! Appends are measured end to end as the server does them: build a
//! consent-change entry, encode it canonically, hash it, append, and sign a
//! tree head every `sign_every` entries. Proof latencies are per call,
//! at random positions, once the tree has reached its full size.

use crate::entry::{Commitment, ConsentState, LedgerEntry};
use crate::hash::Hash;
use crate::head::LogSigner;
use crate::log::Ledger;
use crate::verify::verify_inclusion;
use fineline_core::{Purpose, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::time::{Duration, Instant};

/// What the ledger benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Entries appended to the log.
    pub leaves: u64,
    /// Sign a tree head after this many appends (0: never).
    pub sign_every: u64,
    /// Proofs timed per kind.
    pub proof_samples: usize,
    /// Seeds the random leaves and samples, so runs repeat.
    pub seed: u64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            leaves: 1_000_000,
            sign_every: 1_000,
            proof_samples: 20_000,
            seed: 7,
        }
    }
}

/// Latency percentiles of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).copied().unwrap_or_default()
        };
        Latency {
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            micros(self.p50),
            micros(self.p99),
            micros(self.max)
        )
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Measured throughput, latencies and memory of one run.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// Entries appended.
    pub leaves: u64,
    /// Appends between two signed tree heads (0: never signed).
    pub sign_every: u64,
    /// Wall-clock time of all appends and signatures.
    pub append_time: Duration,
    /// Appends per second, signatures included.
    pub appends_per_sec: f64,
    /// Tree heads signed during the appends.
    pub signatures: u64,
    /// Rebuilding the tree from stored leaf hashes (server start).
    pub rebuild_time: Duration,
    /// Inclusion proof at the latest size, random leaf.
    pub inclusion_latest: Latency,
    /// Inclusion proof at a random past size, random leaf within it.
    pub inclusion_past: Latency,
    /// Consistency proof from a random past size to the latest.
    pub consistency: Latency,
    /// Verifying an inclusion proof (what `fineline verify` does).
    pub verify_inclusion: Latency,
    /// Heap memory of the tree's hash levels, in bytes.
    pub memory_bytes: usize,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger: {} leaves, tree head signed every {} entries ({} signatures)",
            self.leaves, self.sign_every, self.signatures
        )?;
        writeln!(
            f,
            "  appends:               {:.0}/s ({:.2} s total)",
            self.appends_per_sec,
            self.append_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "  rebuild from leaves:   {:.2} s",
            self.rebuild_time.as_secs_f64()
        )?;
        writeln!(f, "  inclusion (latest):    {}", self.inclusion_latest)?;
        writeln!(f, "  inclusion (past size): {}", self.inclusion_past)?;
        writeln!(f, "  consistency:           {}", self.consistency)?;
        writeln!(f, "  verify inclusion:      {}", self.verify_inclusion)?;
        write!(
            f,
            "  memory:                {:.0} MB of cached hashes",
            self.memory_bytes as f64 / 1e6
        )
    }
}

/// A consent change as the server would log it, varied by `i`.
fn sample_entry(i: u64) -> LedgerEntry {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&i.to_le_bytes());
    LedgerEntry::ConsentChange {
        commitment: Commitment(Hash(digest)),
        purpose: Purpose::ALL[(i % 5) as usize],
        state: match i % 3 {
            0 => ConsentState::Withdrawn,
            _ => ConsentState::Granted,
        },
        policy_version: 3,
        source: "privacy_center".to_string(),
        record_id: i.to_string(),
        at: Timestamp(1_764_633_600_000 + i as i64),
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Builds a log of `config.leaves` random leaves and measures it.
pub fn run(config: &BenchConfig) -> BenchReport {
    let n = config.leaves.max(2);
    let signer = LogSigner::from_secret_bytes(&[0x42; 32]);
    let mut ledger = Ledger::from_tree(
        signer,
        crate::tree::MerkleTree::with_capacity(usize::try_from(n).unwrap_or(0)),
    );
    let mut signatures = 0;
    let (_, append_time) = time(|| {
        for i in 0..n {
            ledger.append(&sample_entry(i));
            if config.sign_every > 0 && (i + 1) % config.sign_every == 0 {
                ledger.sign_head(Timestamp(1_764_633_600_000 + i as i64));
                signatures += 1;
            }
        }
    });
    let tree = ledger.tree();
    let (rebuilt, rebuild_time) = time(|| {
        crate::tree::MerkleTree::from_leaf_hashes((0..n).map(|i| tree.leaf_hash(i).unwrap()))
    });
    drop(rebuilt);

    let mut rng = StdRng::seed_from_u64(config.seed);
    let samples = config.proof_samples.max(1);
    let mut timed = |f: &mut dyn FnMut(&mut StdRng) -> Duration| {
        Latency::of((0..samples).map(|_| f(&mut rng)).collect())
    };
    let inclusion_latest = timed(&mut |rng| {
        let index = rng.gen_range(0..n);
        time(|| tree.inclusion_proof(index, n).unwrap()).1
    });
    let inclusion_past = timed(&mut |rng| {
        let size = rng.gen_range(1..=n);
        let index = rng.gen_range(0..size);
        time(|| tree.inclusion_proof(index, size).unwrap()).1
    });
    let consistency = timed(&mut |rng| {
        let from = rng.gen_range(1..n);
        time(|| tree.consistency_proof(from, n).unwrap()).1
    });
    let root = tree.current_root();
    let verify = timed(&mut |rng| {
        let index = rng.gen_range(0..n);
        let proof = tree.inclusion_proof(index, n).unwrap();
        let leaf = tree.leaf_hash(index).unwrap();
        time(|| verify_inclusion(index, n, &leaf, &proof, &root).unwrap()).1
    });

    BenchReport {
        leaves: n,
        sign_every: config.sign_every,
        appends_per_sec: n as f64 / append_time.as_secs_f64(),
        append_time,
        signatures,
        rebuild_time,
        inclusion_latest,
        inclusion_past,
        consistency,
        verify_inclusion: verify,
        memory_bytes: tree.memory_bytes(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_run_reports_sane_numbers() {
        let report = super::run(&super::BenchConfig {
            leaves: 5_000,
            sign_every: 100,
            proof_samples: 200,
            seed: 1,
        });
        assert_eq!(report.signatures, 50);
        assert!(report.appends_per_sec > 0.0);
        assert!(report.inclusion_latest.p50 <= report.inclusion_latest.p99);
        assert!(report.to_string().contains("5000 leaves"));
    }
}
