//! Set-up the persona tests share: an embedded app with the demo policy
//! and footfall stores open all day, and the store day of a time.

#![allow(dead_code)]

use fineline_app::App;
use fineline_core::Timestamp;
use fineline_footfall::{OpeningHours, StoreConfig};

/// An app on the embedded store in `dir`, with the demo policy published
/// and each `(store, sensor)` open around the clock in UTC.
pub async fn persona_app(dir: &std::path::Path, stores: &[(&str, &str)]) -> App {
    let store = fineline_app::open_database(dir, None).await.unwrap();
    let vault = fineline_vault::Vault::open_or_create(dir).unwrap();
    let app = App::load(store, vault).await.unwrap();
    app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
        .await
        .unwrap();
    for (id, sensor) in stores {
        app.add_footfall_store(StoreConfig {
            store_id: id.to_string(),
            sensors: vec![sensor.to_string()],
            opening_hours: [Some(OpeningHours::hours(0, 24)); 7],
            time_zone: "UTC".into(),
        })
        .await
        .unwrap();
    }
    app
}

/// The UTC day `at` falls on: the store day of the stores above.
pub fn utc_day(at: Timestamp) -> jiff::civil::Date {
    jiff::Timestamp::from_millisecond(at.millis())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// Raises `p` from 0 to level 2 at `business`, on the device and at the
/// shop, with the persona's erasure key when `with_key`.
pub async fn raise_to_regular(
    app: &App,
    p: &mut fineline_persona::Persona,
    business: &str,
    now: Timestamp,
    with_key: bool,
) {
    use fineline_persona::TrustLevel;
    p.set_level(business, TrustLevel::Regular, now);
    app.persona_change_level(fineline_app::persona::LevelChange {
        business: business.to_string(),
        pseudonym: p.pseudonym(business),
        from: TrustLevel::Stranger,
        to: TrustLevel::Regular,
        erasure_key: with_key.then(|| p.erasure_key(business)),
    })
    .await
    .unwrap();
}
