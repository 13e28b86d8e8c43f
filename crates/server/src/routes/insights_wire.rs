//! The body of `POST /v1/insights/query` as partners send it: the documented
//! contract (its OpenAPI schema is derived from these types), converted into
//! the engine's [`Query`]. Kept apart from the engine's types so the engine
//! can change without changing what partners send.

use fineline_insights::query::MAX_H3_RES;
use fineline_insights::{Bounds, Dimension, Filter, Mechanism, Metric, Query};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A differentially private question over people granting `partner_insights` now.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryIn {
    /// What to measure in each group: `{"kind": ...}` with the kind's
    /// fields, or for `count` and `distinct_subjects` just the name.
    pub metric: MetricIn,
    /// Event types to read, e.g. `["purchase"]`; at least one.
    pub event_types: Vec<String>,
    /// Row filters, all of which must hold.
    #[serde(default)]
    pub filters: Vec<FilterIn>,
    /// Grouping dimensions, each kind at most once; none gives one total.
    #[serde(default)]
    pub group_by: Vec<DimensionIn>,
    /// Per-person contribution bounds, applied before any noise.
    #[serde(default)]
    pub bounds: Option<BoundsIn>,
    /// Which noise: `gaussian` (default, zCDP) or `laplace` (pure ε-DP).
    #[serde(default)]
    pub mechanism: Option<MechanismIn>,
    /// Privacy cost in nano-ρ (zCDP), charged to the caller's budget before
    /// anything is computed; default 10,000,000 (ρ = 0.01).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub cost_nano_rho: Option<u64>,
    /// Drop groups of fewer (noisy) distinct people than this. Default and
    /// minimum: the deployment's floor (100 unless the operator raised it;
    /// the answer's `min_subjects` says which); asking less is a 400.
    #[serde(default)]
    pub min_subjects: Option<u64>,
}

/// The metric, in full or as the name of a kind without parameters.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum MetricIn {
    Name(MetricName),
    Spec(MetricSpec),
}

/// Metric kinds that take no parameters, usable as a bare string.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    Count,
    DistinctSubjects,
}

/// A metric with its parameters.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum MetricSpec {
    /// Number of (bounded) events.
    Count,
    /// Number of distinct people.
    DistinctSubjects,
    /// Sum of values clamped to `[lower, upper]` (both required).
    Sum {
        lower: Option<i64>,
        upper: Option<i64>,
    },
    /// Mean of clamped values (`lower`, `upper` required).
    Mean {
        lower: Option<i64>,
        upper: Option<i64>,
    },
    /// Count per bin: `bins` (1-1000) equal bins over `[lower, upper]` (required).
    Histogram {
        lower: Option<i64>,
        upper: Option<i64>,
        #[schema(minimum = 1, maximum = 1000)]
        bins: u32,
    },
    /// The `k` groups with the largest noisy counts.
    TopK {
        #[schema(minimum = 1)]
        k: u32,
    },
}

/// Every metric kind, as an unknown one's error lists them.
pub const METRIC_KINDS: &str = "count, distinct_subjects, sum, mean, histogram, top_k";

fn unknown_metric(got: &str) -> String {
    format!(
        "unknown metric {got}: expected one of {METRIC_KINDS}, as {{\"kind\": ...}} with the \
         kind's fields (\"count\" and \"distinct_subjects\" may be given as a bare string)"
    )
}

impl<'de> Deserialize<'de> for MetricIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        let v = Value::deserialize(d)?;
        let kind = match &v {
            Value::String(s) => s.clone(),
            Value::Object(m) => match m.get("kind") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => return Err(D::Error::custom(unknown_metric(&other.to_string()))),
                None => return Err(D::Error::custom(unknown_metric("without a kind"))),
            },
            other => return Err(D::Error::custom(unknown_metric(&other.to_string()))),
        };
        let known = METRIC_KINDS.split(", ").any(|k| k == kind);
        if !known {
            return Err(D::Error::custom(unknown_metric(&format!("{kind:?}"))));
        }
        match v {
            Value::String(_) => serde_json::from_value(Value::String(kind.clone()))
                .map(MetricIn::Name)
                .map_err(|_| {
                    D::Error::custom(format!(
                        "metric {kind} takes parameters: give it as {{\"kind\": \"{kind}\", ...}}"
                    ))
                }),
            v => serde_json::from_value(v)
                .map(MetricIn::Spec)
                .map_err(|e| D::Error::custom(format!("metric {kind}: {e}"))),
        }
    }
}

impl From<MetricIn> for Metric {
    fn from(m: MetricIn) -> Metric {
        match m {
            MetricIn::Name(MetricName::Count) | MetricIn::Spec(MetricSpec::Count) => Metric::Count,
            MetricIn::Name(MetricName::DistinctSubjects)
            | MetricIn::Spec(MetricSpec::DistinctSubjects) => Metric::DistinctSubjects,
            MetricIn::Spec(MetricSpec::Sum { lower, upper }) => Metric::Sum { lower, upper },
            MetricIn::Spec(MetricSpec::Mean { lower, upper }) => Metric::Mean { lower, upper },
            MetricIn::Spec(MetricSpec::Histogram { lower, upper, bins }) => {
                Metric::Histogram { lower, upper, bins }
            }
            MetricIn::Spec(MetricSpec::TopK { k }) => Metric::TopK { k },
        }
    }
}

/// A row filter.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum FilterIn {
    /// Events at `from <= at < to`, milliseconds since the epoch.
    TimeRange { from: i64, to: i64 },
    /// Events on items of any of these catalogue categories.
    ItemCategory { any_of: Vec<String> },
    /// Events whose `region` property is any of these.
    Region { any_of: Vec<String> },
}

impl From<FilterIn> for Filter {
    fn from(f: FilterIn) -> Filter {
        match f {
            FilterIn::TimeRange { from, to } => Filter::TimeRange { from, to },
            FilterIn::ItemCategory { any_of } => Filter::ItemCategory { any_of },
            FilterIn::Region { any_of } => Filter::Region { any_of },
        }
    }
}

/// A grouping dimension.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum DimensionIn {
    /// The item's catalogue category (keys public: every category is released).
    ItemCategory,
    /// Day since the epoch, UTC (public within a `time_range` filter).
    Day,
    /// Hour of day 0-23, UTC.
    Hour,
    /// The event's `region` property.
    Region,
    /// H3 location cell of `location` events.
    H3Cell {
        #[schema(minimum = 0, maximum = 7)]
        res: u8,
    },
}

impl From<DimensionIn> for Dimension {
    fn from(d: DimensionIn) -> Dimension {
        match d {
            DimensionIn::ItemCategory => Dimension::ItemCategory,
            DimensionIn::Day => Dimension::Day,
            DimensionIn::Hour => Dimension::Hour,
            DimensionIn::Region => Dimension::Region,
            DimensionIn::H3Cell { res } => Dimension::H3Cell { res },
        }
    }
}

/// Per-person contribution bounds.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoundsIn {
    /// Groups one person may contribute to (1-1000, default 4).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_groups: Option<u32>,
    /// Rows one person may contribute to one group (1-1000, default 10).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_rows_per_group: Option<u32>,
}

/// Which exact OpenDP sampler adds the noise.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum MechanismIn {
    /// Discrete Gaussian, accounted in zCDP.
    Gaussian,
    /// Discrete Laplace: pure ε-DP, charged as ρ = ε²/2.
    Laplace,
}

impl From<QueryIn> for Query {
    fn from(q: QueryIn) -> Query {
        let defaults = Bounds::default();
        let bounds = q.bounds.map_or(defaults, |b| Bounds {
            max_groups: b.max_groups.unwrap_or(defaults.max_groups),
            max_rows_per_group: b.max_rows_per_group.unwrap_or(defaults.max_rows_per_group),
        });
        Query {
            metric: q.metric.into(),
            event_types: q.event_types,
            filters: q.filters.into_iter().map(Filter::from).collect(),
            group_by: q.group_by.into_iter().map(Dimension::from).collect(),
            cost_nano_rho: q.cost_nano_rho,
            mechanism: match q.mechanism {
                None | Some(MechanismIn::Gaussian) => Mechanism::Gaussian,
                Some(MechanismIn::Laplace) => Mechanism::Laplace,
            },
            bounds,
            min_subjects: q.min_subjects,
        }
    }
}

// Kept in step with the engine: a finer cell would need a schema change here.
const _: () = assert!(MAX_H3_RES == 7);
