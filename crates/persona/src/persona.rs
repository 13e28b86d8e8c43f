//! Personas, their per-business settings, and the operations a device
//! performs on them. Everything here stays on the device.

use std::collections::BTreeMap;

use fineline_core::{ItemId, Timestamp};
use fineline_recs::PublicModel;

use crate::coins::Coins;
use crate::disclose::{payload, Disclosure, Payload, Terms, View};
use crate::erasure::{erasure_signing_key, ErasureRequest, ERASURE_NONCE_BYTES};
use crate::ids::{business_pseudonym, reporter_token, BusinessPseudonym};
use crate::interests::check_approval;
use crate::ldp::Budget;
use crate::level::{consent_steps, ConsentStep, TrustLevel};
use crate::log::{DeviceLog, LogEntry, Logged};
use crate::recommend::{recommend, OnDeviceRec};
use crate::PersonaError;

/// What a persona has set for one business.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BusinessSettings {
    /// The trust level (0 unless the person raised it).
    pub level: TrustLevel,
    /// Level 1's lifetime ε budget for this business.
    pub budget: Budget,
    /// Level 2's approved interests.
    pub approved: Vec<String>,
    /// Level 4's identity attributes.
    pub identity: BTreeMap<String, String>,
}

/// One persona: a secret, a local history, settings per business and the log.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Persona {
    /// The person's own name for it ("work", "family shopping").
    pub label: String,
    /// 32 random bytes the device drew; the per-business ids derive from it.
    secret: [u8; 32],
    /// Items viewed or bought, oldest first; never leaves below level 3.
    history: Vec<ItemId>,
    businesses: BTreeMap<String, BusinessSettings>,
    log: DeviceLog,
}

impl std::fmt::Debug for Persona {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and history are the persona: never in debug output or logs.
        f.debug_struct("Persona")
            .field("label", &self.label)
            .field("history_len", &self.history.len())
            .field("businesses", &self.businesses.len())
            .finish_non_exhaustive()
    }
}

impl Persona {
    /// A new persona from 32 random bytes the device drew.
    pub fn new(label: &str, secret: [u8; 32]) -> Self {
        Self {
            label: label.to_string(),
            secret,
            history: Vec::new(),
            businesses: BTreeMap::new(),
            log: DeviceLog::default(),
        }
    }

    /// The identifier this persona shows `business` (levels 2 to 4).
    pub fn pseudonym(&self, business: &str) -> BusinessPseudonym {
        business_pseudonym(&self.secret, business)
    }

    /// The token this persona's level-1 reports to `business` carry while
    /// its offer is at `offer_version` ([`reporter_token`]).
    pub fn reporter(&self, business: &str, offer_version: u64) -> BusinessPseudonym {
        reporter_token(&self.secret, business, offer_version)
    }

    /// The public key this persona proves itself with to `business` when it
    /// asks for erasure ([`crate::erasure_signing_key`]); sent with level
    /// changes to level 2 or above, so the business can check the request.
    pub fn erasure_key(&self, business: &str) -> fineline_ledger::VerifyingKey {
        erasure_signing_key(&self.secret, business).verifying_key()
    }

    /// The signature of a request for `business`'s own recommendations
    /// (`n` items, made at `at`), under the key [`Self::erasure_key`] gives
    /// the public half of ([`crate::sign_recommendations`]).
    pub fn sign_recommendations(&self, business: &str, at: Timestamp, n: u32) -> String {
        crate::erasure::sign_recommendations(&self.secret, business, at, n)
    }

    /// Makes, signs and logs a request that `business` erase what it holds
    /// under this persona's pseudonym; the nonce is the first 16 bytes of
    /// `coins`. Returns the log entry's sequence number and the request.
    pub fn request_erasure(
        &mut self,
        business: &str,
        at: Timestamp,
        coins: &[u8],
    ) -> Result<(u64, ErasureRequest), PersonaError> {
        let nonce: [u8; ERASURE_NONCE_BYTES] = coins
            .get(..ERASURE_NONCE_BYTES)
            .and_then(|c| c.try_into().ok())
            .ok_or(PersonaError::OutOfCoins)?;
        let request =
            ErasureRequest::sign(&self.secret, business, self.pseudonym(business), at, &nonce);
        let seq = self
            .log
            .push(business, at, Logged::Erasure(request.clone()));
        Ok((seq, request))
    }

    /// Keeps the business's erasure receipt on request `seq` once it
    /// verifies under `log_key` and is an erasure entry
    /// ([`DeviceLog::attach_receipt`]); the business then holds nothing
    /// under the pseudonym, so the persona is back at level 0 there (its
    /// lifetime ε budget is kept: a lifetime cap never resets).
    pub fn erased(
        &mut self,
        seq: u64,
        receipt: fineline_ledger::Receipt,
        log_key: &fineline_ledger::VerifyingKey,
    ) -> Result<String, PersonaError> {
        let business = match self.log.entries().get(seq as usize) {
            Some(LogEntry {
                what: Logged::Erasure(_),
                business,
                ..
            }) => business.clone(),
            _ => return Err(PersonaError::Invalid("not an erasure request")),
        };
        let summary = self.log.attach_receipt(seq, receipt, log_key)?;
        self.entry(&business).level = TrustLevel::Stranger;
        Ok(summary)
    }

    /// Notes an item viewed or bought, on the device only.
    pub fn record(&mut self, item: ItemId) {
        self.history.push(item);
    }

    /// The local history, oldest first.
    pub fn history(&self) -> &[ItemId] {
        &self.history
    }

    /// The settings for `business` (defaults: level 0, full budget).
    pub fn settings(&self, business: &str) -> BusinessSettings {
        self.businesses.get(business).cloned().unwrap_or_default()
    }

    /// The level set for `business`.
    pub fn level(&self, business: &str) -> TrustLevel {
        self.settings(business).level
    }

    /// The device log.
    pub fn log(&self) -> &DeviceLog {
        &self.log
    }

    /// The device log, to attach receipts.
    pub fn log_mut(&mut self) -> &mut DeviceLog {
        &mut self.log
    }

    fn entry(&mut self, business: &str) -> &mut BusinessSettings {
        self.businesses.entry(business.to_string()).or_default()
    }

    /// Sets the level for `business`, logs the change and returns its log
    /// sequence number and the consent steps to send (withdrawals first).
    /// Setting the current level again changes and logs nothing.
    pub fn set_level(
        &mut self,
        business: &str,
        to: TrustLevel,
        at: Timestamp,
    ) -> (Option<u64>, Vec<ConsentStep>) {
        let from = self.level(business);
        if from == to {
            return (None, Vec::new());
        }
        let steps = consent_steps(from, to);
        self.entry(business).level = to;
        let seq = self.log.push(
            business,
            at,
            Logged::LevelChange {
                from,
                to,
                steps: steps.clone(),
            },
        );
        (Some(seq), steps)
    }

    /// Approves the level-2 interests for `business` (replacing earlier ones).
    pub fn approve_interests(
        &mut self,
        terms: &Terms,
        topics: Vec<String>,
    ) -> Result<(), PersonaError> {
        check_approval(&topics, &terms.taxonomy)?;
        self.entry(&terms.business).approved = topics;
        Ok(())
    }

    /// Sets the level-4 identity attributes for `business`.
    pub fn set_identity(&mut self, business: &str, identity: BTreeMap<String, String>) {
        self.entry(business).identity = identity;
    }

    /// Lowers the lifetime ε cap for `business`; it can never be raised,
    /// or the cap would not be a lifetime one.
    pub fn lower_budget_cap(&mut self, business: &str, cap_micro: u64) -> Result<(), PersonaError> {
        let budget = &mut self.entry(business).budget;
        if cap_micro > budget.cap_micro {
            return Err(PersonaError::Invalid(
                "a lifetime ε cap can only be lowered",
            ));
        }
        budget.cap_micro = cap_micro;
        Ok(())
    }

    /// On-device recommendations from the business's public model.
    pub fn recommend(&self, model: &PublicModel, n: usize) -> Vec<OnDeviceRec> {
        recommend(model, &self.history, n)
    }

    /// What leaves for `terms.business` at its current level, drawn with
    /// `coins`; logged unless it is nothing. A level-1 report that would
    /// exceed the business's lifetime ε is refused and nothing is spent.
    pub fn disclose(
        &mut self,
        terms: &Terms,
        model: &PublicModel,
        at: Timestamp,
        coins: &[u8],
    ) -> Result<Disclosure, PersonaError> {
        if terms.taxonomy.is_empty() {
            return Err(PersonaError::Invalid("the terms name no categories"));
        }
        let settings = self.settings(&terms.business);
        if settings.level == TrustLevel::Crowd
            && terms.report_epsilon_micro > settings.budget.remaining_micro()
        {
            return Err(PersonaError::BudgetExhausted {
                asked_micro: terms.report_epsilon_micro,
                remaining_micro: settings.budget.remaining_micro(),
            });
        }
        let view = View {
            level: settings.level,
            pseudonym: self.pseudonym(&terms.business),
            history: &self.history,
            approved: &settings.approved,
            identity: &settings.identity,
        };
        let payload = payload(&view, terms, model, &mut Coins::new(coins))?;
        if let Payload::Crowd { epsilon_micro, .. } = &payload {
            self.entry(&terms.business).budget.charge(*epsilon_micro)?;
        }
        let disclosure = Disclosure {
            business: terms.business.clone(),
            level: settings.level,
            at,
            payload,
        };
        if disclosure.payload != Payload::Nothing {
            self.log
                .push(&terms.business, at, Logged::Disclosure(disclosure.clone()));
        }
        Ok(disclosure)
    }
}

/// Every persona a person holds on one device.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Wallet {
    /// The personas, in the order they were made.
    pub personas: Vec<Persona>,
}

impl Wallet {
    /// Adds a persona; labels must be distinct so the person can tell them apart.
    pub fn add(&mut self, persona: Persona) -> Result<(), PersonaError> {
        if self.personas.iter().any(|p| p.label == persona.label) {
            return Err(PersonaError::Invalid("a persona with this label exists"));
        }
        self.personas.push(persona);
        Ok(())
    }

    /// The persona labelled `label`.
    pub fn get_mut(&mut self, label: &str) -> Option<&mut Persona> {
        self.personas.iter_mut().find(|p| p.label == label)
    }
}
