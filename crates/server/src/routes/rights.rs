//! A person's rights over their own data: see it, take it with them
//! (export), correct it (interests, single events) and erase it.
//!
//! Every route authorises through `consent::authorize_subject`: an admin
//! key for anyone, a subject token for its own person only. Every read
//! is written to the ledger before the data leaves (invariant 3).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use fineline_app::access::{OpenedEvent, PersonData};
use fineline_consent::ConsentRecord;
use fineline_core::{Pseudonym, Role, Timestamp};
use fineline_db::InterestRow;
use fineline_ledger::Receipt;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
use crate::routes::consent::{actor_of, authorize_subject, subject_path, LatePath};
use crate::state::AppState;

/// The export format's name; bumped when a field changes meaning.
pub const EXPORT_SCHEMA: &str = "fineline.export.v1";

// ---------------------------------------------------------------- tokens

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The business's own id for the person (email, customer number). It
    /// is pseudonymised at once and never stored.
    pub subject_id: String,
    /// Lifetime such as `15m`, `2h`, `1d`: at most 7 days (or the server's
    /// `--token-max-ttl`) in any unit. Default 15m.
    #[serde(default)]
    pub ttl: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenIssued {
    /// Bearer token for the privacy center routes of this person only.
    pub token: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_at: i64,
    /// Where to send the person: the privacy center with the token in the
    /// URL fragment (fragments are never sent to servers or logged).
    pub privacy_center: String,
}

/// Issue a short-lived subject token (admin), as `fineline tokens issue`.
#[utoipa::path(post, path = "/v1/admin/tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenIssued), (status = 403, body = crate::error::ErrorBody)))]
pub async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    body: LateJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenIssued>), ApiError> {
    caller.require(&[Role::Admin])?;
    let req = body?.0;
    if req.subject_id.trim().is_empty() {
        return Err(ApiError::field("subject_id", "must not be empty"));
    }
    let ttl = fineline_app::tokens::parse_ttl(
        req.ttl.as_deref().unwrap_or("15m"),
        state.tokens().max_ttl(),
    )
    .map_err(|e| ApiError::field("ttl", e))?;
    let expires = Timestamp::now().plus_millis(ttl);
    let token = state
        .tokens()
        .issue(&state.pseudonymize(&req.subject_id), expires);
    Ok((
        StatusCode::CREATED,
        Json(TokenIssued {
            privacy_center: format!("/privacy#token={token}"),
            token,
            expires_at: expires.millis(),
        }),
    ))
}

// ---------------------------------------------------------------- wire types

/// One stored event with its properties opened.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedEvent {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub item: Option<String>,
    /// The item's title in the catalogue, so a person reads what they
    /// looked at, not a stock number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_title: Option<String>,
    pub purpose: String,
    /// When it happened, milliseconds since the Unix epoch.
    pub at: i64,
    /// The properties exactly as sent (decrypted with the person's key).
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    /// Present and true when the row was sealed under a key destroyed by
    /// an earlier erasure: nobody can read its properties (null).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Interest {
    /// A catalogue category such as `running`.
    pub category: String,
    /// Strength in [0, 1] as inferred (or as set by the person).
    pub weight: f64,
    /// The person took it out of their profile: it is not used and will
    /// not be inferred again.
    pub removed: bool,
}

impl From<InterestRow> for Interest {
    fn from(r: InterestRow) -> Self {
        Interest {
            category: r.category,
            weight: r.weight,
            removed: r.removed,
        }
    }
}

/// Everything held about a person (GDPR Art. 15 and 20). Schema
/// `fineline.export.v1`:
/// - `consents.current`: purpose → `given` | `withdrawn` | `expired` | `none`;
/// - `consents.records`: every consent record (ISO/IEC TS 27560 fields) with
///   the index of its ledger entry;
/// - `events`: every stored event, properties decrypted;
/// - `interests`: the derived profile, removed ones included (flagged);
/// - `receipts`: a ledger receipt for each consent record and for this
///   export itself, each carrying the person's salt so they can prove the
///   entries are about them, verifiable offline with `fineline verify`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Export {
    /// Always `fineline.export.v1`.
    pub schema: String,
    /// Milliseconds since the Unix epoch.
    pub generated_at: i64,
    /// The person's pseudonym (their raw id is never stored).
    pub subject: String,
    pub policy_version: Option<u32>,
    pub consents: ExportedConsents,
    pub events: Vec<ExportedEvent>,
    pub interests: Vec<Interest>,
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Receipt>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedConsents {
    #[schema(value_type = Object)]
    pub current: std::collections::BTreeMap<String, String>,
    pub records: Vec<ExportedConsent>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportedConsent {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub record: ConsentRecord,
    pub ledger_index: u64,
}

// ---------------------------------------------------------------- export

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `json` (default) or `html`. `Accept: text/html` also selects HTML.
    pub format: Option<String>,
}

fn wants_html(params: &ExportParams, headers: &HeaderMap) -> Result<bool, ApiError> {
    match params.format.as_deref() {
        Some("html") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::field(
            "format",
            format!("unknown format {other:?}: use json or html"),
        )),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html") && !a.contains("application/json"))),
    }
}

/// Everything held about a person, as JSON (schema `fineline.export.v1`)
/// or a readable HTML page. Each export is a ledger entry.
#[utoipa::path(get, path = "/v1/subjects/{id}/export", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), ExportParams),
    responses((status = 200, body = Export), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
    params: Result<Query<ExportParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let Query(params) = params.map_err(|e| ApiError::field("format", e.body_text()))?;
    let html = wants_html(&params, &headers)?;
    let doc = build_export(&state, &subject, &caller).await?;
    let mut resp = if html {
        Html(crate::routes::export_html::render(&doc)).into_response()
    } else {
        Json(doc).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    h.insert(
        header::CONTENT_DISPOSITION,
        if html {
            "inline; filename=\"my-data.html\""
        } else {
            "attachment; filename=\"my-data.json\""
        }
        .parse()
        .unwrap(),
    );
    Ok(resp)
}

/// Build a person's export, logging it in the ledger first.
pub async fn build_export(
    state: &AppState,
    subject: &Pseudonym,
    caller: &Caller,
) -> Result<Export, ApiError> {
    Ok(state.export(subject, actor_of(caller)).await?.into())
}

impl From<PersonData> for Export {
    fn from(d: PersonData) -> Self {
        Export {
            schema: EXPORT_SCHEMA.into(),
            generated_at: d.generated_at.millis(),
            subject: d.subject.to_text(),
            policy_version: d.policy_version,
            consents: ExportedConsents {
                current: d.current,
                records: d
                    .records
                    .into_iter()
                    .map(|s| ExportedConsent {
                        record: s.record,
                        ledger_index: s.ledger_index,
                    })
                    .collect(),
            },
            events: d.events.into_iter().map(ExportedEvent::from).collect(),
            interests: d.interests.into_iter().map(Interest::from).collect(),
            receipts: d.receipts,
        }
    }
}

impl From<OpenedEvent> for ExportedEvent {
    fn from(e: OpenedEvent) -> Self {
        ExportedEvent {
            id: e.id,
            kind: e.kind,
            item: e.item,
            item_title: e.item_title,
            purpose: e.purpose,
            at: e.at.millis(),
            properties: e.properties,
            unreadable: e.unreadable,
        }
    }
}

// ---------------------------------------------------------------- summary

#[derive(Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub subject: String,
    /// Stored events per purpose.
    #[schema(value_type = Object)]
    pub events_by_purpose: std::collections::BTreeMap<String, u64>,
    pub events_total: u64,
    /// The most recent events (up to 50), newest first.
    pub recent_events: Vec<ExportedEvent>,
    pub interests: Vec<Interest>,
    #[schema(value_type = Object)]
    pub consents: std::collections::BTreeMap<String, String>,
}

/// What is held about a person at a glance (a ledger entry, like any read).
#[utoipa::path(get, path = "/v1/subjects/{id}", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), responses((status = 200, body = Summary), (status = 404, body = crate::error::ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
) -> Result<Json<Summary>, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let s = state.summary(&subject, actor_of(&caller)).await?;
    Ok(Json(Summary {
        subject: s.subject.to_text(),
        events_by_purpose: s.events_by_purpose,
        events_total: s.events_total,
        recent_events: s.recent_events.into_iter().map(Into::into).collect(),
        interests: s.interests.into_iter().map(Into::into).collect(),
        consents: s.consents,
    }))
}

// ---------------------------------------------------------------- corrections

/// The person's interests (the derived profile), removed ones flagged.
#[utoipa::path(get, path = "/v1/subjects/{id}/interests", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), responses((status = 200, body = Vec<Interest>), (status = 404, body = crate::error::ErrorBody)))]
pub async fn interests(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
) -> Result<Json<Vec<Interest>>, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let all = state.interests(&subject, actor_of(&caller)).await?;
    Ok(Json(all.into_iter().map(Interest::from).collect()))
}

/// One interest.
#[utoipa::path(get, path = "/v1/subjects/{id}/interests/{category}", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), ("category" = String, Path)), responses((status = 200, body = Interest), (status = 404, body = crate::error::ErrorBody)))]
pub async fn interest(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<(String, String)>,
) -> Result<Json<Interest>, ApiError> {
    let (raw_id, category) = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let one = state
        .interest(&subject, &category, actor_of(&caller))
        .await?;
    Ok(Json(one.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InterestEdit {
    /// New strength in [0, 1].
    pub weight: f64,
}

/// Set an interest's strength (the person corrects their profile).
#[utoipa::path(put, path = "/v1/subjects/{id}/interests/{category}", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), ("category" = String, Path)), request_body = InterestEdit,
    responses((status = 200, body = Interest), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn edit_interest(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<(String, String)>,
    body: LateJson<InterestEdit>,
) -> Result<Json<Interest>, ApiError> {
    let (raw_id, category) = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let edit = body?.0;
    let row = state.edit_interest(&subject, category, edit.weight).await?;
    Ok(Json(row.into()))
}

/// Remove an inferred interest: it is no longer used and will not be
/// inferred again.
#[utoipa::path(delete, path = "/v1/subjects/{id}/interests/{category}", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), ("category" = String, Path)), responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn remove_interest(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (raw_id, category) = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    state.remove_interest(&subject, &category).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete one of the person's events.
#[utoipa::path(delete, path = "/v1/subjects/{id}/events/{event_id}", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), ("event_id" = String, Path)), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn delete_event(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (raw_id, event_id) = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let id: i64 = event_id
        .parse()
        .map_err(|_| ApiError::field("event_id", "must be an event id (an integer)"))?;
    state.delete_event(&subject, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- erasure

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErasureReceipt {
    /// Milliseconds since the Unix epoch.
    pub erased_at: i64,
    /// Rows removed: events, consent records, interests and the key row.
    pub rows_deleted: u64,
    /// The ledger's proof of the erasure entry, with the person's salt:
    /// keep it; it is the only way left to show the entry is about them.
    #[schema(value_type = Object)]
    pub receipt: Receipt,
}

/// Erase a person: events, consent records, interests and their keys (so
/// any copy of their sealed data is unreadable), in one transaction with
/// the erasure's ledger entry; then every in-memory structure and
/// registered listener forgets them. The response is the erasure receipt.
#[utoipa::path(delete, path = "/v1/subjects/{id}", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), responses((status = 200, body = ErasureReceipt), (status = 404, body = crate::error::ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
) -> Result<Json<ErasureReceipt>, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    erase_subject(&state, &subject).await.map(Json)
}

/// The erasure itself, shared with the benchmark.
pub async fn erase_subject(
    state: &AppState,
    subject: &Pseudonym,
) -> Result<ErasureReceipt, ApiError> {
    let erased = state.erase(subject).await?;
    Ok(ErasureReceipt {
        erased_at: erased.at.millis(),
        rows_deleted: erased.rows_deleted,
        receipt: erased.receipt,
    })
}
