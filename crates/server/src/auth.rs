//! Who is calling. API keys carry a role (admin, ingest, analyst) and are
//! stored only as SHA-256 hashes; subject tokens (see `tokens`) let a
//! person act on their own data and nobody else's.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fineline_core::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Settings key under which a hashed API key's role is kept.
pub fn api_key_setting(hash_hex: &str) -> String {
    format!("api_key/{hash_hex}")
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh API key for `role`. Only its hash is stored; the text is shown once.
pub fn generate_key(role: Role) -> String {
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut secret);
    format!("fl_{}_{}", role.as_str(), hex::encode(secret))
}

/// Register a new API key and return its text.
pub async fn create_key(
    store: &dyn fineline_store::Store,
    role: Role,
) -> Result<String, fineline_store::StoreError> {
    let key = generate_key(role);
    store
        .put_setting(
            &api_key_setting(&hash_key(&key)),
            role.as_str().as_bytes().to_vec(),
        )
        .await?;
    Ok(key)
}

/// The caller behind a request's `Authorization: Bearer` credential.
#[derive(Debug, Clone)]
pub enum Caller {
    Key(Role),
    /// A person acting on their own data through a subject token.
    Subject(fineline_core::Pseudonym),
}

impl Caller {
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        match self {
            Caller::Key(r) if roles.contains(r) => Ok(()),
            Caller::Key(r) => Err(ApiError::forbidden(format!(
                "role {} may not use this route",
                r.as_str()
            ))),
            Caller::Subject(_) => Err(ApiError::forbidden("subject tokens may not use this route")),
        }
    }

    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Key(r) => Some(*r),
            Caller::Subject(_) => None,
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    v.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        if let Some(subject) = state.tokens().verify(token) {
            return Ok(Caller::Subject(subject?));
        }
        let role = state.role_for_key(token).await?;
        role.map(Caller::Key).ok_or_else(ApiError::unauthorized)
    }
}
