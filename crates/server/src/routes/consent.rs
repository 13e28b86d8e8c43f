//! Recording and reading a person's consent, with receipts.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use fineline_consent::{ConsentRecord, ConsentSource};
use fineline_core::{Pseudonym, Purpose, Role};
use fineline_ledger::{Actor, Receipt};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
use crate::state::AppState;

/// A consent change as the privacy center or the business's backend sends it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// The policy version the person was shown; defaults to the current one.
    #[serde(default)]
    pub policy_version: Option<u32>,
    /// `web`, `app`, `kiosk`, `api`, `gpc` or `tcf`.
    #[schema(value_type = String)]
    pub source: ConsentSource,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub grant: Vec<Purpose>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub withdraw: Vec<Purpose>,
    /// An IAB TCF v2.2 TC string; its purposes are mapped onto fineline's.
    #[serde(default)]
    pub tc_string: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentReceipts {
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<ConsentRecord>,
    /// One receipt per record, verifiable offline with `fineline verify`.
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Receipt>,
}

/// Allow a caller to act for `raw_id`: admins for anyone, a subject token
/// only for its own person. With a subject token, `raw_id` may be `me`:
/// the privacy center then never needs the person's raw id.
pub fn authorize_subject(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<Pseudonym, ApiError> {
    match caller {
        Caller::Key(Role::Admin) => Ok(state.pseudonymize(raw_id)),
        Caller::Subject(p) if raw_id == "me" => Ok(*p),
        Caller::Subject(p) => {
            if state.is_person(raw_id, p) {
                Ok(*p)
            } else {
                Err(ApiError::forbidden("this token is for another person"))
            }
        }
        Caller::Key(r) => Err(ApiError::forbidden(format!(
            "role {} may not act on a person's consent or data",
            r.as_str()
        ))),
    }
}

/// Path parameters taken only after authorization, so a malformed path
/// (invalid UTF-8) tells a caller who may not use the route nothing.
pub type LatePath<T> = Result<Path<T>, PathRejection>;

/// The `{id}` (and further parameters) of a person's route, once the
/// caller may use such routes at all: a malformed path is a 400 for an
/// admin and a 403 for anyone else, as any id not theirs would be.
pub fn subject_path<T>(
    state: &AppState,
    caller: &Caller,
    path: LatePath<T>,
) -> Result<T, ApiError> {
    match path {
        Ok(Path(value)) => Ok(value),
        Err(e) => {
            // No person's id is empty: only an admin gets past this.
            authorize_subject(state, caller, "")?;
            Err(ApiError::field("id", e.body_text()))
        }
    }
}

/// How a read by `caller` is described in the ledger.
pub fn actor_of(caller: &Caller) -> Actor {
    match caller {
        Caller::Subject(_) => Actor::Subject,
        Caller::Key(Role::Admin) => Actor::Admin,
        Caller::Key(Role::Ingest) => Actor::Ingest,
        Caller::Key(Role::Analyst) => Actor::Analyst,
    }
}

fn sec_gpc(headers: &HeaderMap) -> bool {
    headers
        .get("sec-gpc")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "1")
}

/// Grant or withdraw purposes for a person.
#[utoipa::path(post, path = "/v1/subjects/{id}/consents", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), request_body = ConsentChange,
    responses((status = 201, body = ConsentReceipts), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn change(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
    headers: HeaderMap,
    body: LateJson<ConsentChange>,
) -> Result<(StatusCode, Json<ConsentReceipts>), ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let change = body?.0;
    let done = state
        .change_consent(
            subject,
            fineline_app::consent::ConsentChange {
                policy_version: change.policy_version,
                source: change.source,
                grant: change.grant,
                withdraw: change.withdraw,
                tc_string: change.tc_string,
                gpc: sec_gpc(&headers),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentReceipts {
            records: done.records,
            receipts: done.receipts,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentStatus {
    /// For each purpose of the current policy: `given`, `withdrawn`,
    /// `expired` (given under a policy that has since added a use), or
    /// `none` (never asked: not allowed).
    #[schema(value_type = Object)]
    pub purposes: std::collections::BTreeMap<String, String>,
    pub policy_version: Option<u32>,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<ConsentRecord>,
}

/// A person's current consent per purpose and their records.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), responses((status = 200, body = ConsentStatus), (status = 403, body = crate::error::ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
) -> Result<Json<ConsentStatus>, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let now = state.consent_status(&subject, actor_of(&caller)).await?;
    Ok(Json(ConsentStatus {
        purposes: now.purposes,
        policy_version: now.policy_version,
        records: now.records,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentHistory {
    /// The person's pseudonym, which each receipt's commitment must name
    /// under the receipt's salt: what the privacy center checks receipts
    /// against (`fineline verify --subject` takes it too). The person's
    /// own token already carries it; an admin could read it anyway.
    pub subject: String,
    /// Every consent record of the person with a receipt proving it is in
    /// the ledger under the current signed tree head.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<HistoryEntry>,
}

#[derive(Serialize)]
pub struct HistoryEntry {
    pub record: ConsentRecord,
    pub receipt: Receipt,
}

/// The person's consent history, each entry with its proof.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents/history", params(("id" = String, Path, description = "the person's own id, or `me` with their token")), responses((status = 200, body = ConsentHistory)))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    path: LatePath<String>,
) -> Result<Json<ConsentHistory>, ApiError> {
    let raw_id = subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let entries = state
        .consent_history(&subject, actor_of(&caller))
        .await?
        .into_iter()
        .map(|(record, receipt)| HistoryEntry { record, receipt })
        .collect();
    Ok(Json(ConsentHistory {
        subject: subject.to_text(),
        entries,
    }))
}
