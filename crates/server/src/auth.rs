//! Who is calling: the one place that reads `Authorization: Bearer`. The
//! credential is an API key (a role) or a person's subject token; see
//! `fineline_app::api_keys` and `fineline_app::tokens`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use fineline_app::budget::{analyst_id, Analyst};
use fineline_core::Role;

use crate::error::ApiError;
use crate::state::AppState;

/// The credential in `Authorization: Bearer …`, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
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

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already checked by the rate limiter in front of the routes.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if let Some(subject) = state.tokens().verify(token) {
            return Ok(Caller::Subject(subject?));
        }
        let role = state.role_for_key(token).await?;
        role.map(Caller::Key).ok_or_else(ApiError::unauthorized)
    }
}

/// An analyst (or admin) key: who spends a privacy budget.
impl FromRequestParts<AppState> for Analyst {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        // A person's own token is a credential too: the answer is the same
        // 403 any other role without access gets, not "unknown credential".
        match state.tokens().verify(key) {
            Some(Ok(_)) => {
                return Err(ApiError::forbidden("subject tokens may not use this route"))
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        let role = state
            .role_for_key(key)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !matches!(role, Role::Analyst | Role::Admin) {
            return Err(ApiError::forbidden(format!(
                "role {} may not use this route",
                role.as_str()
            )));
        }
        Ok(Analyst {
            id: analyst_id(key),
            role,
        })
    }
}
