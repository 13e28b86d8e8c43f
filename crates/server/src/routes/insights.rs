//! Partner insights over HTTP: DP queries, location heatmaps, app usage,
//! and budgets. Analysts (and admins) only; every answer is charged to the
//! caller's budget and logged as a ledger `Release` before it is sent.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::StatusCode;
use axum::Json;
use fineline_core::{Role, Timestamp};
use fineline_insights::query::MAX_H3_RES;
use fineline_insights::{
    cell_boundary, DeclaredKeys, Filter, GroupKey, InsightError, KeyValue, Metric, Plan, Query,
    QueryError, Release, NANO,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, JsonBody};
use crate::routes::insights_wire::QueryIn;
use crate::state::AppState;
use crate::wire::Remaining;
use crate::wire_events::parse_time;
use fineline_app::analytics::Scanned;
use fineline_app::budget::{self, Analyst};
use fineline_app::insights_data::LOCATION_KIND;

/// Default window of heatmap and app reports: the last 30 days.
const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

/// The request field each query error is about.
fn query_field(e: &QueryError) -> &'static str {
    match e {
        QueryError::MissingClampBounds(_) | QueryError::InvertedClampBounds { .. } => {
            "metric.lower"
        }
        QueryError::BadBins(_) => "metric.bins",
        QueryError::BadTopK => "metric.k",
        QueryError::H3ResTooFine(_) => "group_by.res",
        QueryError::DuplicateDimension(_) | QueryError::TooManyGroups(_) => "group_by",
        QueryError::NoEventTypes => "event_types",
        QueryError::BadBound(b) => match *b {
            "max_groups" => "bounds.max_groups",
            _ => "bounds.max_rows_per_group",
        },
        QueryError::ZeroCost => "cost_nano_rho",
        QueryError::BadTimeRange { .. } => "filters.time_range",
        QueryError::BelowFloor { .. } => "min_subjects",
    }
}

pub(crate) fn insight_error(e: InsightError) -> ApiError {
    match e {
        InsightError::Query(q) => ApiError::field(query_field(&q), q.to_string()),
        other => ApiError::field("cost_nano_rho", other.to_string()),
    }
}

/// Public key lists: the catalogue's categories, and each day of the
/// query's time range (when grouped by day).
pub(crate) async fn declared_keys(
    state: &AppState,
    query: &Query,
) -> Result<DeclaredKeys, ApiError> {
    let cats = state.catalogue_categories().await?;
    let days = query.filters.iter().find_map(|f| match f {
        // Checked: any i64 pair arrives here before validation (an inverted
        // or overflowing range then fails validation, not this subtraction).
        Filter::TimeRange { from, to }
            if to
                .checked_sub(*from)
                .is_some_and(|d| d > 0 && d / 86_400_000 <= 3660) =>
        {
            Some(DeclaredKeys::days_between(*from, *to))
        }
        _ => None,
    });
    Ok(DeclaredKeys {
        item_categories: (!cats.is_empty()).then_some(cats),
        regions: None,
        days,
    })
}

fn key_json(key: &GroupKey) -> Value {
    let mut m = Map::new();
    for v in &key.0 {
        let (name, val) = match v {
            KeyValue::ItemCategory(c) => ("item_category", json!(c)),
            KeyValue::Region(r) => ("region", json!(r)),
            KeyValue::Day(d) => {
                let date = jiff::Timestamp::from_millisecond(d * 86_400_000)
                    .map(|t| t.strftime("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                ("day", json!(date))
            }
            KeyValue::Hour(h) => ("hour", json!(h)),
            KeyValue::H3Cell(c) => ("h3_cell", json!(format!("{c:x}"))),
        };
        m.insert(name.to_string(), val);
    }
    Value::Object(m)
}

/// The value a person is shown: the unbiased noisy estimate moved into
/// the range the true answer must lie in (counts are never negative, a
/// mean lies within its clamp bounds). Post-processing a DP release costs
/// no privacy; `value` stays unbiased for whoever adds answers up.
fn displayed(metric: &Metric, value: f64) -> f64 {
    match *metric {
        Metric::Count
        | Metric::DistinctSubjects
        | Metric::Histogram { .. }
        | Metric::TopK { .. } => value.max(0.0).round(),
        Metric::Sum { lower, .. } if lower.unwrap_or(0) >= 0 => value.max(0.0),
        Metric::Mean {
            lower: Some(lo),
            upper: Some(hi),
        } => value.clamp(lo as f64, hi as f64),
        _ => value,
    }
}

fn release_json(
    release: &Release,
    metric: &Metric,
    keys_public: bool,
    budget: &Remaining,
) -> Value {
    let groups: Vec<Value> = release
        .groups
        .iter()
        .map(|g| {
            let mut o = json!({
                "key": key_json(&g.key),
                "value": g.estimate.value,
                "displayed": displayed(metric, g.estimate.value),
                "noise_scale": g.estimate.noise_scale,
                "std_dev": g.estimate.std_dev,
                "ci95": [g.estimate.ci95.0, g.estimate.ci95.1],
            });
            if let Some(b) = g.bin {
                o["bin"] = json!({"index": b.index, "lower": b.lower, "upper": b.upper});
            }
            o
        })
        .collect();
    json!({
        "groups": groups,
        "mechanism": release.mechanism,
        "keys_public": keys_public,
        "threshold": release.threshold,
        "min_subjects": release.min_subjects,
        "cost": {"nano_rho": release.cost.nano_rho, "femto_delta": release.cost.femto_delta},
        "privacy": {"rho": release.privacy.rho, "epsilon": release.privacy.epsilon,
                    "delta": release.privacy.delta},
        "budget": budget,
    })
}

fn digest(query: &Query) -> [u8; 32] {
    let bytes = serde_json::to_vec(query).unwrap_or_default();
    Sha256::digest(&bytes).into()
}

/// Plan, read, charge, run: the charge commits before the release exists
/// outside this function.
async fn answer(
    state: &AppState,
    analyst: &Analyst,
    query: &Query,
) -> Result<(Release, bool, Remaining), ApiError> {
    let declared = declared_keys(state, query).await?;
    let plan = Plan::new(query, &declared, state.insights_floor()).map_err(insight_error)?;
    // Bounding's random choices: fresh per query, never shown.
    let seed = rand::random::<u64>();
    let scanned = state.scan_insights(query, &declared, seed).await?;
    let remaining = budget::charge_cost(state, &analyst.id, plan.cost(), digest(query)).await?;
    let keys_public = plan.keys_are_public();
    let release = tokio::task::spawn_blocking(move || match scanned {
        Scanned::Rows(rows) => plan.run(&rows, seed),
        Scanned::Aggregated(keys, agg) => plan.release(&keys, &agg),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((release, keys_public, remaining.into()))
}

/// Run a differentially private query (analyst or admin). Groups of fewer
/// distinct people than `min_subjects` (at least the deployment's floor) are
/// never released.
#[utoipa::path(post, path = "/v1/insights/query", request_body = QueryIn,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody,
               description = "`analytics_unavailable`: the analytic dataset or its engine cluster could not answer; nothing was charged")))]
pub async fn query(
    State(state): State<AppState>,
    analyst: Analyst,
    JsonBody(query): JsonBody<QueryIn>,
) -> Result<Json<Value>, ApiError> {
    let query = Query::from(query);
    let (release, public, remaining) = answer(&state, &analyst, &query).await?;
    Ok(Json(release_json(
        &release,
        &query.metric,
        public,
        &remaining,
    )))
}

#[derive(Deserialize)]
pub struct Window {
    from: Option<String>,
    to: Option<String>,
    res: Option<u8>,
    cost_nano_rho: Option<u64>,
}

fn window(w: &Window) -> Result<(i64, i64), ApiError> {
    let to = match &w.to {
        Some(t) => parse_time(t).map_err(|m| ApiError::field("to", m))?.0,
        None => Timestamp::now().0,
    };
    let from = match &w.from {
        Some(t) => parse_time(t).map_err(|m| ApiError::field("from", m))?.0,
        None => to - DEFAULT_WINDOW_MS,
    };
    if from >= to {
        return Err(ApiError::field("from", "must be before to"));
    }
    Ok((from, to))
}

/// A location heatmap as GeoJSON: DP distinct people per H3 cell (res ≤ 7).
#[utoipa::path(get, path = "/v1/insights/heatmap",
    params(("res" = Option<u8>, Query, description = "H3 resolution, at most 7 (default 7)"),
           ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("cost_nano_rho" = Option<u64>, Query)),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody,
               description = "`analytics_unavailable`: the analytic dataset or its engine cluster could not answer; nothing was charged")))]
pub async fn heatmap(
    State(state): State<AppState>,
    analyst: Analyst,
    UrlQuery(w): UrlQuery<Window>,
) -> Result<Json<Value>, ApiError> {
    let res = w.res.unwrap_or(MAX_H3_RES);
    if res > MAX_H3_RES {
        return Err(ApiError::field(
            "res",
            format!("must be at most {MAX_H3_RES}: finer cells single people out"),
        ));
    }
    let (from, to) = window(&w)?;
    let mut q = Query::heatmap(res, vec![LOCATION_KIND.to_string()], w.cost_nano_rho);
    q.filters.push(Filter::TimeRange { from, to });
    let (release, _, remaining) = answer(&state, &analyst, &q).await?;
    let mut features = Vec::new();
    for g in &release.groups {
        let [KeyValue::H3Cell(cell)] = g.key.0.as_slice() else {
            continue;
        };
        let ring = cell_boundary(*cell).map_err(ApiError::internal)?;
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "h3_cell": format!("{cell:x}"),
                "res": res,
                "subjects": g.estimate.value,
                "noise_scale": g.estimate.noise_scale,
                "ci95": [g.estimate.ci95.0, g.estimate.ci95.1],
            },
        }));
    }
    Ok(Json(json!({
        "type": "FeatureCollection",
        "features": features,
        "threshold": release.threshold,
        "min_subjects": release.min_subjects,
        "privacy": {"rho": release.privacy.rho, "epsilon": release.privacy.epsilon,
                    "delta": release.privacy.delta},
        "budget": remaining,
    })))
}

/// App usage (`app_open` events) by category and region, DP counts.
#[utoipa::path(get, path = "/v1/insights/apps",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("cost_nano_rho" = Option<u64>, Query)),
    responses((status = 200, body = Object), (status = 429, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody,
               description = "`analytics_unavailable`: the analytic dataset or its engine cluster could not answer; nothing was charged")))]
pub async fn apps(
    State(state): State<AppState>,
    analyst: Analyst,
    UrlQuery(w): UrlQuery<Window>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window(&w)?;
    let mut q = Query::app_insights(w.cost_nano_rho);
    q.filters.push(Filter::TimeRange { from, to });
    let (release, public, remaining) = answer(&state, &analyst, &q).await?;
    Ok(Json(release_json(&release, &q.metric, public, &remaining)))
}

/// The caller's own budget for the current period.
#[utoipa::path(get, path = "/v1/insights/budget",
    responses((status = 200, body = Remaining)))]
pub async fn my_budget(
    State(state): State<AppState>,
    analyst: Analyst,
) -> Result<Json<Remaining>, ApiError> {
    let period = budget::period_of(Timestamp::now());
    Ok(Json(
        budget::account(&state, &analyst.id, &period).await?.into(),
    ))
}

/// Largest budget an admin can set: ρ = 1e6, as `rho` allows.
const MAX_NANO_RHO: u64 = 1_000_000 * NANO;
/// δ is a probability: at most 1.
const MAX_FEMTO_DELTA: u64 = 1_000_000_000_000_000;

/// A budget as an admin sets it: ρ in nano-ρ (or as `rho`), optional δ.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetIn {
    /// "YYYY-MM"; the current month if absent.
    pub period: Option<String>,
    pub nano_rho: Option<u64>,
    pub rho: Option<f64>,
    /// δ budget in units of 1e-15; the default budget's if absent.
    pub femto_delta: Option<u64>,
}

/// Set an analyst's budget for a period (admin).
#[utoipa::path(put, path = "/v1/insights/budgets/{analyst}", request_body = BudgetIn,
    params(("analyst" = String, Path, description = "account id, as GET /v1/insights/budget shows it")),
    responses((status = 200, body = Remaining), (status = 400, body = crate::error::ErrorBody)))]
pub async fn set_budget(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: crate::error::LateJson<BudgetIn>,
) -> Result<(StatusCode, Json<Remaining>), ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(analyst) = path.map_err(|e| ApiError::field("analyst", e.body_text()))?;
    let body = body?.0;
    if analyst.is_empty()
        || analyst.len() > 64
        || !analyst
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::field("analyst", "1-64 of [A-Za-z0-9_-]"));
    }
    let period = requested_period(body.period)?;
    let nano_rho = match (body.nano_rho, body.rho) {
        (Some(n), None) => n,
        (None, Some(r)) if r.is_finite() && (0.0..=1e6).contains(&r) => {
            (r * NANO as f64).round() as u64
        }
        (None, Some(_)) => return Err(ApiError::field("rho", "must be between 0 and 1e6")),
        _ => {
            return Err(ApiError::field(
                "nano_rho",
                "give exactly one of nano_rho or rho",
            ))
        }
    };
    // The database keeps budgets as signed 64-bit integers; bounding them
    // here answers 400 instead of failing the write.
    if nano_rho > MAX_NANO_RHO {
        return Err(ApiError::field(
            "nano_rho",
            "must be at most 1e15 (rho 1e6)",
        ));
    }
    let femto_delta = body
        .femto_delta
        .unwrap_or(fineline_insights::DEFAULT_BUDGET.femto_delta);
    if femto_delta > MAX_FEMTO_DELTA {
        return Err(ApiError::field(
            "femto_delta",
            "must be at most 1e15 (delta 1)",
        ));
    }
    let total = fineline_insights::Cost {
        nano_rho,
        femto_delta,
    };
    let out = budget::set_total(&state, &analyst, &period, total).await?;
    Ok((StatusCode::OK, Json(out.into())))
}

/// The budget period a request names (`YYYY-MM`), or the current one.
pub(crate) fn requested_period(period: Option<String>) -> Result<String, ApiError> {
    match period {
        Some(p) => {
            let ok = p.len() == 7
                && p.as_bytes()[4] == b'-'
                && p[..4].parse::<u16>().is_ok()
                && p[5..].parse::<u8>().is_ok_and(|m| (1..=12).contains(&m));
            if !ok {
                return Err(ApiError::field("period", "must be YYYY-MM"));
            }
            Ok(p)
        }
        None => Ok(budget::period_of(Timestamp::now())),
    }
}
