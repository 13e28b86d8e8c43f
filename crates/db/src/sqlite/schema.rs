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
];

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
mod tests {
    use super::*;

    fn texts(conn: &Connection) -> Vec<(String, i64)> {
        conn.prepare("SELECT text, refs FROM insight_texts ORDER BY text")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// Texts an erasure left behind before texts were counted go with the
    /// upgrade; the rest are counted, and leave with their last row.
    #[test]
    fn texts_are_counted_and_leftovers_dropped_on_upgrade() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
            .unwrap();
        for (i, sql) in MIGRATIONS[..5].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [i + 1])
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO events (id, subject, subject_key, kind, item, purpose, at, sealed_properties)
             VALUES (1, 'k1_aa', 1, 'app_open', 'shoe', 'analytics', 5, x''),
                    (2, 'k1_bb', 2, 'app_open', NULL, 'analytics', 6, x'');
             INSERT INTO insight_people (id, key_id, digest) VALUES (1, 1, x'aa'), (2, 1, x'bb');
             INSERT INTO insight_texts (id, text) VALUES
                (1, 'app_open'), (2, 'shoe'), (3, 'north'), (4, 'erased-leftover');
             INSERT INTO insight_rows (kind, at, event_id, person, item, region)
             VALUES (1, 5, 1, 1, 2, 3), (1, 6, 2, 2, NULL, 3);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(
            texts(&conn),
            [
                ("app_open".into(), 2),
                ("north".into(), 2),
                ("shoe".into(), 1)
            ]
        );
        conn.execute("DELETE FROM events WHERE id = 1", []).unwrap();
        assert_eq!(texts(&conn), [("app_open".into(), 1), ("north".into(), 1)]);
        conn.execute("DELETE FROM events WHERE id = 2", []).unwrap();
        assert!(texts(&conn).is_empty());
        // A text stored again gets a new number, never an old one.
        conn.execute("INSERT INTO insight_texts (text, refs) VALUES ('x', 0)", [])
            .unwrap();
        let id: i64 = conn
            .query_row("SELECT id FROM insight_texts WHERE text = 'x'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(id, 5);
    }

    /// Unsealed days kept as one JSON setting become day counters, zeros
    /// left out; the setting goes.
    #[test]
    fn daily_counts_setting_becomes_day_counters() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
            .unwrap();
        for (i, sql) in MIGRATIONS[..7].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [i + 1])
                .unwrap();
        }
        let old = br#"{"20000":{"accepted":5,"refused_by_purpose":{"analytics":2,"location":0}},"20001":{"accepted":0,"refused_by_purpose":{"personalization":1}}}"#;
        conn.execute(
            "INSERT INTO settings (name, value) VALUES ('daily_counts', ?1)",
            [old.to_vec()],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let rows: Vec<(i64, String, i64)> = conn
            .prepare("SELECT day, counter, count FROM day_counts ORDER BY day, counter")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (20000, "accepted".into(), 5),
                (20000, "refused/analytics".into(), 2),
                (20001, "refused/personalization".into(), 1)
            ]
        );
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM settings WHERE name = 'daily_counts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    /// A file from before the compact event rows keeps every event with its
    /// person, purpose and id; ids of erased events are still never reused;
    /// analytic rows survive the table's rebuild and still go with their
    /// event.
    #[tokio::test]
    async fn event_rows_move_to_the_compact_layout() {
        use crate::{EventTables, NewEvent, WriteOp, WriteSet, WriteTables};
        use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
        use rusqlite::params;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let person = Pseudonym::new(3, [0xab; 32]);
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
                .unwrap();
            for (i, sql) in MIGRATIONS[..6].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [i + 1])
                    .unwrap();
            }
            let mut insert = conn
                .prepare(
                    "INSERT INTO events
                     (id, subject, subject_key, kind, item, purpose, at, sealed_properties)
                     VALUES (?1, ?2, ?3, 'view', 'shoe', ?4, ?5, x'0102')",
                )
                .unwrap();
            for (i, p) in Purpose::ALL.iter().enumerate() {
                let id = i as i64 + 1;
                insert
                    .execute(params![
                        id,
                        person.to_text(),
                        super::super::subject_key(&person),
                        p.as_str(),
                        100 + id
                    ])
                    .unwrap();
            }
            // An erased event: its id stays taken.
            insert
                .execute(params![9, person.to_text(), 0, "analytics", 0])
                .unwrap();
            conn.execute("DELETE FROM events WHERE id = 9", []).unwrap();
            conn.execute_batch(
                "INSERT INTO insight_people (id, key_id, digest) VALUES (1, 3, zeroblob(32));
                 INSERT INTO insight_texts (id, text, refs) VALUES (1, 'view', 1);
                 INSERT INTO insight_rows (kind, at, event_id, person) VALUES (1, 102, 2, 1);",
            )
            .unwrap();
        }
        let db = super::super::SqliteDatabase::open(&path).await.unwrap();
        let analytic_rows = |db: &super::super::SqliteDatabase| -> i64 {
            Connection::open(db.path())
                .unwrap()
                .query_row("SELECT COUNT(*) FROM insight_rows", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(analytic_rows(&db), 1);
        let events = db.events_for(&person).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            events.iter().map(|e| e.purpose).collect::<Vec<_>>(),
            Purpose::ALL
        );
        assert!(events.iter().all(|e| e.subject == person
            && e.sealed_properties == [1, 2]
            && e.item.as_ref().map(|i| i.as_str()) == Some("shoe")));
        assert_eq!(events[1].at, Timestamp(102));

        let out = db
            .apply(WriteSet::from(WriteOp::PutEvents(vec![NewEvent {
                subject: person,
                kind: EventKind::new("view").unwrap(),
                item: Some(ItemId::new("hat").unwrap()),
                purpose: Purpose::Location,
                at: Timestamp(200),
                sealed_properties: vec![3],
            }])))
            .await
            .unwrap();
        assert_eq!(out.event_ids, [10]);
        db.apply(WriteSet::from(WriteOp::EraseSubject(person)))
            .await
            .unwrap();
        assert!(db.events_for(&person).await.unwrap().is_empty());
        assert_eq!(analytic_rows(&db), 0);
    }

    /// A database from before the integer layout keeps its analytic rows,
    /// with people and texts numbered.
    #[test]
    fn insight_events_move_to_numbered_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (3);",
        )
        .unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        let subject = format!("k7_{}", "ab".repeat(32));
        conn.execute_batch(&format!(
            "INSERT INTO events (id, subject, subject_key, kind, item, purpose, at, sealed_properties)
             VALUES (5, '{subject}', 1, 'app_open', 'shoe', 'analytics', 99, x'');
             INSERT INTO insight_events (event_id, subject, kind, at, item, region, h3_cell, value)
             VALUES (5, '{subject}', 'app_open', 99, 'shoe', 'north', NULL, 42);"
        ))
        .unwrap();
        migrate(&mut conn).unwrap();
        let (key_id, digest): (i64, Vec<u8>) = conn
            .query_row("SELECT key_id, digest FROM insight_people", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((key_id, digest), (7, vec![0xab; 32]));
        let row: (String, i64, i64, String, String, i64) = conn
            .query_row(
                "SELECT k.text, r.at, r.event_id, i.text, g.text, r.value
                 FROM insight_rows r JOIN insight_texts k ON k.id = r.kind
                 JOIN insight_texts i ON i.id = r.item JOIN insight_texts g ON g.id = r.region",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            ("app_open".into(), 99, 5, "shoe".into(), "north".into(), 42)
        );
    }
}
