//! Publishing and reading the privacy policy.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::collections::BTreeSet;

use fineline_consent::{Policy, PurposeDeclaration};
use fineline_core::{Purpose, Timestamp};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
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

/// A policy as an admin publishes it: the documented body of `POST
/// /v1/policy`, converted into the consent crate's [`Policy`].
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    /// One more than the current version (1 for the first).
    pub version: u32,
    /// Honoured only for the first version, and only if not in the future
    /// (a notice already in force when the business adopts fineline);
    /// every later version is stamped with the time the server publishes it.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub published_at: Option<Timestamp>,
    pub title: String,
    /// Plain-language text shown to people before they choose.
    pub text: String,
    pub purposes: Vec<PurposeDeclarationIn>,
}

/// What the policy says about one purpose.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeDeclarationIn {
    #[schema(value_type = PurposeName)]
    pub purpose: Purpose,
    pub description: String,
    /// Slugs such as `purchase_history` (lower-case `a-z`, `0-9`, `_`).
    pub data_categories: BTreeSet<String>,
    pub retention_days: u32,
    /// Who receives the data beyond the business itself; empty if no one.
    pub recipients: BTreeSet<String>,
}

/// The purposes a person can grant.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // documents `Purpose`, which is what is parsed
pub enum PurposeName {
    Personalization,
    Analytics,
    PartnerInsights,
    Location,
    InStoreDetection,
}

impl PolicyIn {
    fn into_policy(self, published_at: Timestamp) -> Policy {
        Policy {
            version: self.version,
            published_at,
            title: self.title,
            text: self.text,
            purposes: self
                .purposes
                .into_iter()
                .map(|d| PurposeDeclaration {
                    purpose: d.purpose,
                    description: d.description,
                    data_categories: d.data_categories,
                    retention_days: d.retention_days,
                    recipients: d.recipients,
                })
                .collect(),
        }
    }
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
    let all = state.policies();
    Json(serde_json::to_value(all).unwrap_or_default())
}

/// Publish a new policy version (admin).
#[utoipa::path(post, path = "/v1/policy", request_body = PolicyIn, responses((status = 201, body = Published), (status = 400, body = crate::error::ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    body: LateJson<PolicyIn>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    caller.require(&[Role::Admin])?;
    let body = body?.0;
    let claimed = body.published_at;
    let done = state
        .publish_policy(body.into_policy(Timestamp::now()), claimed)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Published {
            version: done.version,
            reconsent_required: done.reconsent_required,
            ledger_index: done.ledger_index,
        }),
    ))
}
