//! Levels 3 and 4 from the device (issue 18: "3 member: pseudonymous
//! history shared with that business: today's server-side
//! personalization, consent-gated as now"; "4 known: identified").
//!
//! The device sends exactly `Persona::disclose`'s level-3 or level-4
//! payload under its per-business pseudonym. Nothing new is kept beside
//! fineline's own records: the items become ordinary events of the subject
//! `persona:<pseudonym>` through [`App::ingest`] (consent checked per
//! event, properties sealed under the person's data key), and level 4's
//! identity attributes are the sealed properties of one `identity` event.
//! So server-side personalization, export, erasure and receipts apply as
//! to anyone else.
//!
//! Consent records carry purposes, not data categories, and level 2
//! grants personalization too (for interests only). So a history is taken
//! only while the pseudonym's last level change, as the server recorded
//! it, is 3 or above (4 for identity) *and* personalization is granted now.

use std::collections::{BTreeMap, BTreeSet};

use fineline_core::{EventKind, ItemId, Purpose, Timestamp};
use fineline_ledger::{Actor, LedgerEntry};
use fineline_persona::{BusinessPseudonym, Disclosure, Payload, TrustLevel};
use rand::RngCore;

use super::level::persona_subject_id;
use super::{disclosure_digest, DisclosureReceipt, PSEUDONYM_DOMAIN};
use crate::ingest::IncomingEvent;
use crate::recommend::Recommended;
use crate::{App, AppError};

/// The most items one request for a persona's recommendations may ask for.
pub const MAX_PERSONA_RECOMMENDATIONS: usize = 100;

/// Most distinct items one level-3 or level-4 disclosure carries.
pub const MAX_HISTORY_ITEMS: usize = 1000;
/// Most identity attributes a level-4 disclosure carries.
pub const MAX_IDENTITY_ATTRIBUTES: usize = 8;
/// Longest identity attribute value, in bytes.
pub const MAX_IDENTITY_VALUE: usize = 200;
/// Event kind of a history item a device disclosed (weighted as a view).
pub const HISTORY_EVENT: &str = "view";
/// Event kind whose sealed properties are level 4's identity attributes.
pub const IDENTITY_EVENT: &str = "identity";

/// An attribute name: what the person's form calls it (`email`,
/// `shoe_size`), never free text.
fn valid_attribute(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_identity(identity: &BTreeMap<String, String>) -> Result<(), AppError> {
    let bad = |m: String| Err(AppError::field("payload.identity", m));
    if identity.len() > MAX_IDENTITY_ATTRIBUTES {
        return bad(format!("at most {MAX_IDENTITY_ATTRIBUTES} attributes"));
    }
    for (k, v) in identity {
        if !valid_attribute(k) {
            return bad(format!("{k:?}: attribute names are 1-32 of a-z, 0-9 and _"));
        }
        if v.len() > MAX_IDENTITY_VALUE || v.chars().any(char::is_control) {
            return bad(format!(
                "{k:?}: at most {MAX_IDENTITY_VALUE} bytes of text without control characters"
            ));
        }
    }
    Ok(())
}

impl App {
    /// The level this pseudonym may be served at now: the level its last
    /// change recorded here, while personalization is granted; otherwise 0
    /// (never changed, withdrawn, erased, or consent lapsed).
    pub async fn persona_recorded_level(
        &self,
        pseudonym: &BusinessPseudonym,
    ) -> Result<TrustLevel, AppError> {
        let subject = self.persona_subject(pseudonym);
        let granted = self.consents.read().unwrap().allowed(
            &subject,
            Purpose::Personalization,
            Timestamp::now(),
        );
        if !granted {
            return Ok(TrustLevel::Stranger);
        }
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, &pseudonym.to_hex());
        let recorded: Option<u8> = self
            .setting_json(&format!(
                "{}{}",
                super::figures::LEVEL_PREFIX,
                who.to_text()
            ))
            .await?;
        Ok(recorded
            .and_then(|n| TrustLevel::try_from(n).ok())
            .unwrap_or_default())
    }

    /// Takes a level-3 history or a level-4 history and identity: the
    /// items the subject has no event of yet become `view` events, the
    /// identity one `identity` event with sealed properties, all through
    /// the consent-checked ingest; then a `persona_disclosure` ledger entry
    /// binds what was sent, as at levels 1 and 2.
    pub(super) async fn persona_disclose_member(
        &self,
        disclosure: Disclosure,
    ) -> Result<DisclosureReceipt, AppError> {
        let (pseudonym, items, identity) = match (&disclosure.level, &disclosure.payload) {
            (TrustLevel::Member, Payload::History { pseudonym, items }) => {
                (*pseudonym, items, None)
            }
            (
                TrustLevel::Known,
                Payload::Identified {
                    pseudonym,
                    items,
                    identity,
                },
            ) => (*pseudonym, items, Some(identity)),
            (level, _) => {
                return Err(AppError::field(
                    "payload",
                    format!("not the payload of a level-{} disclosure", level.number()),
                ))
            }
        };
        if items.len() > MAX_HISTORY_ITEMS {
            return Err(AppError::field(
                "payload.items",
                format!("at most {MAX_HISTORY_ITEMS} items"),
            ));
        }
        if let Some(identity) = identity {
            check_identity(identity)?;
        }
        let recorded = self.persona_recorded_level(&pseudonym).await?;
        if recorded < TrustLevel::Member {
            return Err(AppError::field(
                "payload.pseudonym",
                "no level-3 consent (browsing and purchase history) is recorded for this pseudonym now: send the level change first (POST /v1/persona/level)",
            ));
        }
        if identity.is_some() && recorded < TrustLevel::Known {
            return Err(AppError::field(
                "payload.identity",
                "identity is granted at level 4; this pseudonym's recorded level is 3",
            ));
        }

        let subject = self.persona_subject(&pseudonym);
        let held: BTreeSet<ItemId> = self
            .database()
            .events_for(&subject)
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .filter(|e| e.purpose == Purpose::Personalization)
            .filter_map(|e| e.item)
            .collect();
        // The device sends its whole distinct history each time; each item
        // is one event once. Stamped with the server's clock: the payload
        // carries no per-item time, and a device clock behind ours would
        // date the events before the consent that lets them in.
        let now = Timestamp::now();
        let subject_id = persona_subject_id(&pseudonym);
        let event = |kind: &str, item: Option<ItemId>, properties| IncomingEvent {
            subject_id: subject_id.clone(),
            kind: EventKind::new(kind).expect("a valid kind"),
            item,
            properties,
            at: now,
            purpose: Purpose::Personalization,
        };
        let mut seen = BTreeSet::new();
        let mut events: Vec<IncomingEvent> = items
            .iter()
            .filter(|i| !held.contains(*i) && seen.insert(*i))
            .map(|i| event(HISTORY_EVENT, Some(i.clone()), None))
            .collect();
        if let Some(identity) = identity.filter(|i| !i.is_empty()) {
            let json = serde_json::to_string(identity).map_err(AppError::internal)?;
            let raw = serde_json::value::RawValue::from_string(json).map_err(AppError::internal)?;
            events.push(event(IDENTITY_EVENT, None, Some(raw)));
        }
        if !events.is_empty() {
            let done = self
                .ingest(events.into_iter().enumerate().collect())
                .await?;
            if let Some(r) = done.refused.first() {
                return Err(AppError::field(
                    "payload.pseudonym",
                    format!("not taken: {} ({})", r.message, r.reason),
                ));
            }
        }

        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let entry = LedgerEntry::PersonaDisclosure {
            level: disclosure.level.number(),
            digest: disclosure_digest(&nonce, &disclosure),
            at: now,
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |_| Vec::new())
            .await?;
        let receipt = self
            .ledger
            .receipt(self.database(), appended.indices[0], None)
            .await?;
        Ok(DisclosureReceipt { receipt, nonce })
    }

    /// The shop's server-side recommendations for a persona at level 3 or
    /// above (its disclosed history folded in, the read a ledger entry
    /// like any personalized answer); refused below level 3, naming
    /// `pseudonym`.
    ///
    /// The request is signed under the persona's key at this business
    /// (`fineline_persona::recommendations_message`): the answer is derived
    /// from the person's history, so the pseudonym alone does not open it.
    /// Checked first: a key is registered and the signature verifies (401
    /// `signature_refused` naming `pseudonym` or `signature`), then `at`
    /// within the skew of `now` (400 `at`), then `n` (400, 1 to
    /// [`MAX_PERSONA_RECOMMENDATIONS`]).
    pub async fn persona_recommend(
        &self,
        business: &str,
        pseudonym: &BusinessPseudonym,
        n: usize,
        at: Timestamp,
        signature: &str,
        now: Timestamp,
    ) -> Result<Recommended, AppError> {
        let subject = self.persona_subject(pseudonym);
        let key = self.persona_signing_key(&subject).await?;
        // An `n` past u32 was signed by no one: it fails as a signature.
        let signed_n = u32::try_from(n).unwrap_or(u32::MAX);
        fineline_persona::verify_recommendations(
            &key, business, pseudonym, at, signed_n, signature, now,
        )
        .map_err(super::erasure::refusal)?;
        if !(1..=MAX_PERSONA_RECOMMENDATIONS).contains(&n) {
            return Err(AppError::field(
                "n",
                format!("must be 1 to {MAX_PERSONA_RECOMMENDATIONS}"),
            ));
        }
        let (offer, _) = self.persona_offer().await?;
        if business != offer.business {
            return Err(AppError::field(
                "business",
                format!("this server is business {:?}", offer.business),
            ));
        }
        if self.persona_recorded_level(pseudonym).await? < TrustLevel::Member {
            return Err(AppError::field(
                "pseudonym",
                "the shop recommends from a history only at level 3 or above (member), while personalization is granted",
            ));
        }
        self.recommend(&subject, n, None, Actor::Subject).await
    }
}
