//! The demo storefront (`serve --demo`, docs/persona.md): an outfitter's
//! shop window whose recommendations are computed on the visitor's device
//! from the signed public model, with the person's trust-level chooser.
//! A static page and its script and style, compiled in; the persona
//! modules come from `/persona/`. Same CSP as the privacy center: the page
//! talks only to this server, loads nothing from elsewhere.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::routes::privacy::CSP;
use crate::state::AppState;

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/shop/index.html"),
    ),
    (
        "shop.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/shop/shop.js"),
    ),
    (
        "shop.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/shop/shop.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../assets/shop/icon.svg"),
    ),
];

fn serve(state: &AppState, name: &str) -> Response {
    // A business's real server has its own shop: this one is the demo's.
    if !state.persona_config().storefront {
        return ApiError::not_found("the storefront is served with `serve --demo` only")
            .into_response();
    }
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such storefront file").into_response(),
    }
}

/// `/shop`: the storefront page.
pub async fn page(State(state): State<AppState>) -> Response {
    serve(&state, "index.html")
}

/// `/shop/{name}`: its script and style.
pub async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    serve(&state, &name)
}
