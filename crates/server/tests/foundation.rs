//! The foundation's promises, against a real server on loopback, on every
//! configured database.

mod common;

use common::{backends, event, TestServer};
use fineline_core::Timestamp;
use serde_json::json;

#[tokio::test]
async fn events_are_stored_only_while_their_purpose_is_granted() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        let before = Timestamp::now().millis() - 1_000;
        s.grant("ann@example.com", &["personalization"]).await;
        let during = Timestamp::now().millis() + 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let r = s
            .ingest_events(&json!([
                event("ann@example.com", "personalization", before),
                event("ann@example.com", "personalization", during),
                event("ann@example.com", "analytics", during),
                event("bob@example.com", "personalization", during),
            ]))
            .await;
        assert_eq!(r["accepted"], 1, "{backend:?}: {r}");
        let reasons: Vec<(u64, &str)> = r["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["index"].as_u64().unwrap(), x["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            reasons,
            vec![(0, "no_consent"), (2, "no_consent"), (3, "no_consent")]
        );

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        s.withdraw("ann@example.com", &["personalization"]).await;
        let after = Timestamp::now().millis() + 1;
        let r = s
            .ingest_events(&json!([
                event("ann@example.com", "personalization", after),
                // Late delivery of an event from while consent held: allowed.
                event("ann@example.com", "personalization", during),
            ]))
            .await;
        assert_eq!(r["accepted"], 1, "{backend:?}: {r}");
        assert_eq!(r["rejected"][0]["index"], 0);
        assert_eq!(
            s.state.database().count_events().await.unwrap(),
            2,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn malformed_events_are_rejected_by_index_naming_the_field() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    s.grant("ann@example.com", &["analytics"]).await;
    let now = Timestamp::now().millis() + 1;
    let r = s
        .ingest_events(&json!([
            {"subject_id": "ann@example.com", "type": "view", "timestamp": now, "purpose": "advertising"},
            {"subject_id": "ann@example.com", "type": "view", "purpose": "analytics"},
            {"subject_id": "", "type": "view", "timestamp": now, "purpose": "analytics"},
            {"subject_id": "ann@example.com", "type": "view", "timestamp": "soon", "purpose": "analytics"},
            {"subject_id": "ann@example.com", "type": "view", "timestamp": now, "purpose": "analytics", "extra": 1},
            event("ann@example.com", "analytics", now),
        ]))
        .await;
    assert_eq!(r["accepted"], 1, "{r}");
    let fields: Vec<(u64, &str)> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["index"].as_u64().unwrap(),
                x["field"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (0, "purpose"),
            (1, "timestamp"),
            (2, "subject_id"),
            (3, "timestamp"),
            (4, "extra")
        ]
    );

    // A body that is not an array, or too big a batch, is refused whole.
    let (status, body) = s
        .post("/v1/events", &s.ingest, &json!({"not": "an array"}))
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["code"].is_string());
    let big: Vec<_> = (0..10_001)
        .map(|_| event("ann@example.com", "analytics", now))
        .collect();
    let (status, body) = s.post("/v1/events", &s.ingest, &json!(big)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "body");
}

#[tokio::test]
async fn every_route_checks_its_role() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    let policy = serde_json::to_value(fineline_consent::demo_policy(1, Timestamp::now())).unwrap();
    // An ingest key can neither publish a policy nor read or write consents.
    let (status, body) = s.post("/v1/policy", &s.ingest, &policy).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    s.publish_demo_policy(1).await;
    s.grant("ann@example.com", &["analytics"]).await;
    let (status, _) = s
        .get("/v1/subjects/ann@example.com/consents", &s.ingest)
        .await;
    assert_eq!(status, 403);
    let (status, _) = s
        .post(
            "/v1/subjects/ann@example.com/consents",
            &s.ingest,
            &json!({"source": "api", "grant": ["analytics"]}),
        )
        .await;
    assert_eq!(status, 403);
    // Analysts cannot ingest; nobody unauthenticated can do anything private.
    let (status, _) = s.post("/v1/events", &s.analyst, &json!([])).await;
    assert_eq!(status, 403);
    let (status, _) = s
        .get("/v1/subjects/ann@example.com/consents", "fl_admin_forged")
        .await;
    assert_eq!(status, 401);
    let r = s
        .http
        .get(s.url("/v1/subjects/ann@example.com/consents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The policy itself is public.
    let r = s.http.get(s.url("/v1/policy")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn a_policy_that_adds_a_use_asks_again_and_unchanged_purposes_carry_over() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        s.grant("ann@example.com", &["personalization", "analytics"])
            .await;
        let mut v2 = fineline_consent::demo_policy(2, Timestamp::now());
        let analytics = v2
            .purposes
            .iter_mut()
            .find(|d| d.purpose == fineline_core::Purpose::Analytics)
            .unwrap();
        analytics.recipients.insert("a new analytics vendor".into());
        let (status, body) = s
            .post("/v1/policy", &s.admin, &serde_json::to_value(&v2).unwrap())
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["reconsent_required"], json!(["analytics"]));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let now = Timestamp::now().millis();
        let r = s
            .ingest_events(&json!([
                event("ann@example.com", "personalization", now),
                event("ann@example.com", "analytics", now)
            ]))
            .await;
        assert_eq!(r["accepted"], 1, "{backend:?} {r}");
        assert_eq!(r["rejected"][0]["index"], 1);
        let (_, status) = s
            .get("/v1/subjects/ann@example.com/consents", &s.admin)
            .await;
        assert_eq!(status["purposes"]["personalization"], "given");
        assert_ne!(status["purposes"]["analytics"], "given");
        // Granting under the old version is refused; under the new one it works.
        let (code, _) = s
            .post(
                "/v1/subjects/ann@example.com/consents",
                &s.admin,
                &json!({"source": "web", "grant": ["analytics"], "policy_version": 1}),
            )
            .await;
        assert_eq!(code, 409);
        s.grant("ann@example.com", &["analytics"]).await;
        let later = Timestamp::now().millis() + 1;
        let r = s
            .ingest_events(&json!([event("ann@example.com", "analytics", later)]))
            .await;
        assert_eq!(r["accepted"], 1);
    }
}

#[tokio::test]
async fn global_privacy_control_withdraws_partner_insights() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    s.grant("ann@example.com", &["partner_insights", "analytics"])
        .await;
    let r = s
        .http
        .post(s.url("/v1/subjects/ann@example.com/consents"))
        .bearer_auth(&s.admin)
        .header("Sec-GPC", "1")
        .json(&json!({"source": "web", "grant": ["personalization"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let (_, status) = s
        .get("/v1/subjects/ann@example.com/consents", &s.admin)
        .await;
    assert_eq!(status["purposes"]["partner_insights"], "withdrawn");
    assert_eq!(status["purposes"]["analytics"], "given");
    assert_eq!(status["purposes"]["personalization"], "given");
    let gpc = status["records"].as_array().unwrap().iter().any(|r| {
        r["source"] == "gpc" && r["purpose"] == "partner_insights" && r["state"] == "withdrawn"
    });
    assert!(gpc, "{status}");
}

#[tokio::test]
async fn tcf_strings_are_decoded_and_malformed_ones_refused() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    let (status, body) = s
        .post(
            "/v1/subjects/ann@example.com/consents",
            &s.admin,
            &json!({"source": "tcf", "tc_string": "not!a!tc!string"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "tc_string");

    // Consent to TCF purposes 1-10 maps onto personalization and analytics.
    let tc = fineline_consent::tcf::TcString {
        created: Timestamp(1_700_000_000_000),
        last_updated: Timestamp(1_700_000_000_000),
        cmp_id: 7,
        cmp_version: 1,
        consent_screen: 1,
        consent_language: *b"EN",
        vendor_list_version: 200,
        tcf_policy_version: 4,
        is_service_specific: true,
        use_non_standard_texts: false,
        special_feature_opt_ins: Default::default(),
        purposes_consent: (1..=10).collect(),
        purposes_li_transparency: Default::default(),
        purpose_one_treatment: false,
        publisher_cc: *b"DE",
        vendor_consents: Default::default(),
        vendor_legitimate_interests: Default::default(),
        publisher_restrictions: vec![],
        skipped_segments: vec![],
    };
    let text = fineline_consent::tcf::encode(&tc).unwrap();
    let (status, body) = s
        .post(
            "/v1/subjects/ann@example.com/consents",
            &s.admin,
            &json!({"source": "tcf", "tc_string": text}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, status) = s
        .get("/v1/subjects/ann@example.com/consents", &s.admin)
        .await;
    assert_eq!(status["purposes"]["personalization"], "given");
    assert_eq!(status["purposes"]["analytics"], "given");
    assert_eq!(status["purposes"]["location"], "withdrawn");
    assert_eq!(status["purposes"]["partner_insights"], "none");
}

#[tokio::test]
async fn consent_records_carry_the_iso_27560_fields() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    let body = s.grant("ann@example.com", &["analytics"]).await;
    let rec = &body["records"][0];
    for field in [
        "record_id",
        "subject",
        "notice_version",
        "purpose",
        "data_categories",
        "source",
        "at",
        "state",
    ] {
        assert!(!rec[field].is_null(), "missing {field} in {rec}");
    }
    assert_eq!(rec["state"], "given");
    assert!(
        rec["subject"].as_str().unwrap().starts_with('k'),
        "pseudonym, not the raw id"
    );
    assert!(!rec.to_string().contains("ann@example.com"));
}

#[tokio::test]
async fn health_metrics_and_openapi_answer() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    let r = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    s.publish_demo_policy(1).await;
    s.grant("ann@example.com", &["analytics"]).await;
    s.ingest_events(&json!([event("bob@example.com", "analytics", 1)]))
        .await;
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("fineline_events_rejected_total{reason=\"no_consent\"} 1"),
        "{text}"
    );
    assert!(text.contains("route=\"/v1/events\""));
    assert!(
        !text.contains("example.com"),
        "metrics must not carry raw ids"
    );
    let doc: serde_json::Value = s
        .http
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/events"].is_object());
    assert!(doc["paths"]["/v1/subjects/{id}/consents"].is_object());
    let r = s.http.get(s.url("/no/such/route")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn reading_a_persons_consents_is_itself_logged() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    s.grant("ann@example.com", &["analytics"]).await;
    let size = |h: &serde_json::Value| h["tree_head"]["size"].as_u64().unwrap();
    let (_, before) = s.get("/v1/ledger/tree-head", &s.admin).await;
    let (status, _) = s
        .get("/v1/subjects/ann@example.com/consents", &s.admin)
        .await;
    assert_eq!(status, 200);
    let (_, after) = s.get("/v1/ledger/tree-head", &s.admin).await;
    assert_eq!(size(&after), size(&before) + 1);
    let (_, entry) = s
        .get(&format!("/v1/ledger/entries/{}", size(&before)), &s.admin)
        .await;
    assert_eq!(entry["entry"]["kind"], "data_access", "{entry}");
    assert_eq!(entry["entry"]["actor"], "admin");
    assert!(!entry.to_string().contains("ann@example.com"));
    // The history comes with a receipt for every record, valid offline.
    let (_, history) = s
        .get("/v1/subjects/ann@example.com/consents/history", &s.admin)
        .await;
    let receipt: fineline_ledger::Receipt =
        serde_json::from_value(history["entries"][0]["receipt"].clone()).unwrap();
    let key = s.state.ledger_key();
    fineline_ledger::verify_receipt(&receipt, Some(&key)).unwrap();
}

#[tokio::test]
async fn refusals_are_sealed_into_the_ledger_as_daily_summaries() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        s.grant("ann@example.com", &["analytics"]).await;
        s.withdraw("ann@example.com", &["analytics"]).await;
        let after = Timestamp::now().millis() + 1;
        let r = s
            .ingest_events(&json!([
                event("ann@example.com", "analytics", after),
                event("ann@example.com", "analytics", after)
            ]))
            .await;
        assert_eq!(r["accepted"], 0);
        let today = Timestamp::now().day();
        let counts = fineline_app::daily::unsealed_days(&s.state).await.unwrap();
        assert_eq!(
            counts[&today].refused_by_purpose[&fineline_core::Purpose::Analytics],
            2
        );
        // The minute ticker leaves today alone.
        assert_eq!(
            fineline_app::daily::seal_finished_days(&s.state)
                .await
                .unwrap(),
            0
        );
        // Pretend the day has passed, as the ticker would find it tomorrow.
        let (_, before) = s.get("/v1/ledger/tree-head", &s.admin).await;
        let sealed = fineline_app::daily::seal_days_before(&s.state, today + 1)
            .await
            .unwrap();
        assert_eq!(sealed, 1, "{backend:?}");
        let index = before["tree_head"]["size"].as_u64().unwrap();
        let (_, entry) = s
            .get(&format!("/v1/ledger/entries/{index}"), &s.admin)
            .await;
        assert_eq!(entry["entry"]["kind"], "daily_summary", "{entry}");
        assert_eq!(entry["entry"]["rejected_by_purpose"]["analytics"], 2);
        assert_eq!(entry["entry"]["day"], today);
        assert!(fineline_app::daily::unsealed_days(&s.state)
            .await
            .unwrap()
            .is_empty());
        // Sealing twice writes nothing more.
        assert_eq!(
            fineline_app::daily::seal_days_before(&s.state, today + 1)
                .await
                .unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn axum_rejections_come_back_as_json_errors() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    // A path parameter that is not a number.
    let r = s
        .http
        .get(s.url("/v1/ledger/entries/abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    // A method the route does not have.
    let r = s.http.delete(s.url("/v1/policy")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    // Query parameters of the wrong type name the field.
    let (status, body) = s
        .get("/v1/ledger/proof/inclusion?index=x&size=1", &s.admin)
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]["field"].is_string(), "{body}");
}
