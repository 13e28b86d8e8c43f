//! Level 2: coarse interests the person approved, with plausible
//! deniability in the manner of the Topics API.
//!
//! The person approves at most [`MAX_TOPICS`] categories of the business's
//! taxonomy (the device may suggest them from the local history, see
//! [`suggest_interests`]; nothing leaves until approved). Each disclosure
//! sends each approved topic, except that with probability
//! [`NOISE_PERCENT`]% a slot is replaced by a category drawn uniformly
//! from the whole taxonomy, so any single topic the business sees may be
//! noise. Draws per slot, in order: `below(100)`, then, if it is under
//! the noise percentage, `below(taxonomy length)`. The result is sorted by
//! taxonomy order and deduplicated, so its order says nothing about which
//! slot was noise.

use fineline_core::ItemId;
use fineline_recs::PublicModel;

use crate::coins::Coins;
use crate::PersonaError;

/// Most topics one business may receive (the Topics API also sends 3).
pub const MAX_TOPICS: usize = 3;
/// Chance, in percent, that a slot carries a random topic (Topics API: 5).
pub const NOISE_PERCENT: u64 = 5;

/// Checks an approval against the taxonomy: known topics, no repeats, at most 3.
pub fn check_approval(approved: &[String], taxonomy: &[String]) -> Result<(), PersonaError> {
    if approved.len() > MAX_TOPICS {
        return Err(PersonaError::Invalid("at most 3 interests may be approved"));
    }
    for (n, topic) in approved.iter().enumerate() {
        if !taxonomy.contains(topic) {
            return Err(PersonaError::UnknownTopic(topic.clone()));
        }
        if approved[..n].contains(topic) {
            return Err(PersonaError::Invalid("an interest is approved twice"));
        }
    }
    Ok(())
}

/// The topics one level-2 disclosure carries.
pub fn noisy_topics(
    approved: &[String],
    taxonomy: &[String],
    coins: &mut Coins<'_>,
) -> Result<Vec<String>, PersonaError> {
    check_approval(approved, taxonomy)?;
    let mut picked: Vec<usize> = Vec::with_capacity(approved.len());
    for topic in approved {
        let at = if coins.below(100)? < NOISE_PERCENT {
            coins.below(taxonomy.len() as u64)? as usize
        } else {
            taxonomy.iter().position(|t| t == topic).expect("checked")
        };
        picked.push(at);
    }
    picked.sort_unstable();
    picked.dedup();
    Ok(picked.into_iter().map(|i| taxonomy[i].clone()).collect())
}

/// Per taxonomy category, how many history items fall in it (by the
/// public model's catalogue categories); items the model does not list count nowhere.
pub fn category_counts(history: &[ItemId], model: &PublicModel, taxonomy: &[String]) -> Vec<u64> {
    let mut counts = vec![0u64; taxonomy.len()];
    for item in history {
        if let Some(i) = model.index_of(item) {
            for c in &model.items[i as usize].categories {
                if let Some(t) = taxonomy.iter().position(|t| t == c) {
                    counts[t] += 1;
                }
            }
        }
    }
    counts
}

/// The device's suggestion of up to `n` interests from the local history,
/// most frequent first, ties in taxonomy order. A suggestion only: it
/// leaves nothing until the person approves it.
pub fn suggest_interests(
    history: &[ItemId],
    model: &PublicModel,
    taxonomy: &[String],
    n: usize,
) -> Vec<String> {
    let counts = category_counts(history, model, taxonomy);
    let mut order: Vec<usize> = (0..taxonomy.len()).filter(|&t| counts[t] > 0).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(n.min(MAX_TOPICS))
        .map(|t| taxonomy[t].clone())
        .collect()
}
