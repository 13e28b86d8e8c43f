//! A persona's level change as fineline consent (issue 18: "Lowering a
//! level is a withdrawal, with a receipt"), and the catalogue the
//! storefront shows.
//!
//! The device sends the change under its per-business pseudonym; the
//! pseudonym names a fineline subject (`persona:<hex>`, pseudonymised again
//! by the vault like any subject id), so the consent records, their ledger
//! entries and receipts, export, erasure and re-consent are the ones every
//! other person has. Only changes that touch level 2 or above are recorded:
//! levels 0 and 1 send no identifier, so there is no one to record them for.

use fineline_consent::ConsentSource;
use fineline_core::Pseudonym;
use fineline_db::WriteOp;
use fineline_ledger::Receipt;
use fineline_persona::{consent_steps, BusinessPseudonym, ConsentStep, TrustLevel};

use super::{INTERESTS_PREFIX, PSEUDONYM_DOMAIN};
use crate::consent::ConsentChange;
use crate::{App, AppError};

/// What a device asks when its person changes the level of this business.
#[derive(Debug, Clone)]
pub struct LevelChange {
    /// The business id of the offer (must be this server's).
    pub business: String,
    /// The persona's pseudonym at this business.
    pub pseudonym: BusinessPseudonym,
    /// The level the device was at.
    pub from: TrustLevel,
    /// The level the person chose.
    pub to: TrustLevel,
    /// The persona's erasure key for this business
    /// (`fineline_persona::erasure_signing_key`), sent with a change to
    /// level 2 or above: kept for the pseudonym (the first one stays) so
    /// the device can later ask for erasure itself.
    pub erasure_key: Option<fineline_ledger::VerifyingKey>,
}

/// The consent steps recorded, in order, and one receipt per step.
#[derive(Debug)]
pub struct LevelReceipts {
    /// `consent_steps(from, to)`: withdrawals first.
    pub steps: Vec<ConsentStep>,
    /// One ledger receipt per step, in the same order.
    pub receipts: Vec<Receipt>,
}

/// One catalogue entry as a shop window shows it.
#[derive(Debug, Clone)]
pub struct CatalogueItem {
    /// The item's id.
    pub id: String,
    /// The item's name.
    pub title: String,
    /// The item's category.
    pub category: String,
}

/// The subject id a persona's pseudonym is known by: never stored as is
/// (the vault pseudonymises it like an e-mail address).
pub fn persona_subject_id(pseudonym: &BusinessPseudonym) -> String {
    format!("persona:{}", pseudonym.to_hex())
}

impl App {
    /// The fineline subject a persona's pseudonym at this business is.
    pub fn persona_subject(&self, pseudonym: &BusinessPseudonym) -> Pseudonym {
        self.pseudonymize(&persona_subject_id(pseudonym))
    }

    /// Records a level change as the consent steps it means (withdrawals
    /// first, then grants), each a consent record with a ledger receipt.
    /// Going below level 2 also drops the interests kept for the pseudonym,
    /// so the shop stops using them when the receipt leaves.
    pub async fn persona_change_level(
        &self,
        change: LevelChange,
    ) -> Result<LevelReceipts, AppError> {
        let (offer, _) = self.persona_offer().await?;
        if change.business != offer.business {
            return Err(AppError::field(
                "business",
                format!("this server is business {:?}", offer.business),
            ));
        }
        if change.from == change.to {
            return Err(AppError::field("to", "the level is unchanged"));
        }
        if change.from.number() < 2 && change.to.number() < 2 {
            return Err(AppError::field(
                "to",
                "levels 0 and 1 send no identifier: a change between them stays on the device",
            ));
        }
        let steps = consent_steps(change.from, change.to);
        let subject = self.persona_subject(&change.pseudonym);
        if let Some(key) = &change.erasure_key {
            // Before anything is recorded: a refused key changes nothing.
            self.check_erasure_key(&subject, key).await?;
        }
        let change_of = |granted: bool| ConsentChange {
            policy_version: None,
            source: ConsentSource::Persona,
            grant: steps
                .iter()
                .filter(|s| s.granted && granted)
                .map(|s| s.purpose)
                .collect(),
            withdraw: steps
                .iter()
                .filter(|s| !s.granted && !granted)
                .map(|s| s.purpose)
                .collect(),
            tc_string: None,
            gpc: false,
        };
        let mut receipts = Vec::with_capacity(steps.len());
        // A purpose narrowed (3 → 2) is withdrawn and granted again: two
        // changes, since one change may not both grant and withdraw it.
        let withdraw = change_of(false);
        if !withdraw.withdraw.is_empty() {
            receipts.extend(self.change_consent(subject, withdraw).await?.receipts);
        }
        if change.to.number() < 2 {
            self.drop_persona_interests(&change.pseudonym).await?;
        }
        let grant = change_of(true);
        if !grant.grant.is_empty() {
            receipts.extend(self.change_consent(subject, grant).await?.receipts);
        }
        self.count_level_change(&change.pseudonym, change.from, change.to)
            .await?;
        if let Some(key) = &change.erasure_key {
            self.register_erasure_key(&subject, key).await?;
        }
        Ok(LevelReceipts { steps, receipts })
    }

    /// Overwrites the level-2 topics kept for `pseudonym` with none.
    async fn drop_persona_interests(&self, pseudonym: &BusinessPseudonym) -> Result<(), AppError> {
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, &pseudonym.to_hex());
        let name = format!("{INTERESTS_PREFIX}{}", who.to_text());
        let _write = self.persona_turn().await?;
        if self
            .database()
            .setting(&name)
            .await
            .map_err(AppError::internal)?
            .is_none()
        {
            return Ok(());
        }
        let empty = serde_json::json!({"topics": [], "withdrawn": true});
        self.database()
            .apply(fineline_db::WriteSet {
                ops: vec![WriteOp::PutSetting {
                    name,
                    value: serde_json::to_vec(&empty).map_err(AppError::internal)?,
                }],
            })
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    /// The catalogue as a shop window shows it (ids, titles, categories),
    /// ordered by id. Public: it names items, never people.
    pub async fn persona_catalogue(&self) -> Result<Vec<CatalogueItem>, AppError> {
        Ok(self
            .database()
            .items()
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|r| CatalogueItem {
                id: r.item.as_str().to_string(),
                title: r.title,
                category: r.category,
            })
            .collect())
    }
}
