//! Read side of the transparency log: key, tree head, proofs, entries.

use axum::extract::{Path, Query, State};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct LogKey {
    /// Ed25519 public key, base64 (standard alphabet).
    pub public_key: String,
    /// Hex SHA-256 of the public key: the key id tree heads name.
    pub key_id: String,
    pub algorithm: &'static str,
}

/// The public key tree heads are signed with.
#[utoipa::path(get, path = "/v1/ledger/key", responses((status = 200, body = LogKey)))]
pub async fn key(State(state): State<AppState>) -> Json<LogKey> {
    let vk = state.ledger_key();
    Json(LogKey {
        public_key: base64::engine::general_purpose::STANDARD.encode(vk.as_bytes()),
        key_id: fineline_ledger::key_id(&vk).to_hex(),
        algorithm: "ed25519",
    })
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/v1/ledger/tree-head", responses((status = 200, description = "signed tree head")))]
pub async fn tree_head(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(state.tree_head()).unwrap_or_default())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    pub index: u64,
    pub size: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProofBody {
    /// Hex SHA-256 node hashes, leaf to root order as in RFC 9162.
    pub proof: Vec<String>,
}

/// Inclusion proof for leaf `index` in the tree of `size` leaves.
#[utoipa::path(get, path = "/v1/ledger/proof/inclusion", params(InclusionParams),
    responses((status = 200, body = ProofBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn inclusion(
    State(state): State<AppState>,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ProofBody>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::field("index", e.body_text()))?;
    if p.index >= p.size {
        return Err(ApiError::field("index", "index must be below size"));
    }
    let proof = state.inclusion_proof(p.index, p.size)?;
    Ok(Json(ProofBody {
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    pub from: u64,
    pub to: u64,
}

/// Consistency proof between two tree sizes: the log only grew.
#[utoipa::path(get, path = "/v1/ledger/proof/consistency", params(ConsistencyParams),
    responses((status = 200, body = ProofBody), (status = 400, body = crate::error::ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ProofBody>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::field("from", e.body_text()))?;
    if p.from == 0 || p.from > p.to {
        return Err(ApiError::field("from", "need 0 < from <= to"));
    }
    let proof = state.consistency_proof(p.from, p.to)?;
    Ok(Json(ProofBody {
        proof: proof.iter().map(|h| h.to_hex()).collect(),
    }))
}

/// One ledger entry by index (entries hold no personal data).
#[utoipa::path(get, path = "/v1/ledger/entries/{index}", responses((status = 200, description = "the entry"), (status = 404, body = crate::error::ErrorBody)))]
pub async fn entry(
    State(state): State<AppState>,
    Path(index): Path<u64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let bytes = state.ledger_entry(index).await?;
    let entry: serde_json::Value = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({"index": index, "entry": entry})))
}
