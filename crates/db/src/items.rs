//! The catalogue (items) and subjects' interests (derived profile).

use async_trait::async_trait;
use fineline_core::{ItemId, Pseudonym};

use crate::{Result, WriteOp, WriteSet, WriteTables};

/// One catalogue item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// The business's id for the item; unique.
    pub item: ItemId,
    /// The category interests and insights group items by.
    pub category: String,
    /// The item's name, shown to people.
    pub title: String,
    /// Whether recommending an item already bought makes sense (groceries).
    pub repeatable: bool,
}

/// A subject's interest in a category. `removed` means the subject took it
/// out of their profile; it must not be inferred again.
#[derive(Debug, Clone, PartialEq)]
pub struct InterestRow {
    /// Whose interest.
    pub subject: Pseudonym,
    /// The item category it is in.
    pub category: String,
    /// How strong the interest is, from 0 to 1.
    pub weight: f64,
    /// The subject removed it; it must not be inferred again.
    pub removed: bool,
}

/// The catalogue and subjects' interests.
#[async_trait]
pub trait CatalogTables: WriteTables {
    /// One item; `None` if the catalogue has no such id.
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
