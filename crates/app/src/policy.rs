//! Publishing the privacy policy: a new version, its ledger entry and the
//! purposes people must consent to again.

use fineline_consent::{reconsent_required, Policy};
use fineline_core::{Purpose, Timestamp};
use fineline_db::{PolicyRow, WriteOp};
use fineline_ledger::LedgerEntry;

use crate::{App, AppError};

/// What publishing a version did.
#[derive(Debug)]
pub struct Published {
    /// The version now current.
    pub version: u32,
    /// Purposes whose earlier consents lapsed (all of them for a first version).
    pub reconsent_required: Vec<Purpose>,
    /// Where the publication's ledger entry is.
    pub ledger_index: u64,
}

impl App {
    /// Publish `policy` (stamped now, except that a first version may keep
    /// a past `claimed` date: a notice already in force when the business
    /// adopts fineline). The row and its ledger entry commit together.
    pub async fn publish_policy(
        &self,
        mut policy: Policy,
        claimed: Option<Timestamp>,
    ) -> Result<Published, AppError> {
        let now = Timestamp::now();
        policy.published_at = now;
        self.catch_up().await?;
        let _turn = self.order.consent().await;
        let previous = self.current_policy();
        // No earlier version exists for a claimed date to override; every
        // later version is dated by the server.
        if let Some(at) = claimed {
            if previous.is_none() && at.0 > 0 && at <= now {
                policy.published_at = at;
            }
        }
        policy
            .validate(previous.as_ref())
            .map_err(|e| AppError::field("policy", e.to_string()))?;
        let reconsent: Vec<Purpose> = match &previous {
            Some(old) => reconsent_required(old, &policy).into_iter().collect(),
            None => policy.purposes.iter().map(|d| d.purpose).collect(),
        };
        let body = serde_json::to_vec(&policy).map_err(AppError::internal)?;
        let entry = LedgerEntry::PolicyPublished {
            version: policy.version,
            digest: fineline_ledger::Hash(policy.digest()),
            at: policy.published_at,
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |indices| {
                vec![
                    WriteOp::PutPolicy(PolicyRow {
                        version: policy.version,
                        published_at: policy.published_at,
                        body,
                    }),
                    crate::replication::note(fineline_db::ChangeKind::Policy, None, indices[0]),
                ]
            })
            .await?;
        self.consents
            .write()
            .unwrap()
            .publish(policy.clone())
            .map_err(AppError::internal)?;
        tracing::info!(version = policy.version, "policy published");
        if previous.is_some() && reconsent.contains(&Purpose::Personalization) {
            // Personalization given under older versions lapsed: retrain without it.
            self.recs.request_retrain();
        }
        Ok(Published {
            version: policy.version,
            reconsent_required: reconsent,
            ledger_index: appended.indices[0],
        })
    }
}
