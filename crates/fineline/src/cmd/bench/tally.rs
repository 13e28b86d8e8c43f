//! What `bench load` counts per route class, and how it prints it.

use std::time::Duration;

use hdrhistogram::Histogram;

/// One class's results.
pub struct Tally {
    pub latency_us: Histogram<u64>,
    pub errors: u64,
    /// A few distinct failures, to say what went wrong.
    pub samples: Vec<String>,
}

impl Tally {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3)?,
            errors: 0,
            samples: Vec::new(),
        })
    }

    pub fn fail(&mut self, why: String) {
        self.errors += 1;
        if self.samples.len() < 3 && !self.samples.contains(&why) {
            self.samples.push(why);
        }
    }

    /// One line on the requests due in the `window` after a SIGKILL.
    pub fn failover_line(&self, window: Duration) -> anyhow::Result<String> {
        let ms = |q: f64| self.latency_us.value_at_quantile(q) as f64 / 1e3;
        let mut out = format!(
            "during failover (requests due in the {} s after the SIGKILL): {} answered, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, {} errors\n",
            window.as_secs(),
            self.latency_us.len(),
            ms(0.5),
            ms(0.99),
            ms(0.999),
            self.latency_us.max() as f64 / 1e3,
            self.errors,
        );
        for s in &self.samples {
            out.push_str(&format!("  error: {s}\n"));
        }
        Ok(out)
    }
}

/// The table of every class and all together; also the answered
/// requests per second.
pub fn render(
    tallies: &[(&str, &Tally)],
    elapsed: Duration,
    rate: u32,
    duration: u64,
) -> anyhow::Result<(String, f64)> {
    use std::fmt::Write;
    let mut out = String::new();
    let mut all = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let mut errors = 0;
    writeln!(
        out,
        "{:<30} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7}",
        "route class", "req/s", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
    )?;
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    let secs = elapsed.as_secs_f64().max(1e-9);
    let line = |out: &mut String, label: &str, h: &Histogram<u64>, err: u64| {
        writeln!(
            out,
            "{:<30} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7}",
            label,
            h.len() as f64 / secs,
            ms(h, 0.5),
            ms(h, 0.95),
            ms(h, 0.99),
            ms(h, 0.999),
            h.max() as f64 / 1e3,
            err
        )
    };
    for (label, t) in tallies {
        line(&mut out, label, &t.latency_us, t.errors)?;
        all.add(&t.latency_us)?;
        errors += t.errors;
    }
    line(&mut out, "all", &all, errors)?;
    writeln!(
        out,
        "achieved: {:.0} answered req/s over {:.1} s (target {rate}/s for {duration} s); {} answered, {errors} errors",
        all.len() as f64 / secs,
        secs,
        all.len()
    )?;
    for (label, t) in tallies {
        for s in &t.samples {
            writeln!(out, "  error in {label}: {s}")?;
        }
    }
    Ok((out, all.len() as f64 / secs))
}
