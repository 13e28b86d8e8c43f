//! Keys from the command line against a running server: a key's own rate
//! limit and `serve --rate-limit` are enforced, `keys list` never shows a
//! key's text, and `keys revoke` shuts a key out without a restart.

mod common;

use std::time::{Duration, Instant};

use common::{cli, create_key, ok_stdout, Server};

fn status(base: &str, path: &str, key: Option<&str>) -> u16 {
    let mut req = reqwest::blocking::Client::new().get(format!("{base}{path}"));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().unwrap().status().as_u16()
}

#[test]
fn keys_are_listed_limited_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let data_arg = data.to_str().unwrap();
    let admin = create_key(data, "admin", &[]);
    let ingest = create_key(data, "ingest", &[]);
    let limited = create_key(data, "ingest", &["--rate-limit", "2/3"]);
    let bad = cli(&["keys", "create", "--role", "ingest", "--rate-limit", "fast"]);
    assert!(!bad.status.success());

    let list = ok_stdout(cli(&["keys", "list", "--data-dir", data_arg]));
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains("2/3"), "{list}");
    for key in [&admin, &ingest, &limited] {
        assert!(!list.contains(key.as_str()), "key text listed: {list}");
    }

    let server = Server::start(data, &["--rate-limit", "public=5/5"]);
    let base = &server.base;
    // The key's own limit: three at once, then refused.
    let statuses: Vec<u16> = (0..4)
        .map(|_| status(base, "/v1/ledger/tree-head", Some(&limited)))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The flag's limit for callers without a key.
    let statuses: Vec<u16> = (0..6)
        .map(|_| status(base, "/v1/ledger/tree-head", None))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);

    assert_eq!(status(base, "/v1/recs/status", Some(&ingest)), 404);
    // Revoke by the id `keys list` shows (the first 16 hex digits).
    let id = list
        .lines()
        .find(|l| l.contains("ingest") && l.contains("role default"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert!(fineline_app::api_keys::hash_key(&ingest).starts_with(&id));
    let out = ok_stdout(cli(&["keys", "revoke", &id, "--data-dir", data_arg]));
    assert!(out.starts_with("revoked"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(base, "/v1/recs/status", Some(&ingest)) != 401 {
        assert!(Instant::now() < deadline, "the revoked key still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The admin key is untouched, and the list marks the revoked one.
    assert_eq!(status(base, "/v1/recs/status", Some(&admin)), 404);
    let list = ok_stdout(cli(&["keys", "list", "--data-dir", data_arg]));
    let line = list.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(line.ends_with("revoked"), "{list}");
    // An unknown id revokes nothing and says so.
    let out = cli(&["keys", "revoke", "0123456789abcdef", "--data-dir", data_arg]);
    assert!(!out.status.success());
}
