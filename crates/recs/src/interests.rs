//! Interests: the categories a person's history leans towards, which they can see and remove.

use std::collections::{BTreeMap, HashSet};

use crate::data::{Catalogue, Interaction};

/// A derived interest: a catalogue category and its share of the person's
/// positive interaction weight (shares of all interests sum to 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Interest {
    /// The catalogue category ("running", "coffee").
    pub category: String,
    /// Its share of the person's positive weight, in `0..=1`.
    pub weight: f32,
}

/// Interests from a history, strongest first (ties by name). Removed
/// interests are left out; they also stop influencing recommendations when
/// passed as [`crate::Request::removed_interests`].
pub fn interests(
    history: &[Interaction],
    catalogue: &Catalogue,
    removed: &[String],
) -> Vec<Interest> {
    let removed: HashSet<&str> = removed.iter().map(String::as_str).collect();
    let mut mass: BTreeMap<&str, f64> = BTreeMap::new();
    for it in history.iter().filter(|i| i.weight > 0.0) {
        for c in catalogue.categories(&it.item) {
            if !removed.contains(c.as_str()) {
                *mass.entry(c.as_str()).or_default() += it.weight as f64;
            }
        }
    }
    let total: f64 = mass.values().sum();
    let mut out: Vec<Interest> = mass
        .into_iter()
        .map(|(c, m)| Interest {
            category: c.to_string(),
            weight: (m / total) as f32,
        })
        .collect();
    out.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then(a.category.cmp(&b.category))
    });
    out
}
