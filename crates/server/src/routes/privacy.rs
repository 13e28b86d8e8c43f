//! The privacy center: one static page and its script, compiled into the
//! binary. It talks only to this server's API with the person's subject
//! token, so a strict Content-Security-Policy (nothing but same-origin
//! scripts, styles and fetches) holds and no external resource is loaded.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("../../assets/privacy.html");
const SCRIPT: &str = include_str!("../../assets/privacy.js");
const STYLE: &str = include_str!("../../assets/privacy.css");

/// Same-origin only; no inline script or style; never framed. The token
/// travels in the URL fragment, which browsers never send to servers, and
/// no referrer leaves the page.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn hardened(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub async fn page() -> impl IntoResponse {
    hardened("text/html; charset=utf-8", PAGE)
}

pub async fn script() -> impl IntoResponse {
    hardened("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> impl IntoResponse {
    hardened("text/css; charset=utf-8", STYLE)
}
