//! What stands between the server and the internet: per-key, per-person
//! and per-client rate limits, and key revocation.

mod common;

use std::time::{Duration, Instant};

use common::{backends, TestServer};
use fineline_app::api_keys::{create_key_with_limit, revoke_key, KEY_CACHE_TTL};
use fineline_core::{Role, Timestamp};
use fineline_server::rate_limit::{RateLimit, RateLimitConfig};
use serde_json::Value;

/// Status, `Retry-After` and JSON body of a GET with `key` (if any).
async fn get(s: &TestServer, path: &str, key: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = s.http.get(s.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

/// Statuses of `n` back-to-back GETs, and how long they took.
async fn burst(s: &TestServer, path: &str, key: Option<&str>, n: usize) -> (Vec<u16>, Duration) {
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(get(s, path, key).await.0);
    }
    (statuses, started.elapsed())
}

#[tokio::test]
async fn a_key_past_its_limit_is_refused_with_a_stable_code_and_recovers() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        let five = RateLimit {
            per_second: 5,
            burst: 5,
        };
        let limited = create_key_with_limit(s.state.database(), Role::Ingest, Some(five))
            .await
            .unwrap();
        let neighbour = create_key_with_limit(s.state.database(), Role::Ingest, Some(five))
            .await
            .unwrap();

        let (statuses, took) = burst(&s, "/v1/policy", Some(&limited), 5).await;
        assert_eq!(statuses, [200; 5], "{backend:?}");
        let (status, retry, body) = get(&s, "/v1/policy", Some(&limited)).await;
        // A token comes back every 200 ms: the sixth is refused only if
        // the first five were quick, which on loopback they are.
        assert!(took < Duration::from_millis(150), "slow machine: {took:?}");
        assert_eq!(status, 429, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(body["error"]["detail"]["retry_after_s"], 1);

        // Another key with the same limit has its own bucket.
        let (statuses, _) = burst(&s, "/v1/policy", Some(&neighbour), 5).await;
        assert_eq!(statuses, [200; 5], "{backend:?}");

        // After the wait it names, the key works again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, _, body) = get(&s, "/v1/policy", Some(&limited)).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
    }
}

#[tokio::test]
async fn role_subject_and_client_defaults_apply_and_health_checks_pass() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    let mut config = RateLimitConfig::default();
    for c in ["ingest=3/3", "subject=2/2", "public=4/4", "admin=off"] {
        config.set(c).unwrap();
    }
    s.state.rate_limits().configure(config);

    // The role's default, for keys without their own limit.
    let (statuses, _) = burst(&s, "/v1/policy", Some(&s.ingest), 4).await;
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Admin is off: 50 back to back all pass.
    let (statuses, _) = burst(&s, "/v1/policy", Some(&s.admin), 50).await;
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");

    // A person's token has its own bucket.
    let token = s.state.tokens().issue(
        &s.state.pseudonymize("ann@example.com"),
        Timestamp::now().plus_millis(60_000),
    );
    let (statuses, _) = burst(&s, "/v1/subjects/me/consents", Some(&token), 3).await;
    assert_eq!(statuses, [200, 200, 429]);

    // No credential (or a wrong one): the client address's bucket.
    let (mut statuses, _) = burst(&s, "/v1/policy", None, 3).await;
    statuses.push(get(&s, "/v1/policy", Some("fl_admin_guessed")).await.0);
    statuses.push(get(&s, "/v1/ledger/tree-head", None).await.0);
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    let (status, retry, body) = get(&s, "/v1/ledger/key", None).await;
    assert_eq!((status, retry.as_deref()), (429, Some("1")), "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Health checks are never refused.
    let (statuses, _) = burst(&s, "/healthz", None, 10).await;
    assert_eq!(statuses, [200; 10]);
}

#[tokio::test]
async fn the_dp_budget_refusal_keeps_its_own_code() {
    // Both are 429, but only one is cured by waiting: clients tell them
    // apart by code.
    let s = TestServer::start(common::Backend::Sqlite).await;
    let (status, _, body) = get(&s, "/v1/insights/budget", Some(&s.analyst)).await;
    assert_eq!(status, 200, "{body}");
    let mut config = RateLimitConfig::default();
    config.set("analyst=1/1").unwrap();
    s.state.rate_limits().configure(config);
    get(&s, "/v1/insights/budget", Some(&s.analyst)).await;
    let (status, _, body) = get(&s, "/v1/insights/budget", Some(&s.analyst)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_ne!(
        fineline_server::error::BUDGET_EXHAUSTED,
        "rate_limited",
        "the budget refusal must keep a different code"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_a_running_server() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        let (status, _, _) = get(&s, "/v1/recs/status", Some(&s.ingest)).await;
        assert_ne!(status, 401, "{backend:?}");

        let revoked = revoke_key(s.state.database(), &s.ingest).await.unwrap();
        assert!(revoked.record.revoked);
        assert_eq!(revoked.record.role, Role::Ingest);
        // Revoked from outside the server: it notices within the cache TTL.
        tokio::time::sleep(KEY_CACHE_TTL + Duration::from_millis(100)).await;
        let (status, _, body) = get(&s, "/v1/recs/status", Some(&s.ingest)).await;
        assert_eq!(status, 401, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, body) = s
            .post("/v1/events", &s.ingest, &serde_json::json!([]))
            .await;
        assert_eq!(status, 401, "{body}");
        // Other keys are untouched.
        let (status, _, _) = get(&s, "/v1/insights/budget", Some(&s.analyst)).await;
        assert_eq!(status, 200);
        // The list still shows it, marked.
        let keys = fineline_app::api_keys::list_keys(s.state.database())
            .await
            .unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.iter().filter(|k| k.record.revoked).count(), 1);
        // An id prefix matching nothing, or too short to be sure, revokes nothing.
        assert!(revoke_key(s.state.database(), "00000000000000000000")
            .await
            .is_err());
        assert!(revoke_key(s.state.database(), "ab").await.is_err());
    }
}
