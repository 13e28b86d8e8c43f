//! Policies and consent records.

use async_trait::async_trait;
use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// One published policy version; `body` is the policy document as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    pub version: u32,
    pub published_at: Timestamp,
    pub body: Vec<u8>,
}

/// One consent decision of a subject for a purpose. Records are never
/// updated, only added (history) or erased with their subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    /// Unique per subject (the key is subject, record id).
    pub record_id: String,
    pub subject: Pseudonym,
    pub purpose: Purpose,
    /// The consent crate's state word (e.g. `granted`, `denied`, `withdrawn`).
    pub state: String,
    pub policy_version: u32,
    /// Where the decision came from (e.g. `privacy_center`, `gpc`, `tcf`).
    pub source: String,
    pub at: Timestamp,
    pub body: Vec<u8>,
}

/// Position after which [`ConsentTables::consents_page`] continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentCursor {
    pub subject: Pseudonym,
    pub record_id: String,
}

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
