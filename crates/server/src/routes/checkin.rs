//! In-store check-in (docs/persona.md "In-store check-in"): the kiosk's
//! rotating token and its link as a QR code (a store device's key), the
//! phones' check-ins (public), and the kiosk page that shows them,
//! compiled in.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fineline_core::{Role, Timestamp};
use fineline_ledger::Receipt;
use fineline_persona::{BusinessPseudonym, CheckIn, TrustLevel, CHECKIN_WINDOW_MS};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, JsonBody};
use crate::state::AppState;

/// The check-in kiosk's CSP: the opt-out kiosk's, plus `img-src blob:`
/// for the QR code. The code is fetched with the kiosk's key in the
/// `Authorization` header (an `<img src>` cannot send one, and a key in a
/// URL would reach logs), so the page shows the answer through a `blob:`
/// URL it made itself; no image from any origin, this one included.
pub const CHECKIN_KIOSK_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The token a store's kiosk shows now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KioskTokenBody {
    pub store_id: String,
    /// `window-tag`: what the phone presents.
    pub token: String,
    /// When the kiosk should show the next one (ms since the Unix epoch).
    pub rotates_at: i64,
    /// When this one stops being accepted (the end of the next window).
    pub expires_at: i64,
    /// How long each token is shown, in ms.
    pub window_ms: i64,
}

/// The store's current check-in token, for its kiosk (a store device's
/// ingest key, or admin). Anyone holding it can check in for minutes, so
/// it is shown only on the kiosk in the store.
#[utoipa::path(get, path = "/v1/footfall/stores/{id}/checkin-token",
    params(("id" = String, Path, description = "The store's id")),
    responses((status = 200, body = KioskTokenBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<KioskTokenBody>, ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let Path(id) = id.map_err(|e| ApiError::field("id", e.body_text()))?;
    let t = state.checkin_token(&id, Timestamp::now())?;
    Ok(Json(KioskTokenBody {
        store_id: t.store,
        token: t.token,
        rotates_at: t.rotates_at.millis(),
        expires_at: t.expires_at.millis(),
        window_ms: CHECKIN_WINDOW_MS,
    }))
}

/// Where the kiosk page runs, so the link names the server the phone opens.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QrParams {
    /// The kiosk page's origin (`location.origin`): `http(s)://host[:port]`,
    /// no path.
    pub origin: String,
}

/// The longest origin taken: the link must fit a QR code a phone reads
/// from across a counter.
const MAX_ORIGIN: usize = 200;

/// `origin` is a scheme and an authority, nothing else: the link is
/// `ORIGIN/shop#checkin=…`, so a path, query or fragment here would change
/// what the phone opens.
fn parse_origin(origin: &str) -> Result<&str, ApiError> {
    let bad = |why: &str| ApiError::field("origin", why.to_string());
    if origin.len() > MAX_ORIGIN {
        return Err(bad("at most 200 characters"));
    }
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| bad("an http:// or https:// origin"))?;
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(bad(
            "a host and optional port, with no path, query or fragment",
        ));
    }
    Ok(origin)
}

/// The link a phone opens to check in: the code rides in the fragment, so
/// it is in no server log or referrer (kiosk.js's `checkinLink`; store
/// ids and tokens need no escaping: `[A-Za-z0-9._-]`, digits, `-`, hex).
pub fn checkin_link(origin: &str, store: &str, token: &str) -> String {
    format!("{origin}/shop#checkin={store}:{token}")
}

/// The check-in link as a QR code (SVG), for a phone camera.
pub fn checkin_qr_svg(link: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(link, qrcode::EcLevel::M)
        .map_err(|_| ApiError::field("origin", "the link is too long for a QR code"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

/// The store's current check-in link as a QR code (`image/svg+xml`), for
/// its kiosk (the same keys as the token). It encodes exactly
/// `ORIGIN/shop#checkin=STORE:TOKEN` for the current window.
#[utoipa::path(get, path = "/v1/footfall/stores/{id}/checkin-qr",
    params(("id" = String, Path, description = "The store's id"), QrParams),
    responses((status = 200, content_type = "image/svg+xml", body = String),
        (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn qr(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
    params: Result<Query<QrParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let Path(id) = id.map_err(|e| ApiError::field("id", e.body_text()))?;
    let Query(p) = params.map_err(|e| ApiError::field("origin", e.body_text()))?;
    let origin = parse_origin(&p.origin)?;
    let t = state.checkin_token(&id, Timestamp::now())?;
    let svg = checkin_qr_svg(&checkin_link(origin, &t.store, &t.token))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Opened on its own, the image may run nothing and load nothing.
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        svg,
    )
        .into_response())
}

/// A check-in exactly as `Persona::check_in` makes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInIn {
    /// The business id of the offer.
    pub business: String,
    /// The store's id, as the kiosk shows it.
    pub store: String,
    /// The kiosk's token, `window-tag`.
    pub token: String,
    /// The person's trust level for the business, 0-4.
    pub level: u8,
    /// When the device made it (ms since the Unix epoch).
    pub at: i64,
    /// 32 hex digits the device drew.
    pub nonce: String,
    /// 64 hex digits, at level 2 and above only.
    pub pseudonym: Option<String>,
}

/// What a check-in did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckedInBody {
    pub store: String,
    /// The store's local day it counts on (`YYYY-MM-DD`).
    pub day: String,
    /// At level 2 and above: the `persona_disclosure` entry's receipt,
    /// whose digest is SHA-256(nonce ‖ the check-in's JSON).
    #[schema(value_type = Option<Object>)]
    pub receipt: Option<Receipt>,
    /// 64 hex digits, with the receipt.
    pub nonce: Option<String>,
}

/// Check in at a store with the token its kiosk shows (public, no
/// credential): counted in the store-day's report; at level 2 and above
/// under the pseudonym, with a receipt.
#[utoipa::path(post, path = "/v1/footfall/checkins", request_body = CheckInIn,
    responses((status = 201, body = CheckedInBody), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn check_in(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CheckInIn>,
) -> Result<(StatusCode, Json<CheckedInBody>), ApiError> {
    let level = TrustLevel::try_from(body.level)
        .map_err(|_| ApiError::field("level", "a trust level is 0 to 4"))?;
    let pseudonym = body
        .pseudonym
        .map(|p| {
            BusinessPseudonym::try_from(p)
                .map_err(|_| ApiError::field("pseudonym", "64 hex digits"))
        })
        .transpose()?;
    let store = body.store.clone();
    let c = CheckIn {
        business: body.business,
        store: body.store,
        token: body.token,
        level,
        at: Timestamp(body.at),
        nonce: body.nonce,
        pseudonym,
    };
    let done = state.check_in(c, Timestamp::now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CheckedInBody {
            store,
            day: done.day.to_string(),
            nonce: done.receipt.as_ref().map(|r| hex::encode(r.nonce)),
            receipt: done.receipt.map(|r| r.receipt),
        }),
    ))
}

const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/kiosk/index.html"),
    ),
    (
        "kiosk.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/kiosk/kiosk.js"),
    ),
    (
        "kiosk.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/kiosk/kiosk.css"),
    ),
];

fn serve(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CONTENT_SECURITY_POLICY, CHECKIN_KIOSK_CSP),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such kiosk file").into_response(),
    }
}

/// `/kiosk`: the check-in kiosk page (`#store=ID&key=KEY`: the key stays
/// in the fragment, which the browser never sends).
pub async fn page() -> Response {
    serve("index.html")
}

/// `/kiosk/{name}`: its script and style.
pub async fn asset(Path(name): Path<String>) -> Response {
    serve(&name)
}
