//! What the demo shop and the console rely on, on a real server: consents
//! imported with their original times cover the events of that time (and
//! nothing earlier than the notice), answers name items by title, DP
//! answers carry a non-negative `displayed` value beside the unbiased one,
//! and the expected ± of a query is known before it runs, for free.

mod common;

use common::{backends, TestServer};
use fineline_core::Timestamp;
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;

/// The demo notice, in force since `days` ago (a first version may say so).
async fn policy_since(s: &TestServer, days: i64) -> i64 {
    let since = Timestamp::now().millis() - days * DAY;
    let policy = fineline_consent::demo_policy(1, Timestamp(since));
    let (st, b) = s
        .post(
            "/v1/policy",
            &s.admin,
            &serde_json::to_value(&policy).unwrap(),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    since
}

fn view(subject: &str, item: &str, at: i64) -> Value {
    json!({"subject_id": subject, "type": "view", "item": item, "timestamp": at,
           "purpose": "personalization", "properties": {"region": "london"}})
}

#[tokio::test]
async fn imported_consents_keep_their_time_within_the_notice() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        let since = policy_since(&s, 30).await;
        let (_, p) = s.get("/v1/policy", &s.admin).await;
        assert_eq!(p["published_at"], since, "the first version keeps its date");
        let at = since + 2 * DAY;
        let records: Vec<Value> = (0..50)
            .map(|i| json!({"subject_id": format!("p{i}@x"), "grant": ["personalization", "analytics"], "at": at}))
            .collect();
        let (st, r) = s
            .post(
                "/v1/consents/import",
                &s.admin,
                &json!({ "records": records }),
            )
            .await;
        assert_eq!(st, 201, "{r}");
        assert_eq!(
            (r["subjects"].as_u64(), r["records"].as_u64()),
            (Some(50), Some(100))
        );
        assert_eq!(r["new_subjects"], 50);

        // An event after the imported grant is stored; one before it is not.
        let out = s
            .ingest_events(&json!([
                view("p1@x", "sku-1", at + DAY),
                view("p1@x", "sku-1", at - DAY)
            ]))
            .await;
        assert_eq!(out["accepted"], 1, "{out}");
        assert_eq!(out["rejected"][0]["index"], 1, "{out}");

        // The record and its ledger entry carry the original time.
        let (st, c) = s.get("/v1/subjects/p1@x/consents", &s.admin).await;
        assert_eq!(st, 200);
        assert_eq!(c["purposes"]["personalization"], "given");
        assert!(
            c["records"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["at"] == at),
            "{c}"
        );

        // Before the notice, in the future, or by anyone but an admin: refused.
        for (bad_at, field) in [
            (since - 1, "records[0].at"),
            (Timestamp::now().millis() + DAY, "records[0].at"),
        ] {
            let (st, e) = s
                .post("/v1/consents/import", &s.admin,
                      &json!({"records": [{"subject_id": "q@x", "grant": ["analytics"], "at": bad_at}]}))
                .await;
            assert_eq!(st, 400, "{e}");
            assert_eq!(e["error"]["field"], field, "{e}");
        }
        let (st, _) = s
            .post(
                "/v1/consents/import",
                &s.ingest,
                &json!({"records": [{"subject_id": "q@x", "grant": ["analytics"], "at": at}]}),
            )
            .await;
        assert_eq!(st, 403);
        let (st, e) = s
            .post(
                "/v1/consents/import",
                &s.admin,
                &json!({"records": [{"subject_id": "q@x", "grant": ["analytics"], "at": at},
                                      {"subject_id": "r@x", "grant": [], "at": at}]}),
            )
            .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("records[1].grant")),
            "{e}"
        );
        let (_, q) = s.get("/v1/subjects/q@x/consents", &s.admin).await;
        assert_eq!(q["purposes"]["analytics"], "none", "all or nothing: {q}");

        // A second version is dated by the server, whatever it claims.
        let v2 = fineline_consent::demo_policy(2, Timestamp(since));
        let (st, b) = s
            .post("/v1/policy", &s.admin, &serde_json::to_value(&v2).unwrap())
            .await;
        assert_eq!(st, 201, "{b}");
        let (_, p) = s.get("/v1/policy", &s.admin).await;
        assert!(
            p["published_at"].as_i64().unwrap() > Timestamp::now().millis() - 60_000,
            "{p}"
        );
    }
}

#[tokio::test]
async fn answers_name_items_by_title_and_category() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.state.set_training_schedule(None);
    let since = policy_since(&s, 10).await;
    let (st, b) = s
        .post(
            "/v1/items",
            &s.admin,
            &json!([
                {"item": "sku-1", "category": "jackets", "title": "Trail Jacket"},
                {"item": "sku-2", "category": "socks", "title": "Hiking Socks"},
                {"item": "sku-3", "category": "tents", "title": "Ridge Tent 2P"},
            ]),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let records: Vec<Value> = (0..30)
        .map(|i| json!({"subject_id": format!("c{i}"), "grant": ["personalization"], "at": since + 1}))
        .collect();
    s.post(
        "/v1/consents/import",
        &s.admin,
        &json!({ "records": records }),
    )
    .await;
    let t = since + DAY;
    let mut batch = Vec::new();
    for i in 0..30 {
        batch.push(view(&format!("c{i}"), "sku-1", t));
        batch.push(view(&format!("c{i}"), "sku-2", t + 1));
        if i % 3 == 0 {
            batch.push(view(&format!("c{i}"), "sku-3", t + 2));
        }
    }
    batch.push(view("me-person", "sku-1", t));
    s.post("/v1/consents/import", &s.admin,
           &json!({"records": [{"subject_id": "me-person", "grant": ["personalization"], "at": since + 1}]}))
        .await;
    assert_eq!(
        s.ingest_events(&Value::Array(batch)).await["rejected"],
        json!([])
    );
    let (st, b) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
    assert_eq!(st, 200, "{b}");

    let (st, r) = s
        .get("/v1/subjects/me-person/recommendations?n=2", &s.admin)
        .await;
    assert_eq!(st, 200, "{r}");
    let first = &r["items"][0];
    assert_eq!(first["item"], "sku-2", "{r}");
    assert_eq!(first["title"], "Hiking Socks");
    assert_eq!(first["category"], "socks");
    assert_eq!(first["because"], "sku-1");
    assert_eq!(first["because_title"], "Trail Jacket");
    assert_eq!(first["reason"], "because you viewed Trail Jacket");

    let (st, sim) = s.get("/v1/items/sku-1/similar?n=2", &s.admin).await;
    assert_eq!(st, 200, "{sim}");
    assert_eq!(sim["similar"][0]["title"], "Hiking Socks", "{sim}");
    assert_eq!(sim["similar"][0]["category"], "socks", "{sim}");

    // The export names what the person looked at.
    let (st, ex) = s.get("/v1/subjects/me-person/export", &s.admin).await;
    assert_eq!(st, 200);
    assert_eq!(ex["events"][0]["item_title"], "Trail Jacket", "{ex}");
}

#[tokio::test]
async fn noisy_counts_are_displayed_non_negative_and_their_noise_is_known_beforehand() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    let since = policy_since(&s, 40).await;
    // 500 people: well above any floor of distinct people per group a
    // deployment may set, so the day with data is always released.
    let records: Vec<Value> = (0..500)
        .map(|i| json!({"subject_id": format!("d{i}"), "grant": ["personalization", "partner_insights"], "at": since + 1}))
        .collect();
    s.post(
        "/v1/consents/import",
        &s.admin,
        &json!({ "records": records }),
    )
    .await;
    let now = Timestamp::now().millis();
    let batch: Vec<Value> = (0..500)
        .map(|i| view(&format!("d{i}"), "sku-1", now - 2 * DAY))
        .collect();
    s.ingest_events(&Value::Array(batch)).await;
    // Thirty days of which one has data: without a floor the others are pure noise.
    let q = json!({"metric": {"kind": "count"}, "event_types": ["view"], "group_by": [{"kind": "day"}],
                   "filters": [{"kind": "time_range", "from": now - 30 * DAY, "to": now}],
                   "cost_nano_rho": 50_000_000});
    let (st, plan) = s.post("/v1/insights/plan", &s.analyst, &q).await;
    assert_eq!(st, 200, "{plan}");
    let (_, before) = s.get("/v1/insights/budget", &s.analyst).await;
    let (st, a) = s.post("/v1/insights/query", &s.analyst, &q).await;
    assert_eq!(st, 200, "{a}");
    let groups = a["groups"].as_array().unwrap();
    assert!(!groups.is_empty(), "{a}");
    let mut negative = 0;
    for g in groups {
        let (v, d) = (
            g["value"].as_f64().unwrap(),
            g["displayed"].as_f64().unwrap(),
        );
        negative += usize::from(v < 0.0);
        assert!(d >= 0.0, "{g}");
        assert_eq!(d, v.max(0.0).round(), "{g}");
        // The ± announced before the query is the one every group got.
        let half = (g["ci95"][1].as_f64().unwrap() - g["ci95"][0].as_f64().unwrap()) / 2.0;
        let expected = plan["ci95_half_width"].as_f64().unwrap();
        assert!(
            (half - expected).abs() < 1e-6 * expected.max(1.0),
            "{half} vs {plan}"
        );
    }
    // With every day of the month released (no floor hides empty days),
    // pure-noise days come out negative in `value` and stay so.
    if groups.len() >= 30 {
        assert!(negative > 0, "the unbiased value stays unbiased: {a}");
    }
    // The plan itself was free.
    let (_, after) = s.get("/v1/insights/budget", &s.analyst).await;
    assert_eq!(
        before["remaining_nano_rho"].as_u64().unwrap()
            - after["remaining_nano_rho"].as_u64().unwrap(),
        50_000_000
    );
    let (st, _) = s.post("/v1/insights/plan", &s.ingest, &q).await;
    assert_eq!(st, 403);
}
