//! Level 0 recommendations: with every pair public (k = 1) the device
//! ranks as the server's item-item model does; with the floor, nothing a
//! few people produced can surface.

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_persona::recommend;
use fineline_recs::{
    Algorithm, Catalogue, EaseConfig, Interaction, KnnConfig, PublicEaseConfig, PublicModel,
    Recommender, RecsConfig, Request, Weighting,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn subject(n: u32) -> Pseudonym {
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(&n.to_be_bytes());
    Pseudonym::new(1, d)
}

fn item(n: u32) -> ItemId {
    ItemId::new(&format!("i{n:03}")).unwrap()
}

fn config(min_support: u32) -> RecsConfig {
    RecsConfig {
        knn: KnnConfig {
            neighbours: 30,
            weighting: Weighting::Cosine,
            min_support,
        },
        ease: None,
        serve: Algorithm::Neighbours,
        ..RecsConfig::default()
    }
}

/// 300 people, 80 items with skewed popularity, 3-15 items each.
fn shop() -> Vec<Interaction> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut events = Vec::new();
    for s in 0..300 {
        let mut held = std::collections::BTreeSet::new();
        for _ in 0..rng.gen_range(3..15) {
            let x: f64 = rng.gen();
            held.insert((x * x * 80.0) as u32);
        }
        for i in held {
            events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
        }
    }
    events
}

/// Person `s`'s top ten from the server and from the device, the seen
/// items left out of both.
fn top_ten(
    events: &[Interaction],
    s: u32,
    server: &Recommender,
    model: &PublicModel,
) -> (Vec<ItemId>, Vec<ItemId>) {
    let history: Vec<Interaction> = events
        .iter()
        .filter(|e| e.subject == subject(s))
        .cloned()
        .collect();
    let items: Vec<ItemId> = history.iter().map(|e| e.item.clone()).collect();
    let mut req = Request::personalized(&history, 10);
    req.exclude_seen = true;
    let theirs = server.recommend(&req).into_iter().map(|r| r.item).collect();
    let ours = recommend(model, &items, 10)
        .into_iter()
        .map(|r| r.item)
        .collect();
    (theirs, ours)
}

#[test]
fn with_every_pair_public_the_device_ranks_as_the_server() {
    let events = shop();
    let server = Recommender::train(&events, Catalogue::new(), config(1), &mut |_| {}).unwrap();
    let model = server.public_model(1);
    let (mut same, mut total) = (0, 0);
    for s in 0..300 {
        let (theirs, ours) = top_ten(&events, s, &server, &model);
        total += 1;
        same += (theirs == ours) as u32;
        // Whatever the order of near-ties, the same items are chosen.
        let overlap = ours.iter().filter(|i| theirs.contains(i)).count();
        assert!(overlap >= 9, "person {s}: {ours:?} vs {theirs:?}");
    }
    // Only 10⁻⁶ rounding of scores may reorder an exact near-tie.
    assert!(
        same * 100 >= total * 95,
        "{same} of {total} lists identical"
    );
}

/// The model the server publishes is EASE: with every pair public and no
/// weight cut, the device ranks as the server's EASE does. It needs EASE's
/// negative weights: with the positive ones alone the lists drift apart.
#[test]
fn with_every_pair_public_the_device_ranks_as_the_servers_ease() {
    let events = shop();
    let ease = PublicEaseConfig {
        keep: usize::MAX,
        signed: true,
        ..PublicEaseConfig::default()
    };
    let served = RecsConfig {
        ease: Some(EaseConfig {
            lambda: ease.lambda,
            max_items: ease.max_items,
        }),
        serve: Algorithm::Ease,
        ..config(1)
    };
    let server = Recommender::train(&events, Catalogue::new(), served, &mut |_| {}).unwrap();
    let model = server.public_ease_model(1, ease).unwrap();
    assert!(model.is_well_formed());
    assert!(model
        .items
        .iter()
        .any(|i| i.neighbours.iter().any(|n| n.1 < 0)));
    let mut same = 0;
    for s in 0..300 {
        let (theirs, ours) = top_ten(&events, s, &server, &model);
        same += (theirs == ours) as u32;
        let overlap = ours.iter().filter(|i| theirs.contains(i)).count();
        assert!(overlap >= 9, "person {s}: {ours:?} vs {theirs:?}");
    }
    // Only 10⁻⁶ rounding (and f32 sums in another order) may reorder a near-tie.
    assert!(same >= 285, "{same} of 300 lists identical");
}

#[test]
fn with_the_floor_a_rare_pair_never_drives_a_suggestion() {
    let mut events = shop();
    // One person alone holds two items nobody else has, beside popular ones.
    for i in [0, 1, 900, 901] {
        events.push(Interaction::new(subject(999), item(i), 1.0, Timestamp(0)));
    }
    let server = Recommender::train(&events, Catalogue::new(), config(10), &mut |_| {}).unwrap();
    let model = server.public_model(1);
    assert!(model.index_of(&item(900)).is_none());
    // Someone who saw item 900 on the device still gets suggestions, never item 901.
    let recs = recommend(&model, &[item(900), item(0)], 20);
    assert_eq!(recs.len(), 20);
    assert!(recs.iter().all(|r| r.item != item(901)));
    assert!(recs[0].because == Some(item(0)));
}

#[test]
fn a_malformed_model_gives_answers_not_a_crash() {
    let mut model = fineline_recs::PublicModel::new(
        1,
        10,
        vec![fineline_recs::PublicItem {
            id: item(1),
            categories: vec![],
            popularity: 10,
            neighbours: vec![(7, 5), (0, 3)],
        }],
    );
    assert!(!model.is_well_formed());
    assert!(recommend(&model, &[item(1)], 3).is_empty());
    model.items[0].neighbours.clear();
    assert_eq!(recommend(&model, &[], 3)[0].item, item(1));
}
