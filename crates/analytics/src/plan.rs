//! An insights query as one DataFusion plan: scan, consent join, per-person
//! contribution bounding with window functions, and pre-aggregation, with
//! nothing left to do in this process but read the (small) grouped result.
//!
//! This is the shape an engine cluster runs (`crate::cluster`): every input
//! is a Parquet object the cluster's processes can read (the rows and, per
//! query, the consenting set written beside them) and every function it
//! names is a registered one ([`crate::udf::functions`]). In-process,
//! [`crate::query`]'s bucket-by-bucket plan with bounding in Rust is faster
//! (docs/benchmarks.md); this one is run in-process too
//! ([`crate::Engine::Plan`]) so the tests hold it to the same answers.
//!
//! Bounding matches [`crate::bound`] row for row: a person keeps their
//! `max_groups` groups of least keyed hash (then key), and in each the
//! `max_rows` rows of least (keyed hash of the row's salt, time, value).

use std::collections::HashMap;
use std::ops::Not;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, BooleanArray, Decimal128Array, Int64Array, RecordBatch, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::JoinType;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::functions_window::expr_fn::{dense_rank, row_number};
use datafusion::logical_expr::{cast, when, ExprFunctionExt};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{col, lit, Expr, ParquetReadOptions, SessionContext};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::bound::{column, Bounding, Key, Totals, MAX_DIMS};
use crate::dataset::{AnalyticDataset, STORE_URL};
use crate::query::{Consenting, Scan};
use crate::udf;
use crate::Result;

/// Where each query's consenting set is written for the plan to join, and
/// deleted after (compaction sweeps what a crashed query left).
pub(crate) const QUERIES: &str = "queries";

/// Sums of clamped values: wide enough that no person's bounded total or
/// any group's sum overflows, as `bound`'s i128 does not.
const SUM_TYPE: DataType = DataType::Decimal128(38, 0);

/// The consenting set as a Parquet object on the dataset's store, deleted
/// when dropped (best effort: a failure leaves it to compaction's sweep).
struct ConsentingObject {
    store: Arc<dyn ObjectStore>,
    path: Path,
    removed: bool,
}

impl ConsentingObject {
    async fn write(store: Arc<dyn ObjectStore>, consenting: &Consenting) -> Result<Self> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("c_person", DataType::UInt64, false),
            Field::new("c_location", DataType::Boolean, false),
        ]));
        let (people, location) = consenting.columns();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(UInt64Array::from(people.to_vec())),
                Arc::new(BooleanArray::from(location.to_vec())),
            ],
        )?;
        let mut bytes = Vec::new();
        let mut w = ArrowWriter::try_new(&mut bytes, schema, None)?;
        w.write(&batch)?;
        w.close()?;
        let path = Path::from(format!(
            "{QUERIES}/consenting-{:016x}.parquet",
            rand::random::<u64>()
        ));
        store.put(&path, PutPayload::from(bytes)).await?;
        Ok(ConsentingObject {
            store,
            path,
            removed: false,
        })
    }

    /// Deletes it now (the query is answered).
    async fn remove(mut self) -> Result<()> {
        self.removed = true;
        self.store.delete(&self.path).await?;
        Ok(())
    }

    fn url(&self) -> String {
        format!("{STORE_URL}/{}", self.path)
    }
}

impl Drop for ConsentingObject {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (store, path) = (self.store.clone(), self.path.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store.delete(&path).await;
            });
        }
    }
}

/// `k` as the group hash reads it (see `bound::hashed`).
fn hashed(k: Expr) -> Expr {
    when(k.clone().lt(lit(0i64)), lit(0u64))
        .otherwise(cast(k, DataType::UInt64))
        .expect("a CASE with one branch and an ELSE")
}

fn key_cols(dims: usize) -> Vec<Expr> {
    (0..dims).map(|i| col(format!("k{i}"))).collect()
}

impl AnalyticDataset {
    /// `scan` over the partition directories `dirs` as one plan on `ctx`
    /// (a local session or a cluster's), bounded and pre-aggregated there.
    pub(crate) async fn aggregate_on_plan(
        &self,
        ctx: SessionContext,
        scan: &Scan,
        dirs: Vec<String>,
        b: Bounding,
        consenting: &Consenting,
    ) -> Result<HashMap<Key, Totals>> {
        if dirs.is_empty() {
            return Ok(HashMap::new());
        }
        let who = ConsentingObject::write(self.store.clone(), consenting).await?;
        let mut df = ctx
            .read_parquet(
                dirs,
                ParquetReadOptions::default().schema(&crate::row::schema()),
            )
            .await?;
        if let Some(by_item) = &scan.category {
            df = df.with_column("category", udf::category(col("item"), by_item))?;
        }
        for f in &scan.filters {
            df = df.filter(f.clone())?;
        }
        for (name, e) in &scan.keys {
            df = df.with_column(name, e.clone())?;
            df = df.filter(col(name.as_str()).is_not_null())?;
        }
        let consent = ctx
            .read_parquet(who.url(), ParquetReadOptions::default())
            .await?;
        df = df
            .join(consent, JoinType::Inner, &["person"], &["c_person"], None)?
            .filter(col("location").not().or(col("c_location")))?;
        let value = when(col("value").is_null(), lit(0i64)).otherwise(col("value"))?;
        let mut out = vec![col("person")];
        out.extend(key_cols(b.dims));
        out.extend([col("salt"), col("at"), value.alias("v")]);
        df = df.select(out)?;

        let keys = key_cols(b.dims);
        let group_hash = keys
            .iter()
            .fold(udf::mix(lit(b.seed), col("person")), |h, k| {
                udf::mix(h, hashed(k.clone()))
            });
        let mut group_order = vec![col("h").sort(true, false)];
        group_order.extend(keys.iter().map(|k| k.clone().sort(true, false)));
        let mut by_person_group = vec![col("person")];
        by_person_group.extend(keys.iter().cloned());
        let max_rows = lit(b.max_rows as i64);
        let max_groups = lit(b.max_groups as i64);

        let grouped = match b.clamp {
            // Counts need no row order: a person's group counts min(n,
            // max_rows) whichever rows are kept, so group first and rank
            // only the (person, group) pairs.
            None => df
                .aggregate(by_person_group, vec![count(lit(1)).alias("n")])?
                .with_column(
                    "kept",
                    when(col("n").gt(max_rows.clone()), max_rows).otherwise(col("n"))?,
                )?
                .with_column("h", group_hash)?
                .window(vec![row_number()
                    .partition_by(vec![col("person")])
                    .order_by(group_order)
                    .build()?
                    .alias("gn")])?
                .filter(col("gn").lt_eq(max_groups))?
                .aggregate(
                    keys.clone(),
                    vec![
                        sum(col("kept")).alias("count"),
                        count(lit(1)).alias("distinct"),
                    ],
                )?,
            // Sums keep particular rows: rank rows within their group and
            // groups within their person, at row level.
            Some((lo, hi)) => {
                let row_order = vec![
                    udf::mix(udf::mix(lit(b.seed), col("salt")), col("person")).sort(true, false),
                    col("at").sort(true, false),
                    col("v").sort(true, false),
                ];
                let clamped = when(col("v").lt(lit(lo)), lit(lo))
                    .when(col("v").gt(lit(hi)), lit(hi))
                    .otherwise(col("v"))?;
                let mut by = keys.clone();
                if let Some(n) = b.bins {
                    by.push(udf::bin(col("cv"), lo, hi, n).alias("bin"));
                }
                df.with_column("h", group_hash)?
                    // One window each: a window node's functions must
                    // share their sort.
                    .window(vec![row_number()
                        .partition_by(by_person_group)
                        .order_by(row_order)
                        .build()?
                        .alias("rn")])?
                    .window(vec![dense_rank()
                        .partition_by(vec![col("person")])
                        .order_by(group_order)
                        .build()?
                        .alias("gn")])?
                    .filter(col("rn").lt_eq(max_rows).and(col("gn").lt_eq(max_groups)))?
                    .with_column("cv", clamped)?
                    .aggregate(
                        by,
                        vec![
                            count(lit(1)).alias("count"),
                            // Each kept (person, group) has one first row.
                            sum(when(col("rn").eq(lit(1i64)), lit(1i64)).otherwise(lit(0i64))?)
                                .alias("distinct"),
                            sum(cast(col("cv"), SUM_TYPE)).alias("sum"),
                        ],
                    )?
            }
        };
        let batches = grouped.collect().await?;
        who.remove().await?;
        totals_of(&b, &batches)
    }
}

/// The plan's grouped rows as `bound`'s totals (a histogram's rows are per
/// group and bin: added up per group).
fn totals_of(b: &Bounding, batches: &[RecordBatch]) -> Result<HashMap<Key, Totals>> {
    let mut out: HashMap<Key, Totals> = HashMap::new();
    for batch in batches {
        let keys: Vec<&Int64Array> = (0..b.dims)
            .map(|i| column::<Int64Array>(batch, &format!("k{i}")))
            .collect::<Result<_>>()?;
        let count = column::<Int64Array>(batch, "count")?;
        let distinct = column::<Int64Array>(batch, "distinct")?;
        let sums = b
            .clamp
            .map(|_| column::<Decimal128Array>(batch, "sum"))
            .transpose()?;
        let bins = b
            .bins
            .map(|_| column::<Int64Array>(batch, "bin"))
            .transpose()?;
        for i in 0..batch.num_rows() {
            // A query without groups aggregates no rows into one row of
            // zeros (nulls for sums): a group no one kept is absent.
            if count.is_null(i) || count.value(i) == 0 {
                continue;
            }
            let mut key = [0i64; MAX_DIMS];
            for (d, k) in keys.iter().enumerate() {
                key[d] = k.value(i);
            }
            let t = out.entry(key).or_insert_with(|| Totals {
                bins: vec![0; b.bins.unwrap_or(0) as usize],
                ..Totals::default()
            });
            t.count += count.value(i);
            t.distinct += distinct.value(i);
            if let Some(s) = sums {
                t.sum += if s.is_null(i) { 0 } else { s.value(i) };
            }
            if let Some(bin) = bins {
                if let Some(slot) = t.bins.get_mut(bin.value(i) as usize) {
                    *slot += count.value(i);
                }
            }
        }
    }
    Ok(out)
}
