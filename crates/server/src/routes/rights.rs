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
use fineline_consent::ConsentRecord;
use fineline_core::{Pseudonym, Purpose, Role, Timestamp};
use fineline_ledger::{Access, Actor, LedgerEntry, Receipt};
use fineline_store::{InterestRow, WriteOp};
use fineline_vault::subject_aad;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
use crate::routes::consent::{authorize_subject, stored_consents, subject_path, LatePath};
use crate::state::AppState;
use fineline_app::state::SubjectKeys;

/// The export format's name; bumped when a field changes meaning.
pub const EXPORT_SCHEMA: &str = "fineline.export.v1";

fn actor(caller: &Caller) -> Actor {
    match caller {
        Caller::Subject(_) => Actor::Subject,
        Caller::Key(Role::Admin) => Actor::Admin,
        Caller::Key(Role::Ingest) => Actor::Ingest,
        Caller::Key(Role::Analyst) => Actor::Analyst,
    }
}

fn view_of(caller: &Caller) -> Access {
    match caller {
        Caller::Subject(_) => Access::SubjectView,
        Caller::Key(_) => Access::AdminRead,
    }
}

/// The person's keys, or 404: without keys nothing is held (never known,
/// or erased).
async fn keys_or_404(
    state: &AppState,
    subject: &Pseudonym,
) -> Result<std::sync::Arc<SubjectKeys>, ApiError> {
    state
        .subject_keys(subject)
        .await?
        .ok_or_else(|| ApiError::not_found("nothing is held about this person"))
}

/// Append a DataAccess entry and return its leaf index. Called before any
/// of the person's data is read for the response.
async fn log_read(
    state: &AppState,
    subject: &Pseudonym,
    keys: &SubjectKeys,
    what: Access,
    caller: &Caller,
) -> Result<u64, ApiError> {
    let entry = LedgerEntry::DataAccess {
        commitment: keys.commitment(subject),
        what,
        actor: actor(caller),
        at: Timestamp::now(),
    };
    let appended = state
        .ledger
        .append(state.store(), &[entry], |_| Vec::new())
        .await?;
    Ok(appended.indices[0])
}

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

fn current_consents(
    state: &AppState,
    subject: &Pseudonym,
) -> std::collections::BTreeMap<String, String> {
    let current = state
        .consents
        .read()
        .unwrap()
        .state_at(subject, Timestamp::now());
    Purpose::ALL
        .iter()
        .map(|p| {
            let text = current.get(p).map_or("none", |s| s.as_str());
            (p.as_str().to_string(), text.to_string())
        })
        .collect()
}

async fn opened_events(
    state: &AppState,
    subject: &Pseudonym,
    keys: &SubjectKeys,
) -> Result<Vec<ExportedEvent>, ApiError> {
    let aad = subject_aad(subject);
    let rows = state
        .store()
        .events_for(subject)
        .await
        .map_err(ApiError::internal)?;
    let titles = item_titles(state).await?;
    rows.into_iter()
        .map(|r| {
            // A row sealed under a key an earlier erasure destroyed (a
            // batch that raced the erasure) opens for nobody: show that it
            // exists rather than fail the whole export.
            let (properties, unreadable) = match keys.data_key.open(&r.sealed_properties, &aad) {
                Ok(plain) => (
                    serde_json::from_slice(&plain).unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&plain).into())
                    }),
                    false,
                ),
                Err(_) => (serde_json::Value::Null, true),
            };
            Ok(ExportedEvent {
                unreadable,
                id: r.id,
                kind: r.kind.as_str().to_string(),
                item_title: r.item.as_ref().and_then(|i| titles.get(i).cloned()),
                item: r.item.map(|i| i.as_str().to_string()),
                purpose: r.purpose.as_str().to_string(),
                at: r.at.millis(),
                properties,
            })
        })
        .collect()
}

/// Catalogue titles: the served model's copy (read at its training), or
/// the store's catalogue before the first training.
async fn item_titles(
    state: &AppState,
) -> Result<std::sync::Arc<std::collections::HashMap<fineline_core::ItemId, String>>, ApiError> {
    if let Some(t) = state.recs.current() {
        return Ok(t.titles.clone());
    }
    let items = state.store().items().await.map_err(ApiError::internal)?;
    Ok(std::sync::Arc::new(
        items
            .into_iter()
            .filter(|i| !i.title.is_empty())
            .map(|i| (i.item, i.title))
            .collect(),
    ))
}

async fn interests_of(state: &AppState, subject: &Pseudonym) -> Result<Vec<Interest>, ApiError> {
    Ok(state
        .store()
        .interests_for(subject)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(Interest::from)
        .collect())
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
    let keys = keys_or_404(state, subject).await?;
    let access_index = log_read(state, subject, &keys, Access::Export, caller).await?;
    let stored = stored_consents(state, subject).await?;
    let events = opened_events(state, subject, &keys).await?;
    let interests = interests_of(state, subject).await?;
    let mut receipts = Vec::with_capacity(stored.len() + 1);
    for index in stored
        .iter()
        .map(|s| s.ledger_index)
        .chain(std::iter::once(access_index))
    {
        receipts.push(
            state
                .ledger
                .receipt(state.store(), index, Some(keys.salt.clone()))
                .await?,
        );
    }
    Ok(Export {
        schema: EXPORT_SCHEMA.into(),
        generated_at: Timestamp::now().millis(),
        subject: subject.to_text(),
        policy_version: state.current_policy().map(|p| p.version),
        consents: ExportedConsents {
            current: current_consents(state, subject),
            records: stored
                .into_iter()
                .map(|s| ExportedConsent {
                    record: s.record,
                    ledger_index: s.ledger_index,
                })
                .collect(),
        },
        events,
        interests,
        receipts,
    })
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
    let keys = keys_or_404(&state, &subject).await?;
    log_read(&state, &subject, &keys, view_of(&caller), &caller).await?;
    let mut events = opened_events(&state, &subject, &keys).await?;
    let mut by_purpose = std::collections::BTreeMap::new();
    for e in &events {
        *by_purpose.entry(e.purpose.clone()).or_insert(0u64) += 1;
    }
    let total = events.len() as u64;
    events.reverse();
    events.truncate(50);
    Ok(Json(Summary {
        subject: subject.to_text(),
        events_by_purpose: by_purpose,
        events_total: total,
        recent_events: events,
        interests: interests_of(&state, &subject).await?,
        consents: current_consents(&state, &subject),
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
    let keys = keys_or_404(&state, &subject).await?;
    log_read(&state, &subject, &keys, view_of(&caller), &caller).await?;
    Ok(Json(interests_of(&state, &subject).await?))
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
    let keys = keys_or_404(&state, &subject).await?;
    log_read(&state, &subject, &keys, view_of(&caller), &caller).await?;
    interests_of(&state, &subject)
        .await?
        .into_iter()
        .find(|i| i.category == category)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no interest {category:?}")))
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
    keys_or_404(&state, &subject).await?;
    if !(0.0..=1.0).contains(&edit.weight) {
        return Err(ApiError::field("weight", "must be between 0 and 1"));
    }
    check_category(&category)?;
    let row = InterestRow {
        subject,
        category,
        weight: edit.weight,
        removed: false,
    };
    state
        .store()
        .apply(WriteOp::PutInterest(row.clone()).into())
        .await
        .map_err(ApiError::internal)?;
    state.notify_interest_edited(&row.subject, &row.category);
    Ok(Json(row.into()))
}

fn check_category(category: &str) -> Result<(), ApiError> {
    if category.is_empty() || category.len() > 64 {
        return Err(ApiError::field("category", "must be 1 to 64 characters"));
    }
    Ok(())
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
    keys_or_404(&state, &subject).await?;
    check_category(&category)?;
    let op = WriteOp::RemoveInterest {
        subject,
        category: category.clone(),
    };
    state
        .store()
        .apply(op.into())
        .await
        .map_err(ApiError::internal)?;
    state.notify_interest_removed(&subject, &category);
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
    // Scoped to the subject in the store: another person's id is a 404.
    let deleted = state
        .store()
        .delete_event(&subject, id)
        .await
        .map_err(ApiError::internal)?;
    if !deleted {
        return Err(ApiError::not_found(format!("no event {id} of this person")));
    }
    state.notify_event_deleted(&subject, id);
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
