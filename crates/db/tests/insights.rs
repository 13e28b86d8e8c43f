//! The insights area on both backends (PostgreSQL when
//! `FINELINE_TEST_DATABASE_URL` is set): analytic rows follow their events,
//! SQL grouping caps per-person counts, budgets cannot be overspent.

#[macro_use]
mod common;

use std::sync::Arc;

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::prelude::*;
use fineline_db::{
    BudgetAmount, DatabaseError, InsightColumns, InsightEventRow, InsightScan, ItemRow, NewEvent,
    WriteOp, WriteSet,
};

fn who(n: u8) -> Pseudonym {
    Pseudonym::new(1, [n; 32])
}

fn put(s: &Pseudonym, at: i64, region: &str, value: i64) -> WriteSet {
    WriteSet::from(vec![
        WriteOp::PutEvents(vec![NewEvent {
            subject: *s,
            kind: EventKind::new("app_open").unwrap(),
            item: None,
            purpose: Purpose::Analytics,
            at: Timestamp(at),
            sealed_properties: vec![1, 2, 3],
        }]),
        WriteOp::PutInsightEvents(vec![InsightEventRow {
            event: 0,
            subject: *s,
            kind: "app_open".into(),
            at: Timestamp(at),
            item: None,
            region: Some(region.into()),
            h3_cell: None,
            value: Some(value),
        }]),
    ])
}

fn scan(cap: Option<u32>) -> InsightScan {
    InsightScan {
        kinds: vec!["app_open".into()],
        from: Timestamp(0),
        to: Timestamp(1_000_000),
        categories: None,
        regions: None,
        columns: InsightColumns {
            region: true,
            ..Default::default()
        },
        count_cap: cap,
    }
}

async fn facts_follow_events_and_counts_are_capped(s: Arc<dyn Database>) {
    for i in 0..5 {
        s.apply(put(&who(1), 10 + i, "north", 7)).await.unwrap();
    }
    s.apply(put(&who(2), 20, "south", 3)).await.unwrap();
    let rows = s.insight_facts(scan(None)).await.unwrap();
    assert_eq!(rows.facts.len(), 6);
    assert_eq!(rows.facts.iter().map(|f| f.value).sum::<i64>(), 38);
    let grouped = s.insight_facts(scan(Some(3))).await.unwrap();
    let north: Vec<_> = grouped
        .facts
        .iter()
        .filter(|f| grouped.text(f.region) == Some("north"))
        .collect();
    assert!(north
        .iter()
        .all(|f| *grouped.subject(f) == who(1) && f.count <= 3));
    // Grouped in SQL (capped at 3) or one fact per event.
    let total: u32 = north.iter().map(|f| f.count).sum();
    assert!(total == 3 || (total == 5 && north.len() == 5), "{north:?}");
    // Erasure reaches the analytic copy through the cascade.
    s.apply(WriteOp::EraseSubject(who(1)).into()).await.unwrap();
    assert_eq!(s.insight_facts(scan(None)).await.unwrap().facts.len(), 1);
}

async fn charges_stop_at_the_total(s: Arc<dyn Database>) {
    let amount = |n| BudgetAmount {
        nano_rho: n,
        femto_delta: 0,
    };
    let charge = |n| WriteOp::ChargeInsightBudget {
        analyst: "a_1".into(),
        period: "2026-12".into(),
        cost: amount(n),
        default_total: amount(10),
    };
    s.apply(charge(6).into()).await.unwrap();
    // The failed charge takes its companion op down with it.
    let set = WriteSet::from(vec![
        WriteOp::PutSetting {
            name: "x".into(),
            value: vec![1],
        },
        charge(5),
    ]);
    assert!(matches!(s.apply(set).await, Err(DatabaseError::Refused(_))));
    assert_eq!(s.setting("x").await.unwrap(), None);
    s.apply(charge(4).into()).await.unwrap();
    let row = s.insight_budget("a_1", "2026-12").await.unwrap().unwrap();
    assert_eq!((row.total, row.spent), (amount(10), amount(10)));
    s.apply(
        WriteOp::SetInsightBudget {
            analyst: "a_1".into(),
            period: "2026-12".into(),
            total: amount(12),
        }
        .into(),
    )
    .await
    .unwrap();
    let row = s.insight_budget("a_1", "2026-12").await.unwrap().unwrap();
    assert_eq!((row.total, row.spent), (amount(12), amount(10)));
    assert!(s.insight_budget("a_2", "2026-12").await.unwrap().is_none());
}

fn event(s: &Pseudonym, kind: &str, at: i64, item: Option<&str>, region: &str) -> WriteSet {
    WriteSet::from(vec![
        WriteOp::PutEvents(vec![NewEvent {
            subject: *s,
            kind: EventKind::new(kind).unwrap(),
            item: item.map(|i| ItemId::new(i).unwrap()),
            purpose: Purpose::Analytics,
            at: Timestamp(at),
            sealed_properties: vec![],
        }]),
        WriteOp::PutInsightEvents(vec![InsightEventRow {
            event: 0,
            subject: *s,
            kind: kind.into(),
            at: Timestamp(at),
            item: item.map(|i| ItemId::new(i).unwrap()),
            region: Some(region.into()),
            h3_cell: (kind == "location").then_some(0x8a1fb46622dffff),
            value: Some(at),
        }]),
    ])
}

/// Every fact of a long time range comes back exactly once, naming its
/// person by index into `people`, however the backend slices the scan.
async fn every_event_is_read_once_and_names_its_person(s: Arc<dyn Database>) {
    let mut expected = 0;
    for i in 0..300 {
        let at = 1_000 + i * 3_599_999;
        s.apply(event(&who((i % 30) as u8), "app_open", at, None, "north"))
            .await
            .unwrap();
        expected += at;
    }
    let mut scan = scan(None);
    scan.to = Timestamp(i64::MAX);
    let facts = s.insight_facts(scan.clone()).await.unwrap();
    assert_eq!(facts.facts.len(), 300);
    assert_eq!(facts.facts.iter().map(|f| f.value).sum::<i64>(), expected);
    let mut people = facts.people.clone();
    people.sort_by_key(|p| p.digest);
    assert_eq!(people, (0..30).map(who).collect::<Vec<_>>());
    for f in &facts.facts {
        let i = (f.value - 1_000) / 3_599_999;
        assert_eq!(*facts.subject(f), who((i % 30) as u8));
    }
    // A narrow range names only its own people.
    let mut narrow = scan.clone();
    narrow.to = Timestamp(1_000 + 3_599_999 + 1);
    let facts = s.insight_facts(narrow).await.unwrap();
    let mut named: Vec<(i64, Pseudonym)> = facts
        .facts
        .iter()
        .map(|f| (f.value, *facts.subject(f)))
        .collect();
    named.sort_by_key(|(v, _)| *v);
    assert_eq!(named, [(1_000, who(0)), (1_000 + 3_599_999, who(1))]);
    assert_eq!(facts.people.len(), 2);
    // Day and hour come from the event's own time.
    scan.columns.day = true;
    scan.columns.hour = true;
    let facts = s.insight_facts(scan).await.unwrap();
    let first = facts
        .facts
        .iter()
        .find(|f| f.value == 1_000 + 30 * 3_599_999);
    let at = 1_000 + 30 * 3_599_999i64;
    let f = first.unwrap();
    assert_eq!(
        (f.day(), f.hour()),
        (at / 86_400_000, ((at % 86_400_000) / 3_600_000) as u8)
    );
}

/// Category comes from the catalogue at query time; filters and the
/// location flag are applied as the scan asks.
async fn filters_categories_and_location_apply(s: Arc<dyn Database>) {
    for (item, category) in [("a", "games"), ("b", "news")] {
        s.put_item(ItemRow {
            item: ItemId::new(item).unwrap(),
            category: category.into(),
            title: item.into(),
            repeatable: true,
        })
        .await
        .unwrap();
    }
    s.apply(event(&who(1), "app_open", 10, Some("a"), "north"))
        .await
        .unwrap();
    s.apply(event(&who(2), "app_open", 11, Some("b"), "south"))
        .await
        .unwrap();
    s.apply(event(&who(3), "app_open", 12, None, "south"))
        .await
        .unwrap();
    s.apply(event(&who(4), "location", 13, None, "south"))
        .await
        .unwrap();
    let mut by_category = scan(None);
    by_category.columns.category = true;
    let facts = s.insight_facts(by_category.clone()).await.unwrap();
    let mut cats: Vec<_> = facts
        .facts
        .iter()
        .map(|f| facts.text(f.category).unwrap())
        .collect();
    cats.sort();
    // The event without an item is in no category group.
    assert_eq!(cats, ["games", "news"]);
    by_category.categories = Some(vec!["news".into()]);
    by_category.regions = Some(vec!["south".into()]);
    let facts = s.insight_facts(by_category).await.unwrap();
    assert_eq!(facts.facts.len(), 1);
    assert_eq!(*facts.subject(&facts.facts[0]), who(2));
    let mut places = scan(None);
    places.kinds = vec!["location".into(), "app_open".into()];
    places.columns.h3_cell = true;
    let facts = s.insight_facts(places).await.unwrap();
    assert_eq!(facts.facts.len(), 1);
    let f = facts.facts[0];
    assert!(f.location && *facts.subject(&f) == who(4));
    assert_eq!(f.h3_cell.map(|c| c.get()), Some(0x8a1fb46622dffff));
    // A kind nobody sent reads nothing.
    let mut none = scan(None);
    none.kinds = vec!["purchase".into()];
    assert!(s.insight_facts(none).await.unwrap().facts.is_empty());
}

/// An erased person is gone from the facts and from `people`, and a
/// person who arrives later is not given their number.
async fn erasure_forgets_the_person_in_facts(s: Arc<dyn Database>) {
    s.apply(put(&who(1), 10, "north", 5)).await.unwrap();
    s.apply(put(&who(2), 11, "north", 6)).await.unwrap();
    s.apply(WriteOp::EraseSubject(who(2)).into()).await.unwrap();
    s.apply(put(&who(3), 12, "north", 7)).await.unwrap();
    let facts = s.insight_facts(scan(None)).await.unwrap();
    assert!(!facts.people.contains(&who(2)));
    let mut seen: Vec<(Pseudonym, i64)> = facts
        .facts
        .iter()
        .map(|f| (*facts.subject(f), f.value))
        .collect();
    seen.sort_by_key(|(_, v)| *v);
    assert_eq!(seen, [(who(1), 5), (who(3), 7)]);
}

/// Every text the database hands a scan (on SQLite: its whole dictionary of
/// kinds, items and regions in the clear).
async fn texts_in_store(s: &Arc<dyn Database>) -> Vec<String> {
    let mut all = scan(None);
    all.kinds = vec!["app_open".into(), "p_only_kind".into()];
    all.to = Timestamp(i64::MAX);
    s.insight_facts(all).await.unwrap().dict
}

/// A dimension value in the clear (kind, item, region) leaves the database
/// with the last row naming it: after an erasure, an event's deletion and
/// a retention sweep; and a value met again later is stored afresh.
async fn clear_texts_leave_with_their_last_row(s: Arc<dyn Database>) {
    s.apply(put(&who(1), 10, "north", 1)).await.unwrap();
    s.apply(event(
        &who(2),
        "p_only_kind",
        11,
        Some("p-only-item"),
        "p-only-region",
    ))
    .await
    .unwrap();
    s.apply(put(&who(2), 12, "north", 2)).await.unwrap();
    let before = texts_in_store(&s).await;
    assert!(before.contains(&"p-only-region".to_string()), "{before:?}");
    s.apply(WriteOp::EraseSubject(who(2)).into()).await.unwrap();
    let after = texts_in_store(&s).await;
    for gone in ["p-only-region", "p-only-item", "p_only_kind"] {
        assert!(!after.contains(&gone.to_string()), "{gone} in {after:?}");
    }
    assert!(after.contains(&"north".to_string()), "{after:?}");

    // One event deleted by its person.
    s.apply(put(&who(3), 13, "q-only-region", 3)).await.unwrap();
    let id = s.events_for(&who(3)).await.unwrap()[0].id;
    s.apply(
        WriteOp::DeleteEvent {
            subject: who(3),
            id,
        }
        .into(),
    )
    .await
    .unwrap();
    assert!(!texts_in_store(&s)
        .await
        .contains(&"q-only-region".to_string()));

    // A retention sweep.
    s.apply(put(&who(4), 5, "old-only-region", 4))
        .await
        .unwrap();
    s.delete_events_before(Purpose::Analytics, Timestamp(8))
        .await
        .unwrap();
    let left = texts_in_store(&s).await;
    assert!(!left.contains(&"old-only-region".to_string()), "{left:?}");
    assert!(left.contains(&"north".to_string()), "{left:?}");

    // A value met again is stored again and read under its own name.
    s.apply(put(&who(5), 20, "p-only-region", 5)).await.unwrap();
    let facts = s.insight_facts(scan(None)).await.unwrap();
    let mut regions: Vec<(&str, i64)> = facts
        .facts
        .iter()
        .map(|f| (facts.text(f.region).unwrap(), f.value))
        .collect();
    regions.sort();
    assert_eq!(regions, [("north", 1), ("p-only-region", 5)]);
}

both_backends!(
    clear_texts_leave_with_their_last_row,
    facts_follow_events_and_counts_are_capped,
    charges_stop_at_the_total,
    every_event_is_read_once_and_names_its_person,
    filters_categories_and_location_apply,
    erasure_forgets_the_person_in_facts
);
