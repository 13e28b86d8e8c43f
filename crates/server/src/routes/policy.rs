//! Publishing and reading the privacy policy.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use fineline_consent::{reconsent_required, Policy};
use fineline_core::{Purpose, Timestamp};
use fineline_ledger::LedgerEntry;
use fineline_store::{PolicyRow, WriteOp};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{ApiError, JsonBody};
use crate::state::AppState;
use fineline_core::Role;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Published {
    pub version: u32,
    /// Purposes that are off for everyone until they opt in again.
    #[schema(value_type = Vec<String>)]
    pub reconsent_required: Vec<Purpose>,
    pub ledger_index: u64,
}

/// The current policy, public.
#[utoipa::path(get, path = "/v1/policy", responses((status = 200, description = "the current policy"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn current(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let policy = state
        .current_policy()
        .ok_or_else(|| ApiError::not_found("no policy has been published yet"))?;
    Ok(Json(
        serde_json::to_value(policy).map_err(ApiError::internal)?,
    ))
}

/// Every published version, oldest first.
#[utoipa::path(get, path = "/v1/policy/versions", responses((status = 200, description = "all versions")))]
pub async fn versions(State(state): State<AppState>) -> Json<serde_json::Value> {
    let all = state.consents.read().unwrap().policies().all().to_vec();
    Json(serde_json::to_value(all).unwrap_or_default())
}

/// Publish a new policy version (admin).
#[utoipa::path(post, path = "/v1/policy", responses((status = 201, body = Published), (status = 400, body = crate::error::ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(mut policy): JsonBody<Policy>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    caller.require(&[Role::Admin])?;
    let now = Timestamp::now();
    let _order = state.consent_order.lock().await;
    let previous = state.current_policy();
    // The first version may say since when it was already in force (a
    // business bringing its existing notice, with the consents given under
    // it, to fineline); no earlier version exists for it to override. Every
    // later version is dated by the server.
    let brought_over =
        previous.is_none() && policy.published_at.0 > 0 && policy.published_at <= now;
    if !brought_over {
        policy.published_at = now;
    }
    policy
        .validate(previous.as_ref())
        .map_err(|e| ApiError::field("policy", e.to_string()))?;
    let reconsent: Vec<Purpose> = match &previous {
        Some(old) => reconsent_required(old, &policy).into_iter().collect(),
        None => policy.purposes.iter().map(|d| d.purpose).collect(),
    };
    let body = serde_json::to_vec(&policy).map_err(ApiError::internal)?;
    let entry = LedgerEntry::PolicyPublished {
        version: policy.version,
        digest: fineline_ledger::Hash(policy.digest()),
        at: policy.published_at,
    };
    let appended = state
        .ledger
        .append(state.store(), &[entry], |_| {
            vec![WriteOp::PutPolicy(PolicyRow {
                version: policy.version,
                published_at: policy.published_at,
                body,
            })]
        })
        .await?;
    state
        .consents
        .write()
        .unwrap()
        .publish(policy.clone())
        .map_err(ApiError::internal)?;
    tracing::info!(version = policy.version, "policy published");
    if previous.is_some() && reconsent.contains(&Purpose::Personalization) {
        // Personalization given under older versions lapsed: retrain without it.
        state.recs.request_retrain();
    }
    Ok((
        StatusCode::CREATED,
        Json(Published {
            version: policy.version,
            reconsent_required: reconsent,
            ledger_index: appended.indices[0],
        }),
    ))
}
