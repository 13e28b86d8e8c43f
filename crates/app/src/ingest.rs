//! Consent-gated event ingestion.
//!
//! An event is stored only if its person had granted its purpose at its
//! time (invariant 1). The check runs against the in-memory consent index,
//! so a batch of 10k events costs no store reads for consent; properties
//! are sealed under the person's own data key before they reach the database.
//! The batch then goes through the group commit (`crate::ingest_writer`),
//! which re-checks consent in the ingest turn.

use std::collections::{BTreeMap, HashMap};

use fineline_core::{EventKind, ItemId, Pseudonym, Purpose, Timestamp, MAX_FUTURE_MS};
use fineline_db::NewEvent;
use fineline_vault::subject_aad;
use serde_json::value::RawValue;

use crate::{App, AppError};

/// Refusal reason of an event stamped more than `MAX_FUTURE_MS` ahead of
/// the server's clock.
pub const FUTURE_TIMESTAMP: &str = "future_timestamp";

/// One event as the business's systems sent it, parsed.
pub struct IncomingEvent {
    /// The business's own id for the person; pseudonymised at once, never stored.
    pub subject_id: String,
    /// `view`, `purchase`, `location`...
    pub kind: EventKind,
    /// The item it is about, if any.
    pub item: Option<ItemId>,
    /// Free-form properties (a JSON object), sealed under the person's key.
    pub properties: Option<Box<RawValue>>,
    /// The event's own time.
    pub at: Timestamp,
    /// The purpose it serves: stored only if granted at `at`.
    pub purpose: Purpose,
}

/// Why one event of a batch was not stored.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Its position in the batch.
    pub index: usize,
    /// `future_timestamp`, `no_consent` or `erased`.
    pub reason: &'static str,
    /// The field at fault.
    pub field: &'static str,
    /// In words.
    pub message: String,
}

/// What a batch did.
#[derive(Debug)]
pub struct Ingested {
    /// Events stored.
    pub accepted: usize,
    /// Events not stored, by position.
    pub refused: Vec<Refusal>,
}

impl App {
    /// Store the events whose person had granted their purpose at their
    /// time, atomically; refuse the others by position. `events` carries
    /// each event's position in the caller's batch.
    pub async fn ingest(&self, events: Vec<(usize, IncomingEvent)>) -> Result<Ingested, AppError> {
        // A withdrawal another replica acknowledged before this batch
        // arrived must refuse it here (see `crate::replication`).
        self.catch_up().await?;
        let mut refusals = Vec::new();
        let mut accepted = Vec::with_capacity(events.len());
        let mut refused: BTreeMap<Purpose, u64> = BTreeMap::new();
        let latest = Timestamp::now().plus_millis(MAX_FUTURE_MS);
        let mut pseudonyms: HashMap<String, Pseudonym> = HashMap::new();
        {
            let index = self.consents.read().unwrap();
            for (i, ev) in events {
                // Retention deletes by event time: a row from the future
                // would outlive every retention period.
                if ev.at > latest {
                    self.metrics.reject(FUTURE_TIMESTAMP, 1);
                    refusals.push(Refusal {
                        index: i,
                        reason: FUTURE_TIMESTAMP,
                        field: "timestamp",
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
                        let p = self.pseudonymize(&ev.subject_id);
                        pseudonyms.insert(ev.subject_id.clone(), p);
                        p
                    }
                };
                if !index.allowed(&subject, ev.purpose, ev.at) {
                    self.metrics.reject("no_consent", 1);
                    *refused.entry(ev.purpose).or_default() += 1;
                    refusals.push(Refusal {
                        index: i,
                        reason: "no_consent",
                        field: "purpose",
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

        let mut rows = Vec::with_capacity(accepted.len());
        let mut insight_rows = Vec::new();
        // The analytic dataset's person number of each insight row, when
        // the deployment has one.
        let mut insight_people = Vec::new();
        let analytics = self.analytics();
        // Keys and associated data once per person per batch, not per event.
        let mut keyed: HashMap<Pseudonym, Option<(_, Vec<u8>)>> = HashMap::new();
        for (i, subject, ev) in accepted {
            // Consent exists, so the person's keys do too (created with
            // their first consent record, destroyed only by erasure, which
            // also removes the consent).
            let found = match keyed.get(&subject) {
                Some(k) => k.clone(),
                None => {
                    let k = self
                        .subject_keys(&subject)
                        .await?
                        .map(|k| (k, subject_aad(&subject)));
                    keyed.insert(subject, k.clone());
                    k
                }
            };
            let Some((keys, aad)) = found else {
                self.metrics.reject("erased", 1);
                refusals.push(Refusal {
                    index: i,
                    reason: "erased",
                    field: "subject_id",
                    message: "this person's data has been erased".into(),
                });
                continue;
            };
            let props = ev.properties.as_ref().map(|p| p.get());
            let captured = insight_rows.len();
            insight_rows.extend(crate::insights_data::capture(
                self,
                &subject,
                crate::insights_data::EventView {
                    at: ev.at,
                    kind: &ev.kind,
                    item: ev.item.as_ref(),
                    properties: props,
                },
                rows.len(),
            ));
            if let (Some(a), true) = (analytics, insight_rows.len() > captured) {
                let number = crate::analytics::person_number(&keys.salt);
                a.met(subject, number);
                insight_people.push(number);
            }
            let sealed_properties = keys
                .data_key
                .seal(props.map_or(b"{}".as_slice(), str::as_bytes), &aad);
            rows.push(NewEvent {
                subject,
                kind: ev.kind,
                item: ev.item,
                purpose: ev.purpose,
                at: ev.at,
                sealed_properties,
            });
        }
        let n = rows.len();
        let batch = crate::ingest_writer::Batch {
            events: rows,
            insight_rows,
            insight_people,
            refused,
        };
        crate::ingest_writer::store_batch(self, batch).await?;
        self.metrics
            .events_accepted
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        refusals.sort_by_key(|r| r.index);
        Ok(Ingested {
            accepted: n,
            refused: refusals,
        })
    }
}
