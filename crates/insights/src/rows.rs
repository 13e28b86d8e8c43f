//! Input rows, group keys, and per-person contribution bounding.
//!
//! Rows are interned into dense integer ids so a 10M-row query sorts and sums
//! integers only; nothing here is a float.

use std::collections::HashMap;

use fineline_core::Pseudonym;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::query::{Bounds, Dimension};

/// One coordinate of a group key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum KeyValue {
    /// The catalogue category of the event's item.
    ItemCategory(String),
    /// Day since the epoch (UTC).
    Day(i64),
    /// Hour of day 0..24 (UTC).
    Hour(u8),
    /// The `region` property the business's systems sent with the event.
    Region(String),
    /// H3 cell index (see [`crate::geo`]).
    H3Cell(u64),
}

impl KeyValue {
    /// Whether this value belongs to dimension `d`.
    pub fn dimension_matches(&self, d: &Dimension) -> bool {
        matches!(
            (self, d),
            (KeyValue::ItemCategory(_), Dimension::ItemCategory)
                | (KeyValue::Day(_), Dimension::Day)
                | (KeyValue::Hour(_), Dimension::Hour)
                | (KeyValue::Region(_), Dimension::Region)
                | (KeyValue::H3Cell(_), Dimension::H3Cell { .. })
        )
    }
}

/// A group: one value per `group_by` dimension, in the query's order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupKey(pub Vec<KeyValue>);

/// A row as the store hands it over: one event of one person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsightRow {
    /// The privacy unit.
    pub subject: Pseudonym,
    /// The group the event falls in.
    pub key: GroupKey,
    /// Fixed-point value for sum/mean/histogram (e.g. cents); ignored by counts.
    pub value: i64,
}

/// Public key lists: groups from these are released whether or not data exists,
/// so their presence in the output says nothing about anyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredKeys {
    /// Every category the business sells, if public.
    pub item_categories: Option<Vec<String>>,
    /// Every region the business serves, if public.
    pub regions: Option<Vec<String>>,
    /// Days since the epoch; typically every day of the query's time range.
    pub days: Option<Vec<i64>>,
}

impl DeclaredKeys {
    /// Every day touched by `[from_ms, to_ms)`.
    pub fn days_between(from_ms: i64, to_ms: i64) -> Vec<i64> {
        const DAY: i64 = 86_400_000;
        let first = from_ms.div_euclid(DAY);
        let last = to_ms.saturating_sub(1).div_euclid(DAY);
        (first..=last).collect()
    }

    fn list(&self, d: &Dimension) -> Option<Vec<KeyValue>> {
        match d {
            Dimension::ItemCategory => self
                .item_categories
                .as_ref()
                .map(|v| v.iter().cloned().map(KeyValue::ItemCategory).collect()),
            Dimension::Region => self
                .regions
                .as_ref()
                .map(|v| v.iter().cloned().map(KeyValue::Region).collect()),
            Dimension::Day => self
                .days
                .as_ref()
                .map(|v| v.iter().copied().map(KeyValue::Day).collect()),
            Dimension::Hour => Some((0..24).map(KeyValue::Hour).collect()),
            Dimension::H3Cell { .. } => None,
        }
    }

    /// The full public key set for `group_by`, or `None` if any dimension has no public list
    /// (then keys are released only above a noisy threshold).
    pub fn public_keys(&self, group_by: &[Dimension]) -> Option<Vec<GroupKey>> {
        let mut keys = vec![GroupKey::default()];
        for d in group_by {
            let list = self.list(d)?;
            let mut next = Vec::with_capacity(keys.len() * list.len());
            for k in &keys {
                for v in &list {
                    let mut k = k.clone();
                    k.0.push(v.clone());
                    next.push(k);
                }
            }
            keys = next;
        }
        Some(keys)
    }
}

/// Hashes pseudonyms by folding their words (FxHash's step). Pseudonym digests are keyed
/// HMAC outputs, already uniform and not chosen by any client, so SipHash's flood resistance
/// buys nothing here and costs most of the load time of a 10M-row query.
#[derive(Default, Clone, Copy, Debug)]
pub struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }
    fn write_u64(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, w: u32) {
        self.write_u64(w as u64);
    }
    fn write_usize(&mut self, w: usize) {
        self.write_u64(w as u64);
    }
}

type FoldMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FoldHasher>>;

/// Rows interned to dense ids. Subject ids are never released; key ids are only an encoding.
#[derive(Debug, Default)]
pub struct RowSet {
    subjects: FoldMap<Pseudonym, u32>,
    /// Stores usually hand rows over grouped by person: skip the lookup for a repeat.
    last_subject: Option<(Pseudonym, u32)>,
    /// Subjects numbered by the caller (see [`Self::number_subjects`]).
    numbered: usize,
    keys: HashMap<GroupKey, u32>,
    key_list: Vec<GroupKey>,
    /// (subject id, key id, value)
    rows: Vec<(u32, u32, i64)>,
}

impl RowSet {
    /// An empty set of rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves room for `rows` rows; `subjects` is a guess at the number of people.
    pub fn with_capacity(rows: usize, subjects: usize) -> Self {
        let mut set = RowSet {
            rows: Vec::with_capacity(rows),
            ..Self::default()
        };
        set.subjects.reserve(subjects);
        set
    }

    /// Declares subjects already numbered `0..n` by the caller (e.g. a store's
    /// person index), pushed with [`Self::push_ids`] without a pseudonym
    /// lookup per row. Not to be mixed with [`Self::subject_id`].
    pub fn number_subjects(&mut self, n: usize) {
        debug_assert!(self.subjects.is_empty(), "subjects already interned");
        self.numbered = n;
    }

    /// Dense id of a person, numbering new ones as they come.
    pub fn subject_id(&mut self, s: &Pseudonym) -> u32 {
        debug_assert_eq!(self.numbered, 0, "subjects are numbered by the caller");
        if let Some((p, id)) = self.last_subject {
            if p == *s {
                return id;
            }
        }
        let n = self.subjects.len() as u32;
        let id = *self.subjects.entry(*s).or_insert(n);
        self.last_subject = Some((*s, id));
        id
    }

    /// Dense id of a group key, numbering new ones as they come.
    pub fn key_id(&mut self, k: &GroupKey) -> u32 {
        if let Some(id) = self.keys.get(k) {
            return *id;
        }
        let id = self.key_list.len() as u32;
        self.keys.insert(k.clone(), id);
        self.key_list.push(k.clone());
        id
    }

    /// Push with ids from [`Self::subject_id`] / [`Self::key_id`] (the fast path).
    pub fn push_ids(&mut self, subject: u32, key: u32, value: i64) {
        self.rows.push((subject, key, value));
    }

    /// Adds one row, interning its person and key.
    pub fn push(&mut self, row: &InsightRow) {
        let s = self.subject_id(&row.subject);
        let k = self.key_id(&row.key);
        self.push_ids(s, k, row.value);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Distinct people among the rows.
    pub fn num_subjects(&self) -> usize {
        self.subjects.len().max(self.numbered)
    }

    /// The group key with this id; panics on an id never given.
    pub fn key(&self, id: u32) -> &GroupKey {
        &self.key_list[id as usize]
    }

    /// The id of a group key, if any row has it.
    pub fn lookup_key(&self, k: &GroupKey) -> Option<u32> {
        self.keys.get(k).copied()
    }

    /// Distinct group keys among the rows.
    pub fn num_keys(&self) -> usize {
        self.key_list.len()
    }
}

/// Exact integer aggregates per key id after bounding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregates {
    /// Bounded rows per key.
    pub count: Vec<i64>,
    /// Distinct people per key.
    pub distinct: Vec<i64>,
    /// Sum of clamped values per key.
    pub sum: Vec<i64>,
    /// Per key, per bin counts (empty unless binning was asked).
    pub bins: Vec<Vec<i64>>,
}

/// What to accumulate during bounding.
#[derive(Debug, Clone, Copy)]
pub struct Accumulate {
    /// Clamp interval for values, if the metric sums them.
    pub clamp: Option<(i64, i64)>,
    /// Number of histogram bins, if the metric bins values.
    pub bins: Option<u32>,
}

/// Bin index of an already clamped value, in integers.
pub fn bin_of(v: i64, lower: i64, upper: i64, bins: u32) -> usize {
    let width = (upper as i128 - lower as i128) + 1;
    let b = ((v as i128 - lower as i128) * bins as i128) / width;
    b.clamp(0, bins as i128 - 1) as usize
}

/// Bound each person's contribution and aggregate.
///
/// Each person keeps at most `max_groups` of their groups and at most `max_rows_per_group`
/// rows in each, chosen uniformly at random with a seeded RNG. What a person keeps depends
/// only on that person's own rows, so adding or removing one person changes at most
/// `max_groups` groups by at most `max_rows_per_group` rows each: the sensitivity the noise
/// is calibrated to. Rows whose key is not in `allowed` (when given) are dropped first.
pub fn bound_and_aggregate(
    rows: &RowSet,
    bounds: Bounds,
    acc: Accumulate,
    allowed: Option<&[bool]>,
    seed: u64,
) -> Aggregates {
    let nk = rows.num_keys();
    let ns = rows.num_subjects();
    let mut out = Aggregates {
        count: vec![0; nk],
        distinct: vec![0; nk],
        sum: vec![0; nk],
        bins: acc
            .bins
            .map_or(Vec::new(), |b| vec![vec![0; b as usize]; nk]),
    };
    let mut sum128 = vec![0i128; if acc.clamp.is_some() { nk } else { 0 }];

    // Counting sort by subject: O(n), no comparison sort over 10M rows.
    let mut start = vec![0usize; ns + 1];
    for &(s, k, _) in &rows.rows {
        if allowed.is_none_or(|a| a[k as usize]) {
            start[s as usize + 1] += 1;
        }
    }
    for i in 0..ns {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut ordered = vec![(0u32, 0i64); start[ns]];
    for &(s, k, v) in &rows.rows {
        if allowed.is_none_or(|a| a[k as usize]) {
            ordered[fill[s as usize]] = (k, v);
            fill[s as usize] += 1;
        }
    }
    drop(fill);

    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let g = bounds.max_groups as usize;
    let r = bounds.max_rows_per_group as usize;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for s in 0..ns {
        let person = &mut ordered[start[s]..start[s + 1]];
        if person.is_empty() {
            continue;
        }
        person.sort_unstable_by_key(|&(k, _)| k);
        runs.clear();
        let mut i = 0;
        while i < person.len() {
            let mut j = i + 1;
            while j < person.len() && person[j].0 == person[i].0 {
                j += 1;
            }
            runs.push((i, j));
            i = j;
        }
        let chosen: Vec<usize> = if runs.len() <= g {
            (0..runs.len()).collect()
        } else {
            sample(&mut rng, runs.len(), g).into_vec()
        };
        for ri in chosen {
            let (a, b) = runs[ri];
            let group = &person[a..b];
            let key = group[0].0 as usize;
            out.distinct[key] += 1;
            let mut take = |(_, v): (u32, i64)| {
                out.count[key] += 1;
                if let Some((lo, hi)) = acc.clamp {
                    let v = v.clamp(lo, hi);
                    sum128[key] += v as i128;
                    if let Some(nb) = acc.bins {
                        out.bins[key][bin_of(v, lo, hi, nb)] += 1;
                    }
                }
            };
            if group.len() <= r {
                group.iter().copied().for_each(&mut take);
            } else {
                for idx in sample(&mut rng, group.len(), r) {
                    take(group[idx]);
                }
            }
        }
    }
    for (o, s) in out.sum.iter_mut().zip(sum128) {
        *o = s.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    }
    out
}
