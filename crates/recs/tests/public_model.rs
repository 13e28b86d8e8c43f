//! The exported public model holds nothing fewer than `min_support` people
//! produced: a person's rare items and rare pairs are not in it, whatever
//! the model or the shop around them, and its digest pins its contents.

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::{
    Catalogue, GaussianGram, Interaction, ItemFacts, KnnConfig, PublicEaseConfig, PublicModel,
    RarePairs, Recommender, RecsConfig, Weighting,
};
use proptest::prelude::*;

fn subject(n: u16) -> Pseudonym {
    let mut d = [0u8; 32];
    d[..2].copy_from_slice(&n.to_be_bytes());
    Pseudonym::new(1, d)
}

fn item(s: &str) -> ItemId {
    ItemId::new(s).unwrap()
}

fn train(events: &[Interaction], catalogue: Catalogue, min_support: u32) -> Recommender {
    let config = RecsConfig {
        knn: KnnConfig {
            weighting: Weighting::Cosine,
            min_support,
            ..KnnConfig::default()
        },
        ease: None,
        ..RecsConfig::default()
    };
    Recommender::train(events, catalogue, config, &mut |_| {}).unwrap()
}

/// Every count in the model against the true counts of `events`.
fn assert_floor(model: &PublicModel, events: &[Interaction], k: u32) {
    use std::collections::{BTreeMap, BTreeSet};
    let mut holders: BTreeMap<&ItemId, BTreeSet<Pseudonym>> = BTreeMap::new();
    for e in events {
        holders.entry(&e.item).or_default().insert(e.subject);
    }
    let support = |a: &ItemId, b: &ItemId| {
        let none = BTreeSet::new();
        let ha = holders.get(a).unwrap_or(&none);
        let hb = holders.get(b).unwrap_or(&none);
        ha.intersection(hb).count() as u32
    };
    for it in &model.items {
        let n = holders.get(&it.id).map_or(0, |h| h.len() as u32);
        if it.popularity > 0 {
            assert!(n >= k, "{} shown popular with {n} holders", it.id.as_str());
            assert_eq!(it.popularity, n);
        }
        for &(j, _) in &it.neighbours {
            let other = &model.items[j as usize].id;
            assert!(
                support(&it.id, other) >= k,
                "pair {}-{} held by {} people",
                it.id.as_str(),
                other.as_str(),
                support(&it.id, other)
            );
        }
    }
}

/// Ten people hold boots and laces; one person alone holds boots with two
/// rare items and a catalogue tent nobody else bought.
#[test]
fn one_persons_history_is_not_in_the_public_model() {
    let mut events = Vec::new();
    for s in 0..10 {
        for i in ["boots", "laces"] {
            events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
        }
    }
    // The tent is in the catalogue and only this person bought it.
    for i in ["boots", "rare-a", "rare-b", "tent"] {
        events.push(Interaction::new(subject(99), item(i), 1.0, Timestamp(0)));
    }
    let mut catalogue = Catalogue::new();
    catalogue.insert(
        item("tent"),
        ItemFacts {
            repeatable: false,
            categories: vec!["camping".into()],
        },
    );
    let model = train(&events, catalogue, 10).public_model(7);
    let ids: Vec<&str> = model.items.iter().map(|i| i.id.as_str()).collect();
    // The rare items are not even named: only the catalogue and well-held items are.
    assert_eq!(ids, ["boots", "laces", "tent"]);
    assert_eq!(model.items[0].popularity, 11);
    assert_eq!(model.items[0].neighbours.len(), 1);
    assert_eq!(model.items[0].neighbours[0].0, 1);
    assert_eq!(model.items[2].popularity, 0);
    assert_eq!(model.items[2].categories, ["camping"]);
    assert_eq!(model.version, 7);
    assert!(model.is_well_formed());
    assert_floor(&model, &events, 10);

    // The same shop with k = 1 would publish the rare pairs: the floor is what hides them.
    let open = train(&events, Catalogue::new(), 1).public_model(7);
    assert!(open.index_of(&item("rare-a")).is_some());
}

#[test]
fn the_digest_changes_with_any_count() {
    let mut events = Vec::new();
    for s in 0..12 {
        for i in ["a", "b", "c"] {
            events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
        }
    }
    let one = train(&events, Catalogue::new(), 10).public_model(1);
    events.push(Interaction::new(subject(50), item("a"), 1.0, Timestamp(0)));
    let two = train(&events, Catalogue::new(), 10).public_model(1);
    assert_ne!(one.digest, two.digest);
    let mut forged = one.clone();
    forged.items[0].popularity += 1;
    assert!(!forged.digest_matches());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random shops: no listed popularity or pair rests on fewer than k people.
    #[test]
    fn no_count_under_the_floor(
        baskets in prop::collection::vec(prop::collection::btree_set(0u8..12, 1..6), 1..40),
        k in 1u32..8,
    ) {
        let mut events = Vec::new();
        for (s, basket) in baskets.iter().enumerate() {
            for i in basket {
                events.push(Interaction::new(subject(s as u16), item(&format!("i{i}")), 1.0, Timestamp(0)));
            }
        }
        let model = train(&events, Catalogue::new(), k).public_model(1);
        assert_floor(&model, &events, k);
        prop_assert!(model.is_well_formed());
    }
}

/// Two shops that differ only in pairs one person holds (every item's
/// holder count the same) publish identical models, neighbour and EASE
/// alike: nothing in the export reads a pair under the floor.
#[test]
fn pairs_under_the_floor_leave_no_trace_in_either_export() {
    let shop = |x1: [&str; 2], x2: [&str; 2]| {
        let mut events = Vec::new();
        for s in 0..12 {
            for i in ["a", "b"] {
                events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
            }
            for i in ["c", "d"] {
                events.push(Interaction::new(
                    subject(100 + s),
                    item(i),
                    1.0,
                    Timestamp(0),
                ));
            }
        }
        for (s, pair) in [(300, x1), (301, x2)] {
            for i in pair {
                events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
            }
        }
        let config = RecsConfig {
            knn: KnnConfig {
                weighting: Weighting::Cosine,
                min_support: 10,
                ..KnnConfig::default()
            },
            ..RecsConfig::default()
        };
        Recommender::train(&events, Catalogue::new(), config, &mut |_| {}).unwrap()
    };
    // Two people: {a, d} and {b, c}, or {a, c} and {b, d}: every pair across
    // the two groups is held by one person at most.
    let one = shop(["a", "d"], ["b", "c"]);
    let two = shop(["a", "c"], ["b", "d"]);
    assert_eq!(one.public_model(1), two.public_model(1));
    for rare_pairs in [RarePairs::Zero, RarePairs::Independent] {
        for signed in [false, true] {
            let ease = PublicEaseConfig {
                rare_pairs,
                signed,
                ..PublicEaseConfig::default()
            };
            assert_eq!(
                one.public_ease_model(1, ease).unwrap(),
                two.public_ease_model(1, ease).unwrap(),
                "{ease:?}"
            );
        }
    }
    // What the server publishes reads the cross pairs as the item counts
    // predict (not as "nobody holds both"), and that estimate is the same
    // in both shops: a has weights toward c and d, equal in both.
    let published = one
        .public_ease_model(1, PublicEaseConfig::default())
        .unwrap();
    let a = &published.items[0];
    assert_eq!(a.id.as_str(), "a");
    let towards: Vec<u32> = a.neighbours.iter().map(|n| n.0).collect();
    assert!(towards.contains(&2) && towards.contains(&3), "{a:?}");
    // The full EASE the server personalizes with does see the difference.
    let history = [Interaction::new(subject(999), item("a"), 1.0, Timestamp(0))];
    let req = fineline_recs::Request::personalized(&history, 3);
    let scores = |r: &Recommender| -> Vec<(String, u32)> {
        r.recommend(&req)
            .into_iter()
            .map(|x| (x.item.as_str().to_string(), x.score.to_bits()))
            .collect()
    };
    assert_ne!(scores(&one), scores(&two));
}

/// The DP model over a public item list lists that list, held or not,
/// and never an item outside it (the list, not the data, decides what is
/// named); without a list, an item one person holds is not named.
#[test]
fn the_private_model_names_the_public_list_and_nothing_else() {
    let mut events = Vec::new();
    for s in 0..40 {
        for i in ["a", "b"] {
            events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
        }
    }
    events.push(Interaction::new(
        subject(500),
        item("secret"),
        1.0,
        Timestamp(0),
    ));
    let shop = train(&events, Catalogue::new(), 1);
    let privacy = GaussianGram {
        epsilon: 8.0,
        delta: 1e-6,
        per_person: 5,
    };
    let ease = PublicEaseConfig::default();
    let domain = [item("a"), item("b"), item("unsold")];
    let model = shop
        .private_ease_model(1, ease, privacy, Some(&domain), [3; 32])
        .unwrap();
    let listed: Vec<&str> = model.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(listed, ["a", "b", "unsold"]);
    let learned = shop
        .private_ease_model(1, ease, privacy, None, [3; 32])
        .unwrap();
    assert!(learned.items.iter().all(|i| i.id.as_str() != "secret"));
    assert!(privacy.sigma_for_all_of_delta() < privacy.sigma());
}
