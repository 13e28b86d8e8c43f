//! The few scalar functions the scan needs that DataFusion lacks or that
//! must match fineline's integer definitions exactly.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_uint64_array};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

/// SplitMix64's finaliser over `a ^ rotl(b)`: a keyed hash whose order is a
/// uniform random permutation for bounding's purposes. Nulls hash as 0.
pub(crate) fn mix_u64(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn arrays(args: &[ColumnarValue]) -> DfResult<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(args)
}

/// `fl_mix(a UInt64, b UInt64) -> UInt64`.
pub(crate) fn mix() -> ScalarUDF {
    create_udf(
        "fl_mix",
        vec![DataType::UInt64, DataType::UInt64],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let a = arrays(args)?;
            let (x, y) = (as_uint64_array(&a[0])?, as_uint64_array(&a[1])?);
            let get = |arr: &UInt64Array, i: usize| if arr.is_null(i) { 0 } else { arr.value(i) };
            let out: UInt64Array = (0..x.len())
                .map(|i| Some(mix_u64(get(x, i), get(y, i))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `fl_h3_parent_{res}(cell UInt64) -> UInt64`: the cell's parent at `res`,
/// null where the number is not a cell or is coarser (such rows fall in no
/// group, as in fineline's row loader).
pub(crate) fn h3_parent(res: u8) -> ScalarUDF {
    create_udf(
        &format!("fl_h3_parent_{res}"),
        vec![DataType::UInt64],
        DataType::UInt64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args)?;
            let cells = as_uint64_array(&a[0])?;
            let r = h3o::Resolution::try_from(res).ok();
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

/// `fl_bin(v Int64) -> Int64`: fineline's integer bin of an already clamped
/// value ([`fineline_insights::rows::bin_of`]), so edges match exactly.
pub(crate) fn bin(lower: i64, upper: i64, bins: u32) -> ScalarUDF {
    create_udf(
        &format!("fl_bin_{lower}_{upper}_{bins}"),
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args)?;
            let v = as_int64_array(&a[0])?;
            let out: Int64Array = v
                .iter()
                .map(|v| v.map(|v| fineline_insights::rows::bin_of(v, lower, upper, bins) as i64))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}
