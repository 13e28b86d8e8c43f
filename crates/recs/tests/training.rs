//! Training computes the textbook quantities, checked against brute force on
//! data wide enough for the fast paths (bitmap words, SIMD lanes, column
//! tiles) and with a subject's events interleaved with others'.

use std::collections::{BTreeMap, BTreeSet};

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::{
    baskets, Ease, EaseConfig, Interaction, ItemIndex, ItemKnn, KnnConfig, Scores,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SUBJECTS: u8 = 10;
const ITEMS: u32 = 150;

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

/// Zero-padded so catalogue order is numeric order.
fn item(n: u32) -> ItemId {
    ItemId::new(&format!("item-{n:03}")).unwrap()
}

/// Seeded events in random order, with repeats; items `140..150` are only
/// ever viewed with weight 0, so they are in the index but held by nobody.
fn events(seed: u64) -> (Vec<Interaction>, BTreeMap<u8, BTreeSet<u32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut held: BTreeMap<u8, BTreeSet<u32>> = BTreeMap::new();
    let mut out = Vec::new();
    for _ in 0..900 {
        let s = rng.gen_range(0..SUBJECTS);
        let i = rng.gen_range(0..ITEMS);
        let weight = if i >= 140 { 0.0 } else { 1.0 };
        if weight > 0.0 {
            held.entry(s).or_default().insert(i);
        }
        out.push(Interaction::new(subject(s), item(i), weight, Timestamp(0)));
    }
    (out, held)
}

fn train(all: &[Interaction]) -> (ItemIndex, ItemKnn) {
    let index = ItemIndex::from_ids(all.iter().map(|i| &i.item));
    let knn = ItemKnn::train(
        index.len(),
        baskets(&index, all),
        KnnConfig::default(),
        &mut |_| {},
    );
    (index, knn)
}

/// `G[i][j]`: subjects holding both `i` and `j` (`i == j`: holding `i`).
fn gram(held: &BTreeMap<u8, BTreeSet<u32>>) -> Vec<Vec<u32>> {
    let mut g = vec![vec![0u32; ITEMS as usize]; ITEMS as usize];
    for items in held.values() {
        for &i in items {
            for &j in items {
                g[i as usize][j as usize] += 1;
            }
        }
    }
    g
}

#[test]
fn baskets_and_counts_equal_brute_force() {
    let (all, held) = events(7);
    let (index, knn) = train(&all);
    assert_eq!(index.len(), ITEMS as usize);
    let want: Vec<(Pseudonym, Vec<u32>)> = held
        .iter()
        .map(|(&s, items)| (subject(s), items.iter().copied().collect()))
        .collect();
    let got: Vec<(Pseudonym, Vec<u32>)> = knn
        .baskets()
        .iter()
        .map(|(s, items)| (*s, items.clone()))
        .collect();
    assert_eq!(got, want);

    let g = gram(&held);
    for (i, row) in knn.co_occurrence().enumerate() {
        assert_eq!(knn.degree()[i], g[i][i], "degree of {i}");
        let want: Vec<(u32, u32)> = (0..ITEMS)
            .filter(|&j| j as usize != i && g[i][j as usize] > 0)
            .map(|j| (j, g[i][j as usize]))
            .collect();
        assert_eq!(row, want.as_slice(), "row {i}");
    }
}

#[test]
fn ease_with_many_items_per_subject_solves_its_normal_equations() {
    // Ten subjects, 140 held items: the subject-space (Woodbury) solver,
    // over more items than one register block or column tile holds.
    let (all, held) = events(11);
    let (_, knn) = train(&all);
    let lambda = 3.0;
    let ease = Ease::train(
        &knn,
        EaseConfig {
            lambda,
            max_items: 1000,
        },
        &mut |_| {},
    )
    .unwrap();
    let n = ITEMS as usize;
    let mut b = vec![vec![0f64; n]; n];
    for (i, row) in b.iter_mut().enumerate().take(140) {
        let mut s = Scores::new(n);
        ease.score_into(&[(i as u32, 1.0)], &mut s);
        for (j, v, _) in s.candidates() {
            row[j as usize] = v as f64;
        }
        assert_eq!(row[i], 0.0, "zero diagonal");
    }
    // B minimises ‖X − XB‖² + λ‖B‖² with diag(B) = 0, so off the diagonal
    // (G + λI)·B equals G (Steck 2019, eq. 8).
    let g = gram(&held);
    for (i, gi) in g.iter().enumerate().take(140) {
        for j in (0..140).filter(|&j| j != i) {
            let lhs: f64 = (0..140)
                .map(|k| (gi[k] as f64 + if i == k { lambda } else { 0.0 }) * b[k][j])
                .sum();
            assert!(
                (lhs - gi[j] as f64).abs() < 2e-3,
                "({i},{j}): {lhs} vs {}",
                gi[j]
            );
        }
    }
}
