//! Analysts' privacy budgets: who is asking, what they have left, and the
//! atomic charge that must commit before any DP result leaves.
//!
//! A charge is one database transaction holding the `Release` ledger entry
//! and a conditional update of the analyst's spend (`spent + cost <=
//! total`); if the condition fails nothing is written and the caller gets
//! HTTP 429 with what remains. Budgets are per analyst per calendar month
//! (UTC), e.g. "2026-12"; an analyst with no row gets the default budget
//! at their first charge.

use fineline_core::{Role, Timestamp};
use fineline_db::{BudgetAmount, WriteOp};
use fineline_insights::{zcdp_epsilon, Cost, DEFAULT_BUDGET, REPORT_DELTA};
use fineline_ledger::{Hash, LedgerEntry};
use serde::{Deserialize, Serialize};

use crate::api_keys::hash_key;
use crate::error::AppError;
use crate::state::App;

/// A caller allowed to spend a budget: an analyst key (or an admin key,
/// which spends its own budget). `id` names the account: derived from the
/// key's hash, so it is stable for the key and reveals nothing of it.
#[derive(Debug, Clone)]
pub struct Analyst {
    /// The account id, from [`analyst_id`].
    pub id: String,
    /// The key's role: analyst or admin.
    pub role: Role,
}

/// The account id of an API key: `a_` and the first 16 hex digits of its SHA-256.
pub fn analyst_id(key: &str) -> String {
    format!("a_{}", &hash_key(key)[..16])
}

/// The budget period containing `at`: its UTC month, "YYYY-MM".
pub fn period_of(at: Timestamp) -> String {
    let ts = jiff::Timestamp::from_millisecond(at.millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m").to_string()
}

/// An analyst's account for a period, as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct Remaining {
    /// The account id.
    pub analyst: String,
    /// The UTC month, `YYYY-MM`.
    pub period: String,
    /// The period's ρ budget, in units of 10⁻⁹.
    pub total_nano_rho: u64,
    /// ρ charged so far, in units of 10⁻⁹.
    pub spent_nano_rho: u64,
    /// ρ still to spend, in units of 10⁻⁹.
    pub remaining_nano_rho: u64,
    /// The period's δ budget, in units of 10⁻¹⁵.
    pub total_femto_delta: u64,
    /// δ still to spend, in units of 10⁻¹⁵.
    pub remaining_femto_delta: u64,
    /// The remaining ρ as ε at δ = 1e-6 (OpenDP's conversion).
    pub remaining_epsilon: f64,
}

fn to_cost(a: BudgetAmount) -> Cost {
    Cost {
        nano_rho: a.nano_rho,
        femto_delta: a.femto_delta,
    }
}

fn to_amount(c: Cost) -> BudgetAmount {
    BudgetAmount {
        nano_rho: c.nano_rho,
        femto_delta: c.femto_delta,
    }
}

/// The analyst's account for `period` (the default budget if never set).
pub async fn account(state: &App, analyst: &str, period: &str) -> Result<Remaining, AppError> {
    let row = state
        .database()
        .insight_budget(analyst, period)
        .await
        .map_err(AppError::internal)?;
    let (total, spent) = match row {
        Some(r) => (to_cost(r.total), to_cost(r.spent)),
        None => (DEFAULT_BUDGET, Cost::ZERO),
    };
    let left = total.saturating_sub(spent);
    Ok(Remaining {
        analyst: analyst.to_string(),
        period: period.to_string(),
        total_nano_rho: total.nano_rho,
        spent_nano_rho: spent.nano_rho,
        remaining_nano_rho: left.nano_rho,
        total_femto_delta: total.femto_delta,
        remaining_femto_delta: left.femto_delta,
        remaining_epsilon: zcdp_epsilon(left.rho(), REPORT_DELTA).unwrap_or(0.0),
    })
}

/// One release in its analyst's history: what the ledger's `Release`
/// entry holds, with where to find that entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// Index of the release's entry in the ledger.
    pub ledger_index: u64,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// ρ charged, in units of 10⁻⁹.
    pub cost_nano_rho: u64,
    /// δ charged, in units of 10⁻¹⁵.
    pub cost_femto_delta: u64,
    /// SHA-256 of the query as charged (hex).
    pub query_digest: String,
}

/// Where an analyst's releases of a period were kept as one list, before
/// each release had its own row ([`release_setting`]); still read.
fn releases_setting(analyst: &str, period: &str) -> String {
    format!("insight_releases/{analyst}/{period}")
}

/// One release's own row, named so that names sort as the ledger does:
/// two replicas charging at once each write a row of their own, where a
/// shared list would keep only the last writer's.
fn release_setting(analyst: &str, period: &str, ledger_index: u64) -> String {
    format!("{}/{ledger_index:020}", releases_setting(analyst, period))
}

/// An analyst's releases in `period`, oldest first.
pub async fn releases(
    state: &App,
    analyst: &str,
    period: &str,
) -> Result<Vec<ReleaseRecord>, AppError> {
    let list = releases_setting(analyst, period);
    let mut out: Vec<ReleaseRecord> = match state.database().setting(&list).await? {
        Some(b) => serde_json::from_slice(&b).map_err(AppError::internal)?,
        None => Vec::new(),
    };
    for (_, row) in state.database().settings_under(&format!("{list}/")).await? {
        out.push(serde_json::from_slice(&row).map_err(AppError::internal)?);
    }
    Ok(out)
}

/// Sets an analyst's total for a period (spend so far is kept).
pub async fn set_total(
    state: &App,
    analyst: &str,
    period: &str,
    total: Cost,
) -> Result<Remaining, AppError> {
    state
        .database()
        .apply(
            WriteOp::SetInsightBudget {
                analyst: analyst.to_string(),
                period: period.to_string(),
                total: to_amount(total),
            }
            .into(),
        )
        .await
        .map_err(AppError::internal)?;
    account(state, analyst, period).await
}

fn exhausted(remaining: &Remaining, asked: Cost) -> AppError {
    AppError::BudgetExhausted {
        message: format!(
            "privacy budget for {} exhausted: {} nano-rho left, {} asked",
            remaining.period, remaining.remaining_nano_rho, asked.nano_rho
        ),
        remaining: Some(Box::new(remaining.clone())),
        asked: Some(asked),
    }
}

/// Charges `cost_nano_rho` (pure ρ, no δ) to `analyst`'s current period and
/// records the release in the ledger, atomically; call it before any result
/// leaves. Refusal: HTTP 429 (`budget_exhausted`) with the remaining budget.
pub async fn charge(
    state: &App,
    analyst: &str,
    cost_nano_rho: u64,
    query_digest: [u8; 32],
) -> Result<Remaining, AppError> {
    let cost = Cost {
        nano_rho: cost_nano_rho,
        femto_delta: 0,
    };
    charge_cost(state, analyst, cost, query_digest).await
}

/// [`charge`] for a cost with a δ part (thresholded releases).
pub async fn charge_cost(
    state: &App,
    analyst: &str,
    cost: Cost,
    query_digest: [u8; 32],
) -> Result<Remaining, AppError> {
    let at = Timestamp::now();
    let period = period_of(at);
    // Cheap refusal without touching the ledger; the database's conditional
    // update below is what actually guards against overspending.
    let before = account(state, analyst, &period).await?;
    if cost.nano_rho > before.remaining_nano_rho || cost.femto_delta > before.remaining_femto_delta
    {
        return Err(exhausted(&before, cost));
    }
    let entry = LedgerEntry::Release {
        analyst: analyst.to_string(),
        query_digest: Hash(query_digest),
        cost_nano_rho: cost.nano_rho,
        period: period.clone(),
        at,
    };
    let op = WriteOp::ChargeInsightBudget {
        analyst: analyst.to_string(),
        period: period.clone(),
        cost: to_amount(cost),
        default_total: to_amount(DEFAULT_BUDGET),
    };
    // The release's history row lands in the charge's own transaction.
    let _turn = state.order.release().await;
    match state
        .ledger
        .append(state.database(), &[entry], |indices| {
            let record = ReleaseRecord {
                ledger_index: indices[0],
                at: at.millis(),
                cost_nano_rho: cost.nano_rho,
                cost_femto_delta: cost.femto_delta,
                query_digest: hex::encode(query_digest),
            };
            let mut ops = vec![op];
            // Serialising a plain record cannot fail.
            if let Ok(value) = serde_json::to_vec(&record) {
                ops.push(WriteOp::PutSetting {
                    name: release_setting(analyst, &period, indices[0]),
                    value,
                });
            }
            ops
        })
        .await
    {
        Ok(_) => account(state, analyst, &period).await,
        Err(AppError::BudgetExhausted { .. }) => {
            Err(exhausted(&account(state, analyst, &period).await?, cost))
        }
        Err(e) => Err(e),
    }
}
