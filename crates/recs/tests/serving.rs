//! Tiers, reasons, exclusions and interests as a person experiences them.

use fineline_core::{ItemId, Pseudonym, Timestamp};
use fineline_recs::{
    interests, Algorithm, Catalogue, Interaction, ItemFacts, Reason, Recommender, RecsConfig,
    Request, Tier,
};

fn subject(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

fn item(s: &str) -> ItemId {
    ItemId::new(s).unwrap()
}

fn event(s: u8, i: &str) -> Interaction {
    Interaction::new(subject(s), item(i), 1.0, Timestamp(0))
}

/// Runners buy shoes and socks; bakers buy flour and yeast; everyone buys milk.
fn shop() -> (Vec<Interaction>, Catalogue) {
    let mut events = Vec::new();
    for s in 0..6 {
        events.extend([event(s, "shoes"), event(s, "socks"), event(s, "milk")]);
    }
    for s in 6..10 {
        events.extend([event(s, "flour"), event(s, "yeast"), event(s, "milk")]);
    }
    events.push(event(10, "milk"));
    let mut catalogue = Catalogue::new();
    for (i, cat, repeatable) in [
        ("shoes", "running", false),
        ("socks", "running", false),
        ("flour", "baking", true),
        ("yeast", "baking", true),
        ("milk", "dairy", true),
    ] {
        catalogue.insert(
            item(i),
            ItemFacts {
                repeatable,
                categories: vec![cat.to_string()],
            },
        );
    }
    (events, catalogue)
}

fn both_models() -> Vec<Recommender> {
    let (events, catalogue) = shop();
    [Algorithm::Ease, Algorithm::Neighbours]
        .into_iter()
        .map(|serve| {
            // A shop of 11 people: the public floor must be low enough to
            // show its pairs (tests/public.rs tests the floor itself).
            let mut config = RecsConfig {
                serve,
                ..RecsConfig::default()
            };
            config.knn.min_support = 3;
            Recommender::train(&events, catalogue.clone(), config, &mut |_| {}).unwrap()
        })
        .collect()
}

#[test]
fn personalized_answers_explain_themselves() {
    for r in both_models() {
        let history = [event(20, "shoes")];
        let recs = r.recommend(&Request::personalized(&history, 1));
        assert_eq!(recs[0].item, item("socks"));
        assert_eq!(recs[0].reason, Reason::BecauseYouViewed(item("shoes")));
        assert_eq!(recs[0].reason.to_string(), "because you viewed shoes");
    }
}

#[test]
fn purchases_are_not_recommended_again_unless_repeatable() {
    for r in both_models() {
        let history = [
            event(20, "flour").purchased(),
            event(20, "shoes").purchased(),
        ];
        let recs = r.recommend(&Request::personalized(&history, 10));
        let items: Vec<_> = recs.iter().map(|r| r.item.as_str()).collect();
        assert!(!items.contains(&"shoes"), "{items:?}");
        assert!(items.contains(&"flour"), "flour is repeatable: {items:?}");
    }
}

#[test]
fn non_personal_tier_ignores_history_entirely() {
    for r in both_models() {
        let history = [event(20, "shoes").purchased()];
        let mut req = Request::personalized(&history, 3);
        req.tier = Tier::NonPersonal;
        let recs = r.recommend(&req);
        assert_eq!(recs, r.recommend(&Request::non_personal(3)));
        assert_eq!(recs[0].item, item("milk"));
        assert!(recs.iter().all(|r| r.reason == Reason::PopularRightNow));
        assert!(
            recs.iter().any(|r| r.item == item("shoes")),
            "history was not read"
        );

        let ctx = item("flour");
        let recs = r.recommend(&Request::non_personal(2).with_context(&ctx));
        assert_eq!(recs[0].item, item("yeast"));
        assert_eq!(recs[0].reason.to_string(), "similar to flour");
    }
}

#[test]
fn a_removed_interest_stops_influencing() {
    let (events, catalogue) = shop();
    let history = [event(20, "shoes"), event(20, "flour"), event(20, "flour")];
    let found = interests(&history, &catalogue, &[]);
    assert_eq!(found[0].category, "baking");
    assert!((found[0].weight - 2.0 / 3.0).abs() < 1e-6);
    let removed = vec!["baking".to_string()];
    let left = interests(&history, &catalogue, &removed);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].category, "running");

    for r in both_models() {
        let with = r.recommend(&Request::personalized(&history, 10));
        assert!(with.iter().any(|x| x.item == item("yeast")));
        let without = r.recommend(&Request::personalized(&history, 10).without_interests(&removed));
        for rec in &without {
            assert!(
                !matches!(rec.item.as_str(), "flour" | "yeast"),
                "{without:?}"
            );
            assert_ne!(rec.reason, Reason::BecauseYouViewed(item("flour")));
        }
        assert_eq!(without[0].item, item("socks"));
    }
    let _ = events;
}

#[test]
fn similar_items_come_from_co_occurrence() {
    let r = &both_models()[0];
    let sims = r.similar(&item("shoes"), 2);
    assert_eq!(sims[0].item, item("socks"));
    assert!((sims[0].score - 1.0).abs() < 1e-6);
    assert!(r.similar(&item("unknown"), 3).is_empty());
}

#[test]
fn training_reports_progress_to_the_end() {
    let (events, catalogue) = shop();
    let mut last = Vec::new();
    Recommender::train(&events, catalogue, RecsConfig::default(), &mut |p| {
        last.push(p)
    })
    .unwrap();
    assert!(last.iter().all(|p| p.done <= p.total));
    let end = last.last().unwrap();
    assert_eq!(end.done, end.total);
}
