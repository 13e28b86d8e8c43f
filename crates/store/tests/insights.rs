//! The insights area on both backends (PostgreSQL when
//! `FINELINE_TEST_DATABASE_URL` is set): analytic rows follow their events,
//! SQL grouping caps per-person counts, budgets cannot be overspent.

#[macro_use]
mod common;

use std::sync::Arc;

use fineline_core::{EventKind, Pseudonym, Purpose, Timestamp};
use fineline_store::prelude::*;
use fineline_store::{
    BudgetAmount, InsightColumns, InsightEventRow, InsightScan, NewEvent, StoreError, WriteOp,
    WriteSet,
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

async fn facts_follow_events_and_counts_are_capped(s: Arc<dyn Store>) {
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
    assert!(north.iter().all(|f| f.subject == who(1) && f.count <= 3));
    // Grouped in SQL (capped at 3) or one fact per event.
    let total: u32 = north.iter().map(|f| f.count).sum();
    assert!(total == 3 || (total == 5 && north.len() == 5), "{north:?}");
    // Erasure reaches the analytic copy through the cascade.
    s.apply(WriteOp::EraseSubject(who(1)).into()).await.unwrap();
    assert_eq!(s.insight_facts(scan(None)).await.unwrap().facts.len(), 1);
}

async fn charges_stop_at_the_total(s: Arc<dyn Store>) {
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
    assert!(matches!(s.apply(set).await, Err(StoreError::Refused(_))));
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

both_backends!(
    facts_follow_events_and_counts_are_capped,
    charges_stop_at_the_total
);
