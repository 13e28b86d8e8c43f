//! Level 0 recommendations, computed on the device from the business's
//! public model and the local history; nothing is sent.
//!
//! Scoring (integers only, so a JavaScript client ranks identically):
//! for each distinct history item the model lists, add each public
//! neighbour's signed fixed-point score to that neighbour; rank items
//! outside the history whose total is positive (highest first, ties to the
//! lower model index); pad with the most popular listed items (popularity,
//! then index). This is the server's scoring (item-item, or EASE's
//! history × B) restricted to the weights the public model carries. An
//! item whose total is negative or zero is treated as unscored: it can
//! only come back as padding.

use fineline_core::ItemId;
use fineline_recs::PublicModel;

/// One on-device suggestion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OnDeviceRec {
    /// The suggested item.
    pub item: ItemId,
    /// Summed fixed-point similarity (0 for popularity padding).
    pub score: u64,
    /// The history item that contributed most (`None`: popular).
    pub because: Option<ItemId>,
}

/// Up to `n` suggestions for a person whose local history is `history`.
pub fn recommend(model: &PublicModel, history: &[ItemId], n: usize) -> Vec<OnDeviceRec> {
    let len = model.items.len();
    let mut seen = vec![false; len];
    let mut held: Vec<u32> = history.iter().filter_map(|i| model.index_of(i)).collect();
    held.sort_unstable();
    held.dedup();
    for &i in &held {
        seen[i as usize] = true;
    }
    let mut score = vec![0i64; len];
    // (best single contribution, from which history item): a positive
    // total has at least one positive contribution.
    let mut best = vec![(0i32, u32::MAX); len];
    for &i in &held {
        // A model that failed `is_well_formed` must not crash the device:
        // out-of-range neighbours are skipped.
        for &(j, s) in model.items[i as usize]
            .neighbours
            .iter()
            .filter(|n| (n.0 as usize) < len)
        {
            let j = j as usize;
            score[j] += s as i64;
            // `held` ascends, so a tie keeps the lower history index.
            if s > best[j].0 {
                best[j] = (s, i);
            }
        }
    }
    let mut ranked: Vec<u32> = (0..len as u32)
        .filter(|&j| score[j as usize] > 0 && !seen[j as usize])
        .collect();
    ranked.sort_unstable_by(|&a, &b| score[b as usize].cmp(&score[a as usize]).then(a.cmp(&b)));
    ranked.truncate(n);
    let mut out: Vec<OnDeviceRec> = ranked
        .iter()
        .map(|&j| OnDeviceRec {
            item: model.items[j as usize].id.clone(),
            score: score[j as usize] as u64,
            because: Some(model.items[best[j as usize].1 as usize].id.clone()),
        })
        .collect();
    if out.len() < n {
        for &j in &ranked {
            seen[j as usize] = true;
        }
        let mut popular: Vec<u32> = (0..len as u32)
            .filter(|&j| model.items[j as usize].popularity > 0 && !seen[j as usize])
            .collect();
        popular.sort_unstable_by(|&a, &b| {
            let p = |x: u32| model.items[x as usize].popularity;
            p(b).cmp(&p(a)).then(a.cmp(&b))
        });
        out.extend(
            popular
                .into_iter()
                .take(n - out.len())
                .map(|j| OnDeviceRec {
                    item: model.items[j as usize].id.clone(),
                    score: 0,
                    because: None,
                }),
        );
    }
    out
}
