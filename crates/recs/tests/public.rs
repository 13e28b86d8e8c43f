//! Public answers (similar items, the non-personal tier) never show a pair
//! of items, or an item, that fewer than `min_support` distinct people
//! hold; a pair that enough people hold does show, and personal answers
//! still read the full model.

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::{
    Algorithm, Catalogue, Interaction, KnnConfig, Recommender, RecsConfig, Request, Weighting,
    DEFAULT_MIN_SUPPORT,
};

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

fn item(s: &str) -> ItemId {
    ItemId::new(s).unwrap()
}

/// Ten people hold boots and laces, nine a tent and a stove; one person
/// alone holds boots with two rare items.
fn shop() -> Vec<Interaction> {
    let mut events = Vec::new();
    let mut view =
        |s: u8, i: &str| events.push(Interaction::new(subject(s), item(i), 1.0, Timestamp(0)));
    for s in 0..10 {
        view(s, "boots");
        view(s, "laces");
    }
    for s in 10..19 {
        view(s, "tent");
        view(s, "stove");
    }
    for i in ["boots", "rare-a", "rare-b"] {
        view(30, i);
    }
    events
}

fn models(min_support: u32) -> Vec<Recommender> {
    let mut out = Vec::new();
    for weighting in [
        Weighting::Cosine,
        Weighting::Bm25 { k1: 1.2, b: 0.75 },
        Weighting::Rp3 {
            alpha: 0.75,
            beta: 0.5,
        },
    ] {
        for serve in [Algorithm::Ease, Algorithm::Neighbours] {
            let config = RecsConfig {
                knn: KnnConfig {
                    weighting,
                    min_support,
                    ..KnnConfig::default()
                },
                serve,
                ..RecsConfig::default()
            };
            out.push(Recommender::train(&shop(), Catalogue::new(), config, &mut |_| {}).unwrap());
        }
    }
    out
}

fn names(recs: &[fineline_recs::Recommendation]) -> Vec<&str> {
    recs.iter().map(|r| r.item.as_str()).collect()
}

#[test]
fn one_persons_pair_never_shows_in_public_answers() {
    assert_eq!(RecsConfig::default().knn.min_support, DEFAULT_MIN_SUPPORT);
    const { assert!(DEFAULT_MIN_SUPPORT >= 10) };
    for r in models(DEFAULT_MIN_SUPPORT) {
        // Similar items: only the pair ten people hold.
        assert_eq!(names(&r.similar(&item("boots"), 10)), ["laces"]);
        assert!(r.similar(&item("rare-a"), 10).is_empty());
        assert!(r.similar(&item("rare-b"), 10).is_empty());
        // Nine people are not enough.
        assert!(r.similar(&item("tent"), 10).is_empty());
        // Non-personal: the context's public neighbours, then items ten
        // people hold; never the lone person's items.
        for ctx in ["rare-a", "boots", "tent"] {
            let ctx = item(ctx);
            let recs = r.recommend(&Request::non_personal(10).with_context(&ctx));
            for shown in names(&recs) {
                assert!(["boots", "laces"].contains(&shown), "{recs:?}");
            }
        }
        let popular = r.recommend(&Request::non_personal(10));
        assert_eq!(names(&popular), ["boots", "laces"]);
    }
}

#[test]
fn a_pair_enough_people_hold_shows_and_personal_answers_use_everything() {
    for r in models(9) {
        assert_eq!(names(&r.similar(&item("tent"), 10)), ["stove"]);
        let ctx = item("tent");
        let recs = r.recommend(&Request::non_personal(1).with_context(&ctx));
        assert_eq!(names(&recs), ["stove"]);
    }
    // The person's own answer may draw on the whole model.
    for r in models(DEFAULT_MIN_SUPPORT) {
        let history = [Interaction::new(
            subject(40),
            item("rare-a"),
            1.0,
            Timestamp(0),
        )];
        let recs = r.recommend(&Request::personalized(&history, 3));
        assert!(names(&recs).contains(&"rare-b"), "{recs:?}");
    }
    // A floor of 1 publishes every pair, as before the floor existed.
    for r in models(1) {
        assert!(names(&r.similar(&item("rare-a"), 10)).contains(&"rare-b"));
    }
}
