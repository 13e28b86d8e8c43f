//! Promises an outside audit found broken (issue 14), each held here
//! against the real server over loopback:
//!
//! - authorization before validation: every operation in the OpenAPI
//!   document, called by every kind of caller with garbage bodies, queries
//!   and paths, answers a caller without access 401 (no credential) or 403
//!   (a credential without the role, or a person's token on someone
//!   else's data), never a 400 that tells a stranger what a route expects;
//! - a handler that panics costs its own request a 500 and nothing more;
//! - events stamped in the future are refused by index;
//! - subject tokens live at most 7 days, whatever unit the ttl is in.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use common::{event, fill, TestServer};
use fineline_core::Timestamp;
use fineline_server::AppState;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    Admin,
    Ingest,
    Analyst,
    /// A valid subject token, for a person other than the one the path names.
    OtherPerson,
}

const EVERYONE: &[Who] = &[
    Who::Nobody,
    Who::Admin,
    Who::Ingest,
    Who::Analyst,
    Who::OtherPerson,
];

/// Who may use each operation. A person's own token may use the routes
/// under `/v1/subjects/{id}` for themself; this test always names someone
/// else, so for it every non-public route is closed.
fn access(method: &str, path: &str) -> Option<&'static [Who]> {
    use Who::*;
    const PUBLIC: &[Who] = EVERYONE;
    const ADMIN: &[Who] = &[Admin];
    const INGEST: &[Who] = &[Admin, Ingest];
    const ANALYST: &[Who] = &[Admin, Analyst];
    const ANY_KEY: &[Who] = &[Admin, Ingest, Analyst];
    Some(match (method, path) {
        ("get", "/healthz" | "/healthz/leader" | "/metrics") => PUBLIC,
        ("get", "/v1/policy" | "/v1/policy/versions") => PUBLIC,
        ("post", "/v1/policy") => ADMIN,
        (_, p) if p.starts_with("/v1/subjects/{id}") => ADMIN,
        ("post", "/v1/events") => INGEST,
        ("post", "/v1/admin/tokens") => ADMIN,
        (_, "/v1/footfall/stores") => ADMIN,
        ("get", "/v1/footfall/stores/{id}/report") => ANALYST,
        ("post", "/v1/footfall/sightings" | "/v1/footfall/flush") => INGEST,
        ("post", "/v1/footfall/optout" | "/v1/footfall/checkins") => PUBLIC,
        (
            "get",
            "/v1/footfall/stores/{id}/checkin-token" | "/v1/footfall/stores/{id}/checkin-qr",
        ) => INGEST,
        ("get", "/v1/items/{item}/similar") => PUBLIC,
        ("post", "/v1/items") => ADMIN,
        ("post", "/v1/recs/train") => ADMIN,
        ("get", "/v1/recs/status") => ANY_KEY,
        ("post", "/v1/consents/import") => ADMIN,
        ("post", "/v1/insights/query" | "/v1/insights/plan") => ANALYST,
        ("get", "/v1/insights/heatmap" | "/v1/insights/apps" | "/v1/insights/budget") => ANALYST,
        ("get", "/v1/insights/releases") => ANALYST,
        ("put", "/v1/insights/budgets/{analyst}") => ADMIN,
        ("get", "/v1/console/session") => ANALYST,
        ("get", "/v1/console/overview" | "/v1/console/persona") => ADMIN,
        ("get", p) if p.starts_with("/v1/ledger/") => PUBLIC,
        ("get", "/v1/persona/model" | "/v1/persona/offer" | "/v1/persona/catalogue") => PUBLIC,
        (
            "post",
            "/v1/persona/disclosures"
            | "/v1/persona/level"
            | "/v1/persona/erasure"
            | "/v1/persona/recommendations",
        ) => PUBLIC,
        ("get", "/v1/persona/aggregate") => ANALYST,
        _ => return None,
    })
}

/// Garbage of each kind a validator would refuse: (path value, query, body).
const GARBAGE: &[(&str, &str, &[u8])] = &[
    (
        "someone-else@example.com",
        "?n=-1&res=99&from=yesterday&to=x&format=pdf&index=x&size=-2&period=zz&epsilon=nan",
        b"{\"garbage\": [",
    ),
    ("someone-else@example.com", "", b"[1, \"x\", null, {}]"),
    ("%FF%FE", "?%FF=%FE", b"{}"),
    ("-1", "", b"\"\""),
];

#[tokio::test]
async fn no_caller_without_access_is_told_what_a_route_expects() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    // Rate limits would answer 429 long before this many requests end.
    let mut limits = srv.state.rate_limits().config();
    for class in ["admin", "ingest", "analyst", "subject", "public"] {
        limits.set(&format!("{class}=off")).unwrap();
    }
    srv.state.rate_limits().configure(limits);
    srv.publish_demo_policy(1).await;
    let other = srv.state.tokens().issue(
        &srv.state.pseudonymize("token-holder@example.com"),
        Timestamp::now().plus_millis(600_000),
    );
    let credential = |who: Who| -> Option<&str> {
        match who {
            Who::Nobody => None,
            Who::Admin => Some(&srv.admin),
            Who::Ingest => Some(&srv.ingest),
            Who::Analyst => Some(&srv.analyst),
            Who::OtherPerson => Some(&other),
        }
    };

    let doc = serde_json::to_value(fineline_server::openapi::document()).unwrap();
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let allowed = access(method, path)
                .unwrap_or_else(|| panic!("{method} {path}: say who may use it in access()"));
            seen.insert((method.clone(), path.clone()));
            for &who in EVERYONE {
                for (value, query, body) in GARBAGE {
                    let url = srv.url(&format!("{}{query}", fill(path, value)));
                    let mut req = srv
                        .http
                        .request(method.to_uppercase().parse().unwrap(), url)
                        .header("content-type", "application/json")
                        .body(body.to_vec());
                    if let Some(c) = credential(who) {
                        req = req.bearer_auth(c);
                    }
                    let resp = req.send().await.unwrap();
                    let status = resp.status().as_u16();
                    let text = resp.text().await.unwrap();
                    let what =
                        format!("{who:?} {method} {path} with {value} {query}: {status} {text}");
                    if allowed.contains(&who) {
                        assert!(status != 401 && status != 403, "refused: {what}");
                    } else {
                        let expected = if who == Who::Nobody { 401 } else { 403 };
                        assert_eq!(status, expected, "{what}");
                        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        assert!(body["error"]["code"].is_string(), "{what}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(
        seen.len() >= 40,
        "only {} operations documented",
        seen.len()
    );
    assert_eq!(checked, seen.len() * EVERYONE.len() * GARBAGE.len());
}

/// A bug inside a handler, while it holds the consent index every
/// ingestion and consent change needs. Only this test has the route.
async fn panics_holding_the_consent_index(State(state): State<AppState>) -> &'static str {
    let _index = state.internals().consents.write().unwrap();
    panic!("a bug in a handler");
}

#[tokio::test]
async fn a_handler_panic_is_a_500_and_the_next_request_still_works() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    srv.publish_demo_policy(1).await;
    srv.grant("pat@example.com", &["analytics"]).await;

    // The same state and layers as the real server, plus the bad route.
    let routes =
        fineline_server::api_routes().route("/test/panic", get(panics_holding_the_consent_index));
    let app = fineline_server::with_layers(routes, srv.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let resp = srv
        .http
        .get(format!("{base}/test/panic"))
        .send()
        .await
        .expect("the panic is answered, not a dropped connection");
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal", "{body}");
    assert!(
        !body.to_string().contains("a bug in a handler"),
        "the panic message stays in the server: {body}"
    );

    // The consent index the handler held is still usable, on both servers.
    let now = Timestamp::now().millis();
    for base in [base.as_str(), srv.base.as_str()] {
        let resp = srv
            .http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&srv.ingest)
            .json(&json!([event("pat@example.com", "analytics", now)]))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "{base}: {body}");
        assert_eq!(body["accepted"], 1, "{body}");
    }
    srv.withdraw("pat@example.com", &["analytics"]).await;
}

/// Retention deletes by event time, so an event from the future would
/// outlive every retention period: refused by index, the rest kept.
#[tokio::test]
async fn events_from_the_future_are_refused_by_index() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    srv.publish_demo_policy(1).await;
    srv.grant("fay@example.com", &["analytics"]).await;
    let now = Timestamp::now().millis();
    let minute = 60_000;
    let body = srv
        .ingest_events(&json!([
            event("fay@example.com", "analytics", now),
            event("fay@example.com", "analytics", now + 365 * 24 * 60 * minute),
            event("fay@example.com", "analytics", now + 5 * minute),
            event("fay@example.com", "analytics", now + 11 * minute),
        ]))
        .await;
    assert_eq!(body["accepted"], 2, "{body}");
    let rejected = body["rejected"].as_array().unwrap();
    let indices: Vec<_> = rejected
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 3], "{body}");
    for r in rejected {
        assert_eq!(r["reason"], "future_timestamp", "{body}");
        assert_eq!(r["field"], "timestamp", "{body}");
    }
    let (_, export) = srv
        .get("/v1/subjects/fay@example.com/export", &srv.admin)
        .await;
    assert_eq!(export["events"].as_array().unwrap().len(), 2, "{export}");
}

#[tokio::test]
async fn subject_tokens_live_at_most_seven_days_in_any_unit() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    for ttl in ["8d", "10080h", "10080d", "169h", "604801s", "10081m"] {
        let (status, body) = srv
            .post(
                "/v1/admin/tokens",
                &srv.admin,
                &json!({"subject_id": "gus@example.com", "ttl": ttl}),
            )
            .await;
        assert_eq!(status, 400, "{ttl}: {body}");
        assert_eq!(body["error"]["field"], "ttl", "{ttl}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("7d"),
            "{ttl}: the message names the maximum: {body}"
        );
    }
    let (status, body) = srv
        .post(
            "/v1/admin/tokens",
            &srv.admin,
            &json!({"subject_id": "gus@example.com", "ttl": "7d"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let week = 7 * 86_400_000;
    let left = body["expires_at"].as_i64().unwrap() - Timestamp::now().millis();
    assert!(left <= week && left > week - 60_000, "{body}");

    // A token minted with a longer life (an older version, another tool)
    // is refused at use, not honoured for years.
    let long = srv.state.tokens().issue(
        &srv.state.pseudonymize("gus@example.com"),
        Timestamp::now().plus_millis(10080 * 86_400_000),
    );
    let (status, body) = srv.get("/v1/subjects/me/consents", &long).await;
    assert_eq!(status, 401, "{body}");

    // A deployment's lower maximum (`serve --token-max-ttl 1h`) holds too.
    srv.state.tokens().set_max_ttl(3_600_000);
    let (status, body) = srv
        .post(
            "/v1/admin/tokens",
            &srv.admin,
            &json!({"subject_id": "gus@example.com", "ttl": "61m"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 1h"),
        "{body}"
    );
}
