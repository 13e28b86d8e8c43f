//! Schema migrations, applied in order and recorded in `schema_version`.

use rusqlite::Connection;

use crate::Result;

/// Append only: never edit a shipped migration, add a new one.
///
/// `events.subject_key` is the first 8 digest bytes of the subject: the
/// per-subject index over a small integer instead of the 67-byte text is
/// what lets bulk ingestion pass 100k events/s (measured 1.6x).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE policies (
    version INTEGER PRIMARY KEY,
    published_at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE subjects (
    subject TEXT PRIMARY KEY,
    wrapped_data_key BLOB NOT NULL,
    commitment_salt BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE consents (
    subject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    policy_version INTEGER NOT NULL,
    source TEXT NOT NULL,
    at INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (subject, record_id)
) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    subject_key INTEGER NOT NULL,
    kind TEXT NOT NULL,
    item TEXT,
    purpose TEXT NOT NULL,
    at INTEGER NOT NULL,
    sealed_properties BLOB NOT NULL
);
CREATE INDEX events_by_subject ON events (subject_key, id);
CREATE INDEX events_by_purpose_time ON events (purpose, at);
CREATE TABLE items (
    item TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    repeatable INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE interests (
    subject TEXT NOT NULL,
    category TEXT NOT NULL,
    weight REAL NOT NULL,
    removed INTEGER NOT NULL,
    PRIMARY KEY (subject, category)
) WITHOUT ROWID;
CREATE TABLE ledger (
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL
);
CREATE TABLE tree_heads (
    size INTEGER PRIMARY KEY,
    bytes BLOB NOT NULL
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE footfall_stores (
    store_id TEXT PRIMARY KEY,
    config BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE footfall_sessions (
    device TEXT NOT NULL,
    store_id TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    period INTEGER NOT NULL,
    randomized INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    max_rssi INTEGER NOT NULL,
    sightings INTEGER NOT NULL,
    is_visit INTEGER NOT NULL,
    PRIMARY KEY (device, store_id, first_at)
) WITHOUT ROWID;
CREATE INDEX footfall_sessions_by_store ON footfall_sessions (store_id, first_at);
CREATE INDEX footfall_sessions_by_period ON footfall_sessions (period);
CREATE TABLE footfall_opt_outs (
    digest BLOB PRIMARY KEY,
    at INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE insight_events (
    event_id INTEGER PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    item TEXT,
    region TEXT,
    h3_cell INTEGER,
    value INTEGER
);
CREATE INDEX insight_events_by_kind_time ON insight_events (kind, at);
CREATE TABLE insight_budgets (
    analyst TEXT NOT NULL,
    period TEXT NOT NULL,
    total_nano_rho INTEGER NOT NULL,
    spent_nano_rho INTEGER NOT NULL,
    total_femto_delta INTEGER NOT NULL,
    spent_femto_delta INTEGER NOT NULL,
    PRIMARY KEY (analyst, period)
) WITHOUT ROWID;
"#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    if current > MIGRATIONS.len() as i64 {
        return Err(crate::StoreError::Backend(format!(
            "database schema version {current} is newer than this fineline"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > current {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [version],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}
