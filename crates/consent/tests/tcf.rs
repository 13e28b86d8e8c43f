use std::collections::BTreeSet;

use fineline_consent::tcf::{
    decode, encode, PublisherRestriction, RestrictionType, TcString, TcfError, VendorSection,
    VendorSet,
};
use fineline_consent::ConsentState;
use fineline_core::{Purpose, Timestamp};
use proptest::prelude::*;

/// From the @iabtcf/cli documentation (a TCF v2.0 "all no" string), with
/// the fields that tool prints for it.
#[test]
fn decodes_the_iabtcf_cli_example() {
    let tc = decode("COrVd1pOrVd1pACABCENAHCAAAAAAAAAAAiQAAAAAAAA").unwrap();
    assert_eq!(tc.cmp_id, 2);
    assert_eq!(tc.cmp_version, 1);
    assert_eq!(tc.consent_screen, 2);
    assert_eq!(&tc.consent_language, b"EN");
    // "Mon Dec 09 2019 18:01:46 GMT-0800" = 2019-12-10T02:01:46Z.
    assert_eq!(tc.created.millis() / 1000, 1_575_943_306);
    assert_eq!(tc.last_updated, tc.created);
    assert_eq!(tc.tcf_policy_version, 2);
    assert!(!tc.is_service_specific);
    assert!(!tc.use_non_standard_texts);
    assert!(!tc.purpose_one_treatment);
    assert_eq!(&tc.publisher_cc, b"ES");
    assert_eq!(tc.vendor_list_version, 7);
    assert!(tc.purposes_consent.is_empty());
    assert!(tc.special_feature_opt_ins.is_empty());
    assert!(tc.vendor_consents.vendors.is_empty());
    assert!(tc.publisher_restrictions.is_empty());
    assert!(tc.skipped_segments.is_empty());
    // All "no": every mapped purpose is withdrawn.
    assert!(tc
        .fineline_choices()
        .values()
        .all(|s| *s == ConsentState::Withdrawn));
}

/// From the SirDataFR/iabtcfv2 test suite: a real CMP string with all
/// three optional segments. Its core segment re-encodes byte for byte.
#[test]
fn decodes_a_real_string_with_optional_segments() {
    let core = "COxR03kOxR1CqBcABCENAgCMAP_AAH_AAAqIF3EXySoGY2thI2YVFxBEIYwfJxyigMgChgQIsSwNQIeFLBoGLiAAHBGYJAQAGBAEEACBAQIkHGBMCQAAgAgBiRCMQEGMCzNIBIBAggEbY0FACCVmHkHSmZCY7064O__QLuIJEFQMAkSBAIACLECIQwAQDiAAAYAlAAABAhIaAAgIWBQEeAAAACAwAAgAAABBAAACAAQAAICIAAABAAAgAiAQAAAAGgIQAACBABACRIAAAEANCAAgiCEAQg4EAo4AAA";
    let full = format!(
        "{core}.IF3EXySoGY2tho2YVFzBEIYwfJxyigMgShgQIsS0NQIeFLBoGPiAAHBGYJAQAGBAkkACBAQIsHGBMCQABgAgRiRCMQEGMDzNIBIBAggkbY0FACCVmnkHS3ZCY70-6u__QA.elAAAAAAAWA"
    );
    let tc = decode(&full).unwrap();
    assert_eq!(tc.skipped_segments, vec![1, 3]);
    assert_eq!(tc.tcf_policy_version, 2);
    assert_eq!(encode(&tc).unwrap(), core);
    assert_eq!(decode(core).unwrap().skipped_segments, Vec::<u8>::new());
}

fn sample() -> TcString {
    TcString {
        created: Timestamp(1_700_000_000_000),
        last_updated: Timestamp(1_700_000_100_000),
        cmp_id: 300,
        cmp_version: 7,
        consent_screen: 1,
        consent_language: *b"FR",
        vendor_list_version: 150,
        tcf_policy_version: 4,
        is_service_specific: true,
        use_non_standard_texts: false,
        special_feature_opt_ins: BTreeSet::from([1]),
        purposes_consent: (1..=10).collect(),
        purposes_li_transparency: BTreeSet::from([2, 7]),
        purpose_one_treatment: false,
        publisher_cc: *b"DE",
        vendor_consents: VendorSection {
            max_vendor_id: 800,
            range_encoded: true,
            vendors: VendorSet::from_ranges([(1, 10), (755, 755), (800, 800)]),
        },
        vendor_legitimate_interests: VendorSection {
            max_vendor_id: 20,
            range_encoded: false,
            vendors: VendorSet::from_ids([2, 3, 20]),
        },
        publisher_restrictions: vec![PublisherRestriction {
            purpose_id: 2,
            restriction: RestrictionType::RequireConsent,
            vendors: VendorSet::from_ranges([(5, 9)]),
        }],
        skipped_segments: vec![],
    }
}

#[test]
fn maps_tcf_purposes_to_fineline_purposes() {
    let mut tc = sample();
    let c = tc.fineline_choices();
    assert_eq!(c[&Purpose::Personalization], ConsentState::Given);
    assert_eq!(c[&Purpose::Analytics], ConsentState::Given);
    assert_eq!(c[&Purpose::Location], ConsentState::Given);
    assert!(!c.contains_key(&Purpose::PartnerInsights));
    assert!(!c.contains_key(&Purpose::InStoreDetection));

    // Consent to part of a use is not consent to the use.
    tc.purposes_consent.remove(&5);
    tc.purposes_consent.remove(&9);
    tc.special_feature_opt_ins.clear();
    let c = tc.fineline_choices();
    assert_eq!(c[&Purpose::Personalization], ConsentState::Withdrawn);
    assert_eq!(c[&Purpose::Analytics], ConsentState::Withdrawn);
    assert_eq!(c[&Purpose::Location], ConsentState::Withdrawn);
}

#[test]
fn tc_strings_become_consent_records() {
    use fineline_consent::{demo_policy, ConsentSource};
    let mut policy = demo_policy(4, Timestamp(1_000));
    policy.purposes.retain(|d| d.purpose != Purpose::Location);
    let subject = fineline_core::Pseudonym::new(2, [3; 32]);
    let mut tc = sample();
    tc.purposes_consent.remove(&8);
    let records = tc.records(subject, &policy, Timestamp(2_000));
    let got: Vec<(Purpose, ConsentState)> = records.iter().map(|r| (r.purpose, r.state)).collect();
    // Location is granted by the string but not declared, so not recorded.
    assert_eq!(
        got,
        vec![
            (Purpose::Personalization, ConsentState::Given),
            (Purpose::Analytics, ConsentState::Withdrawn),
        ]
    );
    assert!(records
        .iter()
        .all(|r| r.source == ConsentSource::Tcf && r.notice_version == 4 && r.subject == subject));
}

#[test]
fn vendor_sets_answer_membership() {
    let s = sample();
    assert!(s.vendor_consents.vendors.contains(755));
    assert!(!s.vendor_consents.vendors.contains(756));
    assert!(s.vendor_consents.vendors.contains(1));
    assert!(!s.vendor_consents.vendors.contains(0));
    assert_eq!(s.vendor_consents.vendors.len(), 12);
    assert_eq!(
        VendorSet::from_ranges([(4, 6), (1, 3), (8, 9), (9, 12)]).ranges(),
        &[(1, 6), (8, 12)]
    );
}

/// A core segment built bit by bit, for malformed-input tests.
fn bits_to_tc(bits: &str) -> String {
    use base64::Engine;
    let mut bytes = vec![0u8; bits.len().div_ceil(8)];
    for (i, b) in bits.bytes().enumerate() {
        if b == b'1' {
            bytes[i / 8] |= 1 << (7 - i % 8);
        }
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Header fields up to and including PublisherCC (213 bits), all valid.
fn header_bits() -> String {
    let mut s = String::from("000010"); // Version 2
    s += &"0".repeat(36 * 2 + 12 * 2 + 6); // times, CmpId, CmpVersion, ConsentScreen
    s += &"0".repeat(12); // ConsentLanguage "AA"
    s += &"0".repeat(12 + 6 + 1 + 1 + 12 + 24 + 24 + 1); // through PurposeOneTreatment
    s += &"0".repeat(12); // PublisherCC "AA"
    s
}

fn u(v: u32, n: usize) -> String {
    format!("{v:0n$b}")
}

#[test]
fn malformed_strings_name_what_is_wrong() {
    assert_eq!(decode(""), Err(TcfError::Empty));
    assert_eq!(decode("CO!x"), Err(TcfError::BadBase64 { segment: 0 }));
    assert_eq!(
        decode("COrVd1pOrVd1pACABCENAHCAAAAAAAAAAAiQAAAAAAAA=="),
        Err(TcfError::BadBase64 { segment: 0 })
    );
    // A TCF v1 string starts with version 1.
    assert_eq!(
        decode("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"),
        Err(TcfError::WrongVersion(1))
    );
    assert!(matches!(
        decode("COrVd1pOrVd1pACABCENAHCAAAAA"),
        Err(TcfError::Truncated { field }) if field == "PurposesConsent"
    ));
    assert!(matches!(
        decode("COrVd1pOrVd1pACABCENAHCAAAAAAAAAAAiQAAAAAAAA.x"),
        Err(TcfError::BadBase64 { segment: 1 })
    ));
    assert!(matches!(
        decode("COrVd1pOrVd1pACABCENAHCAAAAAAAAAAAiQAAAAAAAA.AAAA"),
        Err(TcfError::UnknownSegment {
            segment: 1,
            kind: 0
        })
    ));

    // Range entries 5-9 then 3: out of order.
    let mut b = header_bits();
    b += &(u(20, 16) + "1" + &u(2, 12));
    b += &("1".to_string() + &u(5, 16) + &u(9, 16));
    b += &("0".to_string() + &u(3, 16));
    assert!(matches!(
        decode(&bits_to_tc(&b)),
        Err(TcfError::RangeOutOfOrder { field }) if field == "VendorConsents.Entry[1]"
    ));

    // A range past MaxVendorId.
    let mut b = header_bits();
    b += &(u(8, 16) + "1" + &u(1, 12) + "1" + &u(5, 16) + &u(9, 16));
    assert!(matches!(
        decode(&bits_to_tc(&b)),
        Err(TcfError::Invalid { field, .. }) if field == "VendorConsents.Entry[0]"
    ));

    // A letter code beyond Z.
    let mut b = header_bits();
    b.replace_range(213 - 12..213 - 6, "111111");
    assert!(matches!(
        decode(&bits_to_tc(&b)),
        Err(TcfError::Invalid { field, .. }) if field == "PublisherCC"
    ));

    // Valid header but nothing after it.
    assert!(matches!(
        decode(&bits_to_tc(&header_bits())),
        Err(TcfError::Truncated { field }) if field == "VendorConsents.MaxVendorId"
    ));
}

#[test]
fn a_short_string_cannot_expand_into_a_huge_set() {
    // 4095 publisher restrictions, each covering vendors 1-65535.
    let mut b = header_bits();
    b += &(u(0, 16) + "0"); // no vendor consents
    b += &(u(0, 16) + "0"); // no vendor LI
    b += &u(4095, 12);
    for _ in 0..4095 {
        b += &(u(1, 6) + "00" + &u(1, 12) + "1" + &u(1, 16) + &u(65535, 16));
    }
    let tc = decode(&bits_to_tc(&b)).unwrap();
    assert_eq!(tc.publisher_restrictions.len(), 4095);
    assert_eq!(tc.publisher_restrictions[0].vendors.len(), 65535);
    assert_eq!(tc.publisher_restrictions[0].vendors.ranges().len(), 1);
}

fn vendor_set(max: u16) -> impl Strategy<Value = VendorSet> {
    proptest::collection::vec((1..=max.max(1), 0u16..50), 0..20).prop_map(move |v| {
        VendorSet::from_ranges(
            v.into_iter()
                .map(|(s, len)| (s, s.saturating_add(len).min(max.max(1)))),
        )
    })
}

fn section() -> impl Strategy<Value = VendorSection> {
    (0u16..3000, any::<bool>())
        .prop_flat_map(|(max, range_encoded)| {
            let vendors = if max == 0 {
                Just(VendorSet::new()).boxed()
            } else {
                vendor_set(max).boxed()
            };
            (Just(max), Just(range_encoded), vendors)
        })
        .prop_map(|(max_vendor_id, range_encoded, vendors)| VendorSection {
            max_vendor_id,
            range_encoded,
            vendors,
        })
}

fn letters() -> impl Strategy<Value = [u8; 2]> {
    (b'A'..=b'Z', b'A'..=b'Z').prop_map(|(a, b)| [a, b])
}

prop_compose! {
    fn tc_string()(
        times in (0i64..(1 << 36), 0i64..(1 << 36)),
        ids in (0u16..4096, 0u16..4096, 0u8..64, 0u16..4096, 0u8..64),
        flags in any::<(bool, bool, bool)>(),
        langs in (letters(), letters()),
        special in proptest::collection::btree_set(1u8..=12, 0..12),
        consent in proptest::collection::btree_set(1u8..=24, 0..24),
        li in proptest::collection::btree_set(1u8..=24, 0..24),
        vc in section(),
        vli in section(),
        restrictions in proptest::collection::vec((0u8..64, 0u8..4, vendor_set(u16::MAX)), 0..5),
    ) -> TcString {
        let kinds = [
            RestrictionType::NotAllowed,
            RestrictionType::RequireConsent,
            RestrictionType::RequireLegitimateInterest,
            RestrictionType::Undefined,
        ];
        TcString {
            created: Timestamp(times.0 * 100),
            last_updated: Timestamp(times.1 * 100),
            cmp_id: ids.0,
            cmp_version: ids.1,
            consent_screen: ids.2,
            consent_language: langs.0,
            vendor_list_version: ids.3,
            tcf_policy_version: ids.4,
            is_service_specific: flags.0,
            use_non_standard_texts: flags.1,
            special_feature_opt_ins: special,
            purposes_consent: consent,
            purposes_li_transparency: li,
            purpose_one_treatment: flags.2,
            publisher_cc: langs.1,
            vendor_consents: vc,
            vendor_legitimate_interests: vli,
            publisher_restrictions: restrictions
                .into_iter()
                .map(|(purpose_id, k, vendors)| PublisherRestriction {
                    purpose_id,
                    restriction: kinds[k as usize],
                    vendors,
                })
                .collect(),
            skipped_segments: vec![],
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_round_trips(tc in tc_string()) {
        let s = encode(&tc).unwrap();
        prop_assert_eq!(decode(&s).unwrap(), tc);
    }

    #[test]
    fn decoder_never_panics_on_text(s in "[A-Za-z0-9_.=+/-]{0,200}") {
        let _ = decode(&s);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_strings(s in ".{0,100}") {
        let _ = decode(&s);
    }

    #[test]
    fn decoder_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        use base64::Engine;
        let mut b = bytes;
        // Mostly start with a valid version so the fuzzing reaches deep fields.
        if let Some(first) = b.first_mut() {
            *first = (*first & 0x03) | 0x08;
        }
        let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
        let _ = decode(&s);
        let _ = decode(&format!("{s}.{s}"));
    }

    #[test]
    fn decoder_never_panics_on_mutated_real_string(i in 0usize..44, c in "[A-Za-z0-9_-]") {
        let mut s: Vec<char> = "COrVd1pOrVd1pACABCENAHCAAAAAAAAAAAiQAAAAAAAA".chars().collect();
        s[i] = c.chars().next().unwrap();
        let _ = decode(&s.into_iter().collect::<String>());
    }
}
