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

use fineline_consent::{ConsentRecord, ConsentSource, ConsentState};
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_db::WriteOp;
use fineline_ledger::LedgerEntry;

use crate::subject_keys::LedgerSalt;
use crate::{App, AppError};

/// People per import.
pub const MAX_IMPORT: usize = 1_000;

/// One person's grants as the previous platform recorded them.
#[derive(Debug, Clone)]
pub struct ImportedGrant {
    /// The business's own id for the person; pseudonymised at once.
    pub subject_id: String,
    /// The purposes granted.
    pub grant: Vec<Purpose>,
    /// When the person gave it.
    pub at: Timestamp,
    /// Where it was given; `api` if absent.
    pub source: Option<ConsentSource>,
}

/// What an import stored.
#[derive(Debug)]
pub struct Imported {
    /// People whose records were stored.
    pub subjects: usize,
    /// Consent records stored (one per person and purpose).
    pub records: usize,
    /// People seen for the first time (their keys were created).
    pub new_subjects: usize,
    /// Ledger index of the first record; the rest follow in request order.
    pub first_ledger_index: Option<u64>,
}

impl App {
    /// Import up to [`MAX_IMPORT`] people's grants under the current
    /// policy, each at its original time. All or nothing: one bad record
    /// refuses the whole import, naming it (`records[i].field`).
    pub async fn import_consents(&self, grants: &[ImportedGrant]) -> Result<Imported, AppError> {
        if grants.is_empty() || grants.len() > MAX_IMPORT {
            return Err(AppError::field(
                "records",
                format!("give 1 to {MAX_IMPORT} people per request"),
            ));
        }
        let policy = self
            .current_policy()
            .ok_or_else(|| AppError::conflict("no policy has been published yet"))?;
        let now = Timestamp::now();
        let mut people: Vec<(Pseudonym, &ImportedGrant)> = Vec::with_capacity(grants.len());
        for (i, r) in grants.iter().enumerate() {
            let field = |f: &str| format!("records[{i}].{f}");
            if r.subject_id.is_empty() || r.subject_id.len() > 256 {
                return Err(AppError::field(field("subject_id"), "1 to 256 bytes"));
            }
            if r.grant.is_empty() {
                return Err(AppError::field(field("grant"), "nothing to grant"));
            }
            for p in &r.grant {
                if policy.declaration(*p).is_none() {
                    return Err(AppError::field(
                        field("grant"),
                        format!("policy version {} does not declare {p}", policy.version),
                    ));
                }
            }
            let at = r.at;
            if at < policy.published_at || at > now {
                return Err(AppError::field(
                    field("at"),
                    "must lie between the current policy's publication and now",
                ));
            }
            if matches!(r.source, Some(ConsentSource::Gpc | ConsentSource::Tcf)) {
                return Err(AppError::field(
                    field("source"),
                    "gpc and tcf choices come with the signal itself: use POST /v1/subjects/{id}/consents",
                ));
            }
            people.push((self.pseudonymize(&r.subject_id), r));
        }

        let _turn = self.order.consent().await;
        let subjects: Vec<Pseudonym> = people.iter().map(|(s, _)| *s).collect();
        let (keys, new_subjects) = self.subject_keys_or_new_many(&subjects).await?;
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
                    r.at,
                )
                .map_err(|e| AppError::field("records", e.to_string()))?;
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
        let appended = self
            .ledger
            .append(self.database(), &entries, |indices| {
                let mut ops: Vec<WriteOp> = records
                    .iter()
                    .zip(indices)
                    .map(|(r, &index)| {
                        WriteOp::PutConsent(crate::consent::consent_row(r.subject, r, index))
                    })
                    .collect();
                // One note per person, at the index of their first record.
                let mut noted = std::collections::HashSet::new();
                for (r, &index) in records.iter().zip(indices) {
                    if noted.insert(r.subject) {
                        ops.push(crate::replication::note(
                            fineline_db::ChangeKind::Consent,
                            Some(r.subject),
                            index,
                        ));
                    }
                }
                ops
            })
            .await;
        let appended = match appended {
            Ok(a) => a,
            Err(e) => {
                for s in &new_subjects {
                    self.discard_new_subject_keys(s).await;
                }
                return Err(e);
            }
        };
        for (subject, k) in subjects.iter().zip(&keys) {
            self.cache_subject_keys(*subject, k.clone());
        }
        {
            let mut index = self.consents.write().unwrap();
            for r in &records {
                index.record(r);
            }
        }
        let mut distinct = subjects.clone();
        distinct.sort();
        distinct.dedup();
        Ok(Imported {
            subjects: distinct.len(),
            records: records.len(),
            new_subjects: new_subjects.len(),
            first_ledger_index: appended.indices.first().copied(),
        })
    }
}
