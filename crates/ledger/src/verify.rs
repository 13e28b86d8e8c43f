//! Proof verification exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 write it.
//!
//! These functions need nothing but hashes, so a person holding a receipt,
//! or an auditor holding two tree heads, can check the log offline.

use crate::hash::{empty_root, node_hash, Hash};

/// Why an RFC 9162 proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf is not inside the tree the proof is for.
    #[error("leaf index {index} is not inside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index given (0-based).
        index: u64,
        /// Leaves in the tree given.
        size: u64,
    },
    /// The "older" tree is larger than the newer one.
    #[error("the older tree size {first} is larger than the newer {second}")]
    SizesOutOfOrder {
        /// Size of the tree said to be older.
        first: u64,
        /// Size of the tree said to be newer.
        second: u64,
    },
    /// The proof has too many or too few hashes for the sizes.
    #[error("the proof has the wrong number of hashes for these sizes")]
    WrongLength,
    /// The proof leads to another root: the leaf is not in that tree.
    #[error("the proof leads to a different root hash")]
    RootMismatch,
    /// The consistency proof does not rebuild the older root: the log was rewritten.
    #[error("the proof does not lead back to the older tree's root hash")]
    FirstRootMismatch,
}

/// RFC 9162 §2.1.3.2: does `proof` show the leaf `leaf_hash` at
/// `leaf_index` in the tree of `tree_size` leaves whose root is `root`?
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if leaf_index >= tree_size {
        return Err(ProofError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let (mut fnode, mut snode) = (leaf_index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: is the tree of `second` leaves with root
/// `second_hash` an append-only extension of the tree of `first` leaves
/// with root `first_hash`?
///
/// The RFC defines proofs for 0 < first < second only. The two edge cases
/// are decided here (with an empty proof required): first == second holds
/// when the roots are equal; first == 0 holds when `first_hash` is the
/// empty-tree root, since every tree extends the empty one.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_hash: &Hash,
    second_hash: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == 0 || first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if first == 0 && *first_hash != empty_root() {
            return Err(ProofError::FirstRootMismatch);
        }
        if first == second && first_hash != second_hash {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    // Step 2: a power-of-two first tree is itself a node of the second
    // tree, so its root starts the path (without copying the proof).
    let (start, rest) = if first.is_power_of_two() {
        (*first_hash, proof)
    } else {
        (proof[0], &proof[1..])
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *first_hash {
        return Err(ProofError::FirstRootMismatch);
    }
    if sr != *second_hash {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
