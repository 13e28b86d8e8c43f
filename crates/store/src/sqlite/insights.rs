//! The insights area on SQLite.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Transaction};

use super::SqliteStore;
use crate::insights::Interner;
use crate::insights_sql::{facts_query, Param};
use crate::{
    rows, BudgetAmount, BudgetRow, InsightFact, InsightFacts, InsightScan, InsightStore, Result,
    StoreError, WriteOp, WriteOutcome,
};

fn amount(v: i64) -> Result<u64> {
    rows::to_u64(v)
}

pub(super) fn apply_op(tx: &Transaction<'_>, op: WriteOp, out: &mut WriteOutcome) -> Result<()> {
    match op {
        WriteOp::PutInsightEvents(list) => {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO insight_events
                 (event_id, subject, kind, at, item, region, h3_cell, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for r in list {
                let id = *out.event_ids.get(r.event).ok_or_else(|| {
                    StoreError::Conflict(format!("no event at position {} of this write", r.event))
                })?;
                stmt.execute(params![
                    id,
                    r.subject.to_text(),
                    r.kind,
                    r.at.0,
                    r.item.as_ref().map(|i| i.as_str()),
                    r.region,
                    r.h3_cell.map(|c| c as i64),
                    r.value
                ])?;
            }
        }
        WriteOp::SetInsightBudget {
            analyst,
            period,
            total,
        } => {
            tx.prepare_cached(
                "INSERT INTO insight_budgets
                 (analyst, period, total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta)
                 VALUES (?1, ?2, ?3, 0, ?4, 0)
                 ON CONFLICT (analyst, period) DO UPDATE
                 SET total_nano_rho = excluded.total_nano_rho,
                     total_femto_delta = excluded.total_femto_delta",
            )?
            .execute(params![
                analyst,
                period,
                rows::to_i64(total.nano_rho)?,
                rows::to_i64(total.femto_delta)?
            ])?;
        }
        WriteOp::ChargeInsightBudget {
            analyst,
            period,
            cost,
            default_total,
        } => {
            tx.prepare_cached(
                "INSERT INTO insight_budgets
                 (analyst, period, total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta)
                 VALUES (?1, ?2, ?3, 0, ?4, 0) ON CONFLICT (analyst, period) DO NOTHING",
            )?
            .execute(params![
                analyst,
                period,
                rows::to_i64(default_total.nano_rho)?,
                rows::to_i64(default_total.femto_delta)?
            ])?;
            let changed = tx
                .prepare_cached(
                    "UPDATE insight_budgets
                     SET spent_nano_rho = spent_nano_rho + ?3,
                         spent_femto_delta = spent_femto_delta + ?4
                     WHERE analyst = ?1 AND period = ?2
                       AND spent_nano_rho + ?3 <= total_nano_rho
                       AND spent_femto_delta + ?4 <= total_femto_delta",
                )?
                .execute(params![
                    analyst,
                    period,
                    rows::to_i64(cost.nano_rho)?,
                    rows::to_i64(cost.femto_delta)?
                ])?;
            if changed == 0 {
                return Err(StoreError::Refused(format!(
                    "budget of {analyst} for {period} cannot cover the charge"
                )));
            }
        }
        other => unreachable!("not an insights op: {other:?}"),
    }
    Ok(())
}

#[async_trait]
impl InsightStore for SqliteStore {
    async fn insight_facts(&self, scan: InsightScan) -> Result<InsightFacts> {
        // SQLite's GROUP BY sorts through a temporary b-tree: measured slower
        // than handing every event over (2.1 s vs 1.2 s per 1M), so facts
        // stay one per event here and the engine does the capping.
        let scan = InsightScan {
            count_cap: None,
            ..scan
        };
        self.read(move |c| {
            let (sql, params) = facts_query(&scan, |n| format!("?{n}"));
            let values: Vec<Value> = params
                .into_iter()
                .map(|p| match p {
                    Param::Text(s) => Value::Text(s),
                    Param::Int(i) => Value::Integer(i),
                })
                .collect();
            let mut stmt = c.prepare(&sql)?;
            let mut rows_iter = stmt.query(rusqlite::params_from_iter(values))?;
            let mut texts = Interner::default();
            let mut facts = Vec::new();
            let mut last: Option<(String, fineline_core::Pseudonym)> = None;
            while let Some(r) = rows_iter.next()? {
                let subject_text = r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
                let subject = match &last {
                    Some((t, p)) if t == subject_text => *p,
                    _ => {
                        let p = rows::subject(subject_text)?;
                        last = Some((subject_text.to_string(), p));
                        p
                    }
                };
                let category = r
                    .get_ref(2)?
                    .as_str_or_null()
                    .map_err(rusqlite::Error::from)?;
                let region = r
                    .get_ref(3)?
                    .as_str_or_null()
                    .map_err(rusqlite::Error::from)?;
                let hour: Option<i64> = r.get(6)?;
                let count: i64 = r.get(7)?;
                facts.push(InsightFact {
                    subject,
                    location: r.get::<_, i64>(1)? != 0,
                    category: texts.id(category),
                    region: texts.id(region),
                    h3_cell: r.get::<_, Option<i64>>(4)?.map(|c| c as u64),
                    day: r.get(5)?,
                    hour: hour.map(|h| h as u8),
                    count: u32::try_from(count)
                        .map_err(|_| StoreError::Corrupt(format!("count {count}")))?,
                    value: r.get(8)?,
                });
            }
            Ok(InsightFacts {
                dict: texts.dict,
                facts,
            })
        })
        .await
    }

    async fn insight_budget(&self, analyst: &str, period: &str) -> Result<Option<BudgetRow>> {
        let (analyst, period) = (analyst.to_string(), period.to_string());
        self.read(move |c| {
            let raw = c
                .prepare_cached(
                    "SELECT total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta
                     FROM insight_budgets WHERE analyst = ?1 AND period = ?2",
                )?
                .query_row(params![analyst, period], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()?;
            raw.map(|(tr, sr, td, sd)| {
                Ok(BudgetRow {
                    analyst: analyst.clone(),
                    period: period.clone(),
                    total: BudgetAmount {
                        nano_rho: amount(tr)?,
                        femto_delta: amount(td)?,
                    },
                    spent: BudgetAmount {
                        nano_rho: amount(sr)?,
                        femto_delta: amount(sd)?,
                    },
                })
            })
            .transpose()
        })
        .await
    }
}
