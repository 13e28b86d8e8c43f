//! The copy against SQLite itself: any mix of ingestion, deletions,
//! erasures and retention sweeps between queries, and every query read
//! through the copy gives exactly what streaming from the table gives.

use std::sync::Arc;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use proptest::prelude::*;

use super::super::insight_scan::Plan;
use super::super::SqliteDatabase;
use crate::prelude::*;
use crate::{
    InsightColumns, InsightEventRow, InsightFacts, InsightScan, ItemRow, NewEvent, WriteOp,
    WriteSet,
};

#[derive(Debug, Clone)]
enum Op {
    Ingest {
        person: u8,
        kind: u8,
        at: i64,
        item: Option<u8>,
        region: Option<u8>,
        cell: bool,
        value: Option<i64>,
    },
    /// Deletes the n-th event ingested so far (modulo), if still there.
    Delete(usize),
    Erase(u8),
    Retention(i64),
    Query {
        kind: u8,
        from: i64,
        len: i64,
        columns: (bool, bool, bool, bool),
        sum: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..6, 0u8..3, 0i64..200, proptest::option::of(0u8..4),
              proptest::option::of(0u8..3), any::<bool>(), proptest::option::of(-5i64..50))
            .prop_map(|(person, kind, at, item, region, cell, value)| Op::Ingest {
                person, kind, at, item, region, cell, value
            }),
        1 => any::<usize>().prop_map(Op::Delete),
        1 => (0u8..6).prop_map(Op::Erase),
        1 => (0i64..120).prop_map(Op::Retention),
        3 => (0u8..3, 0i64..150, 1i64..200, any::<(bool, bool, bool, bool)>(), any::<bool>())
            .prop_map(|(kind, from, len, columns, sum)| Op::Query { kind, from, len, columns, sum }),
    ]
}

const KINDS: [&str; 3] = ["app_open", "purchase", "location"];

fn who(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n + 1; 32])
}

/// Comparable form: people by pseudonym, texts by name.
fn named(f: &InsightFacts) -> Vec<String> {
    let text = |t: u32| f.dict.get(t as usize).cloned().unwrap_or_default();
    let mut out: Vec<String> = f
        .facts
        .iter()
        .map(|x| {
            format!(
                "{:?} {} {} {} {} {:?} {:?} {}",
                f.people[x.person as usize].digest[0],
                text(x.category),
                text(x.region),
                x.count,
                x.value,
                x.at,
                x.h3_cell,
                x.location
            )
        })
        .collect();
    out.sort();
    out
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let database = SqliteDatabase::open(dir.path().join("db")).await.unwrap();
    for i in 0..4u8 {
        let item = ItemRow {
            item: ItemId::new(&format!("item{i}")).unwrap(),
            category: format!("cat{}", i % 2),
            title: String::new(),
            repeatable: false,
        };
        database.apply(WriteOp::PutItem(item).into()).await.unwrap();
    }
    let mut events: Vec<(Pseudonym, i64)> = Vec::new();
    for op in ops {
        match op {
            Op::Ingest {
                person,
                kind,
                at,
                item,
                region,
                cell,
                value,
            } => {
                let subject = who(person);
                let item = item.map(|i| ItemId::new(&format!("item{i}")).unwrap());
                let set = WriteSet::from(vec![
                    WriteOp::PutEvents(vec![NewEvent {
                        subject,
                        kind: EventKind::new(KINDS[kind as usize]).unwrap(),
                        item: item.clone(),
                        purpose: Purpose::Analytics,
                        at: Timestamp(at),
                        sealed_properties: vec![1],
                    }]),
                    WriteOp::PutInsightEvents(vec![InsightEventRow {
                        event: 0,
                        subject,
                        kind: KINDS[kind as usize].into(),
                        at: Timestamp(at),
                        item,
                        region: region.map(|r| format!("region{r}")),
                        h3_cell: cell.then_some(0x0872_8308_dfff_ffff),
                        value,
                    }]),
                ]);
                let out = database.apply(set).await.unwrap();
                events.push((subject, out.event_ids[0]));
            }
            Op::Delete(n) if !events.is_empty() => {
                let (subject, id) = events[n % events.len()];
                database
                    .apply(WriteOp::DeleteEvent { subject, id }.into())
                    .await
                    .unwrap();
            }
            Op::Delete(_) => {}
            Op::Erase(person) => {
                database
                    .apply(WriteOp::EraseSubject(who(person)).into())
                    .await
                    .unwrap();
                // Unnamed in memory at once, before any query.
                let copy = database.inner.insight_cache.lock().await;
                assert!(!copy.people.contains(&Some(who(person))));
            }
            Op::Retention(cutoff) => {
                database
                    .delete_events_before(Purpose::Analytics, Timestamp(cutoff))
                    .await
                    .unwrap();
            }
            Op::Query {
                kind,
                from,
                len,
                columns,
                sum,
            } => {
                let scan = InsightScan {
                    kinds: vec![KINDS[kind as usize].into(), "purchase".into()],
                    from: Timestamp(from),
                    to: Timestamp(from + len),
                    categories: None,
                    regions: columns.3.then(|| vec!["region1".into()]),
                    columns: InsightColumns {
                        category: columns.0,
                        region: columns.1,
                        h3_cell: columns.2,
                        day: true,
                        hour: true,
                    },
                    count_cap: (!sum).then_some(3),
                };
                let cached = database.scan_insights(scan.clone()).await.unwrap();
                let plan = database.read(move |c| Plan::load(c, &scan)).await.unwrap();
                let used_copy = plan.is_some();
                let streamed = match plan {
                    None => InsightFacts::default(),
                    Some(plan) => {
                        let plan = Arc::new(plan);
                        let facts = database
                            .streamed_facts(plan.clone(), from, from + len)
                            .await
                            .unwrap();
                        database
                            .name_people(plan.dict.clone(), facts)
                            .await
                            .unwrap()
                    }
                };
                assert_eq!(named(&cached), named(&streamed));
                // Exact copy: no row of an erased person or a deleted
                // event lingers in memory either.
                if !used_copy {
                    continue;
                }
                let count = |table: &'static str| {
                    database.read(move |c| {
                        let sql = format!("SELECT COUNT(*) FROM {table}");
                        Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?)
                    })
                };
                let (rows, numbered) = (
                    count("insight_rows").await.unwrap(),
                    count("insight_people").await.unwrap(),
                );
                let copy = database.inner.insight_cache.lock().await;
                assert_eq!(copy.known().map_or(0, |k| k.rows) as i64, rows, "rows");
                let people = copy.people.iter().flatten().count() as i64;
                assert_eq!(people, numbered, "pseudonyms in the copy");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_person_leaves_the_copy() {
    let ingest = |person| Op::Ingest {
        person,
        kind: 1,
        at: 5,
        item: Some(1),
        region: Some(1),
        cell: false,
        value: Some(3),
    };
    let query = Op::Query {
        kind: 1,
        from: 0,
        len: 100,
        columns: (true, true, false, false),
        sum: true,
    };
    run(vec![
        ingest(0),
        query.clone(),
        Op::Erase(0),
        ingest(1),
        query,
    ])
    .await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn the_copy_answers_as_the_table_does(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
