use std::collections::BTreeSet;

use fineline_consent::{
    demo_policy, gpc_records, gpc_signal, gpc_withdrawals, reconsent_required, ConsentRecord,
    ConsentSource, ConsentState, Policy, PolicyError, PolicyHistory, RecordId,
};
use fineline_core::{Pseudonym, Purpose, Timestamp};

fn field_of(e: PolicyError) -> String {
    match e {
        PolicyError::InvalidField { field, .. } => field,
        other => panic!("expected a field error, got {other}"),
    }
}

#[test]
fn demo_policy_is_valid_and_declares_everything() {
    let p = demo_policy(1, Timestamp(1_000));
    p.validate(None).unwrap();
    for purpose in Purpose::ALL {
        assert!(p.declares(purpose), "{purpose}");
    }
}

#[test]
fn validation_names_the_field() {
    let base = demo_policy(2, Timestamp(2_000));

    let mut p = base.clone();
    p.text = "  ".into();
    assert_eq!(field_of(p.validate(None).unwrap_err()), "text");

    let mut p = base.clone();
    p.purposes[3].purpose = Purpose::Analytics;
    assert_eq!(
        field_of(p.validate(None).unwrap_err()),
        "purposes[3].purpose"
    );

    let mut p = base.clone();
    p.purposes[2].retention_days = 0;
    assert_eq!(
        field_of(p.validate(None).unwrap_err()),
        "purposes[2].retention_days"
    );

    let mut p = base.clone();
    p.purposes[0]
        .data_categories
        .insert("Purchase History".into());
    assert_eq!(
        field_of(p.validate(None).unwrap_err()),
        "purposes[0].data_categories"
    );

    let mut p = base.clone();
    p.purposes[0].recipients.insert(" padded".into());
    assert_eq!(
        field_of(p.validate(None).unwrap_err()),
        "purposes[0].recipients"
    );

    let mut p = base.clone();
    p.purposes.clear();
    assert_eq!(field_of(p.validate(None).unwrap_err()), "purposes");

    let prev = demo_policy(2, Timestamp(1_000));
    assert_eq!(field_of(base.validate(Some(&prev)).unwrap_err()), "version");
    let prev = demo_policy(1, Timestamp(2_000));
    assert_eq!(
        field_of(base.validate(Some(&prev)).unwrap_err()),
        "published_at"
    );
    base.validate(Some(&demo_policy(1, Timestamp(1_000))))
        .unwrap();
}

#[test]
fn digest_is_canonical() {
    let p = demo_policy(1, Timestamp(1_000));
    let mut reordered = p.clone();
    reordered.purposes.reverse();
    assert_eq!(p.digest(), reordered.digest());
    assert_eq!(p.digest_hex().len(), 64);
    let mut changed = p.clone();
    changed.purposes[0].retention_days += 1;
    assert_ne!(p.digest(), changed.digest());
    let mut changed = p.clone();
    changed.title.push('!');
    assert_ne!(p.digest(), changed.digest());
    // Moving a byte between adjacent fields must change the digest.
    let mut a = p.clone();
    a.title = "ab".into();
    a.text = "c".into();
    let mut b = p.clone();
    b.title = "a".into();
    b.text = "bc".into();
    assert_ne!(a.digest(), b.digest());
}

#[test]
fn policy_json_round_trips_and_rejects_unknown_fields() {
    let p = demo_policy(3, Timestamp(5_000));
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"purpose\":\"partner_insights\""));
    let back: Policy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let typo = json.replacen("\"retention_days\"", "\"retention\"", 1);
    assert!(serde_json::from_str::<Policy>(&typo).is_err());
}

#[test]
fn reconsent_is_asked_only_for_additions() {
    let old = demo_policy(1, Timestamp(1_000));
    let mut new = demo_policy(2, Timestamp(2_000));
    assert!(reconsent_required(&old, &new).is_empty());

    // Rewording, shorter retention, fewer categories: nothing to ask.
    new.text.push_str(" Updated.");
    new.purposes[1].retention_days = 30;
    new.purposes[0].data_categories.remove("saved_items");
    new.purposes[2].recipients.clear();
    assert!(reconsent_required(&old, &new).is_empty());

    // A new recipient for partner_insights, a new category for location.
    new.purposes[2].recipients.insert("ad network".into());
    new.purposes[3]
        .data_categories
        .insert("precise_location".into());
    assert_eq!(
        reconsent_required(&old, &new),
        BTreeSet::from([Purpose::PartnerInsights, Purpose::Location])
    );

    // A purpose the old policy did not declare.
    let mut older = old.clone();
    older
        .purposes
        .retain(|d| d.purpose != Purpose::InStoreDetection);
    assert_eq!(
        reconsent_required(&older, &old),
        BTreeSet::from([Purpose::InStoreDetection])
    );
}

#[test]
fn history_finds_the_version_in_force() {
    let h = PolicyHistory::from_policies([
        demo_policy(2, Timestamp(2_000)),
        demo_policy(1, Timestamp(1_000)),
    ])
    .unwrap();
    assert!(h.in_force(Timestamp(999)).is_none());
    assert_eq!(h.in_force(Timestamp(1_000)).unwrap().version, 1);
    assert_eq!(h.in_force(Timestamp(1_999)).unwrap().version, 1);
    assert_eq!(h.in_force(Timestamp(2_000)).unwrap().version, 2);
    assert_eq!(h.current().unwrap().version, 2);
    assert_eq!(h.version(1).unwrap().published_at, Timestamp(1_000));
    assert!(h.version(3).is_none());
    let mut h2 = h.clone();
    assert!(h2.publish(demo_policy(2, Timestamp(3_000))).is_err());
}

fn subject() -> Pseudonym {
    Pseudonym::new(1, [7; 32])
}

#[test]
fn records_carry_the_27560_fields_and_round_trip() {
    let p = demo_policy(1, Timestamp(1_000));
    let r = ConsentRecord::new(
        subject(),
        &p,
        Purpose::Personalization,
        ConsentState::Given,
        ConsentSource::Web,
        Timestamp(1_500),
    )
    .unwrap();
    assert_eq!(r.notice_version, 1);
    assert!(r.data_categories.contains("purchase_history"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"state\":\"given\""));
    assert!(json.contains("\"source\":\"web\""));
    assert!(json.contains(&format!("\"record_id\":\"{}\"", r.record_id)));
    assert_eq!(serde_json::from_str::<ConsentRecord>(&json).unwrap(), r);

    let id = r.record_id.to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert_eq!(id.parse::<RecordId>().unwrap(), r.record_id);
    assert!("not-a-uuid".parse::<RecordId>().is_err());
    assert_ne!(RecordId::random(), RecordId::random());

    for s in ConsentState::ALL {
        assert_eq!(s.as_str().parse::<ConsentState>().unwrap(), *s);
    }
    for s in ConsentSource::ALL {
        assert_eq!(s.as_str().parse::<ConsentSource>().unwrap(), *s);
    }
    assert!("maybe".parse::<ConsentState>().is_err());
    assert!("email".parse::<ConsentSource>().is_err());
}

#[test]
fn records_are_checked_against_the_policy() {
    let mut p1 = demo_policy(1, Timestamp(1_000));
    p1.purposes.retain(|d| d.purpose != Purpose::Location);
    let h = PolicyHistory::from_policies([p1.clone()]).unwrap();
    let grant = |purpose, at| {
        ConsentRecord::new(
            subject(),
            &p1,
            purpose,
            ConsentState::Given,
            ConsentSource::App,
            Timestamp(at),
        )
    };
    assert!(grant(Purpose::Location, 1_500).is_err());
    grant(Purpose::Analytics, 1_500)
        .unwrap()
        .validate(&h)
        .unwrap();
    assert!(grant(Purpose::Analytics, 500)
        .unwrap()
        .validate(&h)
        .is_err());
    let mut r = grant(Purpose::Analytics, 1_500).unwrap();
    r.notice_version = 9;
    assert!(r.validate(&h).is_err());
}

#[test]
fn gpc_withdraws_partner_insights_only() {
    assert_eq!(gpc_withdrawals(), &[Purpose::PartnerInsights]);
    assert!(gpc_signal("1"));
    assert!(gpc_signal(" 1 "));
    assert!(!gpc_signal("0"));
    assert!(!gpc_signal("true"));
    let p = demo_policy(1, Timestamp(1_000));
    let rs = gpc_records(subject(), &p, Timestamp(2_000));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].purpose, Purpose::PartnerInsights);
    assert_eq!(rs[0].state, ConsentState::Withdrawn);
    assert_eq!(rs[0].source, ConsentSource::Gpc);
}
