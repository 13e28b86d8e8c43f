//! Planning (cost, scales, threshold: public parameters only) and running a query on rows.
//!
//! Two steps when needed:
//! 1. **Selection** on noisy distinct-subject counts: groups below `min_subjects` (never less
//!    than the deployment's floor) are dropped, and keys that are not public are kept only
//!    above max(`min_subjects`, OpenDP's threshold for δ). Dropping
//!    looks only at these noisy counts, so it is post-processing of a DP release and costs
//!    nothing beyond the share of ρ spent on them; a group that exists because of one person
//!    never appears except with probability δ.
//! 2. **Values** on the selected groups, with the rest of ρ. The selected key set is itself
//!    a DP output, so releasing values for exactly those keys composes sequentially.
//!
//! Distinct-subject queries, and counts with `max_rows_per_group = 1` (which then equal
//! distinct counts), are answered by step 1 alone with the whole ρ.

use std::collections::HashMap;

use crate::budget::{ApproxDp, BudgetError, Cost, REPORT_DELTA};
use crate::mechanism::{NoiseError, NoisePlan, Sensitivity};
use crate::query::{Mechanism, Metric, Query, QueryError, MAX_DECLARED_GROUPS};
use crate::rows::{bound_and_aggregate, Accumulate, Aggregates, DeclaredKeys, GroupKey, RowSet};

/// δ spent by one thresholded selection.
pub const THRESHOLD_DELTA: f64 = 1e-9;
/// Selection gets 1/SELECTION_SHARE_DIV of ρ when it is a separate step.
pub const SELECTION_SHARE_DIV: u64 = 4;

/// Why a query could not be planned or run; nothing was released.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InsightError {
    /// The query itself is refused; names the field.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// OpenDP could not make the noise for this cost and these bounds.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The analyst's budget cannot pay for the query.
    #[error(transparent)]
    Budget(#[from] BudgetError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Values {
    Count,
    Sum,
    Bins,
}

/// A query with its noise fixed from public parameters; charge [`Plan::cost`] before [`Plan::run`].
#[derive(Clone, Debug)]
pub struct Plan {
    /// The query as validated.
    pub query: Query,
    /// The query's `min_subjects` with the deployment's floor applied.
    min_subjects: u64,
    public_keys: Option<Vec<GroupKey>>,
    selection: Option<NoisePlan>,
    values: Vec<(Values, NoisePlan)>,
    cost: Cost,
    privacy: ApproxDp,
}

/// A released number with its error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The noisy value released.
    pub value: f64,
    /// Gaussian σ or Laplace b of the noise added (for a mean: of the sum).
    pub noise_scale: f64,
    /// Standard deviation of the noise added.
    pub std_dev: f64,
    /// 95% interval (for a mean, a delta-method approximation).
    pub ci95: (f64, f64),
}

/// A histogram bin: values `lower..=upper`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bin {
    /// Position of the bin, from 0 at `lower`.
    pub index: u32,
    /// Smallest value in the bin (inclusive).
    pub lower: i64,
    /// Largest value in the bin (inclusive).
    pub upper: i64,
}

/// One released group: its key, its bin for histograms, its noisy value.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRelease {
    /// The group's value per `group_by` dimension.
    pub key: GroupKey,
    /// The histogram bin, for histogram queries only.
    pub bin: Option<Bin>,
    /// The noisy value with its error.
    pub estimate: Estimate,
}

/// What leaves the engine: DP outputs only.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// Released groups; groups below the threshold are absent.
    pub groups: Vec<GroupRelease>,
    /// What was charged to the analyst's budget.
    pub cost: Cost,
    /// The same cost as (ε, δ), for people who think in those terms.
    pub privacy: ApproxDp,
    /// Which sampler added the noise.
    pub mechanism: Mechanism,
    /// Noisy threshold used for keys that are not public.
    pub threshold: Option<i64>,
    /// Smallest group of distinct people this release could show.
    pub min_subjects: u64,
}

fn estimate(value: f64, p: &NoisePlan) -> Estimate {
    let h = p.ci95_half_width();
    Estimate {
        value,
        noise_scale: p.scale,
        std_dev: p.std_dev(),
        ci95: (value - h, value + h),
    }
}

/// Bin `index` of `bins` equal-width bins over `lower..=upper`, in integers.
pub fn bin_bounds(index: u32, lower: i64, upper: i64, bins: u32) -> Bin {
    let width = upper as i128 - lower as i128 + 1;
    let edge = |i: u32| lower as i128 + (i as i128 * width + bins as i128 - 1) / bins as i128;
    Bin {
        index,
        lower: edge(index) as i64,
        upper: (edge(index + 1) - 1) as i64,
    }
}

impl Plan {
    /// Plans `query`; `floor` is the deployment's smallest releasable group (the server passes
    /// its configured floor, at least [`crate::query::MIN_FLOOR`]; 0 measures the bare mechanism).
    pub fn new(query: &Query, declared: &DeclaredKeys, floor: u64) -> Result<Plan, InsightError> {
        query.validate()?;
        let min_subjects = query.min_subjects(floor)?;
        let public_keys = declared.public_keys(&query.group_by);
        if let Some(k) = &public_keys {
            if k.len() > MAX_DECLARED_GROUPS {
                return Err(QueryError::TooManyGroups(k.len()).into());
            }
        }
        let mech = query.mechanism;
        let g = query.bounds.max_groups;
        let r = query.bounds.max_rows_per_group as i64;
        let rho = query.cost_nano_rho();
        let distinct_only = matches!(query.metric, Metric::DistinctSubjects)
            || (matches!(query.metric, Metric::Count | Metric::TopK { .. }) && r == 1);
        let needs_selection = public_keys.is_none() || min_subjects > 0 || distinct_only;
        let sel_rho = if distinct_only {
            rho
        } else if needs_selection {
            (rho / SELECTION_SHARE_DIV).max(1)
        } else {
            0
        };
        let val_rho = rho - sel_rho;
        let distinct_sens = Sensitivity { l0: g, linf: 1 };
        let selection = if !needs_selection {
            None
        } else if public_keys.is_some() {
            Some(NoisePlan::vector(mech, distinct_sens, sel_rho)?)
        } else {
            // The threshold is max(min_subjects, OpenDP's threshold for δ): spending more ρ
            // lowers OpenDP's part but never the floor.
            let min = i64::try_from(min_subjects).unwrap_or(i64::MAX);
            Some(NoisePlan::thresholded(
                mech,
                distinct_sens,
                sel_rho,
                min,
                THRESHOLD_DELTA,
            )?)
        };
        let mut values = Vec::new();
        if !distinct_only {
            let count = Sensitivity { l0: g, linf: r };
            match &query.metric {
                Metric::Count | Metric::TopK { .. } => {
                    values.push((Values::Count, NoisePlan::vector(mech, count, val_rho)?))
                }
                Metric::Sum { .. } | Metric::Mean { .. } => {
                    let (lo, hi) = query.clamp().expect("validated");
                    let c = lo.unsigned_abs().max(hi.unsigned_abs());
                    let c = i64::try_from(c).unwrap_or(i64::MAX);
                    let sum = Sensitivity {
                        l0: g,
                        linf: r.saturating_mul(c).max(1),
                    };
                    if matches!(query.metric, Metric::Mean { .. }) {
                        let half = val_rho / 2;
                        values.push((Values::Sum, NoisePlan::vector(mech, sum, half)?));
                        values.push((
                            Values::Count,
                            NoisePlan::vector(mech, count, val_rho - half)?,
                        ));
                    } else {
                        values.push((Values::Sum, NoisePlan::vector(mech, sum, val_rho)?));
                    }
                }
                Metric::Histogram { .. } => {
                    values.push((Values::Bins, NoisePlan::vector(mech, count, val_rho)?))
                }
                Metric::DistinctSubjects => unreachable!("distinct_only"),
            }
        }
        let delta = selection.and_then(|s| s.threshold).map_or(0.0, |(_, d)| d);
        Ok(Plan {
            query: query.clone(),
            min_subjects,
            public_keys,
            selection,
            values,
            cost: Cost::from_parts(rho, delta),
            privacy: Cost::from_parts(rho, delta).to_approx_dp(REPORT_DELTA)?,
        })
    }

    /// What running this plan spends: charge it before results leave.
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// The cost as (ε, δ) at [`REPORT_DELTA`] plus any thresholding δ.
    pub fn privacy(&self) -> ApproxDp {
        self.privacy
    }

    /// Whether group keys come from public lists (released for every key) or a noisy threshold.
    pub fn keys_are_public(&self) -> bool {
        self.public_keys.is_some()
    }

    /// The smallest group (noisy distinct people) this plan releases.
    pub fn min_subjects(&self) -> u64 {
        self.min_subjects
    }

    /// The 95% half-width every released value will have (a mean's is its
    /// sum's over a count, so it is `None`): noise does not depend on the
    /// data, so this is known before any row is read and costs nothing.
    pub fn expected_ci95_half_width(&self) -> Option<f64> {
        if matches!(self.query.metric, Metric::Mean { .. }) {
            return None;
        }
        match self.values.first() {
            Some((_, p)) => Some(p.ci95_half_width()),
            None => self.selection.map(|s| s.ci95_half_width()),
        }
    }

    /// The noisy count a key that is not public must reach to be released, if any.
    pub fn threshold(&self) -> Option<i64> {
        self.selection.and_then(|s| s.threshold).map(|(t, _)| t)
    }

    /// Bounds, aggregates and noises `rows`. `seed` drives contribution bounding only; the
    /// noise comes from OpenDP's own secure source.
    pub fn run(&self, rows: &RowSet, seed: u64) -> Result<Release, InsightError> {
        let q = &self.query;
        let (clamp, bins) = match q.metric {
            Metric::Histogram { bins, .. } => (q.clamp(), Some(bins)),
            _ => (q.clamp(), None),
        };
        // Public-key mode: ids of each declared key in `rows` (None: no row has it).
        let public_ids: Option<Vec<Option<u32>>> = self
            .public_keys
            .as_ref()
            .map(|keys| keys.iter().map(|k| rows.lookup_key(k)).collect());
        let allowed = public_ids.as_ref().map(|ids| {
            let mut a = vec![false; rows.num_keys()];
            ids.iter().flatten().for_each(|&i| a[i as usize] = true);
            a
        });
        let agg = bound_and_aggregate(
            rows,
            q.bounds,
            Accumulate { clamp, bins },
            allowed.as_deref(),
            seed,
        );
        self.release(rows, &agg)
    }

    /// Selects and noises groups already bounded and aggregated, by
    /// [`Plan::run`] or by a columnar engine that bounds the same way (each
    /// person at most `max_groups` groups × `max_rows_per_group` rows, rows
    /// outside public keys dropped first). `keys` numbers the groups `agg`
    /// is indexed by; its rows are not read.
    pub fn release(&self, keys: &RowSet, agg: &Aggregates) -> Result<Release, InsightError> {
        let q = &self.query;
        let rows = keys;
        let public_ids: Option<Vec<Option<u32>>> = self
            .public_keys
            .as_ref()
            .map(|keys| keys.iter().map(|k| rows.lookup_key(k)).collect());

        // Step 1: selected groups as (key, id in rows, noisy distinct if measured).
        let min_subjects = i64::try_from(self.min_subjects).unwrap_or(i64::MAX);
        let mut selected: Vec<(GroupKey, Option<u32>, Option<i64>)> = Vec::new();
        match (&public_ids, &self.selection) {
            (Some(ids), None) => {
                let keys = self.public_keys.as_ref().expect("public");
                selected.extend(
                    keys.iter()
                        .cloned()
                        .zip(ids.iter().copied())
                        .map(|(k, i)| (k, i, None)),
                );
            }
            (Some(ids), Some(sel)) => {
                let truth = ids
                    .iter()
                    .map(|i| i.map_or(0, |i| agg.distinct[i as usize]))
                    .collect();
                let noisy = sel.release_vector(truth)?;
                let keys = self.public_keys.as_ref().expect("public");
                for ((k, i), n) in keys.iter().zip(ids).zip(noisy) {
                    // Public keys are all released only without a floor (the bare mechanism).
                    if min_subjects == 0 || n >= min_subjects {
                        selected.push((k.clone(), *i, Some(n)));
                    }
                }
            }
            (None, Some(sel)) => {
                let truth: HashMap<u32, i64> = (0..rows.num_keys() as u32)
                    .filter(|&i| agg.distinct[i as usize] > 0)
                    .map(|i| (i, agg.distinct[i as usize]))
                    .collect();
                let mut kept: Vec<(u32, i64)> = sel.release_map(truth)?.into_iter().collect();
                // Sorted so output order leaks nothing about hash iteration.
                kept.sort_unstable_by(|a, b| rows.key(a.0).cmp(rows.key(b.0)));
                for (i, n) in kept {
                    if n >= min_subjects {
                        selected.push((rows.key(i).clone(), Some(i), Some(n)));
                    }
                }
            }
            (None, None) => unreachable!("unknown keys always select"),
        }

        let groups = if self.values.is_empty() {
            let sel = self
                .selection
                .as_ref()
                .expect("distinct-only has selection");
            let mut out: Vec<GroupRelease> = selected
                .into_iter()
                .map(|(key, _, n)| GroupRelease {
                    key,
                    bin: None,
                    estimate: estimate(n.expect("measured") as f64, sel),
                })
                .collect();
            self.top_k(&mut out);
            out
        } else {
            self.release_values(agg, &selected)?
        };
        Ok(Release {
            groups,
            cost: self.cost,
            privacy: self.privacy,
            mechanism: q.mechanism,
            threshold: self.threshold(),
            min_subjects: self.min_subjects,
        })
    }

    fn top_k(&self, out: &mut Vec<GroupRelease>) {
        if let Metric::TopK { k } = self.query.metric {
            out.sort_by(|a, b| b.estimate.value.total_cmp(&a.estimate.value));
            out.truncate(k as usize);
        }
    }

    fn release_values(
        &self,
        agg: &Aggregates,
        selected: &[(GroupKey, Option<u32>, Option<i64>)],
    ) -> Result<Vec<GroupRelease>, InsightError> {
        let pick = |v: &Vec<i64>| -> Vec<i64> {
            selected
                .iter()
                .map(|(_, i, _)| i.map_or(0, |i| v[i as usize]))
                .collect()
        };
        let mut out = Vec::new();
        match (self.query.metric.clone(), self.values.as_slice()) {
            (Metric::Mean { .. }, [(Values::Sum, ps), (Values::Count, pc)]) => {
                let s = ps.release_vector(pick(&agg.sum))?;
                let c = pc.release_vector(pick(&agg.count))?;
                let (hs, hc) = (ps.ci95_half_width(), pc.ci95_half_width());
                for ((key, _, _), (s, c)) in selected.iter().zip(s.into_iter().zip(c)) {
                    let n = (c.max(1)) as f64;
                    let mean = s as f64 / n;
                    let h = (hs + mean.abs() * hc) / n;
                    out.push(GroupRelease {
                        key: key.clone(),
                        bin: None,
                        estimate: Estimate {
                            value: mean,
                            noise_scale: ps.scale,
                            std_dev: (ps.std_dev().powi(2) + (mean * pc.std_dev()).powi(2)).sqrt()
                                / n,
                            ci95: (mean - h, mean + h),
                        },
                    });
                }
            }
            (Metric::Histogram { lower, upper, bins }, [(Values::Bins, p)]) => {
                let (lo, hi) = (lower.expect("validated"), upper.expect("validated"));
                let flat: Vec<i64> = selected
                    .iter()
                    .flat_map(|(_, i, _)| match i {
                        Some(i) => agg.bins[*i as usize].clone(),
                        None => vec![0; bins as usize],
                    })
                    .collect();
                let noisy = p.release_vector(flat)?;
                for (gi, (key, _, _)) in selected.iter().enumerate() {
                    for b in 0..bins {
                        let v = noisy[gi * bins as usize + b as usize];
                        out.push(GroupRelease {
                            key: key.clone(),
                            bin: Some(bin_bounds(b, lo, hi, bins)),
                            estimate: estimate(v as f64, p),
                        });
                    }
                }
            }
            (_, [(kind, p)]) => {
                let truth = match kind {
                    Values::Sum => pick(&agg.sum),
                    _ => pick(&agg.count),
                };
                let noisy = p.release_vector(truth)?;
                for ((key, _, _), v) in selected.iter().zip(noisy) {
                    out.push(GroupRelease {
                        key: key.clone(),
                        bin: None,
                        estimate: estimate(v as f64, p),
                    });
                }
                self.top_k(&mut out);
            }
            _ => unreachable!("plan shapes are fixed in Plan::new"),
        }
        Ok(out)
    }
}
