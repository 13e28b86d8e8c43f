//! The public model: what a business publishes so a device can recommend
//! on its own (fineline-persona's level 0), built only from counts enough
//! people share.
//!
//! Contents, per listed item (in item-id order): its id, its catalogue
//! categories, its popularity and its public neighbours. An item is listed
//! when the business's catalogue names it or at least
//! [`crate::KnnConfig::min_support`] people hold it; popularity is the
//! number of holders when that is at least `min_support`, else 0. The
//! neighbour weights are either the public similar-items lists (a pair
//! appears only when at least `min_support` people hold both,
//! [`crate::ItemKnn::public_similar`]) or EASE fitted on the release alone
//! (the number of people, the listed items' counts and the pair counts at
//! least `min_support` people share; a pair under the floor enters the fit
//! as the count independence predicts, [`crate::RarePairs`]): its weights
//! are dense, but post-processing of floor-cleared counts only. So every
//! number in the model, and every item id learned from people, is a
//! function of counts at least `min_support` people share: shops that
//! differ only in pairs fewer people hold publish identical models
//! (tests/public_model.rs). (Exact counts of well-held items still move by
//! one when one person joins: comparing two versions is a differencing
//! attack this floor does not stop; docs/persona.md says so.)
//!
//! Scores are signed integers (weight × 10⁶, rounded half away from zero;
//! EASE's negative weights matter to its ranking) so that a
//! plain-JavaScript client sums them exactly and ranks as the Rust client
//! does. The digest is SHA-256 over [`PublicModel::canonical_bytes`],
//! a byte layout simple enough to recompute anywhere.

use sha2::{Digest, Sha256};

use fineline_core::ItemId;

use crate::recommender::Recommender;

/// Fixed-point scale of [`PublicItem::neighbours`] scores.
pub const SCORE_SCALE: f64 = 1_000_000.0;

/// One listed item of a [`PublicModel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicItem {
    /// The business's catalogue key.
    pub id: ItemId,
    /// Interest categories from the business's catalogue (not learned).
    pub categories: Vec<String>,
    /// People holding the item, or 0 when fewer than `min_support` do.
    pub popularity: u32,
    /// `(listed item index, weight × 10⁶)`, highest first, ties to the
    /// lower index; never 0, negative only in an EASE model.
    pub neighbours: Vec<(u32, i32)>,
}

/// A versioned, digest-bearing export of the public parts of a trained model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicModel {
    /// The business's model version (monotone per business).
    pub version: u64,
    /// The support floor every count in the model clears.
    pub min_support: u32,
    /// Listed items, sorted by id; neighbour indices point into this list.
    pub items: Vec<PublicItem>,
    /// SHA-256 of [`Self::canonical_bytes`].
    pub digest: [u8; 32],
}

impl PublicModel {
    /// Builds a model from parts and seals its digest.
    pub fn new(version: u64, min_support: u32, items: Vec<PublicItem>) -> Self {
        let mut model = Self {
            version,
            min_support,
            items,
            digest: [0; 32],
        };
        model.digest = model.compute_digest();
        model
    }

    /// The digest's input: `"fineline-public-model/v2\n"`, then big-endian
    /// u64 version, u32 min_support, u32 item count, and per item: u32
    /// length + UTF-8 id, u32 category count and each category as u32
    /// length + UTF-8, u32 popularity, u32 neighbour count and each
    /// neighbour as u32 index, i32 score (two's complement). (v1 had
    /// unsigned scores.)
    pub fn canonical_bytes(&self) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, s: &str) {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        let mut out = b"fineline-public-model/v2\n".to_vec();
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.min_support.to_be_bytes());
        out.extend_from_slice(&(self.items.len() as u32).to_be_bytes());
        for item in &self.items {
            text(&mut out, item.id.as_str());
            out.extend_from_slice(&(item.categories.len() as u32).to_be_bytes());
            for c in &item.categories {
                text(&mut out, c);
            }
            out.extend_from_slice(&item.popularity.to_be_bytes());
            out.extend_from_slice(&(item.neighbours.len() as u32).to_be_bytes());
            for &(j, s) in &item.neighbours {
                out.extend_from_slice(&j.to_be_bytes());
                out.extend_from_slice(&s.to_be_bytes());
            }
        }
        out
    }

    /// SHA-256 of the canonical bytes.
    pub fn compute_digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// Whether the carried digest matches the contents.
    pub fn digest_matches(&self) -> bool {
        self.compute_digest() == self.digest
    }

    /// Whether the structure is one a device can rely on: ids strictly
    /// ascending (so lookups are binary searches), neighbour indices in
    /// range and never the item itself, and the digest matching. A device
    /// checks this before using a downloaded model.
    pub fn is_well_formed(&self) -> bool {
        let n = self.items.len() as u64;
        self.items.windows(2).all(|w| w[0].id < w[1].id)
            && self.items.iter().enumerate().all(|(i, it)| {
                it.neighbours
                    .iter()
                    .all(|&(j, _)| (j as u64) < n && j as usize != i)
            })
            && self.digest_matches()
    }

    /// The listed index of `id`, if listed.
    pub fn index_of(&self, id: &ItemId) -> Option<u32> {
        self.items
            .binary_search_by(|it| it.id.cmp(id))
            .ok()
            .map(|i| i as u32)
    }
}

/// Weight → fixed point, saturating; non-finite weights (no fit produces
/// them) become 0, which the export drops.
pub(crate) fn fixed(score: f32) -> i32 {
    let s = (score as f64 * SCORE_SCALE).round();
    if s.is_finite() {
        s.clamp(i32::MIN as f64 + 1.0, i32::MAX as f64) as i32
    } else {
        0
    }
}

impl Recommender {
    /// The public model of this recommender's neighbourhood model, stamped
    /// with `version`.
    pub fn public_model(&self, version: u64) -> PublicModel {
        let (_, _, knn) = self.parts();
        self.export(version, |i| knn.public_similar(i, usize::MAX).to_vec())
    }

    /// A public model whose neighbours are EASE weights fitted on the
    /// release only (see the module docs: the same floor), each item
    /// keeping `config.keep` weights. On a device, summing them over the
    /// history is EASE's history × B restricted to those entries. What the
    /// server publishes by default.
    pub fn public_ease_model(
        &self,
        version: u64,
        config: crate::PublicEaseConfig,
    ) -> Result<PublicModel, crate::RecsError> {
        let (index, _, knn) = self.parts();
        let min = knn.config().min_support;
        let mut rows = vec![Vec::new(); index.len()];
        for (i, row) in crate::public_ease::public_rows(knn, config, min)? {
            rows[i as usize] = row;
        }
        Ok(self.export(version, |i| std::mem::take(&mut rows[i as usize])))
    }

    /// Lists the items the floor allows and renumbers `neighbours(i)`
    /// (catalogue indices, best first) into the listed order.
    fn export(
        &self,
        version: u64,
        mut neighbours: impl FnMut(u32) -> Vec<(u32, f32)>,
    ) -> PublicModel {
        let (index, catalogue, knn) = self.parts();
        let min = knn.config().min_support;
        let degree = knn.degree();
        let listed: Vec<u32> = (0..index.len() as u32)
            .filter(|&i| degree[i as usize] >= min || catalogue.facts(index.id(i)).is_some())
            .collect();
        // Old index → listed index; index order is id order, so listed stays sorted.
        let mut renumber = vec![u32::MAX; index.len()];
        for (at, &i) in listed.iter().enumerate() {
            renumber[i as usize] = at as u32;
        }
        let items = listed
            .iter()
            .map(|&i| {
                let id = index.id(i).clone();
                let d = degree[i as usize];
                PublicItem {
                    categories: catalogue.categories(&id).to_vec(),
                    id,
                    popularity: if d >= min { d } else { 0 },
                    neighbours: neighbours(i)
                        .into_iter()
                        .filter(|&(j, _)| renumber[j as usize] != u32::MAX)
                        .map(|(j, s)| (renumber[j as usize], fixed(s)))
                        .filter(|&(_, s)| s != 0)
                        .collect(),
                }
            })
            .collect();
        PublicModel::new(version, min, items)
    }
}
