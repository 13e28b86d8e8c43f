//! A real server on a loopback port, on the embedded database or (when
//! FINELINE_TEST_DATABASE_URL is set) on PostgreSQL in a fresh schema.
#![allow(dead_code)]

use fineline_core::Timestamp;
use fineline_server::loopback::{fresh_database, Loopback};
use fineline_server::AppState;
use serde_json::{json, Value};

pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub ingest: String,
    pub analyst: String,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// Stops the server when the test drops it.
    _server: Loopback,
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends this run can exercise: SQLite always, PostgreSQL when a
/// URL is configured (scripts/test.sh always configures one).
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("FINELINE_TEST_DATABASE_URL").is_ok() {
        b.push(Backend::Postgres);
    }
    b
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// A server `configure`d before it serves (e.g. scheduled training
    /// off, whose first run at start would race a test's first request).
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&fineline_server::AppState),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(std::env::var("FINELINE_TEST_DATABASE_URL").unwrap()),
        };
        let database = fresh_database(dir.path(), url.as_deref(), "fineline")
            .await
            .unwrap();
        let server = Loopback::start(database, dir.path(), configure)
            .await
            .unwrap();
        TestServer {
            base: server.base.clone(),
            admin: server.admin.clone(),
            ingest: server.ingest.clone(),
            analyst: server.analyst.clone(),
            state: server.state.clone(),
            dir,
            http: reqwest::Client::new(),
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn publish_demo_policy(&self, version: u32) -> Value {
        let policy = fineline_consent::demo_policy(version, Timestamp::now());
        let (s, body) = self
            .post(
                "/v1/policy",
                &self.admin,
                &serde_json::to_value(&policy).unwrap(),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        body
    }

    pub async fn grant(&self, subject: &str, purposes: &[&str]) -> Value {
        let (s, body) = self
            .post(
                &format!("/v1/subjects/{subject}/consents"),
                &self.admin,
                &json!({"source": "web", "grant": purposes}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        body
    }

    pub async fn withdraw(&self, subject: &str, purposes: &[&str]) -> Value {
        let (s, body) = self
            .post(
                &format!("/v1/subjects/{subject}/consents"),
                &self.admin,
                &json!({"source": "web", "withdraw": purposes}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
        body
    }

    /// Each person grants personalization, then views their items (one
    /// batch, stamped just after the grants); the ingest report.
    pub async fn view_histories(&self, people: &[(String, &[&str])]) -> Value {
        for (p, _) in people {
            self.grant(p, &["personalization"]).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let t = Timestamp::now().millis();
        let batch: Vec<Value> = people
            .iter()
            .flat_map(|(p, items)| {
                items.iter().map(move |i| {
                    json!({"subject_id": p, "type": "view", "item": i, "properties": {},
                           "timestamp": t, "purpose": "personalization"})
                })
            })
            .collect();
        self.ingest_events(&Value::Array(batch)).await
    }

    pub async fn ingest_events(&self, events: &Value) -> Value {
        let (s, body) = self.post("/v1/events", &self.ingest, events).await;
        assert_eq!(s, 200, "{body}");
        body
    }
}

pub fn event(subject: &str, purpose: &str, at: i64) -> Value {
    json!({
        "subject_id": subject,
        "type": "view",
        "item": "sku-1",
        "properties": {"colour": "teal-secret-property"},
        "timestamp": at,
        "purpose": purpose,
    })
}

/// The path with every `{param}` replaced by `value`.
pub fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

impl TestServer {
    /// A POST with no credentials, as a device or a phone sends it.
    pub async fn public_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

/// The persona tests' shop: twelve people view boots and laces, eleven a
/// tent and a stove (enough for the k = 10 public model), a mug nobody
/// views.
pub async fn persona_shop(s: &TestServer) {
    s.state.set_training_schedule(None);
    s.publish_demo_policy(1).await;
    let items = json!([
        {"item": "boots", "category": "running"}, {"item": "laces", "category": "running"},
        {"item": "tent", "category": "camping"}, {"item": "stove", "category": "camping"},
        {"item": "mug", "category": "coffee"}
    ]);
    let (st, body) = s.post("/v1/items", &s.admin, &items).await;
    assert_eq!(st, 200, "{body}");
    let mut people: Vec<(String, &[&str])> = Vec::new();
    for p in 0..12 {
        people.push((format!("boot{p}"), &["boots", "laces"]));
    }
    for p in 0..11 {
        people.push((format!("camp{p}"), &["tent", "stove"]));
    }
    let r = s.view_histories(&people).await;
    assert_eq!(r["accepted"].as_u64(), Some(46), "{r}");
}
