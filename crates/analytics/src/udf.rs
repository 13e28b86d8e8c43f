//! The few scalar functions the scan needs that DataFusion lacks, and the
//! keyed hash bounding orders rows by.
//!
//! Every function is stateless: what varies per query (a resolution, the
//! item → category table, a seed) is an argument, so a plan naming them can
//! be serialised and run by any process that registered [`functions`] (an
//! engine cluster's scheduler and executors as well as this process).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_uint32_array, as_uint64_array};
use datafusion::common::{exec_err, ScalarValue};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{create_udf, ColumnarValue, Expr, ScalarUDF, Volatility};
use datafusion::prelude::lit;
use fineline_insights::rows::bin_of;

/// SplitMix64's finaliser over `a ^ rotl(b)`: a keyed hash whose order is a
/// uniform random permutation for bounding's purposes.
pub(crate) fn mix_u64(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn arrays(args: &[ColumnarValue]) -> DfResult<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)
}

/// A parameter given as a literal (the same on every row; the first row's
/// if it came as an array), `None` when there are no rows to read it from.
fn literal(arg: &ColumnarValue) -> DfResult<Option<ScalarValue>> {
    let v = match arg {
        ColumnarValue::Scalar(v) => v.clone(),
        ColumnarValue::Array(a) if a.is_empty() => return Ok(None),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(a, 0)?,
    };
    if v.is_null() {
        return exec_err!("a fineline function's parameter is null");
    }
    Ok(Some(v))
}

fn literal_i64(arg: &ColumnarValue) -> DfResult<Option<i64>> {
    match literal(arg)? {
        None => Ok(None),
        Some(ScalarValue::Int64(v)) => Ok(v),
        Some(other) => exec_err!("a fineline function's parameter: {other:?} is not Int64"),
    }
}

/// Every function a fineline analytic plan may name, for a process that
/// runs such plans to register.
pub fn functions() -> Vec<ScalarUDF> {
    vec![h3_parent_udf(), category_udf(), mix_udf(), bin_udf()]
}

/// `fl_h3_parent(cell UInt64, res Int64) -> UInt64`: the cell's parent at
/// `res`, null where the number is not a cell or is coarser (such rows fall
/// in no group, as in fineline's row loader).
fn h3_parent_udf() -> ScalarUDF {
    create_udf(
        "fl_h3_parent",
        vec![DataType::UInt64, DataType::Int64],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = arrays(&args[..1])?;
            let cells = as_uint64_array(&a[0])?;
            let r = literal_i64(&args[1])?
                .and_then(|r| u8::try_from(r).ok())
                .and_then(|r| h3o::Resolution::try_from(r).ok());
            let out: UInt64Array = cells
                .iter()
                .map(|c| {
                    let c = h3o::CellIndex::try_from(c?).ok()?;
                    c.parent(r?).map(u64::from)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// The parent cell at `res` of column `cell`.
pub(crate) fn h3_parent(cell: Expr, res: u8) -> Expr {
    h3_parent_udf().call(vec![cell, lit(res as i64)])
}

/// `fl_category(item UInt32, table Binary) -> UInt32`: the item's category
/// number in this query, from `table` (one little-endian u32 per item code,
/// `u32::MAX` for an item not in the catalogue, which gives null). Binary
/// rather than a list literal so the signature is exact and the plan small.
fn category_udf() -> ScalarUDF {
    create_udf(
        "fl_category",
        vec![DataType::UInt32, DataType::Binary],
        DataType::UInt32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = arrays(&args[..1])?;
            let items = as_uint32_array(&a[0])?;
            let table = match literal(&args[1])? {
                None => Vec::new(),
                Some(ScalarValue::Binary(Some(t))) => t,
                Some(other) => return exec_err!("fl_category: table {other:?}"),
            };
            let out: UInt32Array = items
                .iter()
                .map(|i| {
                    let at = i? as usize * 4;
                    let code = u32::from_le_bytes(table.get(at..at + 4)?.try_into().ok()?);
                    (code != u32::MAX).then_some(code)
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// Column `item`'s category number under `by_item` (category by item code).
pub(crate) fn category(item: Expr, by_item: &[Option<u32>]) -> Expr {
    let table: Vec<u8> = by_item
        .iter()
        .flat_map(|c| c.unwrap_or(u32::MAX).to_le_bytes())
        .collect();
    category_udf().call(vec![item, lit(ScalarValue::Binary(Some(table)))])
}

/// `fl_mix(a UInt64, b UInt64) -> UInt64`: [`mix_u64`] row by row.
fn mix_udf() -> ScalarUDF {
    create_udf(
        "fl_mix",
        vec![DataType::UInt64, DataType::UInt64],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = arrays(args)?;
            let (x, y) = (as_uint64_array(&a[0])?, as_uint64_array(&a[1])?);
            let out: UInt64Array = x
                .iter()
                .zip(y.iter())
                .map(|(x, y)| Some(mix_u64(x?, y?)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `mix_u64(a, b)` of two UInt64 expressions.
pub(crate) fn mix(a: Expr, b: Expr) -> Expr {
    mix_udf().call(vec![a, b])
}

/// `fl_bin(v Int64, lower Int64, upper Int64, bins Int64) -> Int64`: the
/// histogram bin of a clamped value, as `fineline_insights` computes it.
fn bin_udf() -> ScalarUDF {
    create_udf(
        "fl_bin",
        vec![DataType::Int64; 4],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = arrays(&args[..1])?;
            let v = as_int64_array(&a[0])?;
            let (lo, hi, n) = (
                literal_i64(&args[1])?,
                literal_i64(&args[2])?,
                literal_i64(&args[3])?,
            );
            let (Some(lo), Some(hi), Some(n)) = (lo, hi, n) else {
                return Ok(ColumnarValue::Array(Arc::new(Int64Array::from(
                    Vec::<i64>::new(),
                ))));
            };
            let n = match u32::try_from(n) {
                Ok(n) if n > 0 => n,
                _ => return exec_err!("fl_bin: bins {n}"),
            };
            let out: Int64Array = v
                .iter()
                .map(|v| Some(bin_of(v?, lo, hi, n) as i64))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// The histogram bin of `v` over `[lo, hi]` in `bins` bins.
pub(crate) fn bin(v: Expr, lo: i64, hi: i64, bins: u32) -> Expr {
    bin_udf().call(vec![v, lit(lo), lit(hi), lit(bins as i64)])
}
