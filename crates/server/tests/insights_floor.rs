//! The small-group floor is the business's, not the analyst's: on every
//! insights route, at ρ = 1, 10 and 1000, no group of fewer people than the
//! deployment's floor is released; a query may ask for more, never less.

mod common;

use common::{backends, TestServer};
use fineline_app::budget::analyst_id;
use fineline_core::Timestamp;
use serde_json::{json, Value};

const NANO: u64 = 1_000_000_000;
const RHOS: [u64; 3] = [NANO, 10 * NANO, 1000 * NANO];
/// Raised above the default 100 so "fewer than the floor" (130 people) is a
/// group today's code releases and the default floor would too.
const FLOOR: u64 = 150;

/// (prefix, people, item category, region, lat, lng)
const GROUPS: [(&str, usize, &str, &str, f64, f64); 3] = [
    ("big", 170, "shoes", "north", 48.8566, 2.3522),
    ("mid", 130, "hats", "south", -33.86, 151.21),
    ("few", 3, "pins", "tiny", 45.764, 4.8357),
];

async fn grant_many(srv: &TestServer, prefix: &str, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let (http, url, admin) = (
            srv.http.clone(),
            srv.url(&format!("/v1/subjects/{prefix}{i}/consents")),
            srv.admin.clone(),
        );
        set.spawn(async move {
            let grant = ["analytics", "partner_insights", "location"];
            let r = http
                .post(url)
                .bearer_auth(admin)
                .json(&json!({"source": "web", "grant": grant}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

/// A shop with the three groups above, each person opening an app of their
/// group's category in their region and sending one location.
async fn shop(srv: &TestServer) -> i64 {
    srv.publish_demo_policy(1).await;
    let r = srv
        .http
        .put(srv.url(&format!(
            "/v1/insights/budgets/{}",
            analyst_id(&srv.analyst)
        )))
        .bearer_auth(&srv.admin)
        .json(&json!({"rho": 100_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let items: Vec<Value> = GROUPS
        .iter()
        .map(|g| json!({"item": format!("app-{}", g.2), "category": g.2}))
        .collect();
    let (s, b) = srv.post("/v1/items", &srv.admin, &json!(items)).await;
    assert_eq!(s, 200, "{b}");
    for (prefix, n, ..) in GROUPS {
        grant_many(srv, prefix, n).await;
    }
    // After the grants: events are kept only for purposes granted at their time.
    let at = Timestamp::now().0;
    let mut events = Vec::new();
    for (prefix, n, cat, region, lat, lng) in GROUPS {
        for i in 0..n {
            let subject = format!("{prefix}{i}");
            events.push(json!({"subject_id": subject, "type": "app_open",
                "item": format!("app-{cat}"), "properties": {"region": region},
                "timestamp": at, "purpose": "analytics"}));
            events.push(json!({"subject_id": subject, "type": "location",
                "properties": {"lat": lat + i as f64 * 1e-6, "lng": lng},
                "timestamp": at, "purpose": "analytics"}));
        }
    }
    let rep = srv.ingest_events(&Value::Array(events)).await;
    let short: String = rep.to_string().chars().take(300).collect();
    assert_eq!(rep["accepted"], 2 * (170 + 130 + 3), "{short}");
    at
}

fn ok((s, b): (u16, Value)) -> Value {
    assert_eq!(s, 200, "{b}");
    b
}

/// The values of `field` in each released group's key, sorted.
fn keys(groups: &Value, field: &str) -> Vec<String> {
    let mut k: Vec<String> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"][field].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_route_releases_a_group_under_the_floor_at_any_cost() {
    for backend in backends() {
        let srv = TestServer::start(backend).await;
        srv.state.set_insights_floor(FLOOR).unwrap();
        let at = shop(&srv).await;
        let window = format!("from={}&to={}", at - 1000, at + 1000);
        let paris = fineline_insights::cell_of(48.8566, 2.3522, 7).unwrap();
        for rho in RHOS {
            // Public keys (the catalogue's categories) and keys that are not (regions).
            for (dim, field, want) in [
                ("item_category", "item_category", "shoes"),
                ("region", "region", "north"),
            ] {
                for metric in [
                    json!({"kind": "count"}),
                    json!({"kind": "distinct_subjects"}),
                    json!({"kind": "top_k", "k": 10}),
                ] {
                    let q = json!({"metric": metric, "event_types": ["app_open"],
                        "group_by": [{"kind": dim}], "cost_nano_rho": rho});
                    let b = ok(srv.post("/v1/insights/query", &srv.analyst, &q).await);
                    assert_eq!(keys(&b["groups"], field), [want], "ρ {rho} {q}: {b}");
                    assert_eq!(b["min_subjects"], FLOOR, "{b}");
                }
            }
            let b = ok(srv
                .get(
                    &format!("/v1/insights/apps?{window}&cost_nano_rho={rho}"),
                    &srv.analyst,
                )
                .await);
            assert_eq!(
                keys(&b["groups"], "region"),
                ["north"],
                "apps at ρ {rho}: {b}"
            );
            assert_eq!(b["min_subjects"], FLOOR, "{b}");
            let g = ok(srv
                .get(
                    &format!("/v1/insights/heatmap?res=7&{window}&cost_nano_rho={rho}"),
                    &srv.analyst,
                )
                .await);
            let cells: Vec<&str> = g["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["properties"]["h3_cell"].as_str().unwrap())
                .collect();
            assert_eq!(cells, [format!("{paris:x}")], "heatmap at ρ {rho}: {g}");
            assert_eq!(g["min_subjects"], FLOOR, "{g}");
            assert_eq!(g["min_subjects"], FLOOR, "{g}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn min_subjects_may_rise_above_the_floor_never_below() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    // The default floor, and the configuration refusing less than the policy promises.
    assert_eq!(srv.state.insights_floor(), 100);
    assert!(srv.state.set_insights_floor(99).is_err());
    let q = |min: u64| {
        json!({"metric": {"kind": "count"}, "event_types": ["app_open"],
        "group_by": [{"kind": "item_category"}], "cost_nano_rho": 1000 * NANO, "min_subjects": min})
    };
    let (s, e) = srv.post("/v1/insights/query", &srv.analyst, &q(99)).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("min_subjects")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("100"),
        "{e}"
    );

    srv.state.set_insights_floor(FLOOR).unwrap();
    shop(&srv).await;
    for min in [0, 1, 100, FLOOR - 1] {
        let (s, e) = srv.post("/v1/insights/query", &srv.analyst, &q(min)).await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (400, Some("min_subjects")),
            "{min}: {e}"
        );
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains(&FLOOR.to_string()), "names the floor: {msg}");
        assert_eq!(e["error"]["code"], "invalid_field");
    }
    // Refused queries spend nothing.
    let (_, budget) = srv.get("/v1/insights/budget", &srv.analyst).await;
    assert_eq!(budget["spent_nano_rho"], 0, "{budget}");

    let (s, b) = srv
        .post("/v1/insights/query", &srv.analyst, &q(FLOOR))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(keys(&b["groups"], "item_category"), ["shoes"], "{b}");
    // 200 is more than the 170 people of the biggest group: nothing is released.
    let (s, b) = srv.post("/v1/insights/query", &srv.analyst, &q(200)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["min_subjects"], 200);
    assert_eq!(b["groups"], json!([]), "{b}");
}
