//! Operations: health, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use crate::state::AppState;

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok")))]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.check_database().await {
        Ok(_) => (
            axum::http::StatusCode::OK,
            Json(serde_json::json!({"status": "ok"})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "database unreachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "store_unavailable"})),
            )
        }
    }
}

/// Whether this replica leads its deployment: 200 if it does, 503 if not,
/// for a load balancer's health check to send foot-traffic sightings (the
/// leader's work) to the leader only. The embedded database's one process
/// always leads.
#[utoipa::path(get, path = "/healthz/leader", responses(
    (status = 200, description = "this replica leads"),
    (status = 503, description = "another replica leads")))]
pub async fn leader(State(state): State<AppState>) -> impl IntoResponse {
    let leads = state.is_leader();
    let status = if leads {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "leader": leads })))
}

/// Prometheus text exposition, with `fineline_leader` (1 on the replica
/// doing the deployment's once-only work, 0 on the others) and, with a read
/// standby, its lag and where the reads it may serve went.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut text = state.metrics().render();
    text.push_str(&format!(
        "# HELP fineline_leader Whether this process leads its deployment.\n\
         # TYPE fineline_leader gauge\nfineline_leader {}\n",
        u8::from(state.is_leader())
    ));
    text.push_str(&state.standby_metrics().await);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document())
}
