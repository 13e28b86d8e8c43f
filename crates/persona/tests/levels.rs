//! Trust levels: what leaves at each one, lowering is a withdrawal whose
//! receipt the device verifies, and two businesses cannot link a persona.

use std::collections::BTreeMap;

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_ledger::{Commitment, ConsentState, Ledger, LedgerEntry, LogSigner, Salt};
use fineline_persona::{
    consent_steps, Payload, Persona, PersonaError, PublicModel, Terms, TrustLevel,
};
use fineline_recs::PublicItem;

fn item(s: &str) -> ItemId {
    ItemId::new(s).unwrap()
}

fn terms(business: &str) -> Terms {
    Terms {
        business: business.into(),
        taxonomy: vec!["camping".into(), "running".into(), "coffee".into()],
        report_epsilon_micro: 1_000_000,
    }
}

fn model() -> PublicModel {
    let it = |id: &str, cat: &str, pop, neighbours| PublicItem {
        id: item(id),
        categories: vec![cat.into()],
        popularity: pop,
        neighbours,
    };
    PublicModel::new(
        1,
        10,
        vec![
            it("boots", "running", 30, vec![(1, 500_000)]),
            it("laces", "running", 20, vec![(0, 500_000)]),
            it("tent", "camping", 12, vec![]),
        ],
    )
}

fn persona() -> Persona {
    let mut p = Persona::new("everyday", [7; 32]);
    p.record(item("boots"));
    p.record(item("tent"));
    p.record(item("boots"));
    p
}

/// Every string a disclosure carries, as JSON leaves.
fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn each_level_sends_exactly_its_payload() {
    let mut p = persona();
    let t = terms("northwind.example");
    let m = model();
    let coins = [0u8; 64];
    let at = Timestamp(1_000);
    // Level 0: nothing, and nothing logged.
    let d = p.disclose(&t, &m, at, &coins).unwrap();
    assert_eq!(d.payload, Payload::Nothing);
    assert!(p.log().entries().is_empty());
    // Recommendations still work at level 0.
    assert_eq!(p.recommend(&m, 1)[0].item, item("laces"));

    p.set_level(&t.business, TrustLevel::Crowd, at);
    // Coins of zero: r = 0 < odds, the truthful answer ("running": 2 of 3 events).
    let d = p.disclose(&t, &m, at, &coins).unwrap();
    assert_eq!(
        d.payload,
        Payload::Crowd {
            category: "running".into(),
            epsilon_micro: 1_000_000
        }
    );
    let json = serde_json::to_value(&d).unwrap();
    let mut s = Vec::new();
    strings(&json, &mut s);
    assert!(
        !s.contains(&p.pseudonym(&t.business).to_hex()),
        "no identifier at level 1"
    );

    p.approve_interests(&t, vec!["running".into()]).unwrap();
    assert!(matches!(
        p.approve_interests(&t, vec!["sailing".into()]),
        Err(PersonaError::UnknownTopic(_))
    ));
    p.set_level(&t.business, TrustLevel::Regular, at);
    // 0x11… words: below(100) = 0x1111111111111111 mod 100 = 41, not under 5: no noise.
    let d = p.disclose(&t, &m, at, &[0x11; 64]).unwrap();
    assert_eq!(
        d.payload,
        Payload::Interests {
            pseudonym: p.pseudonym(&t.business),
            topics: vec!["running".into()]
        }
    );

    p.set_level(&t.business, TrustLevel::Member, at);
    let d = p.disclose(&t, &m, at, &coins).unwrap();
    assert_eq!(
        d.payload,
        Payload::History {
            pseudonym: p.pseudonym(&t.business),
            items: vec![item("boots"), item("tent")]
        }
    );
    let mut identity = BTreeMap::new();
    identity.insert("shoe_size".to_string(), "43".to_string());
    p.set_identity(&t.business, identity.clone());
    p.set_level(&t.business, TrustLevel::Known, at);
    let d = p.disclose(&t, &m, at, &coins).unwrap();
    assert!(matches!(d.payload, Payload::Identified { identity: ref i, .. } if *i == identity));
    // Four disclosures and four level changes logged.
    assert_eq!(p.log().entries().len(), 8);
}

#[test]
fn a_report_over_the_lifetime_cap_is_refused_and_not_logged() {
    let mut p = persona();
    let t = terms("northwind.example");
    p.set_level(&t.business, TrustLevel::Crowd, Timestamp(0));
    p.lower_budget_cap(&t.business, 2_500_000).unwrap();
    assert!(p.lower_budget_cap(&t.business, 9_000_000).is_err());
    for _ in 0..2 {
        p.disclose(&t, &model(), Timestamp(0), &[1; 64]).unwrap();
    }
    let logged = p.log().entries().len();
    let refused = p.disclose(&t, &model(), Timestamp(0), &[1; 64]);
    assert!(matches!(refused, Err(PersonaError::BudgetExhausted { .. })));
    assert_eq!(p.log().entries().len(), logged);
    assert_eq!(p.settings(&t.business).budget.spent_micro, 2_000_000);
    // Another business has its own budget.
    let other = terms("other.example");
    p.set_level(&other.business, TrustLevel::Crowd, Timestamp(0));
    p.disclose(&other, &model(), Timestamp(0), &[1; 64])
        .unwrap();
}

#[test]
fn two_businesses_see_no_common_identifier() {
    let mut p = persona();
    p.set_identity("a.example", BTreeMap::new());
    let mut seen: Vec<Vec<String>> = Vec::new();
    for business in ["a.example", "b.example"] {
        let t = terms(business);
        p.approve_interests(&t, vec!["running".into(), "camping".into()])
            .unwrap();
        let mut all = Vec::new();
        for level in [TrustLevel::Regular, TrustLevel::Member, TrustLevel::Known] {
            p.set_level(business, level, Timestamp(0));
            let d = p.disclose(&t, &model(), Timestamp(0), &[3; 64]).unwrap();
            strings(&serde_json::to_value(&d.payload).unwrap(), &mut all);
        }
        // Identifier-like values: the hex pseudonyms.
        all.retain(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!all.is_empty());
        seen.push(all);
    }
    assert!(seen[0].iter().all(|s| !seen[1].contains(s)));
    // Another persona of the same person is another identifier at the same business.
    assert_ne!(
        Persona::new("work", [8; 32]).pseudonym("a.example"),
        p.pseudonym("a.example")
    );
}

#[test]
fn lowering_a_level_is_a_withdrawal_and_raising_never_is() {
    for from in TrustLevel::ALL {
        for to in TrustLevel::ALL {
            let steps = consent_steps(from, to);
            let withdrawals = steps.iter().filter(|s| !s.granted).count();
            if to < from {
                assert!(withdrawals > 0, "{from:?} → {to:?}");
            } else {
                assert_eq!(withdrawals, 0, "{from:?} → {to:?}");
            }
            if from == to {
                assert!(steps.is_empty());
            }
            // Withdrawals come first, so the business never holds two scopes at once.
            let first_grant = steps.iter().position(|s| s.granted).unwrap_or(steps.len());
            assert!(steps[first_grant..].iter().all(|s| s.granted));
        }
    }
    // Levels 3 and 4 are today's consent-gated personalization.
    assert!(TrustLevel::Member
        .grants()
        .iter()
        .any(|(p, _)| *p == Purpose::Personalization));
    assert!(TrustLevel::Stranger.grants().is_empty());
}

#[test]
fn the_device_keeps_only_receipts_that_verify_and_match() {
    let mut p = persona();
    let business = "northwind.example";
    p.set_level(business, TrustLevel::Member, Timestamp(0));
    let (seq, steps) = p.set_level(business, TrustLevel::Regular, Timestamp(5));
    let seq = seq.unwrap();
    assert!(steps
        .iter()
        .any(|s| !s.granted && s.purpose == Purpose::Personalization));
    assert_eq!(p.log().unreceipted_changes(business), vec![0, seq]);

    // The business records the withdrawal in its ledger and answers with a receipt.
    let mut ledger = Ledger::new(LogSigner::from_secret_bytes(&[9; 32]));
    let salt = Salt::from_bytes([4; 32]);
    let subject = Pseudonym::new(1, [5; 32]);
    let change = |purpose, state| LedgerEntry::ConsentChange {
        commitment: Commitment::new(&salt, &subject),
        purpose,
        state,
        policy_version: 1,
        source: "persona".into(),
        record_id: "r1".into(),
        at: Timestamp(5),
    };
    let withdrawal = change(Purpose::Personalization, ConsentState::Withdrawn);
    let grant = change(Purpose::Location, ConsentState::Granted);
    let i = ledger.append(&withdrawal);
    let j = ledger.append(&grant);
    let head = ledger.sign_head(Timestamp(6));
    let key = ledger.public_key();
    let receipt = ledger.receipt(withdrawal, i, &head, None).unwrap();

    // A receipt for something the device did not ask is refused.
    let unrelated = ledger.receipt(grant, j, &head, None).unwrap();
    assert!(matches!(
        p.log_mut().attach_receipt(seq, unrelated, &key),
        Err(PersonaError::ReceiptMismatch)
    ));
    // A forged proof, or another key, is refused.
    let mut forged = receipt.clone();
    forged.leaf_index += 1;
    assert!(matches!(
        p.log_mut().attach_receipt(seq, forged, &key),
        Err(PersonaError::Receipt(_))
    ));
    let other_key = LogSigner::from_secret_bytes(&[10; 32]).verifying_key();
    assert!(p
        .log_mut()
        .attach_receipt(seq, receipt.clone(), &other_key)
        .is_err());
    assert!(p.log().entries()[seq as usize].receipts.is_empty());

    let summary = p.log_mut().attach_receipt(seq, receipt, &key).unwrap();
    assert!(summary.starts_with("valid: consent change personalization withdrawn"));
    assert_eq!(p.log().entries()[seq as usize].receipts.len(), 1);
}

/// Changes between levels 0 and 1 are never sent (no identifier), so
/// they never get a receipt and are not counted as missing one.
#[test]
fn changes_between_levels_0_and_1_need_no_receipt() {
    let mut p = persona();
    let business = "northwind.example";
    p.set_level(business, TrustLevel::Crowd, Timestamp(0));
    p.set_level(business, TrustLevel::Stranger, Timestamp(1));
    assert!(p.log().unreceipted_changes(business).is_empty());
    let (seq, _) = p.set_level(business, TrustLevel::Regular, Timestamp(2));
    assert_eq!(p.log().unreceipted_changes(business), vec![seq.unwrap()]);
}
