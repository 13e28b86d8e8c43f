//! The PostgreSQL schema is partitioned as docs/scale.md promises: every
//! per-person table hash-partitioned by pseudonym into 16 partitions, a
//! person's rows in one partition (the same one in every table), erasure
//! emptying it and pruned to it, and a database from before the
//! partitioning migrating with every row kept. Skipped unless
//! `FINELINE_TEST_DATABASE_URL` is set.

use std::collections::{BTreeMap, BTreeSet};

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{
    ConsentRow, InsightEventRow, InterestRow, LegacyKeyRow, NewEvent, PostgresDatabase,
    VisitSessionRow, WriteOp, WriteSet,
};
use sqlx::{Connection, PgConnection, Row};

const PARTITIONS: i64 = 16;

/// Partitioned table → its partition key column.
const PER_PERSON: [(&str, &str); 6] = [
    ("consents", "subject"),
    ("events", "subject"),
    ("footfall_sessions", "device"),
    ("insight_events", "subject"),
    ("interests", "subject"),
    ("subjects", "subject"),
];

/// Plain tables: Citus reference tables or coordinator-local ones.
const CATALOGUES: [&str; 9] = [
    "change_notes",
    "footfall_opt_outs",
    "footfall_stores",
    "insight_budgets",
    "items",
    "ledger",
    "policies",
    "settings",
    "tree_heads",
];

fn url() -> Option<String> {
    std::env::var("FINELINE_TEST_DATABASE_URL").ok()
}

fn person(n: u8) -> Pseudonym {
    let mut digest = [n; 32];
    digest[0] = n.wrapping_mul(37);
    Pseudonym::new(1, digest)
}

/// One person's rows in every per-person table.
fn rows_of(p: Pseudonym, n: u8) -> WriteSet {
    let events = (0..5)
        .map(|i| NewEvent {
            subject: p,
            kind: EventKind::new("view").unwrap(),
            item: Some(ItemId::new(&format!("sku-{i}")).unwrap()),
            purpose: Purpose::Analytics,
            at: Timestamp(1_000 + i64::from(n) * 10 + i),
            sealed_properties: vec![n; 40],
        })
        .collect();
    let insight = (0..5)
        .map(|i| InsightEventRow {
            event: i,
            subject: p,
            kind: "view".into(),
            at: Timestamp(1_000 + i64::from(n) * 10 + i as i64),
            item: None,
            region: Some("north".into()),
            h3_cell: None,
            value: Some(1),
        })
        .collect();
    WriteSet::from(vec![
        WriteOp::PutEvents(events),
        WriteOp::PutInsightEvents(insight),
        WriteOp::PutConsent(ConsentRow {
            record_id: format!("r-{n}"),
            subject: p,
            purpose: Purpose::Analytics,
            state: "granted".into(),
            policy_version: 1,
            source: "api".into(),
            at: Timestamp(900),
            body: b"{}".to_vec(),
        }),
        WriteOp::PutInterest(InterestRow {
            subject: p,
            category: "shoes".into(),
            weight: 1.5,
            removed: false,
        }),
        WriteOp::PutLegacySubjectKeys(LegacyKeyRow {
            subject: p,
            wrapped_data_key: vec![n; 60],
            commitment_salt: vec![n; 32],
        }),
        WriteOp::PutVisitSessions(vec![VisitSessionRow {
            store_id: "store-1".into(),
            device: p,
            randomized: false,
            first: Timestamp(2_000),
            last: Timestamp(2_600),
            max_rssi: -60,
            sightings: 4,
            is_visit: true,
            opt_out_digest: None,
        }]),
    ])
}

/// Partitions of `table` holding rows whose `column` is `p`, with counts.
async fn partitions_holding(
    conn: &mut PgConnection,
    table: &str,
    column: &str,
    p: &Pseudonym,
) -> BTreeMap<String, i64> {
    sqlx::query(&format!(
        "SELECT tableoid::regclass::text, COUNT(*) FROM {table} WHERE {column} = $1 GROUP BY 1"
    ))
    .bind(p.to_text())
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect()
}

#[tokio::test]
async fn per_person_tables_are_hash_partitioned_by_pseudonym() {
    let Some(url) = url() else {
        eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped");
        return;
    };
    let database = PostgresDatabase::open_isolated(&url).await.unwrap();
    let schema = database.schema().unwrap().to_string();
    let mut conn = PgConnection::connect(&url).await.unwrap();

    let found: BTreeMap<String, (String, String, i64)> = sqlx::query(
        "SELECT c.relname::text, pt.partstrat::text, a.attname::text,
                (SELECT COUNT(*) FROM pg_inherits i WHERE i.inhparent = c.oid)
         FROM pg_partitioned_table pt
         JOIN pg_class c ON c.oid = pt.partrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
         WHERE n.nspname = $1 AND pt.partnatts = 1",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
    .collect();
    let expected: BTreeMap<String, (String, String, i64)> = PER_PERSON
        .iter()
        .map(|(t, c)| (t.to_string(), ("h".into(), c.to_string(), PARTITIONS)))
        .collect();
    assert_eq!(found, expected, "hash-partitioned tables and their keys");

    // Each partition covers one remainder of modulus 16: all 16 present.
    for (table, _) in PER_PERSON {
        let bounds: BTreeSet<String> = sqlx::query_scalar(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = ($1 || '.' || $2)::regclass",
        )
        .bind(&schema)
        .bind(table)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let want: BTreeSet<String> = (0..PARTITIONS)
            .map(|r| format!("FOR VALUES WITH (modulus {PARTITIONS}, remainder {r})"))
            .collect();
        assert_eq!(bounds, want, "{table}'s partitions");
    }

    // Analytic rows still cascade from their event, by (pseudonym, id).
    let fk: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT confrelid::regclass::text, confdeltype::text,
                pg_get_constraintdef(oid)
         FROM pg_constraint
         WHERE conrelid = ($1 || '.insight_events')::regclass AND contype = 'f'
           AND conparentid = 0",
    )
    .bind(&schema)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(fk.len(), 1, "{fk:?}");
    assert!(fk[0].0.ends_with(".events") && fk[0].1 == "c", "{fk:?}");
    assert!(
        fk[0].2.starts_with("FOREIGN KEY (subject, event_id)"),
        "{fk:?}"
    );

    // Catalogues stay plain tables (reference or coordinator-local).
    for table in CATALOGUES {
        let kind: String = sqlx::query_scalar(
            "SELECT relkind::text FROM pg_class WHERE oid = ($1 || '.' || $2)::regclass",
        )
        .bind(&schema)
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(kind, "r", "{table} is a plain table");
    }
    conn.close().await.unwrap();
    database.drop_isolated().await.unwrap();
}

#[tokio::test]
async fn a_persons_rows_share_one_partition_and_erasure_empties_it() {
    let Some(url) = url() else {
        eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped");
        return;
    };
    let database = PostgresDatabase::open_isolated(&url).await.unwrap();
    let people: Vec<Pseudonym> = (1..=40).map(person).collect();
    for (n, p) in people.iter().enumerate() {
        database.apply(rows_of(*p, n as u8 + 1)).await.unwrap();
    }
    let mut conn = PgConnection::connect(&database.isolated_url(&url).unwrap())
        .await
        .unwrap();

    let mut remainders = BTreeSet::new();
    for p in &people {
        // One partition per table, and the same remainder in each.
        let mut suffixes = BTreeSet::new();
        for (table, column) in PER_PERSON {
            let held = partitions_holding(&mut conn, table, column, p).await;
            assert_eq!(held.len(), 1, "{table}: one partition holds the person");
            let name = held.keys().next().unwrap();
            suffixes.insert(name.rsplit('_').next().unwrap().to_string());
        }
        assert_eq!(suffixes.len(), 1, "same partition number in every table");
        remainders.extend(suffixes);
    }
    assert!(remainders.len() > 4, "40 people spread over partitions");

    // Erasure is pruned to the person's partition...
    let erased = people[7];
    let plan: Vec<String> = sqlx::query_scalar("EXPLAIN DELETE FROM events WHERE subject = $1")
        .bind(erased.to_text())
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let scanned = plan
        .iter()
        .filter(|l| l.contains("Scan on events_p"))
        .count();
    assert_eq!(
        scanned,
        1,
        "erasure scans one partition:\n{}",
        plan.join("\n")
    );

    // ...and leaves nothing of the person in it, the others untouched.
    let partition = partitions_holding(&mut conn, "events", "subject", &erased).await;
    let partition = partition.keys().next().unwrap().clone();
    let before: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {partition}"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    database
        .apply(WriteSet::from(WriteOp::EraseSubject(erased)))
        .await
        .unwrap();
    for (table, column) in PER_PERSON.iter().filter(|(t, _)| *t != "footfall_sessions") {
        let held = partitions_holding(&mut conn, table, column, &erased).await;
        assert!(held.is_empty(), "{table} still holds {held:?}");
    }
    let after: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {partition}"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        after,
        before - 5,
        "only the person's 5 events left {partition}"
    );
    assert_eq!(database.count_events().await.unwrap(), 39 * 5);
    conn.close().await.unwrap();
    database.drop_isolated().await.unwrap();
}

#[tokio::test]
async fn a_database_from_before_partitioning_keeps_every_row() {
    let Some(url) = url() else {
        eprintln!("FINELINE_TEST_DATABASE_URL not set: PostgreSQL skipped");
        return;
    };
    let before = PostgresDatabase::partitioned_schema_version() - 1;
    let old = PostgresDatabase::open_isolated_at_version(&url, before)
        .await
        .unwrap();
    let schema = old.schema().unwrap().to_string();
    let people: Vec<Pseudonym> = (1..=20).map(person).collect();
    let mut ids = BTreeMap::new();
    for (n, p) in people.iter().enumerate() {
        let out = old.apply(rows_of(*p, n as u8 + 1)).await.unwrap();
        ids.insert(*p, out.event_ids);
    }
    let mut conn = PgConnection::connect(&old.isolated_url(&url).unwrap())
        .await
        .unwrap();
    let partitioned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
         WHERE c.relnamespace = $1::regnamespace",
    )
    .bind(&schema)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(partitioned, 0, "the old schema has no partitioned table");

    // Opening it with this build migrates it.
    let new = PostgresDatabase::connect(&old.isolated_url(&url).unwrap())
        .await
        .unwrap();
    let partitioned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
         WHERE c.relnamespace = $1::regnamespace",
    )
    .bind(&schema)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(partitioned, PER_PERSON.len() as i64);

    assert_eq!(new.count_events().await.unwrap(), 20 * 5);
    for (n, p) in people.iter().enumerate() {
        let events = new.events_for(p).await.unwrap();
        let got: Vec<i64> = events.iter().map(|e| e.id).collect();
        assert_eq!(&got, &ids[p], "event ids kept");
        assert!(events
            .iter()
            .all(|e| e.sealed_properties == vec![n as u8 + 1; 40]));
        assert_eq!(new.consents_for(p).await.unwrap().len(), 1);
        let interests = new.interests_for(p).await.unwrap();
        assert_eq!((interests.len(), interests[0].weight), (1, 1.5));
        assert_eq!(new.visit_sessions_of(p).await.unwrap().len(), 1);
    }
    assert_eq!(new.legacy_subject_keys().await.unwrap().len(), 20);
    let analytic: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM insight_events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(analytic, 20 * 5);

    // The id sequence continues, and analytic rows still follow their
    // event (the foreign key's cascade).
    let last = ids.values().flatten().max().copied().unwrap();
    let fresh = new.apply(rows_of(person(200), 200)).await.unwrap();
    assert!(fresh.event_ids.iter().all(|id| *id > last));
    let (p, first) = (people[3], ids[&people[3]][0]);
    assert!(new.delete_event(&p, first).await.unwrap());
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM insight_events WHERE subject = $1")
        .bind(p.to_text())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 4);
    conn.close().await.unwrap();
    new.drop_isolated().await.unwrap();
    old.drop_isolated().await.unwrap();
}
