//! Interactions, the item index and the catalogue facts the engine reads.

use std::collections::{BTreeMap, HashMap};

use fineline_core::{ItemId, Pseudonym, Timestamp};

/// One thing a subject did with an item: the engine's only input about people.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// Whose signal it is, by pseudonym.
    pub subject: Pseudonym,
    /// The catalogue item the person acted on.
    pub item: ItemId,
    /// Strength of the signal (a view 1, a purchase 3, ...). Only `weight > 0`
    /// counts as a positive for the models; the weight itself shapes interests.
    pub weight: f32,
    /// When it happened, so the newest history counts first.
    pub at: Timestamp,
    /// Purchased items are not re-recommended unless the catalogue marks them repeatable.
    pub purchase: bool,
}

impl Interaction {
    /// A non-purchase interaction; chain [`Interaction::purchased`] for purchases.
    pub fn new(subject: Pseudonym, item: ItemId, weight: f32, at: Timestamp) -> Self {
        Self {
            subject,
            item,
            weight,
            at,
            purchase: false,
        }
    }

    /// Marks it a purchase, so the item is not recommended again.
    pub fn purchased(mut self) -> Self {
        self.purchase = true;
        self
    }
}

/// Dense indices for item ids.
///
/// Indices follow the sorted order of item ids, so two models built from
/// different data agree on how ties between items are broken (by id). Items
/// are catalogue keys, not personal data: forgetting a subject never removes
/// an item from the index, it only brings its counts to zero.
/// SipHash (std's default) was the largest single cost of training on
/// MovieLens-100k: every interaction's item id is hashed twice. foldhash,
/// seeded per map, keeps some resistance to chosen ids at a fraction of it.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Dense `u32` positions of catalogue items, the models' row and column numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemIndex {
    ids: Vec<ItemId>,
    by_id: FastMap<ItemId, u32>,
}

impl ItemIndex {
    /// Builds the index of every item id given (duplicates are fine).
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a ItemId>) -> Self {
        // Deduplicate by hash first: sorting every occurrence's string is the slow part.
        let unique: std::collections::HashSet<&ItemId, foldhash::fast::RandomState> =
            ids.into_iter().collect();
        let mut refs: Vec<&ItemId> = unique.into_iter().collect();
        refs.sort_unstable();
        let ids: Vec<ItemId> = refs.into_iter().cloned().collect();
        let by_id = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        Self { ids, by_id }
    }

    /// The item's position, or `None` if it is not indexed.
    pub fn get(&self, id: &ItemId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The item at a position; panics on a position the index never gave.
    pub fn id(&self, index: u32) -> &ItemId {
        &self.ids[index as usize]
    }

    /// How many distinct items are indexed.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item is indexed yet.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// What the business says about an item: not learned, not personal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFacts {
    /// Groceries, consumables: may be recommended again after a purchase.
    pub repeatable: bool,
    /// Interest categories the item belongs to ("running", "coffee").
    pub categories: Vec<String>,
}

/// Item facts by item id. Items without facts are not repeatable and have no category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalogue {
    facts: HashMap<ItemId, ItemFacts>,
}

impl Catalogue {
    /// An empty catalogue: every item non-repeatable and uncategorised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records (or replaces) what the business says about an item.
    pub fn insert(&mut self, item: ItemId, facts: ItemFacts) {
        self.facts.insert(item, facts);
    }

    /// What the business said about the item, if anything.
    pub fn facts(&self, item: &ItemId) -> Option<&ItemFacts> {
        self.facts.get(item)
    }

    /// Whether the item may be recommended again after a purchase.
    pub fn is_repeatable(&self, item: &ItemId) -> bool {
        self.facts.get(item).is_some_and(|f| f.repeatable)
    }

    /// The item's interest categories; empty if it has none.
    pub fn categories(&self, item: &ItemId) -> &[String] {
        self.facts
            .get(item)
            .map(|f| f.categories.as_slice())
            .unwrap_or(&[])
    }

    /// Every item the business described, in no particular order.
    pub fn item_ids(&self) -> impl Iterator<Item = &ItemId> {
        self.facts.keys()
    }
}

/// The positive items of each subject, as sorted distinct item indices.
///
/// A `BTreeMap` so every pass over subjects has one fixed order: training
/// from the same data always yields bit-identical models.
pub type Baskets = BTreeMap<Pseudonym, Vec<u32>>;

/// Groups positive interactions (`weight > 0`) into baskets.
pub fn baskets(index: &ItemIndex, interactions: &[Interaction]) -> Baskets {
    // Grouped by hash, then the ordered map built once from sorted subjects:
    // an ordered-map lookup per event is a chain of 36-byte comparisons.
    let mut group_of: FastMap<Pseudonym, usize> = FastMap::default();
    let mut groups: Vec<(Pseudonym, Vec<u32>)> = Vec::new();
    let mut last: Option<(Pseudonym, usize)> = None;
    for it in interactions.iter().filter(|i| i.weight > 0.0) {
        let Some(item) = index.get(&it.item) else {
            continue;
        };
        // A subject's events usually arrive together.
        let g = match last {
            Some((subject, g)) if subject == it.subject => g,
            _ => {
                let g = *group_of.entry(it.subject).or_insert_with(|| {
                    groups.push((it.subject, Vec::new()));
                    groups.len() - 1
                });
                last = Some((it.subject, g));
                g
            }
        };
        groups[g].1.push(item);
    }
    for (_, items) in &mut groups {
        items.sort_unstable();
        items.dedup();
    }
    groups.sort_unstable_by_key(|g| g.0);
    groups.into_iter().collect()
}

/// How far training has got, for a progress bar. `done <= total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Which step is running (e.g. counting pairs, fitting EASE).
    pub stage: &'static str,
    /// Units of the step finished so far.
    pub done: u64,
    /// Units the step has in all.
    pub total: u64,
}
