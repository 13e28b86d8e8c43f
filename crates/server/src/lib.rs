//! fineline's HTTP server: the only crate that knows HTTP and JSON.
//!
//! Handlers turn wire types into engine calls and back. Raw subject ids
//! arrive in request paths and bodies and are pseudonymised at once;
//! request logs name the matched route template, never the raw path.

pub mod auth;
pub mod error;
mod json_errors;
pub mod loopback;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod wire;
pub mod wire_events;

use fineline_app::{daily, footfall, recs_service, retention};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

pub use state::AppState;

/// Largest request body accepted (a 10k-event batch fits comfortably).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    with_layers(api_routes(), state)
}

/// Every route, before the shared layers.
pub fn api_routes() -> Router<AppState> {
    use routes::*;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/healthz/leader", get(ops::leader))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/policy", get(policy::current).post(policy::publish))
        .route("/v1/policy/versions", get(policy::versions))
        .route(
            "/v1/subjects/{id}/consents",
            get(consent::status).post(consent::change),
        )
        .route("/v1/subjects/{id}/consents/history", get(consent::history))
        .route("/v1/consents/import", post(consent_import::import))
        .route("/v1/events", post(events::ingest))
        .route("/v1/admin/tokens", post(rights::issue_token))
        .route(
            "/v1/subjects/{id}",
            get(rights::summary).delete(rights::erase),
        )
        .route("/v1/subjects/{id}/export", get(rights::export))
        .route("/v1/subjects/{id}/interests", get(rights::interests))
        .route(
            "/v1/subjects/{id}/interests/{category}",
            get(rights::interest)
                .put(rights::edit_interest)
                .delete(rights::remove_interest),
        )
        .route(
            "/v1/subjects/{id}/events/{event_id}",
            delete(rights::delete_event),
        )
        .route("/privacy", get(privacy::page))
        .route("/privacy/app.js", get(privacy::script))
        .route("/privacy/app.css", get(privacy::style))
        .route(
            "/v1/footfall/stores",
            get(footfall::stores).post(footfall::add_store),
        )
        .route("/v1/footfall/stores/{id}/report", get(footfall::report))
        .route("/v1/footfall/sightings", post(footfall::sightings))
        .route("/v1/footfall/flush", post(footfall::flush))
        .route("/v1/footfall/optout", post(footfall::opt_out))
        .route(
            "/v1/footfall/stores/{id}/checkin-token",
            get(checkin::token),
        )
        .route("/v1/footfall/stores/{id}/checkin-qr", get(checkin::qr))
        .route("/v1/footfall/checkins", post(checkin::check_in))
        .route("/kiosk", get(checkin::page))
        .route("/kiosk/{name}", get(checkin::asset))
        .route("/optout", get(footfall::kiosk_page))
        .route("/optout/app.js", get(footfall::kiosk_script))
        .route("/optout/app.css", get(footfall::kiosk_style))
        .route(
            "/v1/subjects/{id}/recommendations",
            get(recs::recommendations),
        )
        .route("/v1/items", post(recs::put_items))
        .route("/v1/items/{item}/similar", get(recs::similar))
        .route("/v1/recs/train", post(recs::train))
        .route("/v1/recs/status", get(recs::status))
        .route("/v1/insights/query", post(insights::query))
        .route("/v1/insights/plan", post(insights_plan::plan))
        .route("/v1/insights/heatmap", get(insights::heatmap))
        .route("/v1/insights/apps", get(insights::apps))
        .route("/v1/insights/budget", get(insights::my_budget))
        .route("/v1/insights/releases", get(console::releases))
        .route("/v1/console/session", get(console::session))
        .route("/v1/console/overview", get(console::overview))
        .route("/v1/console/persona", get(console::persona))
        .route("/console", get(console::page))
        .route("/console/{name}", get(console::asset))
        .route("/console/vendor/{name}", get(console::vendor_asset))
        .route(
            "/v1/insights/budgets/{analyst}",
            axum::routing::put(insights::set_budget),
        )
        .route("/v1/persona/model", get(persona::model))
        .route("/v1/persona/offer", get(persona::offer))
        .route("/v1/persona/disclosures", post(persona::disclose))
        .route("/v1/persona/aggregate", get(persona::aggregate))
        .route("/v1/persona/level", post(persona::change_level))
        .route("/v1/persona/erasure", post(persona::erase))
        .route("/v1/persona/catalogue", get(persona::catalogue))
        .route(
            "/v1/persona/recommendations",
            post(persona::recommendations),
        )
        .route("/persona/{name}", get(persona::module))
        .route("/shop", get(shop::page))
        .route("/shop/{name}", get(shop::asset))
        .route("/v1/ledger/key", get(ledger::key))
        .route("/v1/ledger/tree-head", get(ledger::tree_head))
        .route("/v1/ledger/proof/inclusion", get(ledger::inclusion))
        .route("/v1/ledger/proof/consistency", get(ledger::consistency))
        .route("/v1/ledger/entries/{index}", get(ledger::entry))
        .fallback(|| async { error::ApiError::not_found("no such route") })
}

/// Put `routes` behind the layers every route has: metrics, rate limits,
/// body limit, timeout, JSON errors and, outermost, the panic catcher.
/// Public so tests can put a route of their own behind the same layers.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::enforce,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(axum::middleware::map_response(
            json_errors::ensure_json_errors,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A handler's panic becomes a 500 with the usual error body, and the
/// connection serves the next request. The panic's message is not
/// repeated here: it may quote the data being handled.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked; answered 500");
    error::ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; see server log",
    )
    .into_response()
}

/// Record latency per route template. The raw path is never logged: it
/// can hold a subject's email.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let start = Instant::now();
    let resp = next.run(req).await;
    let elapsed = start.elapsed();
    state.metrics().observe(&route, elapsed);
    tracing::debug!(%method, route, status = resp.status().as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request");
    resp
}

/// Run the server until `shutdown` resolves, then drain in-flight
/// requests (each acknowledged write is already committed) and seal the
/// daily summaries.
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(state, listener, shutdown).await
}

pub async fn serve_on(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "fineline listening");
    let background = daily::spawn(state.app().clone());
    let retention = retention::spawn(state.app().clone(), retention::EVERY);
    let recs = recs_service::spawn(state.app().clone());
    let footfall = footfall::spawn(state.app().clone());
    let replication = fineline_app::replication::spawn(state.app().clone());
    let analytics = fineline_app::analytics::spawn(state.app().clone());
    // The peer address is the per-client rate limit bucket.
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    background.abort();
    retention.abort();
    for task in recs {
        task.abort();
    }
    footfall.abort();
    for task in [replication, analytics].into_iter().flatten() {
        task.abort();
    }
    state.shut_down().await;
    Ok(())
}

pub use fineline_app::open_database;
