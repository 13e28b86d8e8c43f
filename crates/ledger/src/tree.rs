//! The in-memory Merkle tree: every leaf hash plus every complete subtree.
//!
//! `levels[h][i]` is the hash of the complete subtree over leaves
//! `[i·2^h, (i+1)·2^h)`. Because the RFC 9162 split point is always a power
//! of two, every node of the tree at ANY past size is either one of these
//! cached complete subtrees or lies on that size's right edge. So a proof for
//! any (index, size) costs O(log n) lookups plus at most O(log n) hashes for
//! the one ragged right-edge subtree it touches. Memory is about 2 × 32 bytes
//! per leaf (640 MB at 10 M leaves).

use crate::hash::{empty_root, node_hash, Hash};

/// Why the tree cannot answer for the size or index asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A tree size larger than the log has grown to.
    #[error("tree size {size} is beyond the log's {log_size} entries")]
    SizeBeyondLog {
        /// The size asked for.
        size: u64,
        /// Leaves in the log now.
        log_size: u64,
    },
    /// A leaf index outside the tree of the size asked.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index asked for (0-based).
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof asked from a larger size to a smaller one.
    #[error("consistency proof asked from size {from} to the smaller size {to}")]
    SizesOutOfOrder {
        /// The size the proof would start from.
        from: u64,
        /// The size the proof would end at.
        to: u64,
    },
}

/// An append-only RFC 9162 Merkle tree over leaf hashes.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// Never empty: `levels[0]` holds the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 9162's `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    /// An empty tree with room for `leaves` leaves without reallocating.
    pub fn with_capacity(leaves: usize) -> Self {
        let levels = (0..usize::BITS)
            .map(|h| leaves >> h)
            .take_while(|&n| n > 0)
            .map(Vec::with_capacity)
            .collect::<Vec<_>>();
        if levels.is_empty() {
            return Self::new();
        }
        Self { levels }
    }

    /// Rebuilds the tree from stored leaf hashes in log order (server start).
    /// Builds level by level, which is several times faster than appending.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut levels = vec![leaf_hashes.into_iter().collect::<Vec<Hash>>()];
        loop {
            let below = levels.last().expect("levels is never empty");
            if below.len() < 2 {
                break;
            }
            let above: Vec<Hash> = below
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether no leaf was appended yet.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// Appends a leaf hash and returns its index.
    pub fn append(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.levels[0].len();
        self.levels[0].push(leaf_hash);
        // Each trailing 1-bit of the index closes one complete subtree.
        let (mut i, mut h) = (index, 0);
        while i & 1 == 1 {
            let parent = node_hash(&self.levels[h][i - 1], &self.levels[h][i]);
            if self.levels.len() == h + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[h + 1].push(parent);
            i >>= 1;
            h += 1;
        }
        index as u64
    }

    /// The leaf hash at `index`, if the log has one there.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(usize::try_from(index).ok()?).copied()
    }

    /// Root hash of the tree as it was at `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        Ok(if size == 0 {
            empty_root()
        } else {
            self.subtree(0, size)
        })
    }

    /// Root hash at the current size.
    pub fn current_root(&self) -> Hash {
        self.root(self.size()).expect("current size is in range")
    }

    /// RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of
    /// `size` leaves, ordered from the leaf upwards.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::with_capacity(64 - size.leading_zeros() as usize);
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// RFC 9162 §2.1.4.1 consistency proof between sizes `from` and `to`.
    /// Empty when `from` is 0 or equal to `to`: every tree extends the
    /// empty tree, and a tree is consistent with itself.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(to)?;
        if from > to {
            return Err(TreeError::SizesOutOfOrder { from, to });
        }
        let mut proof = Vec::new();
        if from > 0 && from < to {
            self.subproof(from, 0, to, true, &mut proof);
        }
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        if size > self.size() {
            return Err(TreeError::SizeBeyondLog {
                size,
                log_size: self.size(),
            });
        }
        Ok(())
    }

    /// MTH(D[offset : offset+n]). Callers only ask for ranges produced by
    /// the RFC recursion, so `offset` is a multiple of the next power of two
    /// ≥ n and every power-of-two piece is a cached complete subtree.
    fn subtree(&self, offset: u64, n: u64) -> Hash {
        debug_assert!(n > 0);
        if n.is_power_of_two() {
            let h = n.trailing_zeros() as usize;
            return self.levels[h][(offset >> h) as usize];
        }
        let k = split(n);
        node_hash(&self.subtree(offset, k), &self.subtree(offset + k, n - k))
    }

    /// PATH(m, D[offset : offset+n]).
    fn path(&self, m: u64, offset: u64, n: u64, out: &mut Vec<Hash>) {
        if n == 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, offset, k, out);
            out.push(self.subtree(offset + k, n - k));
        } else {
            self.path(m - k, offset + k, n - k, out);
            out.push(self.subtree(offset, k));
        }
    }

    /// SUBPROOF(m, D[offset : offset+n], b).
    fn subproof(&self, m: u64, offset: u64, n: u64, b: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !b {
                out.push(self.subtree(offset, n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, offset, k, b, out);
            out.push(self.subtree(offset + k, n - k));
        } else {
            self.subproof(m - k, offset + k, n - k, false, out);
            out.push(self.subtree(offset, k));
        }
    }

    /// Drops every leaf from `size` on, as if they had never been appended:
    /// a writer whose append did not commit (another process appended
    /// first) goes back to the committed tree without rebuilding it.
    /// A `size` at or past the current one changes nothing.
    pub fn truncate(&mut self, size: u64) {
        let Ok(size) = usize::try_from(size) else {
            return;
        };
        // Level h holds one node per complete subtree of 2^h leaves.
        for (h, level) in self.levels.iter_mut().enumerate() {
            level.truncate(size >> h);
        }
        while self.levels.len() > 1 && self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }

    /// Bytes held by the cached hashes (for the benchmark report).
    pub fn memory_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.capacity() * std::mem::size_of::<Hash>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A truncated tree is the tree of the leaves it keeps: same roots,
        /// same proofs, and appending after it gives the same tree again.
        #[test]
        fn truncate_gives_the_tree_of_the_kept_leaves(n in 0u64..300, keep in 0u64..320) {
            let leaves: Vec<Hash> = (0..n).map(|i| crate::hash::leaf_hash(&i.to_le_bytes())).collect();
            let mut tree = MerkleTree::from_leaf_hashes(leaves.clone());
            tree.truncate(keep);
            let kept = keep.min(n) as usize;
            let want = MerkleTree::from_leaf_hashes(leaves[..kept].iter().copied());
            proptest::prop_assert_eq!(&tree.levels, &want.levels);
            if kept > 0 {
                proptest::prop_assert_eq!(tree.current_root(), want.current_root());
            }
            for &l in &leaves[kept..] {
                tree.append(l);
            }
            proptest::prop_assert_eq!(&tree.levels, &MerkleTree::from_leaf_hashes(leaves).levels);
        }
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)] {
            assert_eq!(split(n), k, "n = {n}");
        }
        assert_eq!(split((1 << 63) + 1), 1 << 63);
    }

    #[test]
    fn bulk_rebuild_equals_appending() {
        let leaves: Vec<Hash> = (0..1000u32)
            .map(|i| crate::hash::leaf_hash(&i.to_be_bytes()))
            .collect();
        let bulk = MerkleTree::from_leaf_hashes(leaves.iter().copied());
        let mut appended = MerkleTree::new();
        for l in &leaves {
            appended.append(*l);
        }
        assert_eq!(bulk.levels, appended.levels);
        let mut reserved = MerkleTree::with_capacity(5000);
        for l in &leaves {
            reserved.append(*l);
        }
        for size in [0, 1, 7, 512, 999, 1000] {
            assert_eq!(reserved.root(size), bulk.root(size));
            assert_eq!(
                reserved.consistency_proof(size, 1000),
                bulk.consistency_proof(size, 1000)
            );
        }
    }
}
