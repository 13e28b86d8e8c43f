//! Publishing and reading the privacy policy.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::collections::BTreeSet;

use fineline_consent::{reconsent_required, Policy, PurposeDeclaration};
use fineline_core::{Purpose, Timestamp};
use fineline_ledger::LedgerEntry;
use fineline_store::{PolicyRow, WriteOp};
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
    let all = state.consents.read().unwrap().policies().all().to_vec();
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
    let now = Timestamp::now();
    let claimed = body.published_at;
    let mut policy = body.into_policy(now);
    let _turn = state.order.consent().await;
    let previous = state.current_policy();
    // The first version may say since when it was already in force (a
    // business bringing its existing notice, with the consents given under
    // it, to fineline); no earlier version exists for it to override. Every
    // later version is dated by the server.
    if let Some(at) = claimed {
        if previous.is_none() && at.0 > 0 && at <= now {
            policy.published_at = at;
        }
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
