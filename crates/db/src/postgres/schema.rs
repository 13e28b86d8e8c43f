//! Schema migrations, applied in order and recorded in `schema_version`.

use sqlx::PgPool;

use crate::{DatabaseError, Result};

/// Append only: never edit a shipped migration, add a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE policies (
    version BIGINT PRIMARY KEY,
    published_at BIGINT NOT NULL,
    body BYTEA NOT NULL
);
CREATE TABLE subjects (
    subject TEXT COLLATE "C" PRIMARY KEY,
    wrapped_data_key BYTEA NOT NULL,
    commitment_salt BYTEA NOT NULL
);
CREATE TABLE consents (
    subject TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    policy_version BIGINT NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (subject, record_id)
);
CREATE SEQUENCE event_ids;
CREATE TABLE events (
    subject TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL DEFAULT nextval('event_ids'),
    kind TEXT NOT NULL,
    item TEXT,
    purpose TEXT NOT NULL,
    at BIGINT NOT NULL,
    sealed_properties BYTEA NOT NULL,
    PRIMARY KEY (subject, id)
);
CREATE INDEX events_by_id ON events (id);
CREATE INDEX events_by_purpose_time ON events (purpose, at);
CREATE TABLE items (
    item TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    repeatable BOOLEAN NOT NULL
);
CREATE TABLE interests (
    subject TEXT COLLATE "C" NOT NULL,
    category TEXT NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    removed BOOLEAN NOT NULL,
    PRIMARY KEY (subject, category)
);
CREATE TABLE ledger (
    idx BIGINT PRIMARY KEY,
    leaf_hash BYTEA NOT NULL,
    entry BYTEA NOT NULL
);
CREATE TABLE tree_heads (
    size BIGINT PRIMARY KEY,
    bytes BYTEA NOT NULL
);
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
"#,
    r#"
CREATE TABLE footfall_stores (
    store_id TEXT PRIMARY KEY,
    config BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE footfall_sessions (
    device TEXT COLLATE "C" NOT NULL,
    store_id TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    period BIGINT NOT NULL,
    randomized BOOLEAN NOT NULL,
    last_at BIGINT NOT NULL,
    max_rssi SMALLINT NOT NULL,
    sightings BIGINT NOT NULL,
    is_visit BOOLEAN NOT NULL,
    PRIMARY KEY (device, store_id, first_at)
);
CREATE INDEX footfall_sessions_by_store ON footfall_sessions (store_id, first_at);
CREATE INDEX footfall_sessions_by_period ON footfall_sessions (period);
CREATE TABLE footfall_opt_outs (
    digest BYTEA PRIMARY KEY,
    at BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE insight_events (
    subject TEXT COLLATE "C" NOT NULL,
    event_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    item TEXT,
    region TEXT,
    h3_cell BIGINT,
    value BIGINT,
    PRIMARY KEY (subject, event_id),
    FOREIGN KEY (subject, event_id) REFERENCES events (subject, id) ON DELETE CASCADE
);
CREATE INDEX insight_events_by_kind_time ON insight_events (kind, at);
CREATE TABLE insight_budgets (
    analyst TEXT NOT NULL,
    period TEXT NOT NULL,
    total_nano_rho BIGINT NOT NULL,
    spent_nano_rho BIGINT NOT NULL,
    total_femto_delta BIGINT NOT NULL,
    spent_femto_delta BIGINT NOT NULL,
    PRIMARY KEY (analyst, period)
);
"#,
    // What the processes of one deployment tell each other (`replicas`).
    r#"
CREATE TABLE change_notes (
    ledger_index BIGINT PRIMARY KEY,
    kind SMALLINT NOT NULL,
    subject TEXT COLLATE "C",
    at BIGINT NOT NULL
);
CREATE INDEX change_notes_by_subject ON change_notes (subject);
CREATE INDEX change_notes_by_time ON change_notes (at);
"#,
    // Day counters every replica adds to (`WriteOp::AddDayCounts`), in
    // place of one JSON setting each replica replaced whole, losing the
    // others' counts. The unsealed days of the old setting move over.
    r#"
CREATE TABLE day_counts (
    day BIGINT NOT NULL,
    counter TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, counter)
);
INSERT INTO day_counts (day, counter, count)
    SELECT d.key::BIGINT, 'accepted', (d.value->>'accepted')::BIGINT
    FROM settings s, jsonb_each(convert_from(s.value, 'UTF8')::jsonb) d
    WHERE s.name = 'daily_counts' AND (d.value->>'accepted')::BIGINT > 0;
INSERT INTO day_counts (day, counter, count)
    SELECT d.key::BIGINT, 'refused/' || r.key, r.value::TEXT::BIGINT
    FROM settings s, jsonb_each(convert_from(s.value, 'UTF8')::jsonb) d,
         jsonb_each(d.value->'refused_by_purpose') r
    WHERE s.name = 'daily_counts' AND r.value::TEXT::BIGINT > 0;
DELETE FROM settings WHERE name = 'daily_counts';
"#,
    // Per-person tables hash-partitioned by pseudonym (docs/scale.md).
    PARTITION_BY_SUBJECT,
];

/// The migration that hash-partitions the per-person tables by pseudonym.
const PARTITION_BY_SUBJECT: &str = include_str!("partition_by_subject.sql");

/// The schema version from which the per-person tables are partitioned.
pub(super) fn partitioned_since() -> i64 {
    let at = MIGRATIONS
        .iter()
        .position(|m| *m == PARTITION_BY_SUBJECT)
        .expect("the partitioning migration is listed");
    at as i64 + 1
}

/// Arbitrary constant: serialises concurrent migrators of one database.
const MIGRATION_LOCK: i64 = 0x66696e656c696e65;

pub(super) async fn migrate(pool: &PgPool) -> Result<()> {
    migrate_to(pool, MIGRATIONS.len() as i64).await
}

/// Applies the migrations up to `target` (a test sets up an older
/// schema with it).
pub(super) async fn migrate_to(pool: &PgPool, target: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    if current > MIGRATIONS.len() as i64 {
        return Err(DatabaseError::Backend(format!(
            "database schema version {current} is newer than this fineline"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > current && version <= target {
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
