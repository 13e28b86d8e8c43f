//! Erasure asked by the persona's device itself (issue 18, docs/persona.md
//! "Erasure by the device"): a request signed under the key the device
//! registered with its level change erases the subject's records and what
//! is kept under the pseudonym elsewhere (topics, the level the console
//! counts, the check-in digests, the key); a forged, stale, replayed,
//! unknown or wrong-business request is refused naming the field and
//! erases nothing.

use fineline_app::persona::{LevelChange, PersonaConfig};
use fineline_app::{App, AppError};
use fineline_core::{ItemId, Timestamp};
use fineline_ledger::{verify_receipt, LedgerEntry};
use fineline_persona::{
    BusinessPseudonym, Disclosure, ErasureRequest, Payload, Persona, TrustLevel,
    ERASURE_MAX_SKEW_MS,
};

mod common;
use common::{persona_app, raise_to_regular, utc_day};

async fn app(dir: &std::path::Path) -> App {
    let app = persona_app(dir, &[("berlin", "s1")]).await;
    app.put_items(vec![fineline_db::ItemRow {
        item: ItemId::new("tent").unwrap(),
        category: "camping".into(),
        title: "Tent".into(),
        repeatable: false,
    }])
    .await
    .unwrap();
    app
}

fn persona(i: u8) -> Persona {
    Persona::new("everyday", [i; 32])
}

fn refusal(e: AppError) -> (&'static str, String) {
    match e {
        AppError::SignatureRefused { field, .. } => ("signature_refused", field),
        AppError::InvalidField { field, .. } => ("invalid_field", field),
        AppError::Conflict { field, .. } => ("conflict", field.unwrap_or_default()),
        other => panic!("unexpected refusal {other:?}"),
    }
}

/// Raises `p` to level 2 at the app's business (with its erasure key),
/// shares a topic and, if `check_in`, checks in at berlin: everything the
/// shop keeps.
async fn regular(app: &App, p: &mut Persona, now: Timestamp, check_in: bool) {
    let business = app.persona_config().business;
    raise_to_regular(app, p, &business, now, true).await;
    app.persona_disclose(
        Disclosure {
            business: business.clone(),
            level: TrustLevel::Regular,
            at: now,
            payload: Payload::Interests {
                pseudonym: p.pseudonym(&business),
                topics: vec!["camping".into()],
            },
        },
        None,
    )
    .await
    .unwrap();
    if check_in {
        // The level change's consent took effect at its own (later) time.
        let now = Timestamp::now();
        let token = app.checkin_token("berlin", now).unwrap().token;
        let nonce = p.pseudonym(&business).0;
        let c = p
            .check_in(&business, "berlin", &token, now, &nonce[..16])
            .unwrap();
        app.check_in(c, now).await.unwrap();
    }
}

/// What the shop holds under `pseudonym`: consent records, topics, the
/// check-in digest, and the devices counted at level 2.
async fn held(app: &App, pseudonym: BusinessPseudonym, now: Timestamp) -> (usize, bool, bool, u64) {
    let subject = app.persona_subject(&pseudonym);
    (
        app.stored_consents(&subject).await.unwrap().len(),
        app.persona_interests(&pseudonym.to_hex())
            .await
            .unwrap()
            .is_some(),
        app.checked_in("berlin", utc_day(now), &pseudonym)
            .await
            .unwrap(),
        app.persona_figures(now).await.unwrap().devices_at[2],
    )
}

#[tokio::test]
async fn the_device_erases_its_records_and_the_pseudonyms_digests() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let now = Timestamp::now();
    let (mut p, mut q) = (persona(1), persona(2));
    regular(&app, &mut p, now, true).await;
    regular(&app, &mut q, now, true).await;
    let (pp, qp) = (p.pseudonym(&business), q.pseudonym(&business));
    assert_eq!(held(&app, pp, now).await, (2, true, true, 2));

    let (seq, request) = p.request_erasure(&business, now, &[7; 16]).unwrap();
    let erased = app.persona_erase(request.clone(), now).await.unwrap();
    assert!(erased.rows_deleted >= 3, "two consent records and the key");
    let key = app.ledger_key();
    verify_receipt(&erased.receipt, Some(&key)).unwrap();
    assert!(matches!(erased.receipt.entry, LedgerEntry::Erasure { .. }));
    p.erased(seq, erased.receipt, &key).unwrap();
    assert_eq!(p.level(&business), TrustLevel::Stranger);

    // Nothing is held under the pseudonym; the other persona keeps all.
    assert_eq!(held(&app, pp, now).await, (0, false, false, 1));
    assert_eq!(held(&app, qp, now).await, (2, true, true, 1));
    // Its check-in still counts in the day's tally, which names no one.
    let day = app.checkin_day("berlin", utc_day(now)).await.unwrap();
    assert_eq!(day.pseudonymous(), 2);
    // The shop takes nothing more from it without a new level change.
    let again = p.request_erasure(&business, now, &[8; 16]).unwrap().1;
    assert_eq!(
        refusal(app.persona_erase(again, now).await.unwrap_err()),
        ("signature_refused", "pseudonym".into()),
        "its erasure key went with it"
    );

    // The person comes back: the same key is registered again; the old
    // request, replayed within its time, is refused and erases nothing.
    regular(&app, &mut p, Timestamp(now.millis() + 1), false).await;
    assert_eq!(
        refusal(app.persona_erase(request, now).await.unwrap_err()),
        ("conflict", "nonce".into())
    );
    assert_eq!(held(&app, pp, now).await.0, 2);
}

#[tokio::test]
async fn forged_stale_unknown_and_wrong_business_requests_erase_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let now = Timestamp::now();
    let mut p = persona(1);
    regular(&app, &mut p, now, true).await;
    let pseudonym = p.pseudonym(&business);
    let before = held(&app, pseudonym, now).await;
    let sign = |secret: [u8; 32], business: &str, at: Timestamp| {
        ErasureRequest::sign(&secret, business, pseudonym, at, &[3; 16])
    };
    let skew = ERASURE_MAX_SKEW_MS + 1_000;
    let mut flipped = sign([1; 32], &business, now);
    let other = if &flipped.signature[..2] == "00" {
        "01"
    } else {
        "00"
    };
    flipped.signature.replace_range(0..2, other);
    let mut moved = sign([1; 32], &business, now);
    moved.at = Timestamp(now.millis() + 1);
    let cases = [
        // Another persona signing for this pseudonym: a forgery.
        (
            sign([2; 32], &business, now),
            ("signature_refused", "signature"),
        ),
        (flipped, ("signature_refused", "signature")),
        (moved, ("signature_refused", "signature")),
        // The same persona's request to another business, replayed here.
        (
            persona(1)
                .request_erasure("elsewhere", now, &[4; 16])
                .unwrap()
                .1,
            ("signature_refused", "pseudonym"),
        ),
        // A persona that never registered a key here.
        (
            persona(9)
                .request_erasure(&business, now, &[5; 16])
                .unwrap()
                .1,
            ("signature_refused", "pseudonym"),
        ),
        (
            sign([1; 32], &business, Timestamp(now.millis() - skew)),
            ("invalid_field", "at"),
        ),
        (
            sign([1; 32], &business, Timestamp(now.millis() + skew)),
            ("invalid_field", "at"),
        ),
    ];
    for (request, (code, field)) in cases {
        let e = app.persona_erase(request, now).await.unwrap_err();
        assert_eq!(refusal(e), (code, field.to_string()));
        assert_eq!(
            held(&app, pseudonym, now).await,
            before,
            "refused: nothing erased"
        );
    }

    // A business renamed: a request signed for the old name is refused by `business`.
    let renamed = PersonaConfig {
        business: "renamed".into(),
        ..app.persona_config()
    };
    app.set_persona_config(renamed).unwrap();
    let e = app
        .persona_erase(sign([1; 32], &business, now), now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), ("invalid_field", "business".into()));
    assert_eq!(held(&app, pseudonym, now).await, before);
}

#[tokio::test]
async fn the_first_erasure_key_stays_and_the_admin_erasure_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let now = Timestamp::now();
    let mut p = persona(1);
    regular(&app, &mut p, now, false).await;
    let pseudonym = p.pseudonym(&business);

    // Someone who learned the pseudonym cannot put their key in its place,
    // and the refused change records nothing.
    let e = app
        .persona_change_level(LevelChange {
            business: business.clone(),
            pseudonym,
            from: TrustLevel::Regular,
            to: TrustLevel::Member,
            erasure_key: Some(persona(6).erasure_key(&business)),
        })
        .await
        .unwrap_err();
    assert_eq!(refusal(e), ("conflict", "erasure_key".into()));
    assert_eq!(held(&app, pseudonym, now).await.0, 2);

    // The admin's erasure of the subject takes the key with it.
    app.erase(&app.persona_subject(&pseudonym)).await.unwrap();
    let request = p.request_erasure(&business, now, &[1; 16]).unwrap().1;
    assert_eq!(
        refusal(app.persona_erase(request, now).await.unwrap_err()),
        ("signature_refused", "pseudonym".into())
    );
}
