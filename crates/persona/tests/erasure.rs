//! Erasure asked by the device: the request proves the persona and nothing
//! linkable, and the device keeps the business's erasure receipt only if
//! it verifies and is an erasure, then stands at level 0 there.

use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_ledger::{Commitment, ConsentState, Ledger, LedgerEntry, LogSigner, Salt};
use fineline_persona::{
    erasure_signing_key, Logged, Persona, PersonaError, RequestRefusal, TrustLevel,
};

const AT: Timestamp = Timestamp(1_800_000_000_000);

#[test]
fn a_request_is_signed_logged_and_verifies_only_under_the_persona_key() {
    let mut p = Persona::new("everyday", [6; 32]);
    let (seq, r) = p.request_erasure("shop", AT, &[1; 16]).unwrap();
    assert_eq!(r.pseudonym, p.pseudonym("shop"));
    assert_eq!(r.nonce, "01".repeat(16));
    assert!(matches!(&p.log().entries()[seq as usize].what, Logged::Erasure(x) if *x == r));
    assert_eq!(r.verify(&p.erasure_key("shop"), AT), Ok([1; 16]));
    // Another persona's key does not verify it; too few coins make nothing.
    let q = Persona::new("work", [7; 32]);
    assert_eq!(
        r.verify(&q.erasure_key("shop"), AT),
        Err(RequestRefusal::BadSignature)
    );
    assert!(matches!(
        p.request_erasure("shop", AT, &[1; 15]),
        Err(PersonaError::OutOfCoins)
    ));
    // Two businesses see unrelated keys, pseudonyms and requests.
    let (_, other) = p.request_erasure("elsewhere", AT, &[1; 16]).unwrap();
    assert_ne!(p.erasure_key("shop"), p.erasure_key("elsewhere"));
    assert_ne!(other.pseudonym, r.pseudonym);
    assert_ne!(other.signature, r.signature);
    assert_eq!(
        p.erasure_key("shop"),
        erasure_signing_key(&[6; 32], "shop").verifying_key()
    );
    // JSON as it leaves the device: exactly these fields.
    let json = serde_json::to_value(&r).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["at", "business", "nonce", "pseudonym", "signature"]);
}

#[test]
fn the_device_keeps_an_erasure_receipt_only_and_is_then_at_level_0() {
    let mut p = Persona::new("everyday", [6; 32]);
    p.set_level("shop", TrustLevel::Member, Timestamp(AT.millis() - 10));
    let (seq, _) = p.request_erasure("shop", AT, &[2; 16]).unwrap();
    assert!(p.log().unreceipted_changes("shop").contains(&seq));

    let mut ledger = Ledger::new(LogSigner::from_secret_bytes(&[9; 32]));
    let salt = Salt::from_bytes([4; 32]);
    let commitment = Commitment::new(&salt, &Pseudonym::new(1, [5; 32]));
    let erasure = LedgerEntry::Erasure {
        commitment,
        at: Timestamp(AT.millis() + 20),
    };
    let old = LedgerEntry::Erasure {
        commitment,
        at: Timestamp(AT.millis() - 3_600_000),
    };
    let consent = LedgerEntry::ConsentChange {
        commitment,
        purpose: Purpose::Analytics,
        state: ConsentState::Withdrawn,
        policy_version: 1,
        source: "persona".into(),
        record_id: "r".into(),
        at: AT,
    };
    let (i, j, k) = (
        ledger.append(&erasure),
        ledger.append(&old),
        ledger.append(&consent),
    );
    let head = ledger.sign_head(Timestamp(AT.millis() + 30));
    let key = ledger.public_key();
    let receipt = |e: LedgerEntry, n| ledger.receipt(e, n, &head, Some(salt.clone())).unwrap();

    // Not an erasure, or an erasure from before the request: refused, kept nowhere.
    for wrong in [receipt(consent, k), receipt(old, j)] {
        assert!(matches!(
            p.erased(seq, wrong, &key),
            Err(PersonaError::ReceiptMismatch)
        ));
    }
    // Under another key: refused.
    let other = LogSigner::from_secret_bytes(&[10; 32]).verifying_key();
    assert!(matches!(
        p.erased(seq, receipt(erasure.clone(), i), &other),
        Err(PersonaError::Receipt(_))
    ));
    assert_eq!(p.level("shop"), TrustLevel::Member, "nothing proven yet");
    // A level change is not an erasure request.
    assert!(p.erased(0, receipt(erasure.clone(), i), &key).is_err());

    let summary = p.erased(seq, receipt(erasure, i), &key).unwrap();
    assert!(summary.starts_with("valid: "), "{summary}");
    assert_eq!(p.level("shop"), TrustLevel::Stranger);
    assert_eq!(p.log().entries()[seq as usize].receipts.len(), 1);
    assert!(!p.log().unreceipted_changes("shop").contains(&seq));
}
