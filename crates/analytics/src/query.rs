//! An insights query on DataFusion: scan and filter the partitions, join the
//! consenting set, bound each person's contribution, pre-aggregate per
//! group. The answer is exact integers before noise; fineline adds the noise.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, BooleanArray, Decimal128Array, Int64Array, RecordBatch, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::JoinType;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct, sum};
use datafusion::functions_window::expr_fn::{dense_rank, row_number};
use datafusion::logical_expr::{cast, try_cast, when, ExprFunctionExt};
use datafusion::prelude::{col, lit, Expr, ParquetReadOptions};
use fineline_insights::rows::Aggregates;
use fineline_insights::{
    DeclaredKeys, Dimension, Filter, GroupKey, KeyValue, Metric, Query, RowSet,
};

use crate::row::{self, DAY_MS, HOUR_MS};
use crate::store::AnalyticStore;
use crate::{udf, AnalyticsError, Result};

/// Who counts now: each consenting person's number and whether they grant
/// `location` too. Anyone absent (withdrawn, erased, never asked) is out of
/// every answer, whatever the files still hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consenting {
    people: Vec<u64>,
    location: Vec<bool>,
}

impl Consenting {
    /// People granting `partner_insights` now, with their `location` grant.
    pub fn new(people: impl IntoIterator<Item = (u64, bool)>) -> Self {
        let (people, location) = people.into_iter().unzip();
        Consenting { people, location }
    }

    /// People in the set.
    pub fn len(&self) -> usize {
        self.people.len()
    }

    /// Whether no one consents.
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    fn batch(&self) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new("c_person", DataType::UInt64, false),
            Field::new("c_location", DataType::Boolean, false),
        ]);
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(UInt64Array::from(self.people.clone())),
                Arc::new(BooleanArray::from(self.location.clone())),
            ],
        )?)
    }
}

/// One group's exact aggregates after contribution bounding, as
/// `fineline_insights::rows::Aggregates` holds them per key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupAggregate {
    /// The group, one value per `group_by` dimension.
    pub key: GroupKey,
    /// Bounded rows.
    pub count: i64,
    /// Distinct people who kept this group.
    pub distinct: i64,
    /// Sum of clamped values (0 unless the metric sums), saturated to i64.
    pub sum: i64,
    /// Per-bin counts (histograms only).
    pub bins: Vec<i64>,
}

fn key(i: usize) -> String {
    format!("k{i}")
}

fn u64_of(e: Expr) -> Expr {
    // Keys are codes, days, hours and cells: only a day before 1970 fails
    // the cast, and it then hashes as 0, with the key itself as tiebreak.
    try_cast(e, DataType::UInt64)
}

impl AnalyticStore {
    /// The pre-noise aggregates of `query` over the stored rows of people in
    /// `consenting`. `declared` restricts rows to public keys exactly as
    /// `fineline_insights::Plan::run` does before bounding; `seed` keys the
    /// bounding's random choices. Groups no one kept are absent.
    pub async fn aggregate(
        &self,
        query: &Query,
        declared: &DeclaredKeys,
        consenting: &Consenting,
        seed: u64,
    ) -> Result<Vec<GroupAggregate>> {
        query.validate()?;
        let dict = self.dictionary();
        let codes = |texts: &[String], lower: bool| -> Vec<Expr> {
            texts
                .iter()
                .filter_map(|t| {
                    if lower {
                        dict.lookup(&t.to_lowercase())
                    } else {
                        dict.lookup(t)
                    }
                })
                .map(lit)
                .collect()
        };
        let (mut from, mut to) = (i64::MIN, i64::MAX);
        let mut filters: Vec<Expr> = Vec::new();
        let kinds = codes(&query.event_types, false);
        if kinds.is_empty() || consenting.is_empty() {
            return Ok(Vec::new());
        }
        filters.push(col("kind").in_list(kinds, false));
        for f in &query.filters {
            let (column, list) = match f {
                Filter::TimeRange { from: a, to: b } => {
                    (from, to) = (from.max(*a), to.min(*b));
                    continue;
                }
                Filter::ItemCategory { any_of } => ("category", codes(any_of, false)),
                Filter::Region { any_of } => ("region", codes(any_of, true)),
            };
            if list.is_empty() {
                return Ok(Vec::new());
            }
            filters.push(col(column).in_list(list, false));
        }
        if from >= to {
            return Ok(Vec::new());
        }
        filters.push(col("at").gt_eq(lit(from)).and(col("at").lt(lit(to))));
        // Public keys: rows outside the declared lists are dropped before
        // bounding, as the engine does, so they cannot take a group's place.
        if declared.public_keys(&query.group_by).is_some() {
            for d in &query.group_by {
                let (column, list) = match d {
                    Dimension::ItemCategory => (
                        "category",
                        codes(declared.item_categories.as_deref().unwrap_or(&[]), false),
                    ),
                    Dimension::Region => (
                        "region",
                        codes(declared.regions.as_deref().unwrap_or(&[]), false),
                    ),
                    Dimension::Day => (
                        "day",
                        declared.days.iter().flatten().map(|d| lit(*d)).collect(),
                    ),
                    Dimension::Hour | Dimension::H3Cell { .. } => continue,
                };
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                filters.push(col(column).in_list(list, false));
            }
        }

        // Only the days the time range touches are listed, let alone read.
        let (first, last) = (
            from.div_euclid(DAY_MS),
            to.saturating_sub(1).div_euclid(DAY_MS),
        );
        let paths: Vec<String> = self
            .days()
            .await?
            .into_iter()
            .filter(|d| (first..=last).contains(d))
            .map(|d| format!("{}/day={d}/", crate::store::STORE_URL))
            .collect();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let schema = row::schema();
        let ctx = self.session()?;
        let mut df = ctx
            .read_parquet(paths, ParquetReadOptions::default().schema(&schema))
            .await?;
        for f in filters {
            df = df.filter(f)?;
        }
        let people = ctx.read_batch(consenting.batch()?)?;
        df = df
            .join(people, JoinType::Inner, &["person"], &["c_person"], None)?
            .filter(col("location").is_false().or(col("c_location")))?;

        let mut keys: Vec<Expr> = Vec::new();
        for (i, d) in query.group_by.iter().enumerate() {
            let e = match d {
                Dimension::ItemCategory => col("category"),
                Dimension::Region => col("region"),
                Dimension::Day => col("day"),
                Dimension::Hour => {
                    ((col("at") % lit(DAY_MS) + lit(DAY_MS)) % lit(DAY_MS)) / lit(HOUR_MS)
                }
                Dimension::H3Cell { res } => udf::h3_parent(*res).call(vec![col("h3_cell")]),
            };
            df = df.with_column(&key(i), cast(e, DataType::Int64))?;
            // A grouped dimension an event lacks puts it in no group.
            df = df.filter(col(key(i)).is_not_null())?;
            keys.push(col(key(i)));
        }
        let mix = udf::mix();
        // The order a person's groups are kept in: a keyed hash of the
        // person and the key, so it depends on that person's rows only.
        let group_hash = keys
            .iter()
            .fold(mix.call(vec![lit(seed), col("person")]), |h, k| {
                mix.call(vec![h, u64_of(k.clone())])
            });
        let mut group_order = vec![group_hash.sort(true, true)];
        group_order.extend(keys.iter().map(|k| k.clone().sort(true, true)));
        let g = query.bounds.max_groups as i64;
        let r = query.bounds.max_rows_per_group as i64;

        let (clamp, bins) = match query.metric {
            Metric::Histogram { bins, .. } => (query.clamp(), Some(bins)),
            _ => (query.clamp(), None),
        };
        let Some((lo, hi)) = clamp else {
            // Counting: which of a person's rows in a group are kept does not
            // change a count, so group first and cap (far fewer rows to rank).
            let mut by: Vec<Expr> = vec![col("person")];
            by.extend(keys.iter().cloned());
            let per = df
                .aggregate(by, vec![count(lit(1)).alias("n")])?
                .with_column("n", when(col("n").gt(lit(r)), lit(r)).otherwise(col("n"))?)?
                .window(vec![row_number()
                    .partition_by(vec![col("person")])
                    .order_by(group_order)
                    .build()?
                    .alias("gr")])?
                .filter(col("gr").lt_eq(lit(g)))?;
            let out = per.aggregate(
                keys.clone(),
                vec![
                    cast(sum(col("n")), DataType::Int64).alias("count"),
                    count(lit(1)).alias("distinct"),
                ],
            )?;
            return self.decode(query, &dict, out, None, None).await;
        };

        let value = when(col("value").is_null(), lit(0i64)).otherwise(col("value"))?;
        let clamped = when(col("v").lt(lit(lo)), lit(lo))
            .when(col("v").gt(lit(hi)), lit(hi))
            .otherwise(col("v"))?;
        let row_hash = mix.call(vec![mix.call(vec![lit(seed), col("salt")]), col("person")]);
        let mut per_group: Vec<Expr> = vec![col("person")];
        per_group.extend(keys.iter().cloned());
        let bounded = df
            .with_column("v", value)?
            .window(vec![row_number()
                .partition_by(per_group)
                .order_by(vec![
                    row_hash.sort(true, true),
                    col("at").sort(true, true),
                    col("v").sort(true, true),
                ])
                .build()?
                .alias("rn")])?
            .filter(col("rn").lt_eq(lit(r)))?
            .window(vec![dense_rank()
                .partition_by(vec![col("person")])
                .order_by(group_order)
                .build()?
                .alias("gr")])?
            .filter(col("gr").lt_eq(lit(g)))?
            .with_column("vc", clamped)?;
        let bounded = if bins.is_some() {
            bounded.cache().await?
        } else {
            bounded
        };
        let out = bounded.clone().aggregate(
            keys.clone(),
            vec![
                count(lit(1)).alias("count"),
                count_distinct(col("person")).alias("distinct"),
                sum(cast(col("vc"), DataType::Decimal128(38, 0))).alias("sum"),
            ],
        )?;
        let binned = match bins {
            Some(b) => {
                let mut by = keys.clone();
                by.push(udf::bin(lo, hi, b).call(vec![col("vc")]).alias("bin"));
                Some(bounded.aggregate(by, vec![count(lit(1)).alias("n")])?)
            }
            None => None,
        };
        self.decode(query, &dict, out, binned, bins).await
    }

    async fn decode(
        &self,
        query: &Query,
        dict: &crate::Dictionary,
        out: DataFrame,
        binned: Option<DataFrame>,
        bins: Option<u32>,
    ) -> Result<Vec<GroupAggregate>> {
        let key_of = |batch: &RecordBatch, i: usize| -> Result<GroupKey> {
            let mut values = Vec::with_capacity(query.group_by.len());
            for (j, d) in query.group_by.iter().enumerate() {
                let v = int64(batch, &key(j))?.value(i);
                let text = || {
                    dict.text(v as u32).map(str::to_string).ok_or_else(|| {
                        AnalyticsError::Corrupt("dictionary".into(), format!("no text {v}"))
                    })
                };
                values.push(match d {
                    Dimension::ItemCategory => KeyValue::ItemCategory(text()?),
                    Dimension::Region => KeyValue::Region(text()?),
                    Dimension::Day => KeyValue::Day(v),
                    Dimension::Hour => KeyValue::Hour(v as u8),
                    Dimension::H3Cell { .. } => KeyValue::H3Cell(v as u64),
                });
            }
            Ok(GroupKey(values))
        };
        let mut groups: Vec<GroupAggregate> = Vec::new();
        for batch in out.collect().await? {
            let (c, d) = (int64(&batch, "count")?, int64(&batch, "distinct")?);
            let s = batch
                .column_by_name("sum")
                .and_then(|a| a.as_any().downcast_ref::<Decimal128Array>());
            for i in 0..batch.num_rows() {
                // With no group_by, an empty scan still aggregates to one row.
                if d.value(i) == 0 {
                    continue;
                }
                groups.push(GroupAggregate {
                    key: key_of(&batch, i)?,
                    count: c.value(i),
                    distinct: d.value(i),
                    sum: s.map_or(0, |s| saturate(s.value(i))),
                    bins: vec![0; bins.unwrap_or(0) as usize],
                });
            }
        }
        groups.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        if let Some(binned) = binned {
            let at: HashMap<GroupKey, usize> = groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.key.clone(), i))
                .collect();
            for batch in binned.collect().await? {
                let (b, n) = (int64(&batch, "bin")?, int64(&batch, "n")?);
                for i in 0..batch.num_rows() {
                    let k = key_of(&batch, i)?;
                    let g = at.get(&k).ok_or_else(|| {
                        AnalyticsError::Corrupt("aggregate".into(), "bin of no group".into())
                    })?;
                    groups[*g].bins[b.value(i) as usize] += n.value(i);
                }
            }
        }
        Ok(groups)
    }
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn int64<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| AnalyticsError::Corrupt("aggregate".into(), format!("no int64 {name}")))
}

/// The engine's view of `groups`: a key set numbering them in order and
/// their aggregates, for `fineline_insights::Plan::release` to select and
/// noise. `bins` is the histogram's bin count, if any.
pub fn to_engine(groups: &[GroupAggregate], bins: Option<u32>) -> (RowSet, Aggregates) {
    let mut keys = RowSet::new();
    let mut agg = Aggregates::default();
    for g in groups {
        keys.key_id(&g.key);
        agg.count.push(g.count);
        agg.distinct.push(g.distinct);
        agg.sum.push(g.sum);
        if bins.is_some() {
            agg.bins.push(g.bins.clone());
        }
    }
    (keys, agg)
}
