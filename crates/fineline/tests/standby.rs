//! `fineline serve --read-database-url` as an operator runs it: a server on
//! the primary of the pair `scripts/ensure-standby.sh` starts, reading
//! exports from its hot standby, showing where reads went and the
//! standby's lag on `/metrics`. Skipped without `FINELINE_TEST_PRIMARY_URL`
//! and `FINELINE_TEST_STANDBY_URL` (`scripts/test.sh` always sets them).

mod common;

use common::{cli, consent, create_key, http, publish_policy, Server};
use serde_json::json;

fn metric(base: &str, name: &str) -> Option<f64> {
    let text = http()
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn serve_reads_exports_from_the_standby() {
    let (Ok(primary), Ok(standby)) = (
        std::env::var("FINELINE_TEST_PRIMARY_URL"),
        std::env::var("FINELINE_TEST_STANDBY_URL"),
    ) else {
        eprintln!(
            "skipped: FINELINE_TEST_PRIMARY_URL / FINELINE_TEST_STANDBY_URL are not set \
             (scripts/ensure-standby.sh starts the pair)"
        );
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = rt
        .block_on(fineline_db::PostgresDatabase::open_isolated(&primary))
        .unwrap();
    // The same schema on both: the standby replays the primary's.
    let in_schema = |url: &str| database.isolated_url(url).unwrap();
    let (primary_url, standby_url) = (in_schema(&primary), in_schema(&standby));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // A standby needs a PostgreSQL primary: refused, with the reason.
    let out = cli(&[
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--read-database-url",
        &standby_url,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--read-database-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pg = ["--database-url", primary_url.as_str()];
    let admin = create_key(data, "admin", &pg);
    let server = Server::start(
        data,
        &[
            "--database-url",
            &primary_url,
            "--read-database-url",
            &standby_url,
            "--read-database-wait-ms",
            "1000",
        ],
    );
    let base = &server.base;
    publish_policy(base, &admin);
    consent(
        base,
        &admin,
        "ada@example.com",
        json!({"source": "api", "grant": ["personalization"]}),
    );
    let (status, export) = server.call("GET", "/v1/subjects/ada@example.com/export", &admin, None);
    assert_eq!(status, 200, "{export}");
    assert_eq!(
        export["consents"]["records"].as_array().map(Vec::len),
        Some(1),
        "{export}"
    );
    assert_eq!(
        metric(base, "fineline_standby_reads_total{outcome=\"standby\"}"),
        Some(1.0)
    );
    assert_eq!(metric(base, "fineline_standby_up"), Some(1.0));
    assert!(metric(base, "fineline_standby_lag_bytes").is_some());
    assert!(metric(base, "fineline_standby_lag_seconds").is_some());
    drop(server);
    rt.block_on(database.drop_isolated()).unwrap();
}
