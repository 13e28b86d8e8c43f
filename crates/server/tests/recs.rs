//! Recommendations against a real server on loopback: consent tiers,
//! reasons, purchases, similar items, interests, ledger entries per
//! personalized read, and exact forgetting compared with a server trained
//! from scratch without the forgotten person.

mod common;

use common::{backends, TestServer};
use fineline_core::Timestamp;
use fineline_recs::{Algorithm, RecsConfig};
use serde_json::{json, Value};

fn ev(subject: &str, kind: &str, item: &str, at: i64) -> Value {
    json!({"subject_id": subject, "type": kind, "item": item, "properties": {},
           "timestamp": at, "purpose": "personalization"})
}

async fn send(s: &TestServer, method: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = s.http.request(method.parse().unwrap(), s.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn recs(s: &TestServer, who: &str, query: &str) -> Value {
    let (st, body) = s
        .get(
            &format!("/v1/subjects/{who}/recommendations?{query}"),
            &s.admin,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    body
}

fn items(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

async fn ledger_size(s: &TestServer) -> u64 {
    let (_, head) = s.get("/v1/ledger/tree-head", &s.admin).await;
    head["tree_head"]["size"]
        .as_u64()
        .or_else(|| head["size"].as_u64())
        .unwrap_or_else(|| panic!("no size in {head}"))
}

/// `RecsConfig::default()` with a public floor a handful of people reach
/// (the floor itself is tested in `public_recs.rs`).
fn small_floor(min_support: u32) -> RecsConfig {
    let mut config = RecsConfig::default();
    config.knn.min_support = min_support;
    config
}

/// A shop: running items a, b, f; coffee items c, d and repeatable beans e.
async fn shop(s: &TestServer) {
    s.state.set_training_schedule(None);
    s.state.set_recs_config(small_floor(3));
    s.publish_demo_policy(1).await;
    let (st, body) = s
        .post(
            "/v1/items",
            &s.admin,
            &json!([
                {"item": "a", "category": "running", "title": "Trail shoes"},
                {"item": "b", "category": "running", "title": "Running socks"},
                {"item": "f", "category": "running", "title": "Headlamp"},
                {"item": "c", "category": "coffee", "title": "Grinder"},
                {"item": "d", "category": "coffee", "title": "Kettle"},
                {"item": "e", "category": "coffee", "title": "Beans", "repeatable": true},
            ]),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let people = ["u1", "u2", "u3", "u4", "u5", "alice"];
    for p in people {
        s.grant(p, &["personalization"]).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let t = Timestamp::now().millis();
    let mut batch = Vec::new();
    for (who, seen) in [
        ("u1", "a b f"),
        ("u2", "a b"),
        ("u3", "a b c"),
        ("u4", "c d e"),
        ("u5", "c d e"),
        ("alice", "a"),
    ] {
        for item in seen.split(' ') {
            batch.push(ev(who, "view", item, t));
        }
    }
    batch.push(ev("alice", "purchase", "b", t));
    batch.push(ev("alice", "purchase", "e", t));
    batch.push(ev("alice", "view", "c", t));
    // Bob never granted personalization: these are refused at ingestion.
    batch.push(ev("bob", "view", "c", t));
    let r = s.ingest_events(&Value::Array(batch)).await;
    assert_eq!(r["rejected"].as_array().unwrap().len(), 1, "{r}");
    let (st, status) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
    assert_eq!(st, 200, "{status}");
    assert!(status["subjects"].as_u64().unwrap() == 6, "{status}");
}

#[tokio::test]
async fn tiers_reasons_purchases_similar_interests_and_ledger() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        shop(&s).await;
        let (st, status) = s.get("/v1/recs/status", &s.admin).await;
        assert_eq!(st, 200);
        assert_eq!(status["algorithm"], "ease", "{status}");
        assert!(status["events_used"].as_u64().unwrap() >= 15, "{status}");

        // Personalized: history drives it, reasons name the viewed item.
        // Anything pending from the setup is flushed first, so that only
        // this read counts below (a run saw one entry too many, once).
        s.state.flush_reads().await.unwrap();
        let before = ledger_size(&s).await;
        let body = recs(&s, "alice", "n=10").await;
        assert_eq!(body["tier"], "personalized", "{body}");
        let got = items(&body);
        assert!(!got.contains(&"b".to_string()), "bought b again: {body}");
        assert!(
            got.contains(&"e".to_string()),
            "repeatable e missing: {body}"
        );
        let f = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item"] == "f")
            .unwrap_or_else(|| panic!("f missing: {body}"));
        assert_eq!(f["reason_kind"], "because_you_viewed", "{body}");
        assert!(
            f["reason"]
                .as_str()
                .unwrap()
                .starts_with("because you viewed "),
            "{body}"
        );

        // One ledger entry per personalized read, after the batch flush.
        s.state.flush_reads().await.unwrap();
        let after = ledger_size(&s).await;
        if after != before + 1 {
            // Name the entries, so a failure says what was written.
            let mut seen = Vec::new();
            for i in before..after {
                seen.push(s.get(&format!("/v1/ledger/entries/{i}"), &s.admin).await.1);
            }
            panic!("{before}..{after}: {seen:?}");
        }
        let (_, entry) = s
            .get(&format!("/v1/ledger/entries/{before}"), &s.admin)
            .await;
        let text = entry.to_string();
        assert!(text.contains("recommendations"), "{entry}");

        // The person's own token works; another person's does not.
        let token = s.state.tokens().issue(
            &s.state.pseudonymize("alice"),
            Timestamp::now().plus_millis(60_000),
        );
        let (st, mine) = s.get("/v1/subjects/me/recommendations", &token).await;
        assert_eq!(st, 200, "{mine}");
        let (st, _) = s.get("/v1/subjects/u1/recommendations", &token).await;
        assert_eq!(st, 403);

        // Non-personal: popularity, or the context item; no ledger entry.
        s.state.flush_reads().await.unwrap();
        let before = ledger_size(&s).await;
        let body = recs(&s, "bob", "n=3").await;
        assert_eq!(body["tier"], "non_personal", "{body}");
        assert!(body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["reason"] == "popular right now"));
        let body = recs(&s, "bob", "n=2&context=a").await;
        assert_eq!(items(&body)[0], "b", "{body}");
        assert_eq!(
            body["items"][0]["reason"], "similar to Trail shoes",
            "{body}"
        );
        s.state.flush_reads().await.unwrap();
        assert_eq!(ledger_size(&s).await, before);

        // Similar items: public, item-to-item.
        let (st, sim) = send(&s, "GET", "/v1/items/a/similar?n=2", None).await;
        assert_eq!(st, 200, "{sim}");
        assert_eq!(sim["similar"][0]["item"], "b", "{sim}");
        let (st, _) = send(&s, "GET", "/v1/items/a/similar?n=0", None).await;
        assert_eq!(st, 400);

        // Interests were derived at training; removing one stops it.
        let (st, ints) = s.get("/v1/subjects/alice/interests", &s.admin).await;
        assert_eq!(st, 200, "{ints}");
        assert!(ints.to_string().contains("coffee"), "{ints}");
        let (st, _) = send(
            &s,
            "DELETE",
            "/v1/subjects/alice/interests/coffee",
            Some(&s.admin),
        )
        .await;
        assert_eq!(st, 204);
        let got = items(&recs(&s, "alice", "n=10").await);
        assert!(
            got.iter().all(|i| !["c", "d", "e"].contains(&i.as_str())),
            "coffee after removal: {got:?}"
        );
        assert!(got.contains(&"f".to_string()), "{got:?}");

        // Restoring the interest (setting a weight) lets it count again.
        let r = s
            .http
            .put(s.url("/v1/subjects/alice/interests/coffee"))
            .bearer_auth(&s.admin)
            .json(&json!({"weight": 0.8}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let got = items(&recs(&s, "alice", "n=10").await);
        assert!(
            got.iter().any(|i| ["c", "d", "e"].contains(&i.as_str())),
            "coffee after restoring: {got:?}"
        );

        // Fold-in: a new person's first event counts at once, no retraining
        // (and a cached empty history does not hide it).
        s.grant("newbie", &["personalization"]).await;
        let body = recs(&s, "newbie", "n=2").await;
        assert_eq!(body["items"][0]["reason_kind"], "popular", "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        s.ingest_events(&json!([ev(
            "newbie",
            "view",
            "c",
            Timestamp::now().millis()
        )]))
        .await;
        let body = recs(&s, "newbie", "n=2").await;
        assert_eq!(
            body["items"][0]["reason"], "because you viewed Grinder",
            "{body}"
        );

        // Withdrawing personalization: non-personal at once.
        s.withdraw("alice", &["personalization"]).await;
        let body = recs(&s, "alice", "n=3").await;
        assert_eq!(body["tier"], "non_personal", "{body}");
    }
}

/// Seeded co-viewing data: (person, items) for 14 people over 12 items.
fn dataset() -> Vec<(String, Vec<String>)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..14)
        .map(|p| {
            let mut items: Vec<String> = (0..12)
                .filter(|_| next() % 3 == 0)
                .map(|i| format!("item{i:02}"))
                .collect();
            if items.len() < 2 {
                items = vec!["item00".into(), format!("item{:02}", p % 12)];
            }
            (format!("person{p}"), items)
        })
        .collect()
}

async fn load(s: &TestServer, data: &[(String, Vec<String>)]) {
    s.state.set_training_schedule(None);
    s.publish_demo_policy(1).await;
    for (p, _) in data {
        s.grant(p, &["personalization"]).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let t = Timestamp::now().millis();
    let batch: Vec<Value> = data
        .iter()
        .flat_map(|(p, items)| items.iter().map(move |i| ev(p, "view", i, t)))
        .collect();
    s.ingest_events(&Value::Array(batch)).await;
}

async fn train(s: &TestServer) {
    let (st, body) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
    assert_eq!(st, 200, "{body}");
}

async fn answers(s: &TestServer, people: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in people {
        let body = recs(s, p, "n=12").await;
        assert_eq!(body["tier"], "personalized", "{body}");
        out.push(body["items"].clone());
        let body = recs(s, p, "n=5&context=item03").await;
        out.push(body["items"].clone());
    }
    out
}

#[tokio::test]
async fn forgetting_is_exact() {
    let knn_only = RecsConfig {
        serve: Algorithm::Neighbours,
        ..small_floor(2)
    };
    for backend in backends() {
        let data = dataset();
        let (gone, withdrawn) = ("person3", "person7");
        let others: Vec<&str> = data
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| *p != gone && *p != withdrawn)
            .collect();

        let a = TestServer::start(backend).await;
        a.state
            .internals()
            .recs
            .set_refit_delay(std::time::Duration::from_secs(3600));
        a.state.set_recs_config(small_floor(2));
        load(&a, &data).await;
        train(&a).await;
        assert!(a
            .state
            .internals()
            .recs
            .current()
            .unwrap()
            .model
            .ease_ready());

        let (st, _) = send(
            &a,
            "DELETE",
            &format!("/v1/subjects/{gone}"),
            Some(&a.admin),
        )
        .await;
        assert_eq!(st, 200);
        a.withdraw(withdrawn, &["personalization"]).await;
        let model = a.state.internals().recs.current().unwrap();
        assert!(!model.model.knows(&a.state.pseudonymize(gone)));
        assert!(!model.model.knows(&a.state.pseudonymize(withdrawn)));
        // Until the refit, every answer comes from the exact neighbour counts.
        assert!(!model.model.ease_ready());

        let b = TestServer::start(backend).await;
        let rest: Vec<_> = data
            .iter()
            .filter(|(p, _)| p != gone && p != withdrawn)
            .cloned()
            .collect();
        load(&b, &rest).await;
        b.state.set_recs_config(knn_only);
        train(&b).await;
        assert_eq!(answers(&a, &others).await, answers(&b, &others).await);
        let sim = |s: &TestServer| {
            let s = s.url("/v1/items/item00/similar?n=12");
            async move { reqwest::get(s).await.unwrap().text().await.unwrap() }
        };
        assert_eq!(sim(&a).await, sim(&b).await);

        // After the (debounced) refit, EASE equals EASE trained without them.
        a.state.internals().recs.refit().await.unwrap();
        assert!(a
            .state
            .internals()
            .recs
            .current()
            .unwrap()
            .model
            .ease_ready());
        b.state.set_recs_config(small_floor(2));
        train(&b).await;
        assert_eq!(answers(&a, &others).await, answers(&b, &others).await);
    }
}

/// The EASE refit an erasure schedules lands by itself once erasures
/// pause, and serves what EASE trained without the person serves; until
/// then nothing serves the stale EASE.
#[tokio::test]
async fn the_ease_refit_after_an_erasure_lands_and_equals_training_without() {
    for backend in backends() {
        let data = dataset();
        let gone = "person5";
        let others: Vec<&str> = data
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| *p != gone)
            .collect();
        let a = TestServer::start(backend).await;
        a.state
            .internals()
            .recs
            .set_refit_delay(std::time::Duration::from_millis(200));
        load(&a, &data).await;
        train(&a).await;
        let (st, _) = send(
            &a,
            "DELETE",
            &format!("/v1/subjects/{gone}"),
            Some(&a.admin),
        )
        .await;
        assert_eq!(st, 200);
        // When the receipt is back the person is out of the served model
        // and the EASE matrix that still holds them is not served.
        let served = a.state.internals().recs.current().unwrap();
        assert!(!served.model.knows(&a.state.pseudonymize(gone)));
        assert!(!served.model.ease_ready());
        drop(served);

        let started = std::time::Instant::now();
        while !a
            .state
            .internals()
            .recs
            .current()
            .unwrap()
            .model
            .ease_ready()
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the EASE refit never landed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }

        let b = TestServer::start(backend).await;
        let rest: Vec<_> = data.iter().filter(|(p, _)| p != gone).cloned().collect();
        load(&b, &rest).await;
        train(&b).await;
        assert!(b
            .state
            .internals()
            .recs
            .current()
            .unwrap()
            .model
            .ease_ready());
        assert_eq!(answers(&a, &others).await, answers(&b, &others).await);
    }
}
