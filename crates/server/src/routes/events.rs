//! Consent-gated event ingestion.
//!
//! An event is stored only if its person had granted its purpose at its
//! time (invariant 1). The check runs against the in-memory consent index,
//! so a batch of 10k events costs no store reads for consent; properties
//! are sealed under the person's own data key before they reach the store.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use fineline_core::{Role, Timestamp, MAX_FUTURE_MS};
use fineline_store::NewEvent;
use fineline_vault::subject_aad;
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

/// Rejection reason of an event stamped more than `MAX_FUTURE_MS` ahead
/// of the server's clock.
pub const FUTURE_TIMESTAMP: &str = "future_timestamp";

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
    let mut accepted = Vec::with_capacity(parsed.len());
    let mut refused: BTreeMap<fineline_core::Purpose, u64> = BTreeMap::new();
    let latest = Timestamp::now().plus_millis(MAX_FUTURE_MS);
    let mut pseudonyms: HashMap<String, fineline_core::Pseudonym> = HashMap::new();
    {
        let index = state.consents.read().unwrap();
        for (i, item) in parsed.into_iter().enumerate() {
            let ev = match item {
                Ok(ev) => ev,
                Err(r) => {
                    state.metrics.reject("invalid_field", 1);
                    rejected.push(r);
                    continue;
                }
            };
            // Retention deletes by event time: a row from the future would
            // outlive every retention period.
            if ev.timestamp.0 > latest {
                state.metrics.reject(FUTURE_TIMESTAMP, 1);
                rejected.push(Rejection {
                    index: i,
                    reason: FUTURE_TIMESTAMP.into(),
                    field: Some("timestamp".into()),
                    message: format!(
                        "more than {} minutes ahead of the server's clock",
                        MAX_FUTURE_MS / 60_000
                    ),
                });
                continue;
            }
            // One HMAC per person per batch, not per event: batches
            // usually hold many events of few people.
            let subject = match pseudonyms.get(ev.subject_id.as_str()) {
                Some(p) => *p,
                None => {
                    let p = state.pseudonymize(&ev.subject_id);
                    pseudonyms.insert(ev.subject_id.clone(), p);
                    p
                }
            };
            if !index.allowed(&subject, ev.purpose, ev.timestamp.0) {
                state.metrics.reject("no_consent", 1);
                *refused.entry(ev.purpose).or_default() += 1;
                rejected.push(Rejection {
                    index: i,
                    reason: "no_consent".into(),
                    field: Some("purpose".into()),
                    message: format!(
                        "{} was not granted by this person at the event's time",
                        ev.purpose
                    ),
                });
                continue;
            }
            accepted.push((i, subject, ev));
        }
    }

    let mut events = Vec::with_capacity(accepted.len());
    let mut insight_rows = Vec::new();
    // Keys and associated data once per person per batch, not per event.
    let mut keyed: HashMap<fineline_core::Pseudonym, Option<(_, Vec<u8>)>> = HashMap::new();
    for (i, subject, ev) in accepted {
        // Consent exists, so the person's keys do too (created with their
        // first consent record, destroyed only by erasure which also
        // removes the consent).
        let found = match keyed.get(&subject) {
            Some(k) => k.clone(),
            None => {
                let k = state
                    .subject_keys(&subject)
                    .await?
                    .map(|k| (k, subject_aad(&subject)));
                keyed.insert(subject, k.clone());
                k
            }
        };
        let Some((keys, aad)) = found else {
            state.metrics.reject("erased", 1);
            rejected.push(Rejection {
                index: i,
                reason: "erased".into(),
                field: Some("subject_id".into()),
                message: "this person's data has been erased".into(),
            });
            continue;
        };
        let props = ev
            .properties
            .as_ref()
            .map(|p| p.get().as_bytes())
            .unwrap_or(b"{}");
        insight_rows.extend(fineline_app::insights_data::capture(
            &state,
            &subject,
            fineline_app::insights_data::EventView {
                at: ev.timestamp.0,
                kind: &ev.kind,
                item: ev.item.as_ref(),
                properties: ev.properties.as_ref().map(|p| p.get()),
            },
            events.len(),
        ));
        events.push(NewEvent {
            subject,
            kind: ev.kind,
            item: ev.item,
            purpose: ev.purpose,
            at: ev.timestamp.0,
            sealed_properties: keys.data_key.seal(props, &aad),
        });
    }
    let n = events.len();
    let batch = fineline_app::ingest_writer::Batch {
        events,
        insight_rows,
        refused,
    };
    fineline_app::ingest_writer::store_batch(&state, batch).await?;
    state
        .metrics
        .events_accepted
        .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    rejected.sort_by_key(|r| r.index);
    Ok(Json(IngestReport {
        accepted: n,
        rejected,
    }))
}
