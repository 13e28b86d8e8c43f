use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use fineline_consent::{
    demo_policy, reconsent_required, ConsentIndex, ConsentRecord, ConsentSource, ConsentState,
    ConsentTimeline, Policy, PolicyHistory,
};
use fineline_core::{Pseudonym, Purpose, Timestamp};
use proptest::prelude::*;

fn alice() -> Pseudonym {
    Pseudonym::new(1, [1; 32])
}

fn rec(policy: &Policy, purpose: Purpose, state: ConsentState, at: i64) -> ConsentRecord {
    ConsentRecord::new(
        alice(),
        policy,
        purpose,
        state,
        ConsentSource::Web,
        Timestamp(at),
    )
    .unwrap()
}

/// v1 at t=1000; v2 at t=2000 adds a recipient to partner_insights and
/// rewords analytics; v3 at t=3000 drops location.
fn history() -> (Policy, Policy, Policy) {
    let v1 = demo_policy(1, Timestamp(1_000));
    let mut v2 = demo_policy(2, Timestamp(2_000));
    v2.purposes[2]
        .recipients
        .insert("market research agency".into());
    v2.purposes[1].description.push_str(" (reworded)");
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.published_at = Timestamp(3_000);
    v3.purposes.retain(|d| d.purpose != Purpose::Location);
    (v1, v2, v3)
}

#[test]
fn no_record_is_not_allowed() {
    let (v1, _, _) = history();
    let h = Arc::new(PolicyHistory::from_policies([v1]).unwrap());
    let t = ConsentTimeline::new(alice(), h);
    for p in Purpose::ALL {
        assert!(!t.allowed(p, Timestamp(5_000)));
    }
    assert!(t.current().is_empty());
}

#[test]
fn latest_record_wins_at_each_moment() {
    let (v1, _, _) = history();
    let records = [
        rec(&v1, Purpose::Analytics, ConsentState::Given, 1_100),
        rec(&v1, Purpose::Analytics, ConsentState::Withdrawn, 1_500),
        rec(&v1, Purpose::Analytics, ConsentState::Given, 1_800),
    ];
    let h = Arc::new(PolicyHistory::from_policies([v1]).unwrap());
    // Order of arrival does not matter.
    let t = ConsentTimeline::from_records(alice(), h, records.iter().rev()).unwrap();
    let a = |at| t.allowed(Purpose::Analytics, Timestamp(at));
    assert!(!a(1_099));
    assert!(a(1_100));
    assert!(a(1_499));
    assert!(!a(1_500));
    assert!(a(1_800));
    assert!(!t.allowed(Purpose::Personalization, Timestamp(1_800)));
}

#[test]
fn additions_ask_again_and_unchanged_purposes_carry_over() {
    let (v1, v2, v3) = history();
    let h = Arc::new(PolicyHistory::from_policies([v1.clone(), v2.clone(), v3]).unwrap());
    let mut t = ConsentTimeline::new(alice(), h);
    for p in [
        Purpose::PartnerInsights,
        Purpose::Analytics,
        Purpose::Location,
    ] {
        t.record(&rec(&v1, p, ConsentState::Given, 1_100)).unwrap();
    }
    // Before v2 everything granted is allowed.
    assert!(t.allowed(Purpose::PartnerInsights, Timestamp(1_999)));
    // v2 added a recipient: partner_insights is off; reworded analytics stays.
    assert!(!t.allowed(Purpose::PartnerInsights, Timestamp(2_000)));
    assert!(t.allowed(Purpose::Analytics, Timestamp(2_000)));
    assert_eq!(
        t.reconsent_needed_at(Timestamp(2_500)),
        BTreeSet::from([Purpose::PartnerInsights])
    );
    // v3 no longer declares location: not allowed, but nothing to ask.
    assert!(t.allowed(Purpose::Location, Timestamp(2_999)));
    assert!(!t.allowed(Purpose::Location, Timestamp(3_000)));
    assert_eq!(
        t.current(),
        BTreeMap::from([
            (Purpose::Analytics, ConsentState::Given),
            (Purpose::PartnerInsights, ConsentState::Expired),
            (Purpose::Location, ConsentState::Expired),
        ])
    );
    assert_eq!(
        t.reconsent_needed(),
        BTreeSet::from([Purpose::PartnerInsights])
    );

    // A grant made after v2 on a stale v1 page does not cover v2's addition.
    t.record(&rec(
        &v1,
        Purpose::PartnerInsights,
        ConsentState::Given,
        2_100,
    ))
    .unwrap();
    assert!(!t.allowed(Purpose::PartnerInsights, Timestamp(2_100)));
    // Opting in again under v2 does.
    t.record(&rec(
        &v2,
        Purpose::PartnerInsights,
        ConsentState::Given,
        2_200,
    ))
    .unwrap();
    assert!(t.allowed(Purpose::PartnerInsights, Timestamp(2_200)));
    assert!(t.reconsent_needed().is_empty());
    // History is kept: at 2_050 it was still off.
    assert!(!t.allowed(Purpose::PartnerInsights, Timestamp(2_050)));
}

#[test]
fn timeline_refuses_other_subjects_records() {
    let (v1, _, _) = history();
    let h = Arc::new(PolicyHistory::from_policies([v1.clone()]).unwrap());
    let mut t = ConsentTimeline::new(Pseudonym::new(1, [9; 32]), h);
    assert!(t
        .record(&rec(&v1, Purpose::Analytics, ConsentState::Given, 1_100))
        .is_err());
}

#[test]
fn index_answers_for_many_subjects_and_follows_new_policies() {
    let (v1, v2, _) = history();
    let mut idx = ConsentIndex::new(PolicyHistory::from_policies([v1.clone()]).unwrap());
    let bob = Pseudonym::new(1, [2; 32]);
    idx.record(&rec(
        &v1,
        Purpose::PartnerInsights,
        ConsentState::Given,
        1_100,
    ));
    assert!(idx.allowed(&alice(), Purpose::PartnerInsights, Timestamp(5_000)));
    assert!(!idx.allowed(&bob, Purpose::PartnerInsights, Timestamp(5_000)));
    let snapshot = idx.timeline(&alice());

    idx.publish(v2).unwrap();
    assert!(!idx.allowed(&alice(), Purpose::PartnerInsights, Timestamp(5_000)));
    assert!(idx.allowed(&alice(), Purpose::PartnerInsights, Timestamp(1_500)));
    assert_eq!(
        idx.reconsent_needed(&alice()),
        BTreeSet::from([Purpose::PartnerInsights])
    );
    // A timeline taken earlier keeps the policies it was built with.
    assert!(snapshot.allowed(Purpose::PartnerInsights, Timestamp(5_000)));
    assert_eq!(idx.subject_count(), 1);
    assert!(idx.forget(&alice()));
    assert!(!idx.allowed(&alice(), Purpose::PartnerInsights, Timestamp(1_500)));
}

/// The rule, written the slow and obvious way.
fn naive_allowed(
    policies: &[Policy],
    records: &[ConsentRecord],
    purpose: Purpose,
    at: Timestamp,
) -> bool {
    let Some(r) = records
        .iter()
        .filter(|r| r.purpose == purpose && r.at <= at)
        .max_by_key(|r| r.at)
    else {
        return false;
    };
    if r.state != ConsentState::Given {
        return false;
    }
    let Some(in_force) = policies.iter().rev().find(|p| p.published_at <= at) else {
        return false;
    };
    if !in_force.declares(purpose) {
        return false;
    }
    !policies.iter().enumerate().any(|(i, p)| {
        let asks = match i {
            0 => p.declares(purpose),
            _ => reconsent_required(&policies[i - 1], p).contains(&purpose),
        };
        asks && p.version > r.notice_version && p.published_at <= at
    })
}

fn policy_versions() -> impl Strategy<Value = Vec<Policy>> {
    // Per version: which purposes are dropped and which gain a category.
    proptest::collection::vec((any::<u8>(), any::<u8>()), 1..6).prop_map(|changes| {
        let mut out: Vec<Policy> = Vec::new();
        for (i, (drop, grow)) in changes.into_iter().enumerate() {
            let mut p = demo_policy(i as u32 + 1, Timestamp(1_000 * (i as i64 + 1)));
            if let Some(prev) = out.last() {
                p.purposes = prev.purposes.clone();
            }
            for (j, purpose) in Purpose::ALL.into_iter().enumerate() {
                if grow & (1 << j) != 0 {
                    if let Some(d) = p.purposes.iter_mut().find(|d| d.purpose == purpose) {
                        d.data_categories.insert(format!("extra_{i}"));
                    }
                }
            }
            p.purposes.retain(|d| {
                drop & (1 << Purpose::ALL.iter().position(|&x| x == d.purpose).unwrap()) == 0
                    || i == 0
            });
            if p.purposes.is_empty() {
                p.purposes = demo_policy(1, Timestamp(0)).purposes;
            }
            out.push(p);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn timeline_matches_the_rule(
        policies in policy_versions(),
        raw in proptest::collection::vec((0usize..5, 0u8..3, 1u32..7, 0i64..7_000), 0..30),
        probes in proptest::collection::vec((0usize..5, 0i64..8_000), 1..40),
    ) {
        let states = [ConsentState::Given, ConsentState::Withdrawn, ConsentState::Expired];
        // Distinct times keep "latest" unambiguous for the naive model.
        let mut seen = BTreeSet::new();
        let records: Vec<ConsentRecord> = raw
            .into_iter()
            .filter(|r| seen.insert(r.3))
            .map(|(p, s, v, at)| {
                let mut r = rec(&policies[0], Purpose::ALL[p], states[s as usize], at);
                r.notice_version = v;
                r
            })
            .collect();
        let history = PolicyHistory::from_policies(policies.clone()).unwrap();
        let mut index = ConsentIndex::new(history.clone());
        for r in &records {
            index.record(r);
        }
        let t = ConsentTimeline::from_records(alice(), Arc::new(history), &records).unwrap();
        for (p, at) in probes {
            let (p, at) = (Purpose::ALL[p], Timestamp(at));
            let expected = naive_allowed(&policies, &records, p, at);
            prop_assert_eq!(t.allowed(p, at), expected);
            prop_assert_eq!(index.allowed(&alice(), p, at), expected);
            prop_assert_eq!(t.state_at(at).get(&p) == Some(&ConsentState::Given), expected);
        }
    }
}
