//! Upgrades of old files, migration by migration.

use super::*;

/// A file as a fineline that knew only the first `version` migrations
/// left it.
fn migrate_to(conn: &Connection, version: usize) {
    conn.execute_batch("CREATE TABLE schema_version (version INTEGER NOT NULL);")
        .unwrap();
    for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
        conn.execute_batch(sql).unwrap();
        conn.execute("INSERT INTO schema_version (version) VALUES (?1)", [i + 1])
            .unwrap();
    }
}

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
    migrate_to(&conn, 5);
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
    migrate_to(&conn, 7);
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
        migrate_to(&conn, 6);
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

/// A file from before events were clustered by person keeps every event
/// with its id, person and analytic row; ids go on past the old
/// high-water mark (the newest event was deleted: its id stays taken);
/// deleting an event still takes its analytic row and the texts only it
/// named; each person's events end up side by side.
#[tokio::test]
async fn events_move_to_the_person_clustered_layout() {
    use crate::{EventTables, NewEvent, WriteOp, WriteSet, WriteTables};
    use fineline_core::{EventKind, Pseudonym, Purpose, Timestamp};
    use rusqlite::params;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let (a, b) = (Pseudonym::new(1, [0x11; 32]), Pseudonym::new(1, [0xee; 32]));
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        migrate_to(&conn, 8);
        let mut insert = conn
            .prepare(
                "INSERT INTO events
                 (subject_key, key_id, digest, kind, item, purpose, at, sealed_properties)
                 VALUES (?1, 1, ?2, 'view', NULL, 2, ?3, x'01')",
            )
            .unwrap();
        // Interleaved, as they arrive: ids 1..=7, a b a b a b a.
        for i in 0..7i64 {
            let p = if i % 2 == 0 { a } else { b };
            insert
                .execute(params![
                    super::super::subject_key(&p),
                    &p.digest[..],
                    100 + i
                ])
                .unwrap();
        }
        conn.execute("DELETE FROM events WHERE id = 7", []).unwrap();
        conn.execute_batch(
            "INSERT INTO insight_people (id, key_id, digest) VALUES (1, 1, zeroblob(32));
             INSERT INTO insight_texts (id, text, refs) VALUES (1, 'view', 2), (2, 'north', 1);
             INSERT INTO insight_rows (kind, at, event_id, person, region) VALUES (1, 101, 2, 1, 2);
             INSERT INTO insight_rows (kind, at, event_id, person) VALUES (1, 103, 4, 1);",
        )
        .unwrap();
    }
    let db = super::super::SqliteDatabase::open(&path).await.unwrap();
    let ids = |p| {
        let db = db.clone();
        async move {
            db.events_for(&p)
                .await
                .unwrap()
                .iter()
                .map(|e| (e.id, e.at.0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(a).await, [(1, 100), (3, 102), (5, 104)]);
    assert_eq!(ids(b).await, [(2, 101), (4, 103), (6, 105)]);
    let stored: Vec<i64> = {
        let c = Connection::open(&path).unwrap();
        let mut s = c.prepare("SELECT id FROM events").unwrap();
        let ids = s.query_map([], |r| r.get(0)).unwrap();
        ids.collect::<rusqlite::Result<_>>().unwrap()
    };
    // b's key (0xee… read as a signed integer) sorts first.
    assert_eq!(stored, [2, 4, 6, 1, 3, 5], "b's events, then a's");

    let out = db
        .apply(WriteSet::from(WriteOp::PutEvents(vec![NewEvent {
            subject: b,
            kind: EventKind::new("view").unwrap(),
            item: None,
            purpose: Purpose::Analytics,
            at: Timestamp(200),
            sealed_properties: vec![3],
        }])))
        .await
        .unwrap();
    assert_eq!(out.event_ids, [8]);

    let texts = || texts(&Connection::open(&path).unwrap());
    assert!(db.delete_event(&b, 2).await.unwrap());
    assert_eq!(
        texts(),
        [("view".into(), 1)],
        "event 2's row and region went"
    );
    db.apply(WriteSet::from(WriteOp::EraseSubject(b)))
        .await
        .unwrap();
    assert!(texts().is_empty(), "b's last analytic row went with b");
    assert_eq!(ids(a).await.len(), 3);
}
