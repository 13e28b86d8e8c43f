//! Bringing consent records over from another consent platform (the
//! use case and why it allows past times: `fineline_app::consent_import`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use fineline_app::consent_import::ImportedGrant;
use fineline_consent::ConsentSource;
use fineline_core::{Purpose, Role};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
use crate::state::AppState;
use crate::wire_events::WireTime;

pub use fineline_app::consent_import::MAX_IMPORT;

/// One person's grants as the previous platform recorded them.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedConsent {
    pub subject_id: String,
    #[schema(value_type = Vec<String>)]
    pub grant: Vec<Purpose>,
    /// When the person gave it: ms since the epoch or RFC 3339; between the
    /// current policy's publication and now.
    #[schema(value_type = String)]
    pub at: WireTime,
    /// Where it was given (`web`, `app`, `kiosk`, `api`); `api` if absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub source: Option<ConsentSource>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentImport {
    pub records: Vec<ImportedConsent>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// People whose records were stored.
    pub subjects: usize,
    /// Consent records stored (one per person and purpose).
    pub records: usize,
    /// People seen for the first time (their keys were created).
    pub new_subjects: usize,
    /// Ledger index of the first record; the rest follow in request order.
    pub first_ledger_index: Option<u64>,
}

/// Import up to 1,000 people's grants under the current policy (admin),
/// each at its original time. All or nothing: one bad record refuses the
/// whole request, naming it.
#[utoipa::path(post, path = "/v1/consents/import", request_body = ConsentImport,
    responses((status = 201, body = ImportReport), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    body: LateJson<ConsentImport>,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    caller.require(&[Role::Admin])?;
    let body = body?.0;
    let grants: Vec<ImportedGrant> = body
        .records
        .into_iter()
        .map(|r| ImportedGrant {
            subject_id: r.subject_id,
            grant: r.grant,
            at: r.at.0,
            source: r.source,
        })
        .collect();
    let done = state.import_consents(&grants).await?;
    Ok((
        StatusCode::CREATED,
        Json(ImportReport {
            subjects: done.subjects,
            records: done.records,
            new_subjects: done.new_subjects,
            first_ledger_index: done.first_ledger_index,
        }),
    ))
}
