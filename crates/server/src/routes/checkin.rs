//! In-store check-in (docs/persona.md "In-store check-in"): the kiosk's
//! rotating token (a store device's key), the phones' check-ins (public),
//! and the kiosk page that shows the token, compiled in.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fineline_core::{Role, Timestamp};
use fineline_ledger::Receipt;
use fineline_persona::{BusinessPseudonym, CheckIn, TrustLevel, CHECKIN_WINDOW_MS};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, JsonBody};
use crate::routes::footfall::KIOSK_CSP;
use crate::state::AppState;

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
                (header::CONTENT_SECURITY_POLICY, KIOSK_CSP),
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
