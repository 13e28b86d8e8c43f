//! Bringing consent records over from another consent platform: many
//! people's grants in one request, each at the time the person gave it.
//!
//! Why it exists: a business adopting fineline already holds consents its
//! old platform collected, and a demo shop needs thousands of customers.
//! Recording them one request at a time costs two fsyncs each (a key and
//! a ledger append); here the new people's keys are created in one
//! key-store transaction and every record lands in one ledger append.
//!
//! Why past times are allowed, and how far: a grant's time decides which
//! events it covers (invariant 1), so an imported grant keeps its original
//! time. It must lie between the current policy version's publication and
//! now, so it can only cover what that notice said; the ledger entry
//! carries the claimed time while the signed tree head that first covers
//! it shows when it was logged, so anyone can see the record was imported.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use fineline_consent::{ConsentRecord, ConsentSource, ConsentState};
use fineline_core::{Pseudonym, Purpose, Role, Timestamp};
use fineline_ledger::LedgerEntry;
use fineline_store::WriteOp;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, LateJson};
use crate::state::AppState;
use crate::wire_events::WireTime;

/// People per import request.
pub const MAX_IMPORT: usize = 1_000;

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
    if body.records.is_empty() || body.records.len() > MAX_IMPORT {
        return Err(ApiError::field(
            "records",
            format!("give 1 to {MAX_IMPORT} people per request"),
        ));
    }
    let policy = state
        .current_policy()
        .ok_or_else(|| ApiError::conflict("no policy has been published yet"))?;
    let now = Timestamp::now();
    let mut people: Vec<(Pseudonym, &ImportedConsent)> = Vec::with_capacity(body.records.len());
    for (i, r) in body.records.iter().enumerate() {
        let field = |f: &str| format!("records[{i}].{f}");
        if r.subject_id.is_empty() || r.subject_id.len() > 256 {
            return Err(ApiError::field(field("subject_id"), "1 to 256 bytes"));
        }
        if r.grant.is_empty() {
            return Err(ApiError::field(field("grant"), "nothing to grant"));
        }
        for p in &r.grant {
            if policy.declaration(*p).is_none() {
                return Err(ApiError::field(
                    field("grant"),
                    format!("policy version {} does not declare {p}", policy.version),
                ));
            }
        }
        let at = r.at.0;
        if at < policy.published_at || at > now {
            return Err(ApiError::field(
                field("at"),
                "must lie between the current policy's publication and now",
            ));
        }
        if matches!(r.source, Some(ConsentSource::Gpc | ConsentSource::Tcf)) {
            return Err(ApiError::field(
                field("source"),
                "gpc and tcf choices come with the signal itself: use POST /v1/subjects/{id}/consents",
            ));
        }
        people.push((state.pseudonymize(&r.subject_id), r));
    }

    let _turn = state.order.consent().await;
    let subjects: Vec<Pseudonym> = people.iter().map(|(s, _)| *s).collect();
    let (keys, new_subjects) = state.subject_keys_or_new_many(&subjects).await?;
    let mut records: Vec<ConsentRecord> = Vec::new();
    let mut entries: Vec<LedgerEntry> = Vec::new();
    for ((subject, r), k) in people.iter().zip(&keys) {
        let commitment = k.commitment(subject);
        let mut granted: Vec<Purpose> = r.grant.clone();
        granted.sort();
        granted.dedup();
        for p in granted {
            let rec = ConsentRecord::new(
                *subject,
                &policy,
                p,
                ConsentState::Given,
                r.source.unwrap_or(ConsentSource::Api),
                r.at.0,
            )
            .map_err(|e| ApiError::field("records", e.to_string()))?;
            entries.push(LedgerEntry::ConsentChange {
                commitment,
                purpose: p,
                state: fineline_ledger::ConsentState::Granted,
                policy_version: rec.notice_version,
                source: rec.source.as_str().to_string(),
                record_id: rec.record_id.to_string(),
                at: rec.at,
            });
            records.push(rec);
        }
    }
    let appended = state
        .ledger
        .append(state.store(), &entries, |indices| {
            records
                .iter()
                .zip(indices)
                .map(|(r, &index)| {
                    WriteOp::PutConsent(fineline_app::consent::consent_row(r.subject, r, index))
                })
                .collect()
        })
        .await;
    let appended = match appended {
        Ok(a) => a,
        Err(e) => {
            for s in &new_subjects {
                state.discard_new_subject_keys(s).await;
            }
            return Err(e.into());
        }
    };
    for (subject, k) in subjects.iter().zip(&keys) {
        state.cache_subject_keys(*subject, k.clone());
    }
    {
        let mut index = state.consents.write().unwrap();
        for r in &records {
            index.record(r);
        }
    }
    let mut distinct = subjects.clone();
    distinct.sort();
    distinct.dedup();
    Ok((
        StatusCode::CREATED,
        Json(ImportReport {
            subjects: distinct.len(),
            records: records.len(),
            new_subjects: new_subjects.len(),
            first_ledger_index: appended.indices.first().copied(),
        }),
    ))
}
