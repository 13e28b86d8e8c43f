//! What must leave the stored rows, recorded before it leaves them: people
//! erased, events a person deleted, and each purpose's rows past its
//! retention. Queries apply pending marks at once; compaction rewrites the
//! partitions they touch and then drops the marks.
//!
//! Marks are small text objects under `marks/` (numbers, purpose names and
//! times only), one per call, so concurrent writers never overwrite each
//! other and a mark is on the store before its caller goes on.

use std::collections::{BTreeMap, BTreeSet};

use crate::{AnalyticsError, Result};

/// Where marks live: outside every `day=` partition, so scans never read them.
pub(crate) const MARKS: &str = "marks";

/// Rows to drop, by who, which event or how old.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    /// Person numbers of erased people: all their rows go.
    pub erased: BTreeSet<u64>,
    /// (person, event) pairs a person deleted: that row goes.
    pub retracted: BTreeSet<(u64, i64)>,
    /// Per purpose, a cutoff time (ms): that purpose's rows before it go.
    pub expired: BTreeMap<String, i64>,
}

impl Marks {
    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.erased.is_empty() && self.retracted.is_empty() && self.expired.is_empty()
    }

    /// Adds `other`'s marks (a purpose keeps its latest cutoff).
    pub fn merge(&mut self, other: Marks) {
        self.erased.extend(other.erased);
        self.retracted.extend(other.retracted);
        for (p, t) in other.expired {
            let e = self.expired.entry(p).or_insert(t);
            *e = (*e).max(t);
        }
    }

    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        for p in &self.erased {
            out.push_str(&format!("erased {p}\n"));
        }
        for (p, e) in &self.retracted {
            out.push_str(&format!("retracted {p} {e}\n"));
        }
        for (purpose, t) in &self.expired {
            out.push_str(&format!("expired {purpose} {t}\n"));
        }
        out
    }

    pub(crate) fn parse(text: &str, file: &str) -> Result<Marks> {
        let bad = |line: &str| AnalyticsError::Corrupt(file.into(), format!("bad mark {line:?}"));
        let mut m = Marks::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["erased", p] => {
                    m.erased.insert(p.parse().map_err(|_| bad(line))?);
                }
                ["retracted", p, e] => {
                    m.retracted.insert((
                        p.parse().map_err(|_| bad(line))?,
                        e.parse().map_err(|_| bad(line))?,
                    ));
                }
                ["expired", purpose, t] => m.merge(Marks {
                    expired: [(purpose.to_string(), t.parse().map_err(|_| bad(line))?)].into(),
                    ..Marks::default()
                }),
                _ => return Err(bad(line)),
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn marks_read_back_as_written(
            erased in proptest::collection::btree_set(any::<u64>(), 0..5),
            retracted in proptest::collection::btree_set((any::<u64>(), any::<i64>()), 0..5),
            expired in proptest::collection::btree_map("[a-z_]{1,12}", any::<i64>(), 0..3),
        ) {
            let m = Marks { erased, retracted, expired };
            prop_assert_eq!(Marks::parse(&m.to_text(), "t").unwrap(), m);
        }
    }

    #[test]
    fn a_damaged_mark_is_an_error_not_a_skip() {
        assert!(Marks::parse("erased x\n", "f").is_err());
        assert!(Marks::parse("forgotten 1\n", "f").is_err());
    }

    #[test]
    fn a_purpose_keeps_its_latest_cutoff() {
        let m = Marks::parse("expired ads 5\nexpired ads 9\nexpired ads 7\n", "f").unwrap();
        assert_eq!(m.expired["ads"], 9);
    }
}
