//! An insights query: DataFusion scans and filters each person bucket's
//! partitions in the time range and computes the group keys; each bucket's
//! rows are then bounded per person and pre-aggregated ([`crate::bound`]),
//! buckets in parallel, and the buckets' totals added up. The answer is
//! exact integers before noise; fineline adds the noise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{cast, when};
use datafusion::prelude::{col, lit, Expr, ParquetReadOptions};
use fineline_insights::rows::Aggregates;
use fineline_insights::{
    DeclaredKeys, Dimension, Filter, GroupKey, KeyValue, Metric, Query, RowSet,
};
use futures_util::{StreamExt, TryStreamExt};

use crate::bound::{self, Bounding, Key, Totals};
use crate::dataset::{AnalyticDataset, Dropping};
use crate::row::{self, DAY_MS, HOUR_MS};
use crate::{udf, AnalyticsError, Engine, Result};

/// Buckets scanned and bounded at once: one per core of the machine this
/// was measured on; DataFusion parallelises within each scan too.
const BUCKETS_AT_ONCE: usize = 2;

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

    /// The people and their `location` grants, in the same order.
    pub(crate) fn columns(&self) -> (&[u64], &[bool]) {
        (&self.people, &self.location)
    }

    fn map(&self) -> crate::bound::People {
        self.people
            .iter()
            .copied()
            .zip(self.location.iter().copied())
            .collect()
    }
}

/// The catalogue at query time: each item's category now. Only queries
/// that filter or group by category read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    items: Vec<(String, String)>,
    categories: Vec<String>,
}

impl Catalogue {
    /// Items with their categories.
    pub fn new(items: impl IntoIterator<Item = (String, String)>) -> Self {
        let items: Vec<(String, String)> = items.into_iter().collect();
        let mut categories: Vec<String> = items.iter().map(|(_, c)| c.clone()).collect();
        categories.sort();
        categories.dedup();
        Catalogue { items, categories }
    }

    /// A category's number in this query (its rank among the categories).
    fn code(&self, category: &str) -> Option<u32> {
        self.categories
            .binary_search_by(|c| c.as_str().cmp(category))
            .ok()
            .map(|i| i as u32)
    }

    /// Category number by item code, for the items ever written.
    fn by_item(&self, dict: &crate::Dictionary) -> Vec<Option<u32>> {
        let mut out = vec![None; dict.len()];
        for (item, cat) in &self.items {
            if let Some(i) = dict.lookup(item) {
                out[i as usize] = self.code(cat);
            }
        }
        out
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

impl AnalyticDataset {
    /// The pre-noise aggregates of `query` over the stored rows of people in
    /// `consenting`, leaving out every row a pending mark removes. Categories
    /// come from `catalogue`. `declared` restricts rows to public keys
    /// exactly as `fineline_insights::Plan::run` does before bounding;
    /// `seed` keys the bounding's random choices. Groups no one kept are
    /// absent.
    pub async fn aggregate(
        &self,
        query: &Query,
        declared: &DeclaredKeys,
        consenting: &Consenting,
        catalogue: &Catalogue,
        seed: u64,
    ) -> Result<Vec<GroupAggregate>> {
        query.validate()?;
        let dict = self.dictionary();
        let (marks, _) = self.pending_marks().await?;
        let category_codes = |texts: &[String]| -> Vec<Expr> {
            texts
                .iter()
                .filter_map(|t| catalogue.code(t))
                .map(lit)
                .collect()
        };
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
                Filter::ItemCategory { any_of } => ("category", category_codes(any_of)),
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
                        category_codes(declared.item_categories.as_deref().unwrap_or(&[])),
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
        // Marked rows: out of the answer before compaction takes them out
        // of the files.
        let drop = Dropping::new(&marks, &dict);
        if !marks.erased.is_empty() {
            let erased = marks.erased.iter().map(|p| lit(*p)).collect();
            filters.push(col("person").in_list(erased, true));
        }
        // A deleted event by (person, event), as compaction applies it: a
        // mark naming someone else's event (recorded before the deletion
        // found it was not theirs) drops no row.
        for (person, event) in &marks.retracted {
            filters.push(
                col("event")
                    .not_eq(lit(*event))
                    .or(col("person").not_eq(lit(*person))),
            );
        }
        for (purpose, cutoff) in &drop.expired {
            filters.push(
                col("purpose")
                    .not_eq(lit(*purpose))
                    .or(col("at").gt_eq(lit(*cutoff))),
            );
        }

        let mut keys: Vec<(String, Expr)> = Vec::new();
        for (i, d) in query.group_by.iter().enumerate() {
            let e = match d {
                Dimension::ItemCategory => col("category"),
                Dimension::Region => col("region"),
                Dimension::Day => col("day"),
                Dimension::Hour => {
                    ((col("at") % lit(DAY_MS) + lit(DAY_MS)) % lit(DAY_MS)) / lit(HOUR_MS)
                }
                Dimension::H3Cell { res } => udf::h3_parent(col("h3_cell"), *res),
            };
            keys.push((key(i), cast(e, DataType::Int64)));
        }
        let by_category = query.group_by.contains(&Dimension::ItemCategory)
            || query
                .filters
                .iter()
                .any(|f| matches!(f, Filter::ItemCategory { .. }));
        let scan = Scan {
            filters,
            keys,
            // An event without an item, or with one no longer in the
            // catalogue, has no category: out of such a query.
            category: by_category.then(|| Arc::new(catalogue.by_item(&dict))),
        };

        // Only the partitions of the days the time range touches, by bucket.
        let (first, last) = (
            from.div_euclid(DAY_MS),
            to.saturating_sub(1).div_euclid(DAY_MS),
        );
        let mut buckets: BTreeMap<u16, BTreeSet<String>> = BTreeMap::new();
        let days = self.days().await?;
        let in_range = days.into_iter().filter(|d| (first..=last).contains(d));
        for f in self.files_of(in_range).await? {
            let dir = f.as_ref().rsplit_once('/').map_or("", |(d, _)| d);
            if let Some((_, bucket)) = crate::dataset::parse_partition(dir) {
                buckets
                    .entry(bucket)
                    .or_default()
                    .insert(format!("{}/{dir}/", crate::dataset::STORE_URL));
            }
        }
        let bounding = Bounding {
            dims: query.group_by.len(),
            max_groups: query.bounds.max_groups as usize,
            max_rows: query.bounds.max_rows_per_group as usize,
            clamp: query.clamp(),
            bins: match query.metric {
                Metric::Histogram { bins, .. } => Some(bins),
                _ => None,
            },
            seed,
        };
        let totals = match self.engine() {
            Engine::InProcess => {
                let consenting = Arc::new(consenting.map());
                futures_util::stream::iter(buckets.into_values())
                    .map(|dirs| self.bound_bucket(&scan, dirs, bounding, consenting.clone()))
                    .buffer_unordered(BUCKETS_AT_ONCE)
                    .try_fold(HashMap::<Key, Totals>::new(), |mut all, part| async move {
                        for (k, t) in part {
                            all.entry(k).or_default().add(&t);
                        }
                        Ok(all)
                    })
                    .await?
            }
            engine => {
                let dirs = buckets.into_values().flatten().collect();
                match engine {
                    #[cfg(feature = "ballista")]
                    Engine::Ballista { url, deadline } => {
                        crate::cluster::within_deadline(*deadline, async {
                            let ctx = crate::cluster::connect(url, self.store.clone()).await?;
                            self.aggregate_on_plan(ctx, &scan, dirs, bounding, consenting)
                                .await
                        })
                        .await?
                    }
                    _ => {
                        self.aggregate_on_plan(self.session()?, &scan, dirs, bounding, consenting)
                            .await?
                    }
                }
            }
        };
        let mut groups = Vec::with_capacity(totals.len());
        for (k, t) in totals {
            groups.push(GroupAggregate {
                key: decode(query, &dict, catalogue, &k)?,
                count: t.count,
                distinct: t.distinct,
                sum: saturate(t.sum),
                bins: t.bins,
            });
        }
        groups.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(groups)
    }

    /// One bucket: scanned on DataFusion, bounded on a blocking thread.
    async fn bound_bucket(
        &self,
        scan: &Scan,
        dirs: BTreeSet<String>,
        bounding: Bounding,
        consenting: Arc<crate::bound::People>,
    ) -> Result<HashMap<Key, Totals>> {
        let ctx = self.session()?;
        let schema = row::schema();
        let mut df = ctx
            .read_parquet(
                dirs.into_iter().collect::<Vec<_>>(),
                ParquetReadOptions::default().schema(&schema),
            )
            .await?;
        if let Some(by_item) = &scan.category {
            df = df.with_column("category", udf::category(col("item"), by_item))?;
        }
        for f in &scan.filters {
            df = df.filter(f.clone())?;
        }
        let mut out: Vec<Expr> = vec![col("person")];
        for (name, e) in &scan.keys {
            df = df.with_column(name, e.clone())?;
            // A grouped dimension an event lacks puts it in no group.
            df = df.filter(col(name.as_str()).is_not_null())?;
            out.push(col(name.as_str()));
        }
        let value = when(col("value").is_null(), lit(0i64)).otherwise(col("value"))?;
        out.extend([col("salt"), col("at"), value.alias("v"), col("location")]);
        let batches = df.select(out)?.collect().await?;
        tokio::task::spawn_blocking(move || bound::bound(&bounding, &batches, &consenting))
            .await
            .map_err(|e| AnalyticsError::Task(e.to_string()))?
    }
}

/// The per-bucket scan's plan: row filters, group key expressions, and the
/// item → category table when the query needs categories.
pub(crate) struct Scan {
    pub filters: Vec<Expr>,
    pub keys: Vec<(String, Expr)>,
    pub category: Option<Arc<Vec<Option<u32>>>>,
}

/// A key as the scan computed it, in the query's words.
fn decode(
    query: &Query,
    dict: &crate::Dictionary,
    catalogue: &Catalogue,
    key: &Key,
) -> Result<GroupKey> {
    let mut values = Vec::with_capacity(query.group_by.len());
    for (d, &v) in query.group_by.iter().zip(key) {
        let missing = |what: &str| AnalyticsError::Corrupt(what.into(), format!("no text {v}"));
        values.push(match d {
            Dimension::ItemCategory => KeyValue::ItemCategory(
                catalogue
                    .categories
                    .get(v as usize)
                    .cloned()
                    .ok_or_else(|| missing("catalogue"))?,
            ),
            Dimension::Region => KeyValue::Region(
                dict.text(v as u32)
                    .ok_or_else(|| missing("dictionary"))?
                    .to_string(),
            ),
            Dimension::Day => KeyValue::Day(v),
            Dimension::Hour => KeyValue::Hour(v as u8),
            Dimension::H3Cell { .. } => KeyValue::H3Cell(v as u64),
        });
    }
    Ok(GroupKey(values))
}

fn saturate(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
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
