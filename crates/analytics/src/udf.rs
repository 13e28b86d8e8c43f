//! The few scalar functions the scan needs that DataFusion lacks, and the
//! keyed hash bounding orders rows by.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_uint32_array, as_uint64_array};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

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

/// `fl_category(item UInt32) -> UInt32`: the item's category number in
/// this query (`by_item[item]`), null for an item not in the catalogue.
pub(crate) fn category(by_item: Arc<Vec<Option<u32>>>) -> ScalarUDF {
    create_udf(
        "fl_category",
        vec![DataType::UInt32],
        DataType::UInt32,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let a = arrays(args)?;
            let items = as_uint32_array(&a[0])?;
            let out: UInt32Array = items
                .iter()
                .map(|i| by_item.get(i? as usize).copied().flatten())
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}
