//! Changing and reading a person's consent: the transaction that writes
//! the records and their ledger entries together, then updates the
//! in-memory index and the recommender before the receipts leave.

use std::collections::BTreeSet;

use fineline_consent::{gpc_withdrawals, tcf, ConsentRecord, ConsentSource, ConsentState};
use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_db::{ConsentRow, WriteOp};
use fineline_ledger::{LedgerEntry, Receipt};

use crate::consent_rows::StoredConsent;
use crate::replication::note;
use crate::subject_keys::LedgerSalt;
use crate::{App, AppError};
use fineline_db::ChangeKind;

/// A consent change as the person (or the business for them) asks it.
#[derive(Debug, Clone)]
pub struct ConsentChange {
    /// The policy version the person was shown; the current one if `None`.
    pub policy_version: Option<u32>,
    /// Where the choice was made (`web`, `app`, `kiosk`, `api`...).
    pub source: ConsentSource,
    /// Purposes granted.
    pub grant: Vec<Purpose>,
    /// Purposes withdrawn.
    pub withdraw: Vec<Purpose>,
    /// An IAB TCF v2.2 TC string, mapped onto fineline's purposes.
    pub tc_string: Option<String>,
    /// The browser sent Global Privacy Control (`Sec-GPC: 1`): its
    /// purposes are withdrawn whatever else the change says.
    pub gpc: bool,
}

/// What a consent change wrote: the records and a receipt for each.
#[derive(Debug)]
pub struct ConsentReceipts {
    /// The new records, in the order they were written.
    pub records: Vec<ConsentRecord>,
    /// One receipt per record, verifiable offline.
    pub receipts: Vec<Receipt>,
}

impl ConsentChange {
    /// Every (purpose, state, source) the change asks for: explicit
    /// choices, overridden by the TC string, overridden by GPC.
    fn choices(&self) -> Result<Vec<(Purpose, ConsentState, ConsentSource)>, AppError> {
        let mut changes: Vec<(Purpose, ConsentState, ConsentSource)> = Vec::new();
        for p in &self.grant {
            changes.push((*p, ConsentState::Given, self.source));
        }
        for p in &self.withdraw {
            changes.push((*p, ConsentState::Withdrawn, self.source));
        }
        if let Some(tc) = &self.tc_string {
            let decoded =
                tcf::decode(tc).map_err(|e| AppError::field("tc_string", e.to_string()))?;
            for (p, state) in decoded.fineline_choices() {
                changes.retain(|(q, _, _)| *q != p);
                changes.push((p, state, ConsentSource::Tcf));
            }
        }
        if self.gpc {
            for &p in gpc_withdrawals() {
                changes.retain(|(q, _, _)| *q != p);
                changes.push((p, ConsentState::Withdrawn, ConsentSource::Gpc));
            }
        }
        if changes.is_empty() {
            return Err(AppError::field(
                "grant",
                "nothing to change: give grant, withdraw or tc_string",
            ));
        }
        Ok(changes)
    }
}

impl App {
    /// Grant or withdraw purposes for `subject`. The records and their
    /// ledger entries commit in one transaction (a new person's keys are
    /// stored first, and discarded if it fails); then the consent index and
    /// the recommender learn of it, before the receipts are returned.
    pub async fn change_consent(
        &self,
        subject: Pseudonym,
        change: ConsentChange,
    ) -> Result<ConsentReceipts, AppError> {
        // Another process may have published a policy or changed this person.
        self.catch_up().await?;
        let policy = self
            .current_policy()
            .ok_or_else(|| AppError::conflict("no policy has been published yet"))?;
        let version = change.policy_version.unwrap_or(policy.version);
        let shown = self.policy_version(version).ok_or_else(|| {
            AppError::field("policy_version", format!("no policy version {version}"))
        })?;
        let changes = change.choices()?;
        let mut seen = BTreeSet::new();
        for (p, s, _) in &changes {
            if !seen.insert(*p) {
                return Err(AppError::field(
                    "withdraw",
                    format!("{p} is both granted and withdrawn"),
                ));
            }
            if *s == ConsentState::Given {
                if version != policy.version {
                    return Err(AppError::PolicyOutdated {
                        current: policy.version,
                        shown: version,
                    });
                }
                if !shown.purposes.iter().any(|d| d.purpose == *p) {
                    return Err(AppError::field(
                        "grant",
                        format!("policy version {version} does not declare {p}"),
                    ));
                }
            }
        }

        let _turn = self.order.consent().await;
        let (keys, new_keys) = self.subject_keys_or_new(&subject).await?;
        let commitment = keys.commitment(&subject);
        let now = Timestamp::now();
        let records: Vec<ConsentRecord> = changes
            .iter()
            .map(|(purpose, st, source)| {
                ConsentRecord::new(subject, &shown, *purpose, *st, *source, now)
            })
            .collect::<Result<_, _>>()
            .map_err(|e| AppError::field("grant", e.to_string()))?;
        let entries: Vec<LedgerEntry> = records
            .iter()
            .map(|r| LedgerEntry::ConsentChange {
                commitment,
                purpose: r.purpose,
                state: match r.state {
                    ConsentState::Given => fineline_ledger::ConsentState::Granted,
                    _ => fineline_ledger::ConsentState::Withdrawn,
                },
                policy_version: r.notice_version,
                source: r.source.as_str().to_string(),
                record_id: r.record_id.to_string(),
                at: r.at,
            })
            .collect();
        let appended = self
            .ledger
            .append(self.database(), &entries, |indices| {
                let mut ops: Vec<WriteOp> = records
                    .iter()
                    .zip(indices)
                    .map(|(r, &index)| WriteOp::PutConsent(consent_row(subject, r, index)))
                    .collect();
                ops.push(note(ChangeKind::Consent, Some(subject), indices[0]));
                ops
            })
            .await;
        let appended = match appended {
            Ok(a) => a,
            Err(e) => {
                if new_keys {
                    self.discard_new_subject_keys(&subject).await;
                }
                return Err(e);
            }
        };
        self.cache_subject_keys(subject, keys.clone());
        {
            let mut index = self.consents.write().unwrap();
            for r in &records {
                index.record(r);
            }
        }
        // Withdrawn personalization: out of the model before the receipt leaves.
        self.recs.consent_changed(self, &subject);
        let mut receipts = Vec::with_capacity(records.len());
        for index in appended.indices {
            receipts.push(
                self.ledger
                    .receipt(self.database(), index, Some(keys.ledger_salt()))
                    .await?,
            );
        }
        Ok(ConsentReceipts { records, receipts })
    }

    /// The person's consent records as stored, each with its ledger index.
    pub async fn stored_consents(
        &self,
        subject: &Pseudonym,
    ) -> Result<Vec<StoredConsent>, AppError> {
        stored_consents_in(self.database(), subject).await
    }
}

/// A person's consent records as `database` holds them.
pub(crate) async fn stored_consents_in(
    database: &dyn fineline_db::Database,
    subject: &Pseudonym,
) -> Result<Vec<StoredConsent>, AppError> {
    let rows = database.consents_for(subject).await?;
    rows.iter()
        .map(|r| serde_json::from_slice(&r.body).map_err(AppError::internal))
        .collect()
}

/// A consent record as the database keeps it: the queryable columns and the
/// whole record with its ledger index.
pub fn consent_row(subject: Pseudonym, r: &ConsentRecord, ledger_index: u64) -> ConsentRow {
    let body = serde_json::to_vec(&StoredConsent {
        record: r.clone(),
        ledger_index,
    })
    .expect("consent records serialise");
    ConsentRow {
        record_id: r.record_id.to_string(),
        subject,
        purpose: r.purpose,
        state: r.state.as_str().to_string(),
        policy_version: r.notice_version,
        source: r.source.as_str().to_string(),
        at: r.at,
        body,
    }
}
