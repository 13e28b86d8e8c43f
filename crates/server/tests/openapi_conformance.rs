//! Every operation in the OpenAPI document answers only statuses the
//! document lists for it, errors in the documented body, and asks for the
//! credentials it says it needs: a fast in-CI cousin of
//! `scripts/schemathesis.sh`, which generates far more requests.

mod common;

use common::{fill, TestServer};
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

/// `schema` with `$ref`s into the document's components followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Paths inside `schema` that say nothing of their shape: `{}`, or an
/// object with neither properties nor alternatives nor a value schema.
fn placeholders(doc: &Value, schema: &Value, at: String, depth: usize, out: &mut Vec<String>) {
    let s = resolve(doc, schema);
    if depth > 16 {
        return;
    }
    let Some(o) = s.as_object() else {
        out.push(at);
        return;
    };
    let mut described = false;
    for key in ["oneOf", "anyOf", "allOf"] {
        for (i, alt) in s[key].as_array().into_iter().flatten().enumerate() {
            described = true;
            placeholders(doc, alt, format!("{at}/{key}[{i}]"), depth + 1, out);
        }
    }
    if let Some(items) = o.get("items") {
        placeholders(doc, items, format!("{at}[]"), depth + 1, out);
    }
    for (name, p) in s["properties"].as_object().into_iter().flatten() {
        described = true;
        placeholders(doc, p, format!("{at}.{name}"), depth + 1, out);
    }
    if let Some(extra) = o.get("additionalProperties").filter(|a| a.is_object()) {
        described = true;
        placeholders(doc, extra, format!("{at}{{}}"), depth + 1, out);
    }
    let typed = o.contains_key("type") || o.contains_key("enum") || o.contains_key("const");
    let object = s["type"] == "object"
        || s["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("object")));
    if !described && (!typed || object) {
        out.push(at);
    }
}

/// Free-form by design, and documented as such: an event's own properties
/// (sealed per person; see README).
const FREE_FORM: &[&str] = &["post /v1/events[].properties"];

/// Partners build requests from the document: every request body must
/// have its real schema, down to each field, not `{"type": "object"}`.
#[test]
fn every_request_body_has_a_real_schema() {
    let doc = serde_json::to_value(fineline_server::openapi::document()).unwrap();
    let mut found = Vec::new();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(body) = op.get("requestBody") else {
                continue;
            };
            bodies += 1;
            let schema = &body["content"]["application/json"]["schema"];
            assert!(!schema.is_null(), "{method} {path}: no JSON body schema");
            placeholders(&doc, schema, format!("{method} {path}"), 0, &mut found);
        }
    }
    found.retain(|p| !FREE_FORM.contains(&p.as_str()));
    assert!(bodies >= 11, "{bodies} request bodies");
    assert_eq!(
        found,
        Vec::<String>::new(),
        "request bodies without a schema"
    );
}

/// The insights query's schema names every part of the query and every
/// metric kind, with the kind's fields.
#[test]
fn the_insights_query_body_is_fully_described() {
    let doc = serde_json::to_value(fineline_server::openapi::document()).unwrap();
    let body = &doc["paths"]["/v1/insights/query"]["post"]["requestBody"];
    let q = resolve(&doc, &body["content"]["application/json"]["schema"]);
    for field in [
        "metric",
        "event_types",
        "filters",
        "group_by",
        "bounds",
        "mechanism",
        "cost_nano_rho",
        "min_subjects",
    ] {
        assert!(q["properties"][field].is_object(), "{field} missing: {q}");
    }
    let text = serde_json::to_string(&doc["components"]["schemas"]).unwrap();
    for needle in [
        "distinct_subjects",
        "histogram",
        "top_k",
        "\"bins\"",
        "\"lower\"",
        "\"k\"",
        "time_range",
        "any_of",
        "h3_cell",
        "max_rows_per_group",
        "laplace",
    ] {
        assert!(text.contains(needle), "{needle} undocumented");
    }
}

#[tokio::test]
async fn metric_shorthand_is_accepted_and_an_unknown_metric_lists_the_kinds() {
    let srv = TestServer::start(common::Backend::Sqlite).await;
    let ask = |metric: Value| {
        let srv = &srv;
        async move {
            let q = json!({"metric": metric, "event_types": ["view"], "cost_nano_rho": 1000});
            srv.post("/v1/insights/query", &srv.analyst, &q).await
        }
    };
    for metric in [
        json!("count"),
        json!("distinct_subjects"),
        json!({"kind": "count"}),
    ] {
        let (s, b) = ask(metric.clone()).await;
        assert_eq!(s, 200, "{metric}: {b}");
    }
    for metric in [
        json!("median"),
        json!({"kind": "median"}),
        json!({"lower": 0}),
        json!(7),
        json!(null),
    ] {
        let (s, e) = ask(metric.clone()).await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (400, Some("metric")),
            "{e}"
        );
        let msg = e["error"]["message"].as_str().unwrap();
        for kind in [
            "count",
            "distinct_subjects",
            "sum",
            "mean",
            "histogram",
            "top_k",
        ] {
            assert!(msg.contains(kind), "{metric}: {msg} omits {kind}");
        }
        assert!(
            !msg.contains("variant") && !msg.contains('`'),
            "serde's words: {msg}"
        );
    }
    let (s, e) = ask(json!("sum")).await;
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("metric")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("\"kind\""),
        "{e}"
    );
    // Found by schemathesis once the schema showed time ranges: an extreme
    // range overflowed a subtraction before validation and dropped the
    // connection.
    for (from, to) in [(0, i64::MIN), (-1, i64::MAX), (i64::MIN, i64::MAX)] {
        let q = json!({"metric": "count", "event_types": ["view"], "cost_nano_rho": 1000,
            "group_by": [{"kind": "day"}],
            "filters": [{"kind": "time_range", "from": from, "to": to}]});
        let (s, e) = srv.post("/v1/insights/query", &srv.analyst, &q).await;
        assert!(s == 200 || s == 400, "{from}..{to}: {s} {e}");
    }
    // A misspelt field is refused, not ignored (a dropped `min_subjects`
    // would quietly leave the floor where it was).
    let q = json!({"metric": "count", "event_types": ["view"], "min_subject": 500});
    let (s, e) = srv.post("/v1/insights/query", &srv.analyst, &q).await;
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("min_subject"),
        "{e}"
    );
}
