//! The catalogue (items) and subjects' interests (derived profile).

use async_trait::async_trait;
use fineline_core::{ItemId, Pseudonym};

use crate::{Result, WriteOp, WriteSet, WriteTables};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    pub item: ItemId,
    pub category: String,
    pub title: String,
    /// Whether recommending an item already bought makes sense (groceries).
    pub repeatable: bool,
}

/// A subject's interest in a category. `removed` means the subject took it
/// out of their profile; it must not be inferred again.
#[derive(Debug, Clone, PartialEq)]
pub struct InterestRow {
    pub subject: Pseudonym,
    pub category: String,
    pub weight: f64,
    pub removed: bool,
}

#[async_trait]
pub trait CatalogTables: WriteTables {
    async fn item(&self, item: &ItemId) -> Result<Option<ItemRow>>;

    /// All items ordered by id.
    async fn items(&self) -> Result<Vec<ItemRow>>;

    /// A subject's interests (removed ones included), ordered by category.
    async fn interests_for(&self, subject: &Pseudonym) -> Result<Vec<InterestRow>>;

    /// Inserts or replaces an item.
    async fn put_item(&self, item: ItemRow) -> Result<()> {
        self.apply(WriteSet::from(WriteOp::PutItem(item)))
            .await
            .map(drop)
    }

    /// Inserts or replaces a subject's interest in a category.
    async fn put_interest(&self, interest: InterestRow) -> Result<()> {
        self.apply(WriteSet::from(WriteOp::PutInterest(interest)))
            .await
            .map(drop)
    }

    /// Marks an interest removed by the subject (keeps the row so it is not
    /// re-inferred).
    async fn remove_interest(&self, subject: &Pseudonym, category: &str) -> Result<()> {
        let op = WriteOp::RemoveInterest {
            subject: *subject,
            category: category.to_string(),
        };
        self.apply(WriteSet::from(op)).await.map(drop)
    }
}
