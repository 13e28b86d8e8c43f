//! Policies and consent records.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// One published policy version; `body` is the policy document as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Unique; consent records name the version they were given under.
    pub version: u32,
    /// When it was published.
    pub published_at: Timestamp,
    /// The published document, kept byte for byte.
    pub body: Vec<u8>,
}

/// One consent decision of a subject for a purpose. Records are never
/// updated, only added (history) or erased with their subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Unique per subject (the key is subject, record id).
    pub record_id: String,
    /// The person who decided.
    pub subject: Pseudonym,
    /// What the decision is about.
    pub purpose: Purpose,
    /// The consent crate's state word (e.g. `granted`, `denied`, `withdrawn`).
    pub state: String,
    /// The [`PolicyRow::version`] shown when the decision was made.
    pub policy_version: u32,
    /// Where the decision came from (e.g. `privacy_center`, `gpc`, `tcf`).
    pub source: String,
    /// When the decision was made.
    pub at: Timestamp,
    /// The whole record as the app serialised it (with its ledger index);
    /// the columns above are copies for querying.
    pub body: Vec<u8>,
}

/// Position after which [`ConsentTables::consents_page`] continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentCursor {
    /// Subject of the last record seen.
    pub subject: Pseudonym,
    /// Record id of the last record seen.
    pub record_id: String,
}

/// Published policy versions and subjects' consent records.
#[async_trait]
pub trait ConsentTables: WriteTables {
    /// All policy versions, oldest first.
    async fn policies(&self) -> Result<Vec<PolicyRow>>;

    /// A subject's consent records ordered by time, then record id.
    async fn consents_for(&self, subject: &Pseudonym) -> Result<Vec<ConsentRow>>;

    /// Up to `limit` records ordered by (subject, record id), strictly after
    /// `after`: for rebuilding the in-memory consent index at start.
    async fn consents_page(
        &self,
        after: Option<ConsentCursor>,
        limit: usize,
    ) -> Result<Vec<ConsentRow>>;

    /// Every consent record, ordered by (subject, record id).
    async fn all_consents(&self) -> Result<Vec<ConsentRow>> {
        let mut out: Vec<ConsentRow> = Vec::new();
        loop {
            let after = out.last().map(|r| ConsentCursor {
                subject: r.subject,
                record_id: r.record_id.clone(),
            });
            let page = self.consents_page(after, 10_000).await?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }

    /// Publishes a policy version (a duplicate version is a conflict).
    async fn put_policy(&self, version: u32, published_at: Timestamp, body: Vec<u8>) -> Result<()> {
        let op = WriteOp::PutPolicy(PolicyRow {
            version,
            published_at,
            body,
        });
        self.apply(WriteSet::from(op)).await.map(drop)
    }
}
