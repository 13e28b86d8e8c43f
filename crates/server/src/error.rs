//! Every failure a client can cause becomes a 4xx with a JSON body that
//! names a stable code and, where one is at fault, the field.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra machine-readable detail (e.g. remaining budget).
    pub detail: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorInfo {
    /// Stable, machine-readable code such as `invalid_field` or `forbidden`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            detail: None,
        }
    }
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or unknown credentials",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
    /// A failure that is ours, not the client's. The cause is logged
    /// (never with personal data: database and vault errors carry none) and
    /// the client gets an opaque 500.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see server log",
        )
    }
}

/// The one table from the application's errors to HTTP: status, stable
/// code, field and detail. Internal failures are logged here (their text
/// carries no personal data) and answered with an opaque 500.
impl From<fineline_app::AppError> for ApiError {
    fn from(e: fineline_app::AppError) -> Self {
        use fineline_app::AppError as E;
        match e {
            E::InvalidField { field, message } => ApiError::field(field, message),
            E::BadRequest(m) => ApiError::bad_request(m),
            E::Unauthorized => ApiError::unauthorized(),
            E::SignatureRefused { field, message } => ApiError {
                field: Some(field),
                ..ApiError::new(StatusCode::UNAUTHORIZED, "signature_refused", message)
            },
            E::InvalidToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "subject token is invalid or expired",
            ),
            E::Forbidden(m) => ApiError::forbidden(m),
            E::NotFound(m) => ApiError::not_found(m),
            E::Conflict { field, message } => ApiError {
                field,
                ..ApiError::conflict(message)
            },
            e @ E::PolicyOutdated { current, .. } => ApiError::conflict(e.to_string())
                .with_detail(serde_json::json!({ "current_version": current })),
            E::BudgetExhausted {
                message,
                remaining,
                asked,
            } => {
                let err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, BUDGET_EXHAUSTED, message);
                match (remaining, asked) {
                    (Some(remaining), Some(asked)) => err.with_detail(serde_json::json!({
                        "remaining": crate::wire::Remaining::from(*remaining),
                        "asked": {"nano_rho": asked.nano_rho, "femto_delta": asked.femto_delta},
                    })),
                    _ => err,
                }
            }
            E::NotLeader(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_leader", m),
            E::Unavailable(m) => {
                tracing::warn!(error = %m, "a service an answer needs failed");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "analytics_unavailable", m)
            }
            e @ (E::Database(_) | E::Vault(_) | E::Internal(_)) => ApiError::internal(e),
        }
    }
}

/// Code of the error a refused budget charge carries (HTTP 429); unlike
/// `rate_limited`, waiting does not cure it.
pub const BUDGET_EXHAUSTED: &str = "budget_exhausted";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorInfo {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
                detail: self.detail,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body left unparsed until the handler has authorised the caller:
/// take the body as `LateJson<T>` after `Caller`, check the caller, then
/// `body?`. A stranger never learns what a route expects (an extractor
/// rejection would answer 400 before the handler's role check).
pub type LateJson<T> = Result<JsonBody<T>, ApiError>;

/// JSON body extractor whose rejection is an [`ApiError`] naming the
/// problem, instead of axum's plain-text rejection.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_rejected",
                    e.to_string(),
                )
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The name in serde's "missing field `name`" message.
fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Parse a JSON document, naming the offending field path on failure.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.inner().to_string();
        let root = path == "." || path.is_empty();
        // serde reports a missing field at the object that lacks it; the
        // client needs the field's own name.
        if let Some(missing) = missing_field(&msg) {
            let field = if root {
                missing.to_string()
            } else {
                format!("{path}.{missing}")
            };
            return ApiError::field(field, msg);
        }
        if root {
            ApiError::bad_request(format!("invalid JSON body: {msg}"))
        } else {
            ApiError::field(path, msg)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_json;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        a: Inner,
        c: u8,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        b: u8,
    }

    /// A missing field is named, at the top and nested, like a wrong one.
    #[test]
    fn a_missing_field_is_named() {
        let field = |json: &str| parse_json::<Outer>(json.as_bytes()).unwrap_err().field;
        assert_eq!(field(r#"{"a":{"b":1}}"#).as_deref(), Some("c"));
        assert_eq!(field(r#"{"a":{},"c":1}"#).as_deref(), Some("a.b"));
        assert_eq!(field(r#"{"a":{"b":"x"},"c":1}"#).as_deref(), Some("a.b"));
        assert_eq!(field("[").as_deref(), None);
    }
}
