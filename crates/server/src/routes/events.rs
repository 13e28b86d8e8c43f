//! `POST /v1/events`: parse the batch leniently (a bad event is rejected by
//! index, the rest still count), then `App::ingest` stores what consent
//! allows (invariant 1).

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use fineline_app::ingest::IncomingEvent;
use fineline_core::Role;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire_events::{parse_batch, Rejection};

#[derive(Serialize, utoipa::ToSchema)]
pub struct IngestReport {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
}

pub use fineline_app::ingest::FUTURE_TIMESTAMP;

/// Ingest a batch of up to 10,000 events (ingest role).
#[utoipa::path(post, path = "/v1/events", request_body(content = Vec<crate::wire_events::EventIn>),
    responses((status = 200, body = IngestReport), (status = 400, body = crate::error::ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<IngestReport>, ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let parsed = parse_batch(&body)?;
    let mut rejected = Vec::new();
    let mut events = Vec::with_capacity(parsed.len());
    for (i, item) in parsed.into_iter().enumerate() {
        match item {
            Ok(ev) => events.push((
                i,
                IncomingEvent {
                    subject_id: ev.subject_id,
                    kind: ev.kind,
                    item: ev.item,
                    properties: ev.properties,
                    at: ev.timestamp.0,
                    purpose: ev.purpose,
                },
            )),
            Err(r) => {
                state.metrics().reject("invalid_field", 1);
                rejected.push(r);
            }
        }
    }
    let done = state.ingest(events).await?;
    rejected.extend(done.refused.into_iter().map(|r| Rejection {
        index: r.index,
        reason: r.reason.into(),
        field: Some(r.field.into()),
        message: r.message,
    }));
    rejected.sort_by_key(|r| r.index);
    Ok(Json(IngestReport {
        accepted: done.accepted,
        rejected,
    }))
}
