//! The insights area on PostgreSQL.

use std::num::NonZeroU64;

use async_trait::async_trait;
use fineline_core::Timestamp;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};

use super::PostgresDatabase;
use crate::insights::{Interner, People, DAY_MS, HOUR_MS};
use crate::insights_sql::{facts_query, Param};
use crate::{
    rows, BudgetAmount, BudgetRow, DatabaseError, InsightFact, InsightFacts, InsightScan,
    InsightTables, Result, WriteOp, WriteOutcome,
};

pub(super) async fn apply_op(
    tx: &mut PgConnection,
    op: WriteOp,
    out: &mut WriteOutcome,
) -> Result<()> {
    match op {
        WriteOp::PutInsightEvents(list) => {
            if list.is_empty() {
                return Ok(());
            }
            let n = list.len();
            let (mut ids, mut subjects, mut kinds, mut ats) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            let (mut items, mut regions, mut cells, mut values) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for r in list {
                let id = *out.event_ids.get(r.event).ok_or_else(|| {
                    DatabaseError::Conflict(format!(
                        "no event at position {} of this write",
                        r.event
                    ))
                })?;
                ids.push(id);
                subjects.push(r.subject.to_text());
                kinds.push(r.kind);
                ats.push(r.at.0);
                items.push(r.item.map(|i| i.as_str().to_string()));
                regions.push(r.region);
                cells.push(r.h3_cell.map(|c| c as i64));
                values.push(r.value);
            }
            sqlx::query(
                "INSERT INTO insight_events
                 (event_id, subject, kind, at, item, region, h3_cell, value)
                 SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[],
                                      $5::text[], $6::text[], $7::int8[], $8::int8[])",
            )
            .bind(ids)
            .bind(subjects)
            .bind(kinds)
            .bind(ats)
            .bind(items)
            .bind(regions)
            .bind(cells)
            .bind(values)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::SetInsightBudget {
            analyst,
            period,
            total,
        } => {
            sqlx::query(
                "INSERT INTO insight_budgets
                 (analyst, period, total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta)
                 VALUES ($1, $2, $3, 0, $4, 0)
                 ON CONFLICT (analyst, period) DO UPDATE
                 SET total_nano_rho = EXCLUDED.total_nano_rho,
                     total_femto_delta = EXCLUDED.total_femto_delta",
            )
            .bind(analyst)
            .bind(period)
            .bind(rows::to_i64(total.nano_rho)?)
            .bind(rows::to_i64(total.femto_delta)?)
            .execute(&mut *tx)
            .await?;
        }
        WriteOp::ChargeInsightBudget {
            analyst,
            period,
            cost,
            default_total,
        } => {
            sqlx::query(
                "INSERT INTO insight_budgets
                 (analyst, period, total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta)
                 VALUES ($1, $2, $3, 0, $4, 0) ON CONFLICT (analyst, period) DO NOTHING",
            )
            .bind(&analyst)
            .bind(&period)
            .bind(rows::to_i64(default_total.nano_rho)?)
            .bind(rows::to_i64(default_total.femto_delta)?)
            .execute(&mut *tx)
            .await?;
            // One statement: the row lock makes concurrent charges queue,
            // and each sees the others' committed spend.
            let changed = sqlx::query(
                "UPDATE insight_budgets
                 SET spent_nano_rho = spent_nano_rho + $3,
                     spent_femto_delta = spent_femto_delta + $4
                 WHERE analyst = $1 AND period = $2
                   AND spent_nano_rho + $3 <= total_nano_rho
                   AND spent_femto_delta + $4 <= total_femto_delta",
            )
            .bind(&analyst)
            .bind(&period)
            .bind(rows::to_i64(cost.nano_rho)?)
            .bind(rows::to_i64(cost.femto_delta)?)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(DatabaseError::Refused(format!(
                    "budget of {analyst} for {period} cannot cover the charge"
                )));
            }
        }
        other => unreachable!("not an insights op: {other:?}"),
    }
    Ok(())
}

#[async_trait]
impl InsightTables for PostgresDatabase {
    async fn insight_facts(&self, scan: InsightScan) -> Result<InsightFacts> {
        let (sql, params) = facts_query(&scan, |n| format!("${n}"));
        let mut q = sqlx::query(&sql);
        for p in params {
            q = match p {
                Param::Text(s) => q.bind(s),
                Param::Int(i) => q.bind(i),
            };
        }
        let mut stream = q.fetch(&self.pool);
        let mut texts = Interner::default();
        let mut people = People::default();
        let mut facts = Vec::new();
        let mut last: Option<(String, u32)> = None;
        while let Some(r) = stream.try_next().await? {
            let subject_text: &str = r.try_get(0)?;
            let person = match &last {
                Some((t, p)) if t == subject_text => *p,
                _ => {
                    let p = people.id(rows::subject(subject_text)?);
                    last = Some((subject_text.to_string(), p));
                    p
                }
            };
            let count: i64 = r.try_get(7)?;
            let day = r.try_get::<Option<i64>, _>(5)?.unwrap_or(0);
            let hour = r.try_get::<Option<i64>, _>(6)?.unwrap_or(0);
            facts.push(InsightFact {
                person,
                location: r.try_get::<i64, _>(1)? != 0,
                category: texts.id(r.try_get::<Option<&str>, _>(2)?),
                region: texts.id(r.try_get::<Option<&str>, _>(3)?),
                h3_cell: r
                    .try_get::<Option<i64>, _>(4)?
                    .and_then(|c| NonZeroU64::new(c as u64)),
                at: Timestamp(day * DAY_MS + hour * HOUR_MS),
                count: u32::try_from(count)
                    .map_err(|_| DatabaseError::Corrupt(format!("count {count}")))?,
                value: r.try_get(8)?,
            });
        }
        Ok(InsightFacts {
            dict: texts.dict,
            people: people.list,
            facts,
        })
    }

    async fn insight_budget(&self, analyst: &str, period: &str) -> Result<Option<BudgetRow>> {
        let row = sqlx::query(
            "SELECT total_nano_rho, spent_nano_rho, total_femto_delta, spent_femto_delta
             FROM insight_budgets WHERE analyst = $1 AND period = $2",
        )
        .bind(analyst)
        .bind(period)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(BudgetRow {
                analyst: analyst.to_string(),
                period: period.to_string(),
                total: BudgetAmount {
                    nano_rho: rows::to_u64(r.try_get(0)?)?,
                    femto_delta: rows::to_u64(r.try_get(2)?)?,
                },
                spent: BudgetAmount {
                    nano_rho: rows::to_u64(r.try_get(1)?)?,
                    femto_delta: rows::to_u64(r.try_get(3)?)?,
                },
            })
        })
        .transpose()
    }
}
