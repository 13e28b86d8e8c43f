//! What a query would cost and how noisy its answer would be, before it
//! runs. The noise of a DP release depends only on the query (its metric,
//! bounds and ρ), never on the data, so this reads no row, spends no
//! budget and writes no ledger entry: the console shows it beside the
//! form so people pick a cost that gives a useful answer.

use axum::extract::State;
use axum::Json;
use fineline_insights::{Plan, Query};
use serde_json::{json, Value};

use crate::error::{ApiError, JsonBody};
use crate::routes::insights::{declared_keys, insight_error};
use crate::routes::insights_wire::QueryIn;
use crate::state::AppState;
use fineline_app::budget::Analyst;

/// The expected 95% half-width and the cost of a query (analyst, admin;
/// free: reads no data).
#[utoipa::path(post, path = "/v1/insights/plan", request_body = QueryIn,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody)))]
pub async fn plan(
    State(state): State<AppState>,
    _analyst: Analyst,
    JsonBody(query): JsonBody<QueryIn>,
) -> Result<Json<Value>, ApiError> {
    let query = Query::from(query);
    let declared = declared_keys(&state, &query).await?;
    let plan = Plan::new(&query, &declared, state.insights_floor()).map_err(insight_error)?;
    let privacy = plan.privacy();
    Ok(Json(json!({
        "ci95_half_width": plan.expected_ci95_half_width(),
        "cost": {"nano_rho": plan.cost().nano_rho, "femto_delta": plan.cost().femto_delta},
        "privacy": {"rho": privacy.rho, "epsilon": privacy.epsilon, "delta": privacy.delta},
        "keys_public": plan.keys_are_public(),
    })))
}
