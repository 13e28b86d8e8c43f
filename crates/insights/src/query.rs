//! The query model partners post, and its validation.
//!
//! This is also the documented query-file format (`fineline insights query FILE.json`),
//! hence the serde derives.

use serde::{Deserialize, Serialize};

use crate::budget::NANO;

/// Default cost of a query that states none: ρ = 0.01 (ten such queries fit the default budget).
pub const DEFAULT_QUERY_NANO_RHO: u64 = 10_000_000;
/// Default number of groups one person may contribute to.
pub const DEFAULT_MAX_GROUPS: u32 = 4;
/// Default number of rows one person may contribute to one group.
pub const DEFAULT_MAX_ROWS_PER_GROUP: u32 = 10;
/// Default `min_subjects` when any dimension is a location cell (de Montjoye: few points single people out).
pub const DEFAULT_MIN_SUBJECTS_LOCATION: u64 = 100;
/// The smallest group of distinct people a deployment's releases may show: what README and
/// the demo policy promise. A deployment may raise its floor (`serve --insights-floor`), never
/// lower it; a query may raise its own `min_subjects` above the floor, never lower it.
pub const MIN_FLOOR: u64 = 100;
/// H3 resolution above which cells are small enough to follow one person home.
pub const MAX_H3_RES: u8 = 7;
/// Upper bound on the number of groups a query may declare, to keep releases bounded.
pub const MAX_DECLARED_GROUPS: usize = 100_000;

/// What is measured in each group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Metric {
    /// Number of (bounded) events.
    Count,
    /// Number of distinct people.
    DistinctSubjects,
    /// Sum of values clamped to `[lower, upper]` (fixed point, as the rows carry them).
    Sum {
        /// Smallest value counted; lower values are clamped up to it. Required.
        lower: Option<i64>,
        /// Largest value counted; higher values are clamped down to it. Required.
        upper: Option<i64>,
    },
    /// Mean of clamped values: noisy sum over noisy count.
    Mean {
        /// Smallest value counted; lower values are clamped up to it. Required.
        lower: Option<i64>,
        /// Largest value counted; higher values are clamped down to it. Required.
        upper: Option<i64>,
    },
    /// Count of values per bin: `bins` equal-width bins over `[lower, upper]`.
    Histogram {
        /// Lower edge of the first bin; lower values fall in it. Required.
        lower: Option<i64>,
        /// Upper edge of the last bin; higher values fall in it. Required.
        upper: Option<i64>,
        /// Number of bins, 1 to 1000.
        bins: u32,
    },
    /// The `k` groups with the largest noisy counts (post-processing of noisy counts).
    TopK {
        /// How many groups to release, at least 1.
        k: u32,
    },
}

/// A declared grouping dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Dimension {
    /// The catalogue category of the event's item.
    ItemCategory,
    /// Day since the epoch (UTC).
    Day,
    /// Hour of day 0..24 (UTC).
    Hour,
    /// The `region` property the business's systems sent with the event.
    Region,
    /// H3 location cell at resolution `res` (≤ [`MAX_H3_RES`]).
    H3Cell {
        /// H3 resolution, 0 to [`MAX_H3_RES`].
        res: u8,
    },
}

/// A row filter, applied by the store when it fetches rows (the engine takes rows already filtered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Filter {
    /// Events at `from <= at < to`, milliseconds since the epoch.
    TimeRange {
        /// Start, inclusive (ms since the Unix epoch).
        from: i64,
        /// End, exclusive (ms since the Unix epoch).
        to: i64,
    },
    /// Events whose item is in one of these categories.
    ItemCategory {
        /// The categories accepted.
        any_of: Vec<String>,
    },
    /// Events in one of these regions.
    Region {
        /// The regions accepted.
        any_of: Vec<String>,
    },
}

/// Which exact OpenDP sampler adds the noise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Discrete Gaussian, accounted natively in zCDP.
    #[default]
    Gaussian,
    /// Discrete Laplace: pure ε-DP, charged as ρ = ε²/2.
    Laplace,
}

/// Per-person contribution bounds, applied before any noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    /// Groups one person may contribute to (1 to 1000); extra ones are dropped at random.
    #[serde(default = "default_max_groups")]
    pub max_groups: u32,
    /// Rows one person may contribute to one group (1 to 1000); extra ones are dropped at random.
    #[serde(default = "default_max_rows")]
    pub max_rows_per_group: u32,
}

fn default_max_groups() -> u32 {
    DEFAULT_MAX_GROUPS
}
fn default_max_rows() -> u32 {
    DEFAULT_MAX_ROWS_PER_GROUP
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_groups: DEFAULT_MAX_GROUPS,
            max_rows_per_group: DEFAULT_MAX_ROWS_PER_GROUP,
        }
    }
}

/// A partner's question.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// What is measured in each group.
    pub metric: Metric,
    /// Event types counted (`app_open`, `purchase`, ...); at least one.
    pub event_types: Vec<String>,
    /// Row filters; all must hold.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Dimensions the result is grouped by, each at most once.
    #[serde(default)]
    pub group_by: Vec<Dimension>,
    /// Cost in nano-ρ (zCDP); `None` means [`DEFAULT_QUERY_NANO_RHO`].
    #[serde(default)]
    pub cost_nano_rho: Option<u64>,
    /// Which sampler adds the noise.
    #[serde(default)]
    pub mechanism: Mechanism,
    /// Per-person contribution bounds.
    #[serde(default)]
    pub bounds: Bounds,
    /// Groups with fewer (noisy) distinct people are dropped; `None` means the deployment's
    /// floor (at least [`DEFAULT_MIN_SUBJECTS_LOCATION`] when grouping by cell). Below the
    /// floor is refused: see [`Query::min_subjects`].
    #[serde(default)]
    pub min_subjects: Option<u64>,
}

/// Why a query is refused; each names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A value metric without `lower` and `upper`; names the metric.
    #[error("metric.lower and metric.upper are required for {0}")]
    MissingClampBounds(&'static str),
    /// The clamp interval is empty.
    #[error("metric.lower ({lower}) must be <= metric.upper ({upper})")]
    InvertedClampBounds {
        /// The `lower` given.
        lower: i64,
        /// The `upper` given.
        upper: i64,
    },
    /// Histogram bins outside 1 to 1000.
    #[error("metric.bins must be between 1 and 1000, got {0}")]
    BadBins(u32),
    /// Top-k with `k` = 0.
    #[error("metric.k must be at least 1")]
    BadTopK,
    /// An H3 resolution finer than [`MAX_H3_RES`].
    #[error("group_by h3_cell res must be <= {MAX_H3_RES}, got {0}")]
    H3ResTooFine(u8),
    /// The same dimension appears twice in `group_by`.
    #[error("group_by lists {0:?} twice")]
    DuplicateDimension(Dimension),
    /// `event_types` is empty.
    #[error("event_types must name at least one event type")]
    NoEventTypes,
    /// A contribution bound outside 1 to 1000; names the bound.
    #[error("bounds.{0} must be between 1 and 1000")]
    BadBound(&'static str),
    /// `cost_nano_rho` is 0.
    #[error("cost_nano_rho must be positive")]
    ZeroCost,
    /// A time range that ends before it starts.
    #[error("filters time_range from ({from}) must be before to ({to})")]
    BadTimeRange {
        /// The start given (ms since the Unix epoch).
        from: i64,
        /// The end given (ms since the Unix epoch).
        to: i64,
    },
    /// Declared keys multiply to more groups than [`MAX_DECLARED_GROUPS`].
    #[error("group_by declares {0} groups, more than {MAX_DECLARED_GROUPS}")]
    TooManyGroups(usize),
    #[error(
        "min_subjects {asked} is below this deployment's floor of {floor} people: \
         ask for {floor} or more, or leave it out"
    )]
    /// The query asks to release groups smaller than the deployment allows.
    BelowFloor {
        /// The `min_subjects` asked for.
        asked: u64,
        /// The deployment's smallest releasable group.
        floor: u64,
    },
}

impl Query {
    /// DP counts of app usage by category and region: what a carrier would sell, done right.
    pub fn app_insights(cost_nano_rho: Option<u64>) -> Self {
        Query {
            metric: Metric::Count,
            event_types: vec!["app_open".to_string()],
            filters: Vec::new(),
            group_by: vec![Dimension::ItemCategory, Dimension::Region],
            cost_nano_rho,
            mechanism: Mechanism::Gaussian,
            bounds: Bounds::default(),
            min_subjects: None,
        }
    }

    /// A location heatmap: distinct people per H3 cell.
    pub fn heatmap(res: u8, event_types: Vec<String>, cost_nano_rho: Option<u64>) -> Self {
        Query {
            metric: Metric::DistinctSubjects,
            event_types,
            filters: Vec::new(),
            group_by: vec![Dimension::H3Cell { res }],
            cost_nano_rho,
            mechanism: Mechanism::Gaussian,
            bounds: Bounds::default(),
            min_subjects: None,
        }
    }

    /// The query's cost in nano-ρ, the default if it states none.
    pub fn cost_nano_rho(&self) -> u64 {
        self.cost_nano_rho.unwrap_or(DEFAULT_QUERY_NANO_RHO)
    }

    /// The query's cost as ρ.
    pub fn rho(&self) -> f64 {
        self.cost_nano_rho() as f64 / NANO as f64
    }

    /// The smallest group this query may release, given the deployment's `floor`: the asked
    /// `min_subjects` if at least the floor, else the floor (raised for location cells). Asking
    /// below the floor is an error rather than silently raised, so the analyst learns the rule.
    pub fn min_subjects(&self, floor: u64) -> Result<u64, QueryError> {
        match self.min_subjects {
            Some(asked) if asked < floor => Err(QueryError::BelowFloor { asked, floor }),
            Some(asked) => Ok(asked),
            None if self.h3_res().is_some() => Ok(floor.max(DEFAULT_MIN_SUBJECTS_LOCATION)),
            None => Ok(floor),
        }
    }

    /// The H3 resolution if the query groups by location cell.
    pub fn h3_res(&self) -> Option<u8> {
        self.group_by.iter().find_map(|d| match d {
            Dimension::H3Cell { res } => Some(*res),
            _ => None,
        })
    }

    /// The clamp interval for value metrics, `None` for metrics that only count.
    pub fn clamp(&self) -> Option<(i64, i64)> {
        match &self.metric {
            Metric::Sum { lower, upper }
            | Metric::Mean { lower, upper }
            | Metric::Histogram { lower, upper, .. } => lower.zip(*upper),
            _ => None,
        }
    }

    /// Checks every field; the error names the first one wrong.
    pub fn validate(&self) -> Result<(), QueryError> {
        let name = match &self.metric {
            Metric::Sum { .. } => Some("sum"),
            Metric::Mean { .. } => Some("mean"),
            Metric::Histogram { .. } => Some("histogram"),
            _ => None,
        };
        if let Some(name) = name {
            let (lower, upper) = self.clamp().ok_or(QueryError::MissingClampBounds(name))?;
            if lower > upper {
                return Err(QueryError::InvertedClampBounds { lower, upper });
            }
        }
        match self.metric {
            Metric::Histogram { bins, .. } if !(1..=1000).contains(&bins) => {
                return Err(QueryError::BadBins(bins))
            }
            Metric::TopK { k: 0 } => return Err(QueryError::BadTopK),
            _ => {}
        }
        if self.event_types.is_empty() {
            return Err(QueryError::NoEventTypes);
        }
        for (i, d) in self.group_by.iter().enumerate() {
            if let Dimension::H3Cell { res } = d {
                if *res > MAX_H3_RES {
                    return Err(QueryError::H3ResTooFine(*res));
                }
            }
            let same_kind = |a: &Dimension, b: &Dimension| {
                std::mem::discriminant(a) == std::mem::discriminant(b)
            };
            if self.group_by[..i].iter().any(|e| same_kind(e, d)) {
                return Err(QueryError::DuplicateDimension(*d));
            }
        }
        if !(1..=1000).contains(&self.bounds.max_groups) {
            return Err(QueryError::BadBound("max_groups"));
        }
        if !(1..=1000).contains(&self.bounds.max_rows_per_group) {
            return Err(QueryError::BadBound("max_rows_per_group"));
        }
        if self.cost_nano_rho() == 0 {
            return Err(QueryError::ZeroCost);
        }
        for f in &self.filters {
            if let Filter::TimeRange { from, to } = f {
                if from >= to {
                    return Err(QueryError::BadTimeRange {
                        from: *from,
                        to: *to,
                    });
                }
            }
        }
        Ok(())
    }
}
