//! Every operation in the OpenAPI document answers only statuses the
//! document lists for it, errors in the documented body, and asks for the
//! credentials it says it needs: a fast in-CI cousin of
//! `scripts/schemathesis.sh`, which generates far more requests.

mod common;

use common::TestServer;
use serde_json::{json, Value};

struct Op {
    method: String,
    path: String,
    secured: bool,
    has_body: bool,
    statuses: Vec<String>,
}

fn operations() -> Vec<Op> {
    let doc = serde_json::to_value(fineline_server::openapi::document()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push(Op {
                method: method.clone(),
                path: path.clone(),
                secured: op["security"].as_array().is_some_and(|s| !s.is_empty()),
                has_body: op.get("requestBody").is_some(),
                statuses: op["responses"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect(),
            });
        }
    }
    out
}

/// The path with every `{param}` replaced by `value`.
fn fill(path: &str, value: &str) -> String {
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

async fn call(srv: &TestServer, op: &Op, path: &str, key: Option<&str>) -> (u16, Value) {
    let method = op.method.to_uppercase().parse().unwrap();
    let mut req = srv.http.request(method, srv.url(path));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if op.has_body {
        req = req.json(&json!({"unexpected": true}));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn assert_documented(op: &Op, path: &str, status: u16, body: &Value) {
    assert!(
        op.statuses.contains(&status.to_string()),
        "{} {path} answered {status}, documented {:?}: {body}",
        op.method,
        op.statuses
    );
    if status >= 400 {
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{} {path} answered {status} without the error body: {body}",
            op.method
        );
    }
}

#[tokio::test]
async fn secured_operations_refuse_a_missing_credential_with_401() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    let ops = operations();
    assert!(ops.iter().filter(|o| o.secured).count() >= 20);
    for op in &ops {
        let path = fill(&op.path, "someone");
        let (status, body) = call(&srv, op, &path, None).await;
        assert_documented(op, &path, status, &body);
        if op.secured {
            assert_eq!(status, 401, "{} {path} without a key: {body}", op.method);
        } else {
            assert_ne!(status, 401, "{} {path} is documented as public", op.method);
        }
    }
}

#[tokio::test]
async fn junk_parameters_and_bodies_get_documented_4xx_not_5xx() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    for op in operations() {
        for junk in ["-1", "%00", "x%20y", &"9".repeat(30)] {
            let path = fill(&op.path, junk);
            let (status, body) = call(&srv, &op, &path, Some(&srv.admin)).await;
            assert!(status < 500, "{} {path}: {status} {body}", op.method);
            assert_documented(&op, &path, status, &body);
        }
    }
}

/// utoipa cannot tell where `Result<Query<T>, _>` parameters come from and
/// calls them path parameters unless told: the document then asks clients
/// for `?n=` in the path.
#[test]
fn path_parameters_are_exactly_the_path_templates() {
    let doc = serde_json::to_value(fineline_server::openapi::document()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut template: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        template.sort_unstable();
        for (method, op) in item.as_object().unwrap() {
            let mut documented: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            documented.sort_unstable();
            assert_eq!(documented, template, "{method} {path}");
        }
    }
}
