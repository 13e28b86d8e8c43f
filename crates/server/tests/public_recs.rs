//! What anyone can read about items (`GET /v1/items/{item}/similar`) and
//! what a person without personalization consent is shown never reveals a
//! pair of items one person (or fewer than the floor of people) held; the
//! floor follows erasures exactly.

mod common;

use common::{backends, TestServer};
use serde_json::{json, Value};

async fn similar(s: &TestServer, item: &str) -> Vec<String> {
    let r = reqwest::get(s.url(&format!("/v1/items/{item}/similar?n=20")))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    body["similar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

async fn non_personal(s: &TestServer, query: &str) -> Vec<String> {
    let (st, body) = s
        .get(
            &format!("/v1/subjects/visitor/recommendations?n=20{query}"),
            &s.admin,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["tier"], "non_personal", "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

/// Ten people view boots and laces, nine a tent and a stove; one person
/// alone views boots with two rare items. The server runs its defaults.
async fn shop(s: &TestServer) {
    s.state.set_training_schedule(None);
    s.publish_demo_policy(1).await;
    let mut people: Vec<(String, &[&str])> = Vec::new();
    for p in 0..10 {
        people.push((format!("boot{p}"), &["boots", "laces"]));
    }
    for p in 0..9 {
        people.push((format!("camp{p}"), &["tent", "stove"]));
    }
    people.push(("loner".into(), &["boots", "rare-a", "rare-b"]));
    let r = s.view_histories(&people).await;
    assert_eq!(r["accepted"].as_u64(), Some(41), "{r}");
    let (st, body) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
    assert_eq!(st, 200, "{body}");
}

#[tokio::test]
async fn public_answers_show_only_pairs_enough_people_hold() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        shop(&s).await;
        assert_eq!(similar(&s, "boots").await, ["laces"]);
        for item in ["rare-a", "rare-b", "tent", "stove"] {
            let shown = similar(&s, item).await;
            assert!(
                shown.iter().all(|i| i == "boots" || i == "laces"),
                "{item}: {shown:?}"
            );
        }
        assert!(similar(&s, "rare-a").await.is_empty());
        // Nine people are under the default floor.
        assert!(similar(&s, "tent").await.is_empty());
        for query in ["", "&context=rare-a", "&context=boots", "&context=tent"] {
            let shown = non_personal(&s, query).await;
            assert!(
                shown.iter().all(|i| i == "boots" || i == "laces"),
                "{query}: {shown:?}"
            );
        }
        assert!(non_personal(&s, "").await.contains(&"laces".to_string()));

        // Erasing one of the ten takes the pair under the floor at once.
        let (st, body) = s
            .http
            .delete(s.url("/v1/subjects/boot0"))
            .bearer_auth(&s.admin)
            .send()
            .await
            .map(|r| (r.status().as_u16(), r))
            .unwrap();
        assert_eq!(st, 200, "{:?}", body.text().await);
        assert!(similar(&s, "boots").await.is_empty());
        assert!(non_personal(&s, "&context=boots").await.is_empty());
        assert_eq!(
            non_personal(&s, "").await,
            ["boots"],
            "laces is held by nine now"
        );
    }
}
