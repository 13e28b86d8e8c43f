//! Proofs from the cached tree against a naive transcription of RFC 9162
//! §2.1 over slices, on random trees up to a few thousand leaves; every
//! proof verifies, and any flipped bit makes it fail.

use fineline_ledger::{
    empty_root, leaf_hash, node_hash, verify_consistency, verify_inclusion, Hash, MerkleTree,
};
use proptest::prelude::*;

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    if d.len() <= 1 {
        return Vec::new();
    }
    let k = split(d.len());
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = split(n);
    let (mut p, other) = if m <= k {
        (subproof(m, &d[..k], b), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(other);
    p
}

fn leaves(n: usize, seed: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect()
}

fn flip(h: &Hash, byte: usize, bit: u8) -> Hash {
    let mut out = *h;
    out.0[byte % 32] ^= 1 << (bit % 8);
    out
}

/// Every inclusion and consistency proof of every size up to `n`, checked
/// against the reference and with every proof hash corrupted in turn.
#[test]
fn every_index_and_size_verifies_in_a_small_tree() {
    let d = leaves(130, 99);
    let tree = MerkleTree::from_leaf_hashes(d.iter().copied());
    for size in 1..=d.len() {
        let root = mth(&d[..size]);
        assert_eq!(tree.root(size as u64).unwrap(), root);
        for index in 0..size {
            let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
            assert_eq!(proof, path(index, &d[..size]), "{index} in {size}");
            verify_inclusion(index as u64, size as u64, &d[index], &proof, &root).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i], index + i, size as u8);
                assert!(
                    verify_inclusion(index as u64, size as u64, &d[index], &bad, &root).is_err()
                );
            }
        }
        for first in 1..size {
            let proof = tree.consistency_proof(first as u64, size as u64).unwrap();
            assert_eq!(proof, subproof(first, &d[..size], true), "{first}→{size}");
            let old = mth(&d[..first]);
            verify_consistency(first as u64, size as u64, &old, &root, &proof).unwrap();
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip(&bad[i], first + i, size as u8);
                assert!(verify_consistency(first as u64, size as u64, &old, &root, &bad).is_err());
            }
        }
    }
}

/// All (index, size) pairs of a tree past 2^11, without the slow reference.
#[test]
fn every_index_and_size_verifies_in_a_larger_tree() {
    let d = leaves(2100, 5);
    let tree = MerkleTree::from_leaf_hashes(d.iter().copied());
    for size in (1..=d.len() as u64).step_by(7).chain([1024, 2048, 2049]) {
        let root = tree.root(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            verify_inclusion(index, size, &d[index as usize], &proof, &root).unwrap();
        }
        for first in 0..=size {
            let proof = tree.consistency_proof(first, size).unwrap();
            let old = tree.root(first).unwrap();
            verify_consistency(first, size, &old, &root, &proof).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn proofs_match_the_reference_and_resist_bit_flips(
        n in 1usize..3000,
        seed in any::<u64>(),
        picks in proptest::collection::vec((any::<u64>(), any::<u64>(), any::<usize>(), any::<u8>()), 8),
    ) {
        let d = leaves(n, seed);
        let mut tree = MerkleTree::new();
        for h in &d {
            tree.append(*h);
        }
        prop_assert_eq!(tree.current_root(), mth(&d));
        for (a, b, byte, bit) in picks {
            let size = 1 + (a % n as u64) as usize;
            let index = (b % size as u64) as usize;
            let root = mth(&d[..size]);
            prop_assert_eq!(tree.root(size as u64).unwrap(), root);

            let proof = tree.inclusion_proof(index as u64, size as u64).unwrap();
            prop_assert_eq!(&proof, &path(index, &d[..size]));
            let (i, s) = (index as u64, size as u64);
            prop_assert!(verify_inclusion(i, s, &d[index], &proof, &root).is_ok());
            prop_assert!(verify_inclusion(i, s, &flip(&d[index], byte, bit), &proof, &root).is_err());
            prop_assert!(verify_inclusion(i, s, &d[index], &proof, &flip(&root, byte, bit)).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = byte % bad.len();
                bad[at] = flip(&bad[at], byte / 7, bit);
                prop_assert!(verify_inclusion(i, s, &d[index], &bad, &root).is_err());
            }

            let first = index + 1; // 1 ≤ first ≤ size
            let old = mth(&d[..first]);
            let proof = tree.consistency_proof(first as u64, s).unwrap();
            if first < size {
                prop_assert_eq!(&proof, &subproof(first, &d[..size], true));
            }
            let f = first as u64;
            prop_assert!(verify_consistency(f, s, &old, &root, &proof).is_ok());
            prop_assert!(verify_consistency(f, s, &flip(&old, byte, bit), &root, &proof).is_err());
            prop_assert!(verify_consistency(f, s, &old, &flip(&root, byte, bit), &proof).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = byte % bad.len();
                bad[at] = flip(&bad[at], byte / 7, bit);
                prop_assert!(verify_consistency(f, s, &old, &root, &bad).is_err());
            }
        }
    }
}
