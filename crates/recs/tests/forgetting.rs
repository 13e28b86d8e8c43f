//! Exact forgetting: after forgetting P, the models equal ones trained without P.

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::{
    baskets, Catalogue, Interaction, ItemIndex, ItemKnn, KnnConfig, Recommender, RecsConfig,
    Request, Weighting,
};
use proptest::prelude::*;

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

fn item(n: u8) -> ItemId {
    ItemId::new(&format!("item-{n:02}")).unwrap()
}

fn data(pairs: &[(u8, u8)]) -> Vec<Interaction> {
    pairs
        .iter()
        .map(|&(s, i)| Interaction::new(subject(s), item(i), 1.0, Timestamp(0)))
        .collect()
}

fn weighting() -> impl Strategy<Value = Weighting> {
    prop_oneof![
        Just(Weighting::Cosine),
        Just(Weighting::Bm25 { k1: 1.2, b: 0.75 }),
        Just(Weighting::Rp3 {
            alpha: 0.75,
            beta: 0.5
        })
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn forgetting_equals_training_without(
        pairs in proptest::collection::vec((0u8..12, 0u8..20), 1..160),
        victim in 0u8..12,
        k in 1usize..8,
        min_support in 1u32..5,
        weighting in weighting(),
    ) {
        let all = data(&pairs);
        let without: Vec<Interaction> = all.iter().filter(|i| i.subject != subject(victim)).cloned().collect();
        // The neighbourhood model over one shared item index: bit-identical
        // state, public lists included.
        let index = ItemIndex::from_ids(all.iter().map(|i| &i.item));
        let config = KnnConfig { neighbours: k, weighting, min_support };
        let mut forgot = ItemKnn::train(index.len(), baskets(&index, &all), config, &mut |_| {});
        forgot.forget(&subject(victim));
        let fresh = ItemKnn::train(index.len(), baskets(&index, &without), config, &mut |_| {});
        prop_assert_eq!(&forgot, &fresh);

        // The facade, each trained on its own data: every other person's answers match.
        let config = RecsConfig { knn: config, ..RecsConfig::default() };
        let knn_only = RecsConfig { ease: None, ..config };
        let mut a_knn = Recommender::train(&all, Catalogue::new(), knn_only, &mut |_| {}).unwrap();
        a_knn.forget(&subject(victim));
        let b_knn = Recommender::train(&without, Catalogue::new(), knn_only, &mut |_| {}).unwrap();
        let a = Recommender::train(&all, Catalogue::new(), config, &mut |_| {}).unwrap()
            .retrain_without(&subject(victim), &mut |_| {}).unwrap();
        let b = Recommender::train(&without, Catalogue::new(), config, &mut |_| {}).unwrap();
        for s in 0u8..12 {
            if s == victim { continue; }
            let history: Vec<Interaction> = without.iter().filter(|i| i.subject == subject(s)).cloned().collect();
            let mut req = Request::personalized(&history, 10);
            req.exclude_seen = true;
            prop_assert_eq!(a_knn.recommend(&req), b_knn.recommend(&req));
            prop_assert_eq!(a.recommend(&req), b.recommend(&req));
        }
        for i in 0u8..20 {
            prop_assert_eq!(a.similar(&item(i), 5), b.similar(&item(i), 5));
            prop_assert_eq!(a_knn.similar(&item(i), 5), b_knn.similar(&item(i), 5));
            // Public answers after the forgetting show only pairs that
            // enough of the remaining people hold.
            for r in a_knn.similar(&item(i), usize::MAX) {
                prop_assert!(support(&without, &item(i), &r.item) >= min_support);
            }
            let ctx = item(i);
            let public = Request::non_personal(10).with_context(&ctx);
            prop_assert_eq!(a_knn.recommend(&public), b_knn.recommend(&public));
            prop_assert_eq!(a.recommend(&public), b.recommend(&public));
        }
    }
}

/// Distinct people holding both items.
fn support(data: &[Interaction], a: &ItemId, b: &ItemId) -> u32 {
    let holders = |x: &ItemId| -> std::collections::BTreeSet<Pseudonym> {
        data.iter()
            .filter(|i| &i.item == x)
            .map(|i| i.subject)
            .collect()
    };
    holders(a).intersection(&holders(b)).count() as u32
}

#[test]
fn forgetting_an_unknown_subject_changes_nothing() {
    let all = data(&[(1, 1), (1, 2), (2, 2), (2, 3)]);
    let mut r =
        Recommender::train(&all, Catalogue::new(), RecsConfig::default(), &mut |_| {}).unwrap();
    assert!(r.ease_ready());
    assert!(!r.forget(&subject(9)));
    assert!(r.ease_ready());
    assert!(r.forget(&subject(1)));
    assert!(!r.knows(&subject(1)));
    assert!(!r.ease_ready(), "a stale EASE must not be served");
    r.retrain_ease(&mut |_| {}).unwrap();
    assert!(r.ease_ready());
}

/// Serving forgets on a copy while readers still hold the old model: the
/// copy must equal a model trained without the person, and the original
/// (sharing its count rows) must not change under the readers.
#[test]
fn a_forgetting_copy_leaves_the_original_untouched() {
    let pairs: Vec<(u8, u8)> = (0u8..10)
        .flat_map(|s| (0u8..8).map(move |k| (s, (s * 3 + k * 5) % 17)))
        .collect();
    let all = data(&pairs);
    let without: Vec<Interaction> = all
        .iter()
        .filter(|i| i.subject != subject(4))
        .cloned()
        .collect();
    for weighting in [
        Weighting::Cosine,
        Weighting::Bm25 { k1: 1.2, b: 0.75 },
        Weighting::Rp3 {
            alpha: 0.75,
            beta: 0.5,
        },
    ] {
        let config = RecsConfig {
            knn: KnnConfig {
                neighbours: 4,
                weighting,
                min_support: 2,
            },
            ..RecsConfig::default()
        };
        let served = Recommender::train(&all, Catalogue::new(), config, &mut |_| {}).unwrap();
        let fresh_all = Recommender::train(&all, Catalogue::new(), config, &mut |_| {}).unwrap();
        let fresh_without =
            Recommender::train(&without, Catalogue::new(), config, &mut |_| {}).unwrap();
        let copy = served.without(&subject(4)).unwrap();
        assert!(served.knows(&subject(4)) && !copy.knows(&subject(4)));
        assert!(served.ease_ready() && !copy.ease_ready());
        let mut changed = false;
        for i in 0u8..17 {
            assert_eq!(served.similar(&item(i), 4), fresh_all.similar(&item(i), 4));
            assert_eq!(
                copy.similar(&item(i), 4),
                fresh_without.similar(&item(i), 4)
            );
            changed |= served.similar(&item(i), 4) != copy.similar(&item(i), 4);
        }
        assert!(changed, "forgetting subject 4 changed no neighbour list");
    }
}

/// A refit detached from the model (copy the counts, fit without the
/// model, install the result) serves what training without the person does.
#[test]
fn a_detached_ease_refit_equals_training_without() {
    let pairs: Vec<(u8, u8)> = (0u8..12)
        .flat_map(|s| (0u8..6).map(move |k| (s, (s * 7 + k * 3) % 19)))
        .collect();
    let all = data(&pairs);
    let without: Vec<Interaction> = all
        .iter()
        .filter(|i| i.subject != subject(2))
        .cloned()
        .collect();
    let config = RecsConfig::default();
    let mut a = Recommender::train(&all, Catalogue::new(), config, &mut |_| {}).unwrap();
    a.forget(&subject(2));
    let input = a.ease_input().unwrap();
    let a = a.with_ease(input.fit(&mut |_| {}).unwrap());
    assert!(a.ease_ready());
    let b = Recommender::train(&without, Catalogue::new(), config, &mut |_| {}).unwrap();
    for s in (0u8..12).filter(|&s| s != 2) {
        let history: Vec<Interaction> = without
            .iter()
            .filter(|i| i.subject == subject(s))
            .cloned()
            .collect();
        let req = Request::personalized(&history, 8);
        assert_eq!(a.recommend(&req), b.recommend(&req));
    }
}
