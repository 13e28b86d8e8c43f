//! Schema migrations, applied in order and recorded in `schema_version`.

use rusqlite::{Connection, OptionalExtension};

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
    // Analytic rows laid out for the grouped scan: integers only, clustered
    // by (kind, time), people and texts numbered once. Reading 10M
    // `insight_events` rows (text subjects parsed per row, items joined,
    // rowid lookups through the (kind, at) index) took 10.6 s.
    // AUTOINCREMENT: an erased person's number is never reused, so a scan
    // racing an erasure cannot hand their rows to someone else.
    r#"
CREATE TABLE insight_people (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id INTEGER NOT NULL,
    digest BLOB NOT NULL,
    UNIQUE (digest, key_id)
);
CREATE TABLE insight_texts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
CREATE TABLE insight_rows (
    kind INTEGER NOT NULL,
    at INTEGER NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    person INTEGER NOT NULL,
    item INTEGER,
    region INTEGER,
    h3_cell INTEGER,
    value INTEGER,
    PRIMARY KEY (kind, at, event_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX insight_rows_by_event ON insight_rows (event_id);
INSERT INTO insight_people (key_id, digest)
    SELECT DISTINCT CAST(substr(subject, 2, instr(subject, '_') - 2) AS INTEGER),
                    unhex(substr(subject, instr(subject, '_') + 1))
    FROM insight_events;
INSERT INTO insight_texts (text)
    SELECT kind FROM insight_events
    UNION SELECT item FROM insight_events WHERE item IS NOT NULL
    UNION SELECT region FROM insight_events WHERE region IS NOT NULL;
INSERT INTO insight_rows (kind, at, event_id, person, item, region, h3_cell, value)
    SELECT k.id, ie.at, ie.event_id, p.id, i.id, r.id, ie.h3_cell, ie.value
    FROM insight_events ie
    JOIN insight_people p
      ON p.digest = unhex(substr(ie.subject, instr(ie.subject, '_') + 1))
     AND p.key_id = CAST(substr(ie.subject, 2, instr(ie.subject, '_') - 2) AS INTEGER)
    JOIN insight_texts k ON k.text = ie.kind
    LEFT JOIN insight_texts i ON i.text = ie.item
    LEFT JOIN insight_texts r ON r.text = ie.region;
DROP TABLE insight_events;
"#,
    // Counts the writes that take rows out of `insight_rows`: deletions of
    // single events and retention sweeps, and erasures apart (they also
    // drop the person's number). The in-memory fact cache
    // (`super::insight_cache`) checks them before each use. Kept in the
    // file so that writers in other processes count too.
    r#"
CREATE TABLE insight_generation (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    deletions INTEGER NOT NULL,
    erasures INTEGER NOT NULL
);
INSERT INTO insight_generation (id, deletions, erasures) VALUES (0, 0, 0);
"#,
    // Texts in the clear (kinds, items, regions) last only as long as a
    // row uses them: `refs` counts the columns of `insight_rows` naming
    // each (ingestion adds, this trigger takes away on every delete,
    // cascades from erasures, event deletions and retention included) and
    // a text no row names is deleted, its bytes zeroed by secure_delete.
    // AUTOINCREMENT: a deleted text's id is never given to another, so the
    // in-memory copy can never read an old row under a new text. Texts left
    // behind by erasures before this migration go now.
    r#"
CREATE TABLE insight_texts_counted (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL UNIQUE,
    refs INTEGER NOT NULL
);
INSERT INTO insight_texts_counted (id, text, refs)
    SELECT t.id, t.text, n.refs FROM insight_texts t
    JOIN (SELECT id, COUNT(*) AS refs FROM (
            SELECT kind AS id FROM insight_rows
            UNION ALL SELECT item FROM insight_rows WHERE item IS NOT NULL
            UNION ALL SELECT region FROM insight_rows WHERE region IS NOT NULL)
          GROUP BY id) n ON n.id = t.id;
DELETE FROM sqlite_sequence WHERE name = 'insight_texts_counted';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'insight_texts_counted', COALESCE(MAX(id), 0) FROM insight_texts;
DROP TABLE insight_texts;
ALTER TABLE insight_texts_counted RENAME TO insight_texts;
CREATE TRIGGER insight_rows_release_texts AFTER DELETE ON insight_rows BEGIN
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.kind;
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.item;
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.region;
    DELETE FROM insight_texts WHERE id IN (old.kind, old.item, old.region) AND refs <= 0;
END;
"#,
    // Compact event rows: the subject as its key id and 32-byte digest
    // instead of 67 bytes of text, the purpose as a small integer
    // (`rows::purpose_code`) instead of up to 18 bytes of text. Ingestion
    // and erasure are bound by the pages SQLite writes to the WAL: a row is
    // a third smaller, and the (purpose, at) index is gone. Its leaves are
    // in time order, so a batch of events spread over a second of
    // timestamps dirtied one leaf per distinct time and an erasure one leaf
    // per event of the person, each a whole page in the WAL, for a sweep
    // that runs hourly; the sweep scans by id instead
    // (`EventTables::delete_events_before`). The table is rebuilt (ids and
    // the AUTOINCREMENT high-water mark kept) with foreign keys off, so
    // dropping the old table does not cascade into `insight_rows`;
    // `migrate` checks the keys before committing.
    r#"
CREATE TABLE events_compact (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject_key INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    digest BLOB NOT NULL,
    kind TEXT NOT NULL,
    item TEXT,
    purpose INTEGER NOT NULL,
    at INTEGER NOT NULL,
    sealed_properties BLOB NOT NULL
);
INSERT INTO events_compact
    (id, subject_key, key_id, digest, kind, item, purpose, at, sealed_properties)
    SELECT id, subject_key,
           CAST(substr(subject, 2, instr(subject, '_') - 2) AS INTEGER),
           unhex(substr(subject, instr(subject, '_') + 1)),
           kind, item,
           CASE purpose
               WHEN 'personalization' THEN 1
               WHEN 'analytics' THEN 2
               WHEN 'partner_insights' THEN 3
               WHEN 'location' THEN 4
               WHEN 'in_store_detection' THEN 5
           END,
           at, sealed_properties
    FROM events ORDER BY id;
DELETE FROM sqlite_sequence WHERE name = 'events_compact';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'events_compact', seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_compact RENAME TO events;
CREATE INDEX events_by_subject ON events (subject_key, id);
"#,
    // Day counters that several writers add to (`WriteOp::AddDayCounts`),
    // in place of one JSON setting each writer replaced whole: with
    // replicas on PostgreSQL the last process to write won and the others'
    // counts were lost. The same table here keeps one code path. The
    // unsealed days of the old setting move over.
    r#"
CREATE TABLE day_counts (
    day INTEGER NOT NULL,
    counter TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, counter)
) WITHOUT ROWID;
INSERT INTO day_counts (day, counter, count)
    SELECT CAST(d.key AS INTEGER), 'accepted', json_extract(d.value, '$.accepted')
    FROM settings s, json_each(CAST(s.value AS TEXT)) d
    WHERE s.name = 'daily_counts' AND json_extract(d.value, '$.accepted') > 0;
INSERT INTO day_counts (day, counter, count)
    SELECT CAST(d.key AS INTEGER), 'refused/' || r.key, r.value
    FROM settings s, json_each(CAST(s.value AS TEXT)) d,
         json_each(d.value, '$.refused_by_purpose') r
    WHERE s.name = 'daily_counts' AND r.value > 0;
DELETE FROM settings WHERE name = 'daily_counts';
"#,
    // Events in two tiers. The recent tables (`settle::create_recent_tables`,
    // created with this migration) take arrivals in id order with a
    // per-person index that stay small; once one is full, the writer
    // moves it in one sorted batch into `events`, clustered by person:
    // keyed by (subject_key, id) with no other index, so an erasure
    // deletes one contiguous range there and a short tail in a recent
    // table. In arrival order with a per-person index over all
    // events, an erasure of 1,000 events rewrote ~1,100 scattered pages
    // (each a whole page in the WAL and again at the checkpoint); clustered
    // without the recent tier, every batch dirtied a leaf per person of the
    // big tree and `bench load`'s p99 doubled (docs/benchmarks.md). Ids come
    // from `event_ids` (AUTOINCREMENT needs a rowid), carried over so none
    // is reused. `insight_rows` loses its foreign key (its parent key would
    // need an id index over `events`, scattered again on erasure): a
    // trigger deletes a settled event's analytic row, and deletions from the
    // recent tier delete theirs explicitly (a move must keep them).
    r#"
CREATE TABLE insight_rows_unlinked (
    kind INTEGER NOT NULL,
    at INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    person INTEGER NOT NULL,
    item INTEGER,
    region INTEGER,
    h3_cell INTEGER,
    value INTEGER,
    PRIMARY KEY (kind, at, event_id)
) WITHOUT ROWID;
INSERT INTO insight_rows_unlinked SELECT * FROM insight_rows;
DROP TABLE insight_rows;
ALTER TABLE insight_rows_unlinked RENAME TO insight_rows;
CREATE UNIQUE INDEX insight_rows_by_event ON insight_rows (event_id);
CREATE TRIGGER insight_rows_release_texts AFTER DELETE ON insight_rows BEGIN
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.kind;
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.item;
    UPDATE insight_texts SET refs = refs - 1 WHERE id = old.region;
    DELETE FROM insight_texts WHERE id IN (old.kind, old.item, old.region) AND refs <= 0;
END;
CREATE TABLE events_by_person (
    subject_key INTEGER NOT NULL,
    id INTEGER NOT NULL,
    key_id INTEGER NOT NULL,
    digest BLOB NOT NULL,
    kind TEXT NOT NULL,
    item TEXT,
    purpose INTEGER NOT NULL,
    at INTEGER NOT NULL,
    sealed_properties BLOB NOT NULL,
    PRIMARY KEY (subject_key, id)
) WITHOUT ROWID;
INSERT INTO events_by_person
    (subject_key, id, key_id, digest, kind, item, purpose, at, sealed_properties)
    SELECT subject_key, id, key_id, digest, kind, item, purpose, at, sealed_properties
    FROM events ORDER BY subject_key, id;
CREATE TABLE event_ids (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    last INTEGER NOT NULL
);
INSERT INTO event_ids (id, last) VALUES (0, max(
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
    COALESCE((SELECT MAX(id) FROM events), 0)));
DROP TABLE events;
DELETE FROM sqlite_sequence WHERE name = 'events';
ALTER TABLE events_by_person RENAME TO events;
CREATE TRIGGER events_release_insight_rows AFTER DELETE ON events BEGIN
    DELETE FROM insight_rows WHERE event_id = old.id;
END;
"#,
];

/// The migration that clusters events by person; its recent tables are
/// made in code, one per part.
const RECENT_TABLES_VERSION: i64 = 9;

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    // Off while tables are rebuilt (a dropped parent table would cascade
    // into its children); the keys are checked before the commit instead.
    // The pragma is a no-op inside a transaction, hence out here.
    let keys_on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate_in_transaction(conn);
    conn.pragma_update(None, "foreign_keys", keys_on)?;
    migrated
}

fn migrate_in_transaction(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    if current > MIGRATIONS.len() as i64 {
        return Err(crate::DatabaseError::Backend(format!(
            "database schema version {current} is newer than this fineline"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > current {
            tx.execute_batch(sql)?;
            if version == RECENT_TABLES_VERSION {
                super::settle::create_recent_tables(&tx)?;
            }
            tx.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [version],
            )?;
        }
    }
    let dangling: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()?;
    if let Some(table) = dangling {
        return Err(crate::DatabaseError::Corrupt(format!(
            "a schema migration left rows of {table} without their parent"
        )));
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
