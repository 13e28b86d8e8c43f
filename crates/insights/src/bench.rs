//! Benchmark helpers: synthetic events, a grouped count/sum run, and the error floor.
//!
//! The data is deterministic from a seed and can be written as raw little-endian arrays so
//! that peer libraries (`bench/insights_peers.py`) measure exactly the same rows.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use fineline_core::Pseudonym;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::engine::{InsightError, Plan};
use crate::mechanism::{NoisePlan, Sensitivity};
use crate::query::{Bounds, Dimension, Mechanism, Metric, Query};
use crate::rows::{bound_and_aggregate, Accumulate, DeclaredKeys, GroupKey, KeyValue, RowSet};

/// Shape of the synthetic data.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Event rows generated.
    pub rows: usize,
    /// Distinct people.
    pub people: u32,
    /// Distinct item categories.
    pub categories: u16,
    /// Distinct regions.
    pub regions: u16,
    /// Seeds the generator, so runs repeat.
    pub seed: u64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            rows: 10_000_000,
            people: 1_000_000,
            categories: 20,
            regions: 50,
            seed: 42,
        }
    }
}

/// Column-wise synthetic events: person `subject[i]` opened an app of `category[i]` in
/// `region[i]` and spent `value[i]` (fixed point).
pub struct Synthetic {
    /// How the data was generated.
    pub spec: Spec,
    /// Person number of each row (0-based).
    pub subject: Vec<u32>,
    /// Category number of each row.
    pub category: Vec<u16>,
    /// Region number of each row.
    pub region: Vec<u16>,
    /// Value of each row (fixed point).
    pub value: Vec<i64>,
}

/// Each person lives in one region and uses up to three categories, with Poisson-like
/// activity, so most people are inside the default bounds and a few are clipped. Rows come
/// out ordered by person, as a store scan keyed by pseudonym returns them.
pub fn generate(spec: Spec) -> Synthetic {
    let mut rng = ChaCha12Rng::seed_from_u64(spec.seed);
    let mut s = Synthetic {
        spec,
        subject: Vec::with_capacity(spec.rows),
        category: Vec::with_capacity(spec.rows),
        region: Vec::with_capacity(spec.rows),
        value: Vec::with_capacity(spec.rows),
    };
    for _ in 0..spec.rows {
        let p = rng.gen_range(0..spec.people);
        let k = rng.gen_range(0..3u32);
        s.subject.push(p);
        s.category
            .push(((p.wrapping_mul(7) + k) % spec.categories as u32) as u16);
        s.region.push((p % spec.regions as u32) as u16);
        s.value.push(rng.gen_range(0..=150));
    }
    // Stores key event rows by pseudonym, so a scan hands them over person by person.
    let mut order: Vec<u32> = (0..spec.rows as u32).collect();
    order.sort_by_key(|&i| s.subject[i as usize]);
    let permute = |v: &mut Vec<u16>| *v = order.iter().map(|&i| v[i as usize]).collect();
    permute(&mut s.category);
    permute(&mut s.region);
    s.value = order.iter().map(|&i| s.value[i as usize]).collect();
    s.subject = order.iter().map(|&i| s.subject[i as usize]).collect();
    s
}

impl Synthetic {
    /// The category's name, `cat00`, `cat01`, ...
    pub fn category_name(c: u16) -> String {
        format!("cat{c:02}")
    }

    /// The region's name, `region00`, `region01`, ...
    pub fn region_name(r: u16) -> String {
        format!("region{r:02}")
    }

    /// Every generated category and region, as public key lists.
    pub fn declared(&self) -> DeclaredKeys {
        DeclaredKeys {
            item_categories: Some((0..self.spec.categories).map(Self::category_name).collect()),
            regions: Some((0..self.spec.regions).map(Self::region_name).collect()),
            days: None,
        }
    }

    /// A stand-in pseudonym for person `p` (key id 1, `p` in the digest).
    pub fn pseudonym(p: u32) -> Pseudonym {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&p.to_le_bytes());
        Pseudonym::new(1, d)
    }

    /// Loads rows as the server would: one pseudonym lookup per row.
    pub fn to_rowset(&self) -> RowSet {
        let mut set = RowSet::with_capacity(self.subject.len(), self.spec.people as usize);
        let regions = self.spec.regions as usize;
        let mut key_ids = Vec::with_capacity(self.spec.categories as usize * regions);
        for c in 0..self.spec.categories {
            for r in 0..self.spec.regions {
                key_ids.push(set.key_id(&GroupKey(vec![
                    KeyValue::ItemCategory(Self::category_name(c)),
                    KeyValue::Region(Self::region_name(r)),
                ])));
            }
        }
        let people: Vec<Pseudonym> = (0..self.spec.people).map(Self::pseudonym).collect();
        for i in 0..self.subject.len() {
            let s = set.subject_id(&people[self.subject[i] as usize]);
            let k = key_ids[self.category[i] as usize * regions + self.region[i] as usize];
            set.push_ids(s, k, self.value[i]);
        }
        set
    }

    /// Writes `subject.u32`, `category.u16`, `region.u16`, `value.i64` (little-endian) to `dir`.
    pub fn write_dir(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        fn write<T: Copy, const N: usize>(
            path: &Path,
            v: &[T],
            f: impl Fn(T) -> [u8; N],
        ) -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
            for &x in v {
                w.write_all(&f(x))?;
            }
            w.flush()
        }
        write(&dir.join("subject.u32"), &self.subject, u32::to_le_bytes)?;
        write(&dir.join("category.u16"), &self.category, u16::to_le_bytes)?;
        write(&dir.join("region.u16"), &self.region, u16::to_le_bytes)?;
        write(&dir.join("value.i64"), &self.value, i64::to_le_bytes)?;
        Ok(())
    }
}

/// A grouped query by category and region with public keys, at pure `epsilon` (Laplace)
/// so it compares with the peers and with the 1/sinh floor.
pub fn grouped_query(metric: Metric, epsilon: f64, bounds: Bounds) -> Query {
    let nano_rho = (epsilon * epsilon / 2.0 * crate::budget::NANO as f64).round() as u64;
    Query {
        metric,
        event_types: vec!["app_open".to_string()],
        filters: Vec::new(),
        group_by: vec![Dimension::ItemCategory, Dimension::Region],
        cost_nano_rho: Some(nano_rho),
        mechanism: Mechanism::Laplace,
        bounds,
        min_subjects: Some(0),
    }
}

/// What one benchmark run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Which metric ran (`count`, `sum`, ...).
    pub metric: &'static str,
    /// Rows the query read.
    pub rows: usize,
    /// Groups released.
    pub groups: usize,
    /// Seconds for plan + bound + aggregate + noise (rows already loaded).
    pub query_secs: f64,
    /// Mean |released − bounded truth| over all groups and `repeats` noise draws.
    pub mae: f64,
    /// E|noise| of the mechanism at this scale (1/sinh(ε/Δ) for Laplace).
    pub floor: f64,
    /// Mean |released − raw truth| of the first release (includes clipping bias).
    pub mae_vs_raw: f64,
}

/// Runs `query` once end to end (timed), then redraws the noise `repeats` times on the
/// same bounded aggregates to measure error against the floor.
pub fn run(
    syn: &Synthetic,
    rows: &RowSet,
    query: &Query,
    repeats: usize,
    seed: u64,
) -> Result<Outcome, InsightError> {
    let declared = syn.declared();
    let t = Instant::now();
    // No floor: this measures the mechanism against its peers on every group, not a deployment.
    let plan = Plan::new(query, &declared, 0)?;
    let release = plan.run(rows, seed)?;
    let query_secs = t.elapsed().as_secs_f64();

    let clamp = query.clamp();
    let is_sum = clamp.is_some();
    let bounded = bound_and_aggregate(
        rows,
        query.bounds,
        Accumulate { clamp, bins: None },
        None,
        seed,
    );
    let keys: Vec<u32> = release
        .groups
        .iter()
        .map(|g| rows.lookup_key(&g.key).expect("synthetic keys all occur"))
        .collect();
    let truth: Vec<i64> = keys
        .iter()
        .map(|&k| {
            if is_sum {
                bounded.sum[k as usize]
            } else {
                bounded.count[k as usize]
            }
        })
        .collect();
    let (g, r) = (
        query.bounds.max_groups,
        query.bounds.max_rows_per_group as i64,
    );
    let linf = clamp.map_or(r, |(lo, hi)| r * lo.abs().max(hi.abs()));
    let noise = NoisePlan::vector(
        query.mechanism,
        Sensitivity { l0: g, linf },
        query.cost_nano_rho(),
    )?;
    let mut abs = 0.0;
    for _ in 0..repeats {
        let noisy = noise.release_vector(truth.clone())?;
        abs += noisy
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).abs() as f64)
            .sum::<f64>();
    }
    let mae = abs / (repeats * truth.len()) as f64;

    let mut raw = vec![0i64; rows.num_keys()];
    for i in 0..syn.subject.len() {
        let k = syn.category[i] as usize * syn.spec.regions as usize + syn.region[i] as usize;
        raw[k] += clamp.map_or(1, |(lo, hi)| syn.value[i].clamp(lo, hi));
    }
    let mae_vs_raw = release
        .groups
        .iter()
        .zip(&keys)
        .map(|(g, &k)| (g.estimate.value - raw[k as usize] as f64).abs())
        .sum::<f64>()
        / keys.len() as f64;
    Ok(Outcome {
        metric: if is_sum { "sum" } else { "count" },
        rows: rows.len(),
        groups: release.groups.len(),
        query_secs,
        mae,
        floor: noise.expected_abs_error(),
        mae_vs_raw,
    })
}
