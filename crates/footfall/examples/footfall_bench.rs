//! Sightings/s through pseudonymization + sessionization, and peak memory,
//! for one store with 10M sightings in a day.
//!
//! cargo run --release -p fineline-footfall --example footfall_bench [-- SIGHTINGS]

use fineline_footfall::bench::{run, BenchConfig};

fn main() {
    let mut cfg = BenchConfig::default();
    if let Some(n) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        cfg.sightings = n;
    }
    let r = run(&cfg);
    let mib = |k: Option<u64>| {
        k.map_or("n/a".to_string(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!("sightings            {}", r.sightings);
    println!(
        "ingest time          {:.3} s (one thread)",
        r.ingest_time.as_secs_f64()
    );
    println!("throughput           {:.0} sightings/s", r.per_second);
    println!(
        "devices / sessions   {} / {} ({} visits)",
        r.devices, r.sessions, r.visits
    );
    println!("max open sessions    {}", r.max_open_sessions);
    println!("peak RSS before      {}", mib(r.peak_rss_kib_before));
    println!("peak RSS (VmHWM)     {}", mib(r.peak_rss_kib_after));
}
