#![allow(dead_code)]
use fineline_core::Pseudonym;
use fineline_insights::{GroupKey, InsightRow, KeyValue, RowSet};

pub fn person(i: u64) -> Pseudonym {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&i.to_le_bytes());
    Pseudonym::new(1, d)
}

pub fn region(r: &str) -> GroupKey {
    GroupKey(vec![KeyValue::Region(r.to_string())])
}

/// `n` people with `rows_each` rows of `value` in region `r`, ids starting at `first`.
pub fn add_people(set: &mut RowSet, first: u64, n: u64, rows_each: u32, r: &str, value: i64) {
    for i in first..first + n {
        for _ in 0..rows_each {
            set.push(&InsightRow {
                subject: person(i),
                key: region(r),
                value,
            });
        }
    }
}
