//! The business console on a real server, on every backend: its pages are
//! served with a strict CSP and no missing file, the overview's figures
//! equal what was seeded (consent rates, events by reason, re-consent
//! progress), the release history lists every charged release, and only
//! the right roles get each answer.

mod common;

use common::{backends, event, TestServer};
use fineline_core::{Purpose, Timestamp};
use fineline_ledger::LedgerEntry;
use serde_json::{json, Value};

fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

fn day_name(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * 86_400_000)
        .unwrap()
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Version 2 adds a recipient to analytics: analytics grants lapse.
async fn publish_v2(srv: &TestServer) {
    let mut v2 = fineline_consent::demo_policy(2, Timestamp::now());
    v2.purposes
        .iter_mut()
        .find(|d| d.purpose == Purpose::Analytics)
        .unwrap()
        .recipients
        .insert("a-new-partner".into());
    let (s, b) = srv
        .post(
            "/v1/policy",
            &srv.admin,
            &serde_json::to_value(&v2).unwrap(),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["reconsent_required"], json!(["analytics"]));
}

#[tokio::test]
async fn overview_shows_the_seeded_consents_events_and_reconsent_progress() {
    for backend in backends() {
        let srv = TestServer::start(backend).await;
        srv.publish_demo_policy(1).await;
        for i in 0..4 {
            srv.grant(
                &format!("both{i}@example.com"),
                &["personalization", "analytics"],
            )
            .await;
        }
        for i in 0..2 {
            srv.grant(&format!("recs{i}@example.com"), &["personalization"])
                .await;
        }
        // Withdrew before v2: not asked again.
        srv.withdraw("both3@example.com", &["analytics"]).await;
        publish_v2(&srv).await;
        srv.grant("both0@example.com", &["analytics"]).await;
        srv.withdraw("both1@example.com", &["analytics"]).await;

        let now = Timestamp::now().millis();
        let mut batch = vec![
            event("both0@example.com", "personalization", now),
            event("recs0@example.com", "personalization", now),
            event("both0@example.com", "analytics", now),
            event("both2@example.com", "analytics", now), // lapsed with v2
            event("recs1@example.com", "analytics", now), // never granted
        ];
        batch.push(json!({"subject_id": "x", "type": "view", "purpose": "analytics"}));
        let r = srv.ingest_events(&Value::Array(batch)).await;
        assert_eq!(r["accepted"], 3, "{r}");

        // A day already sealed into the ledger stays on the chart.
        let old = Timestamp::now().day() - 2;
        let sealed = fineline_app::daily::DayCounts {
            accepted: 7,
            refused_by_purpose: [(Purpose::Location, 2)].into(),
        };
        fineline_app::daily::record(&srv.state, old, &sealed)
            .await
            .unwrap();
        assert_eq!(
            fineline_app::daily::seal_finished_days(&srv.state)
                .await
                .unwrap(),
            1
        );

        let from = day_name(old - 1);
        let (s, o) = srv
            .get(
                &format!("/v1/console/overview?from={from}&to={}", today()),
                &srv.admin,
            )
            .await;
        assert_eq!(s, 200, "{backend:?} {o}");
        let consent = o["consent"].as_array().unwrap();
        assert_eq!(consent.len(), 4, "one entry per day of the range");
        assert_eq!(consent[0]["subjects"], 0, "nobody known before today");
        let last = &consent[3];
        assert_eq!(last["day"], today());
        assert_eq!(last["subjects"], 6);
        assert_eq!(last["given"]["personalization"], 6);
        assert_eq!(last["given"]["analytics"], 1, "{o}");
        assert_eq!(last["given"]["location"], 0);
        assert!((last["rate"]["analytics"].as_f64().unwrap() - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(last["rate"]["personalization"], 1.0);

        let events = &o["events"];
        assert_eq!(events["since_start"]["accepted"], 3);
        assert_eq!(events["since_start"]["rejected"]["no_consent"], 2);
        assert_eq!(events["since_start"]["rejected"]["invalid_field"], 1);
        assert_eq!(events["since_start"]["rejected"]["erased"], 0);
        let metrics = srv
            .http
            .get(srv.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("fineline_events_accepted_total 3"));
        assert!(metrics.contains("fineline_events_rejected_total{reason=\"no_consent\"} 2"));
        let days = events["days"].as_array().unwrap();
        assert_eq!(days[1]["day"], day_name(old));
        assert_eq!(days[1]["accepted"], 7);
        assert_eq!(days[1]["refused_by_purpose"]["location"], 2);
        assert_eq!(days[1]["sealed"], true);
        assert_eq!(days[3]["accepted"], 3);
        assert_eq!(days[3]["refused_no_consent"], 2);
        assert_eq!(days[3]["refused_by_purpose"]["analytics"], 2);
        assert_eq!(days[3]["sealed"], false);

        let policies = o["policies"].as_array().unwrap();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0]["purposes"], json!([]));
        assert_eq!(policies[0]["current"], false);
        let v2 = &policies[1];
        assert_eq!(v2["current"], true);
        assert_eq!(
            v2["purposes"],
            json!([{"purpose": "analytics", "asked": 3, "reconsented": 1, "declined": 1, "pending": 1}])
        );
        assert_eq!(v2["subjects_asked"], 3);
        assert_eq!(v2["subjects_reconsented"], 1);
        // Aggregates only: no pseudonym or raw id anywhere in the answer.
        let text = o.to_string();
        let pseudonym = srv.state.pseudonymize("both0@example.com").to_string();
        assert!(
            !text.contains("example.com") && !text.contains(&pseudonym),
            "{text}"
        );
    }
}

#[tokio::test]
async fn release_history_lists_every_charged_release_with_its_ledger_entry() {
    for backend in backends() {
        let srv = TestServer::start(backend).await;
        srv.publish_demo_policy(1).await;
        let q = json!({"metric": {"kind": "count"}, "event_types": ["view"], "cost_nano_rho": 2_000_000});
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (http, url, key, q) = (
                srv.http.clone(),
                srv.url("/v1/insights/query"),
                srv.analyst.clone(),
                q.clone(),
            );
            set.spawn(async move {
                let r = http.post(url).bearer_auth(key).json(&q).send().await;
                r.unwrap().status().as_u16()
            });
        }
        while let Some(s) = set.join_next().await {
            assert_eq!(s.unwrap(), 200);
        }
        let (s, r) = srv.get("/v1/insights/releases", &srv.analyst).await;
        assert_eq!(s, 200, "{r}");
        let releases = r["releases"].as_array().unwrap();
        assert_eq!(releases.len(), 6, "concurrent charges lose no entry: {r}");
        let indices: Vec<u64> = releases
            .iter()
            .map(|x| x["ledger_index"].as_u64().unwrap())
            .collect();
        assert!(indices.windows(2).all(|w| w[0] > w[1]), "newest first");
        for x in releases {
            assert_eq!(x["cost_nano_rho"], 2_000_000);
            let (s, e) = srv
                .get(&format!("/v1/ledger/entries/{}", x["ledger_index"]), "")
                .await;
            assert_eq!(s, 200);
            let entry: LedgerEntry = serde_json::from_value(e["entry"].clone()).unwrap();
            let LedgerEntry::Release {
                analyst,
                cost_nano_rho,
                ..
            } = entry
            else {
                panic!("not a release: {e}");
            };
            assert_eq!(analyst, r["analyst"].as_str().unwrap());
            assert_eq!(cost_nano_rho, 2_000_000);
        }
        let (_, budget) = srv.get("/v1/insights/budget", &srv.analyst).await;
        assert_eq!(budget["spent_nano_rho"], 12_000_000);

        // Each account sees its own history only.
        let (s, mine) = srv.get("/v1/insights/releases", &srv.admin).await;
        assert_eq!(s, 200);
        assert_eq!(mine["releases"], json!([]));
        let (s, b) = srv
            .get("/v1/insights/releases?period=2026-13", &srv.analyst)
            .await;
        assert_eq!((s, b["error"]["field"].as_str()), (400, Some("period")));
        let (s, _) = srv.get("/v1/insights/releases", &srv.ingest).await;
        assert_eq!(s, 403);
    }
}

#[tokio::test]
async fn console_routes_check_roles_and_name_bad_fields() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    let (s, b) = srv.get("/v1/console/session", &srv.admin).await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"role": "admin", "pages": ["overview", "insights", "footfall", "recs", "persona"]})
    );
    let (s, b) = srv.get("/v1/console/session", &srv.analyst).await;
    assert_eq!((s, &b["pages"]), (200, &json!(["insights"])));
    let (s, _) = srv.get("/v1/console/session", &srv.ingest).await;
    assert_eq!(s, 403);
    let (s, _) = srv.get("/v1/console/session", "not-a-key").await;
    assert_eq!(s, 401);

    for key in [&srv.analyst, &srv.ingest] {
        let (s, _) = srv.get("/v1/console/overview", key).await;
        assert_eq!(s, 403, "the overview is for admins");
    }
    let (s, b) = srv.get("/v1/console/overview", &srv.admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["consent"].as_array().unwrap().len(),
        30,
        "30 days by default"
    );
    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2026-01-01&to=2026-06-01", "to"),
        ("to=2026-02-30", "to"),
    ] {
        let (s, b) = srv
            .get(&format!("/v1/console/overview?{query}"), &srv.admin)
            .await;
        assert_eq!(s, 400, "{query}: {b}");
        assert_eq!(b["error"]["field"], field, "{query}: {b}");
    }
}

#[tokio::test]
async fn console_pages_are_served_whole_with_a_strict_csp() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    let r = srv.http.get(srv.url("/console")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    // Every file the page and its modules name exists, and nothing points
    // at another host.
    let mut files: Vec<String> = html
        .split('"')
        .filter(|s| s.starts_with("/console/"))
        .map(str::to_string)
        .collect();
    for m in [
        "overview", "insights", "footfall", "recs", "persona", "charts",
    ] {
        files.push(format!("/console/{m}.js"));
    }
    assert!(files.len() >= 9, "{files:?}");
    for f in &files {
        let r = srv.http.get(srv.url(f)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{f}");
        assert!(r.headers().contains_key("content-security-policy"), "{f}");
        let body = r.text().await.unwrap();
        if !f.contains("/vendor/") {
            assert!(!body.contains("https://"), "{f} names another host");
        }
    }
    let r = srv
        .http
        .get(srv.url("/console/secrets.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let doc = fineline_server::openapi::document();
    for path in [
        "/v1/console/overview",
        "/v1/console/session",
        "/v1/insights/releases",
    ] {
        assert!(doc.paths.paths.contains_key(path), "{path} in OpenAPI");
    }
}
