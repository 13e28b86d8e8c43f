//! The evaluator's definitions on hand-computed cases, and EASE's optimality.

use std::collections::HashMap;

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::eval::{split, Evaluator, Split};
use fineline_recs::{
    baskets, Ease, EaseConfig, Interaction, ItemIndex, ItemKnn, KnnConfig, Scores,
};

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}
fn item(n: u32) -> ItemId {
    ItemId::new(&format!("i{n}")).unwrap()
}
fn event(s: u8, i: u32) -> Interaction {
    Interaction::new(subject(s), item(i), 1.0, Timestamp(0))
}

#[test]
fn precision_and_ndcg_match_hand_computation() {
    let split = Split {
        train: vec![event(1, 9)],
        test: vec![event(1, 1), event(1, 2), event(2, 3)],
    };
    let ev = Evaluator::new(&split, 10);
    let mut lists = HashMap::new();
    // Subject 1: hits at ranks 0 and 2. Subject 2: no list at all.
    lists.insert(subject(1), vec![item(1), item(7), item(2)]);
    let m = ev.score_lists(&lists);
    assert_eq!(m.users, 2);
    assert!((m.precision - (2.0 / 10.0) / 2.0).abs() < 1e-12);
    assert!((m.precision_capped - 2.0 / 3.0).abs() < 1e-12);
    let dcg = 1.0 + 1.0 / 4f64.log2();
    let idcg = 1.0 + 1.0 / 3f64.log2();
    assert!((m.ndcg - (dcg / idcg) / 2.0).abs() < 1e-12);
}

#[test]
fn split_is_seeded_and_exact() {
    let all: Vec<Interaction> = (0..100).map(|i| event((i % 7) as u8, i)).collect();
    let a = split(&all, 0.2, 42);
    assert_eq!(a.test.len(), 20);
    assert_eq!(a.train.len(), 80);
    assert_eq!(a, split(&all, 0.2, 42));
    assert_ne!(a, split(&all, 0.2, 43));
}

/// (G + λI)·B has G's off-diagonal entries: the optimality condition of EASE.
#[allow(clippy::needless_range_loop)] // matrix indices read clearer here
fn assert_ease_optimal(pairs: &[(u8, u32)], lambda: f64) {
    let all: Vec<Interaction> = pairs.iter().map(|&(s, i)| event(s, i)).collect();
    let index = ItemIndex::from_ids(all.iter().map(|i| &i.item));
    let knn = ItemKnn::train(
        index.len(),
        baskets(&index, &all),
        KnnConfig::default(),
        &mut |_| {},
    );
    let ease = Ease::train(
        &knn,
        EaseConfig {
            lambda,
            max_items: 100,
        },
        &mut |_| {},
    )
    .unwrap();
    let n = index.len();
    // Read B back row by row through scoring a one-item history.
    let mut b = vec![vec![0f64; n]; n];
    for (i, row) in b.iter_mut().enumerate() {
        let mut s = Scores::new(n);
        ease.score_into(&[(i as u32, 1.0)], &mut s);
        for (j, v, _) in s.candidates() {
            row[j as usize] = v as f64;
        }
        assert_eq!(row[i], 0.0, "zero diagonal");
    }
    let mut g = vec![vec![0f64; n]; n];
    for (i, row) in knn.co_occurrence().enumerate() {
        g[i][i] = knn.degree()[i] as f64;
        for &(j, c) in row {
            g[i][j as usize] = c as f64;
        }
    }
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let lhs: f64 = (0..n)
                .map(|m| (g[i][m] + if i == m { lambda } else { 0.0 }) * b[m][j])
                .sum();
            assert!(
                (lhs - g[i][j]).abs() < 1e-3,
                "({i},{j}): {lhs} vs {}",
                g[i][j]
            );
        }
    }
}

#[test]
fn ease_is_optimal_with_more_subjects_than_items() {
    let pairs = [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 3),
        (3, 3),
        (3, 1),
        (4, 2),
        (4, 3),
    ];
    assert_ease_optimal(&pairs, 2.0);
}

#[test]
fn ease_is_optimal_with_more_items_than_subjects() {
    // Three subjects, seven items: the Woodbury (subject-space) solver.
    let pairs = [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 5),
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 6),
        (2, 0),
        (2, 3),
        (2, 4),
        (2, 5),
    ];
    assert_ease_optimal(&pairs, 1.5);
}
