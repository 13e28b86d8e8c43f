//! In-store check-in at the application boundary (issue 18): a kiosk's
//! rotating token, presented by the reference client at its level, is
//! counted on the store's day and published in the store-day's DP
//! release beside the Wi-Fi figures; stale, forged and replayed
//! check-ins are refused naming the field.

use fineline_app::footfall_release::RELEASE_GRACE_MS;
use fineline_app::persona::LevelChange;
use fineline_app::{App, AppError};
use fineline_core::Timestamp;
use fineline_ledger::LedgerEntry;
use fineline_persona::{Persona, TrustLevel, CHECKIN_WINDOW_MS};
use sha2::{Digest, Sha256};

mod common;
use common::{persona_app, raise_to_regular, utc_day};

async fn app(dir: &std::path::Path) -> App {
    persona_app(dir, &[("berlin", "s1"), ("hamburg", "s2")]).await
}

fn persona(i: u32) -> Persona {
    let mut secret = [0u8; 32];
    secret[..4].copy_from_slice(&i.to_be_bytes());
    Persona::new("everyday", secret)
}

/// A distinct nonce per check-in: `i` four times.
fn coins(i: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    for chunk in c.chunks_mut(4) {
        chunk.copy_from_slice(&i.to_be_bytes());
    }
    c
}

fn field_of(e: &AppError) -> Option<&str> {
    match e {
        AppError::InvalidField { field, .. } => Some(field),
        AppError::Conflict { field, .. } => field.as_deref(),
        _ => None,
    }
}

/// Anonymous and pseudonymous check-ins are counted on the store's day,
/// exactly, and the day's published release carries them, noised.
#[tokio::test]
async fn check_ins_are_counted_and_published_in_the_store_report() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let now = Timestamp::now();
    let token = app.checkin_token("berlin", now).unwrap().token;

    for i in 0..200 {
        let mut p = persona(i);
        if i % 2 == 1 {
            // Level 1 stays on the device: nothing about it is sent.
            p.set_level(&business, TrustLevel::Crowd, now);
        }
        let c = p
            .check_in(&business, "berlin", &token, now, &coins(i))
            .unwrap();
        assert!(c.pseudonym.is_none());
        let done = app.check_in(c, now).await.unwrap();
        assert!(
            done.receipt.is_none(),
            "no receipt names an anonymous check-in"
        );
    }
    let key = app.ledger_key();
    for i in 1000..1100 {
        let mut p = persona(i);
        raise_to_regular(&app, &mut p, &business, now, false).await;
        let c = p
            .check_in(&business, "berlin", &token, now, &coins(i))
            .unwrap();
        assert_eq!(c.pseudonym, Some(p.pseudonym(&business)));
        let done = app.check_in(c.clone(), Timestamp::now()).await.unwrap();
        let r = done.receipt.expect("a pseudonymous check-in has a receipt");
        // The entry binds what was sent, salted with the nonce answered.
        let mut h = Sha256::new();
        h.update(r.nonce);
        h.update(serde_json::to_vec(&c).unwrap());
        match &r.receipt.entry {
            LedgerEntry::PersonaDisclosure { level, digest, .. } => {
                assert_eq!(*level, 2);
                assert_eq!(digest.0, <[u8; 32]>::from(h.finalize()));
            }
            other => panic!("unexpected entry {other:?}"),
        }
        let seq = p.log().entries().len() as u64 - 1;
        p.log_mut().attach_receipt(seq, r.receipt, &key).unwrap();
    }

    let day = utc_day(now);
    let exact = app.checkin_day("berlin", day).await.unwrap();
    assert_eq!(exact.by_level, [100, 100, 100, 0, 0]);
    assert_eq!(
        app.checkin_day("hamburg", day).await.unwrap().by_level,
        [0; 5]
    );

    // Two days on, the day is closed and published once, noised.
    let later = Timestamp(now.millis() + 2 * 86_400_000);
    let published = app
        .publish_footfall("berlin", day, day, later)
        .await
        .unwrap();
    let release = &published.days[0].release;
    let anon = release.checkins_anonymous.expect("check-ins are released");
    let pseud = release.checkins_pseudonymous.unwrap();
    // Scale 10 (sensitivity 5 at ε 0.5): 80 away is a 1-in-3,000 draw.
    assert!((anon.value - 200).abs() <= 80, "{anon:?}");
    assert!((pseud.value - 100).abs() <= 80, "{pseud:?}");
    let other = app
        .publish_footfall("hamburg", day, day, later)
        .await
        .unwrap();
    let none = other.days[0].release.checkins_anonymous.unwrap();
    assert!(none.value.abs() <= 80, "{none:?}");
}

/// A token from another store, with a flipped bit, too old or not yet
/// shown is refused naming `token`; a check-in sent twice counts once;
/// a pseudonym without level-2 consent, or twice on one day, is refused.
#[tokio::test]
async fn stale_forged_and_replayed_check_ins_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let now = Timestamp::now();
    let token = app.checkin_token("berlin", now).unwrap().token;
    let day = utc_day(now);
    let mut p = persona(1);
    let good = p
        .check_in(&business, "berlin", &token, now, &[9; 16])
        .unwrap();

    let refused = |c: fineline_persona::CheckIn| {
        let app = &app;
        // Now, not the test's start: consent recorded since must count.
        async move {
            match app.check_in(c, Timestamp::now()).await {
                Err(e) => e,
                Ok(_) => panic!("taken"),
            }
        }
    };
    let hamburg = app.checkin_token("hamburg", now).unwrap().token;
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    let old = app
        .checkin_token("berlin", Timestamp(now.millis() - 2 * CHECKIN_WINDOW_MS))
        .unwrap()
        .token;
    let future = app
        .checkin_token("berlin", Timestamp(now.millis() + CHECKIN_WINDOW_MS))
        .unwrap()
        .token;
    for bad in [hamburg, flipped, old, future, "nonsense".to_string()] {
        let e = refused(fineline_persona::CheckIn {
            token: bad.clone(),
            ..good.clone()
        })
        .await;
        assert_eq!(field_of(&e), Some("token"), "{bad}: {e}");
    }
    // The previous window's token is still good: read just before it rotated.
    let previous = app
        .checkin_token("berlin", Timestamp(now.millis() - CHECKIN_WINDOW_MS))
        .unwrap()
        .token;
    let e = refused(fineline_persona::CheckIn {
        store: "nowhere".into(),
        ..good.clone()
    })
    .await;
    assert_eq!(field_of(&e), Some("store"));
    let e = refused(fineline_persona::CheckIn {
        business: "someone-else".into(),
        ..good.clone()
    })
    .await;
    assert_eq!(field_of(&e), Some("business"));
    let e = refused(fineline_persona::CheckIn {
        nonce: "xyz".into(),
        ..good.clone()
    })
    .await;
    assert_eq!(field_of(&e), Some("nonce"));
    let e = refused(fineline_persona::CheckIn {
        pseudonym: Some(p.pseudonym(&business)),
        ..good.clone()
    })
    .await;
    assert_eq!(
        field_of(&e),
        Some("pseudonym"),
        "no identifier below level 2"
    );

    app.check_in(good.clone(), now).await.unwrap();
    let e = refused(good.clone()).await;
    assert!(matches!(e, AppError::Conflict { .. }), "{e}");
    assert_eq!(field_of(&e), Some("nonce"));
    let fresh = fineline_persona::CheckIn {
        token: previous,
        nonce: "ab".repeat(16),
        ..good.clone()
    };
    app.check_in(fresh, now).await.unwrap();

    // Level 2 on the device, but the level change was never sent.
    let mut q = persona(2);
    q.set_level(&business, TrustLevel::Regular, now);
    let c = q
        .check_in(&business, "berlin", &token, now, &[7; 16])
        .unwrap();
    assert_eq!(field_of(&refused(c.clone()).await), Some("pseudonym"));
    app.persona_change_level(LevelChange {
        business: business.clone(),
        pseudonym: q.pseudonym(&business),
        from: TrustLevel::Stranger,
        to: TrustLevel::Regular,
        erasure_key: None,
    })
    .await
    .unwrap();
    app.check_in(c.clone(), Timestamp::now()).await.unwrap();
    let twice = fineline_persona::CheckIn {
        nonce: "cd".repeat(16),
        ..c
    };
    let e = refused(twice).await;
    assert!(matches!(e, AppError::Conflict { .. }), "{e}");
    assert_eq!(field_of(&e), Some("pseudonym"));
    assert_eq!(
        app.checkin_day("berlin", day).await.unwrap().by_level,
        [2, 0, 1, 0, 0],
        "refused check-ins count nothing"
    );
}

/// The console's figures: devices per level from the level changes sent,
/// withdrawals, and check-ins from the published releases only.
#[tokio::test]
async fn console_figures_count_levels_withdrawals_and_published_check_ins() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let business = app.persona_config().business;
    let change = |p: &Persona, from: TrustLevel, to: TrustLevel| LevelChange {
        business: business.clone(),
        pseudonym: p.pseudonym(&business),
        from,
        to,
        erasure_key: None,
    };
    let (a, b, c) = (persona(1), persona(2), persona(3));
    for p in [&a, &b, &c] {
        app.persona_change_level(change(p, TrustLevel::Stranger, TrustLevel::Regular))
            .await
            .unwrap();
    }
    app.persona_change_level(change(&b, TrustLevel::Regular, TrustLevel::Member))
        .await
        .unwrap();
    app.persona_change_level(change(&c, TrustLevel::Regular, TrustLevel::Stranger))
        .await
        .unwrap();
    // A day is closed RELEASE_GRACE_MS after its (UTC) midnight: until
    // then yesterday is open and the last seven days hold six closed ones.
    // Early in a UTC day the test runs as of yesterday 23:00.
    let real = Timestamp::now().millis();
    let into_day = real.rem_euclid(86_400_000);
    let now = if into_day < RELEASE_GRACE_MS + 3_600_000 {
        Timestamp(real - into_day - 3_600_000)
    } else {
        Timestamp(real)
    };
    let token = app.checkin_token("berlin", now).unwrap().token;
    for i in 0..400 {
        let c = persona(100 + i)
            .check_in(&business, "berlin", &token, now, &coins(i))
            .unwrap();
        app.check_in(c, now).await.unwrap();
    }

    let f = app.persona_figures(now).await.unwrap();
    assert_eq!(f.devices_at, [1, 0, 1, 1, 0]);
    assert_eq!(f.withdrawals, 1);
    let berlin = f.checkins.iter().find(|s| s.store_id == "berlin").unwrap();
    assert_eq!(berlin.days, 7, "the last seven closed days");
    // Today is not closed: nothing of it is published or shown yet.
    assert!(
        berlin.anonymous.0.abs() <= 4 * berlin.anonymous.1,
        "{berlin:?}"
    );
    let later = Timestamp(now.millis() + 86_400_000 + 7 * 3_600_000);
    let f = app.persona_figures(later).await.unwrap();
    let berlin = f.checkins.iter().find(|s| s.store_id == "berlin").unwrap();
    // Seven days' noise summed: σ ≈ 37, so 200 away is over 5 σ, and a
    // release without the check-ins (about 0) fails.
    assert!((berlin.anonymous.0 - 400).abs() <= 200, "{berlin:?}");
}
