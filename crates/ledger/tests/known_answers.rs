//! RFC 6962 known answers: the Certificate Transparency reference leaves,
//! roots and proofs (as published in transparency-dev/merkle's test data).
//! A log no other implementation agrees with proves nothing to anyone.

use fineline_ledger::{
    empty_root, leaf_hash, verify_consistency, verify_inclusion, Hash, MerkleTree, ProofError,
};

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Root for each size 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, proof)
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (first size, second size, proof)
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    s.parse().unwrap()
}

fn hashes(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

fn reference_tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for leaf in LEAVES {
        tree.append(leaf_hash(&hex::decode(leaf).unwrap()));
    }
    tree
}

#[test]
fn roots_match_rfc6962_for_every_size() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    let tree = reference_tree();
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root(size as u64).unwrap(), h(root), "size {size}");
    }
    let rebuilt = MerkleTree::from_leaf_hashes((0..8).map(|i| tree.leaf_hash(i).unwrap()));
    assert_eq!(rebuilt.current_root(), h(ROOTS[8]));
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let tree = reference_tree();
    for (index, size, proof) in INCLUSION {
        let want = hashes(proof);
        assert_eq!(
            tree.inclusion_proof(index, size).unwrap(),
            want,
            "{index} in {size}"
        );
        let leaf = tree.leaf_hash(index).unwrap();
        let root = h(ROOTS[size as usize]);
        verify_inclusion(index, size, &leaf, &want, &root).unwrap();
        // Wrong index, size, leaf or root, and any changed or extra hash.
        assert!(verify_inclusion(index ^ 1, size, &leaf, &want, &root).is_err());
        assert!(verify_inclusion(index, size * 2, &leaf, &want, &root).is_err());
        assert!(verify_inclusion(index, size, &root, &want, &root).is_err());
        assert!(verify_inclusion(index, size, &leaf, &want, &empty_root()).is_err());
        let mut longer = want.clone();
        longer.push(root);
        assert_eq!(
            verify_inclusion(index, size, &leaf, &longer, &root),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_inclusion(index, size, &leaf, &want[..want.len() - 1], &root),
            Err(ProofError::WrongLength)
        );
    }
}

#[test]
fn single_leaf_tree_has_an_empty_proof() {
    let tree = reference_tree();
    assert!(tree.inclusion_proof(0, 1).unwrap().is_empty());
    verify_inclusion(0, 1, &h(ROOTS[1]), &[], &h(ROOTS[1])).unwrap();
    assert!(verify_inclusion(0, 0, &h(ROOTS[1]), &[], &h(ROOTS[1])).is_err());
    assert!(verify_inclusion(1, 1, &h(ROOTS[1]), &[], &h(ROOTS[1])).is_err());
}

#[test]
fn consistency_proofs_match_and_verify() {
    let tree = reference_tree();
    for (first, second, proof) in CONSISTENCY {
        let want = hashes(proof);
        assert_eq!(
            tree.consistency_proof(first, second).unwrap(),
            want,
            "{first}→{second}"
        );
        let (r1, r2) = (h(ROOTS[first as usize]), h(ROOTS[second as usize]));
        verify_consistency(first, second, &r1, &r2, &want).unwrap();
        assert!(verify_consistency(first, second, &r2, &r1, &want).is_err());
        assert!(verify_consistency(first + 1, second, &r1, &r2, &want).is_err());
        assert!(verify_consistency(first, second, &r1, &r2, &[]).is_err());
        let mut longer = want.clone();
        longer.push(r2);
        assert!(verify_consistency(first, second, &r1, &r2, &longer).is_err());
    }
}

#[test]
fn trivial_consistency_cases() {
    let tree = reference_tree();
    let (e, r1, r8) = (h(ROOTS[0]), h(ROOTS[1]), h(ROOTS[8]));
    assert!(tree.consistency_proof(0, 8).unwrap().is_empty());
    assert!(tree.consistency_proof(8, 8).unwrap().is_empty());
    verify_consistency(0, 8, &e, &r8, &[]).unwrap();
    verify_consistency(8, 8, &r8, &r8, &[]).unwrap();
    verify_consistency(1, 1, &r1, &r1, &[]).unwrap();
    assert!(verify_consistency(1, 1, &r1, &r8, &[]).is_err());
    assert!(verify_consistency(0, 8, &r1, &r8, &[]).is_err());
    assert!(verify_consistency(1, 1, &r1, &r1, &[e]).is_err());
    assert!(verify_consistency(2, 1, &r1, &r8, &[]).is_err());
    assert!(tree.consistency_proof(5, 9).is_err());
    assert!(tree.consistency_proof(5, 4).is_err());
}
