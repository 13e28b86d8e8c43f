//! The business's side of the persona (issue 18, docs/persona.md): the
//! public model devices recommend from, the signed offer of what each
//! trust level gives, the disclosures devices send at levels 1 to 4
//! (3 and 4 in `member`), and the level-1 aggregate.
//!
//! Nothing here stores a raw identifier: a level-1 report is only added to
//! a count per ε and category; a level-2 pseudonym (already an HMAC the
//! device made for this business) is pseudonymised again under the
//! vault's key before its topics are kept. Each disclosure is a ledger
//! entry that carries only a digest, salted with a nonce the device gets
//! back, so the public log shows neither the report nor who sent it.

use std::collections::BTreeMap;
use std::sync::Arc;

use fineline_core::Timestamp;
use fineline_db::WriteOp;
use fineline_ledger::{Hash, LedgerEntry, Receipt, Signature};
use fineline_persona::{
    BusinessPseudonym, Disclosure, Estimate, Payload, PublicModel, Terms, TrustLevel,
    DEFAULT_LIFETIME_CAP_MICRO, MAX_TOPICS, NOISE_PERCENT,
};
use fineline_recs::PublicEaseConfig;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::sync::RwLock;
use crate::{App, AppError};

mod erasure;
mod figures;
mod level;
pub(crate) use erasure::erasure_key_setting;
mod member;
pub use figures::{PersonaFigures, StoreCheckins, CHECKIN_DAYS};
pub use level::{persona_subject_id, CatalogueItem, LevelChange, LevelReceipts};
pub use member::{
    HISTORY_EVENT, IDENTITY_EVENT, MAX_HISTORY_ITEMS, MAX_IDENTITY_ATTRIBUTES, MAX_IDENTITY_VALUE,
};

/// Label the public model is signed under (`fineline_ledger::document_message`).
pub const MODEL_LABEL: &str = "public-model";
/// Label the offer is signed under.
pub const OFFER_LABEL: &str = "persona-offer";
/// z of the level-1 aggregate's 95 % intervals.
pub const Z_95: f64 = 1.96;

const PUBLISHED_SETTING: &str = "persona.model_published";
const OFFER_SETTING: &str = "persona.offer";
const COUNTS_SETTING: &str = "persona.ldp_counts";
const INTERESTS_PREFIX: &str = "persona.interests.";
/// ε spent per level-1 reporter token and offer version.
const REPORTER_PREFIX: &str = "persona.reporter.";
/// Vault domain for level-2 pseudonyms, apart from subjects and devices.
const PSEUDONYM_DOMAIN: &str = "persona";

/// What the business offers devices; the admin's settings.
#[derive(Debug, Clone)]
pub struct PersonaConfig {
    /// The business id devices derive their pseudonym from.
    pub business: String,
    /// ε of each level-1 report, in micro-nats.
    pub report_epsilon_micro: u64,
    /// The lifetime ε the offer asks devices to cap this business at.
    pub lifetime_cap_micro: u64,
    /// Whether `/shop`, the demo storefront, is served (`serve --demo`).
    pub storefront: bool,
}

impl Default for PersonaConfig {
    fn default() -> Self {
        Self {
            business: "fineline".into(),
            report_epsilon_micro: 1_000_000,
            lifetime_cap_micro: DEFAULT_LIFETIME_CAP_MICRO,
            storefront: false,
        }
    }
}

impl App {
    /// The persona writers' turn: this process's mutex, then the
    /// deployment's lock of the same name, so replicas on one database
    /// take turns too (read-modify-writes of shared rows: ε spent per
    /// reporter token, counts per level, the published model and offer).
    pub(crate) async fn persona_turn(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, fineline_db::LedgerTurn), AppError> {
        let local = self.persona.write.lock().await;
        let shared = self.database().deployment_lock("persona").await?;
        Ok((local, shared))
    }
}

/// The persona part of [`App`]'s state.
#[derive(Default)]
pub struct PersonaModule {
    config: RwLock<PersonaConfig>,
    /// Serialises publications and count updates (read-modify-write of settings).
    write: tokio::sync::Mutex<()>,
    published: RwLock<Option<Arc<PublishedModel>>>,
    /// The offer as last built: every offer request and disclosure reads
    /// it, and building it scans the catalogue. Cleared when the admin
    /// changes the catalogue or the settings; otherwise kept for
    /// [`OFFER_TTL`] (another process may have changed the catalogue).
    offer: RwLock<Option<(std::time::Instant, Offer, Signature)>>,
}

/// How long a built offer is served before the catalogue is read again.
pub const OFFER_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// A public model as published: signed, and in the ledger.
#[derive(Debug)]
pub struct PublishedModel {
    /// The model devices rank items with locally.
    pub model: PublicModel,
    /// Over `document_message(MODEL_LABEL, model.canonical_bytes())`.
    pub signature: Signature,
    /// The `model_published` entry.
    pub ledger_index: u64,
}

/// What a business gives at one level, and the purposes it maps onto.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LevelOffer {
    /// The trust level's number.
    pub level: u8,
    /// The level's plain-words name.
    pub name: &'static str,
    /// Plain words: what leaves the device.
    pub leaves: &'static str,
    /// Plain words: what the person gets.
    pub gets: &'static str,
    /// The consent purposes choosing this level grants.
    pub purposes: Vec<PurposeGrant>,
}

/// One purpose a level grants, with its data categories.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PurposeGrant {
    /// The purpose granted.
    pub purpose: fineline_core::Purpose,
    /// The data categories it covers.
    pub categories: Vec<&'static str>,
}

/// The offer's signed body.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Offer {
    /// The business id devices derive their pseudonym from.
    pub business: String,
    /// Goes up by one whenever the content changes, so devices can tell the
    /// terms changed.
    pub version: u64,
    /// The catalogue's categories, sorted: what level-1 reports and level-2
    /// topics may name.
    pub taxonomy: Vec<String>,
    /// ε of each level-1 report, in micro-nats.
    pub report_epsilon_micro: u64,
    /// The lifetime ε, in micro-nats, devices are asked to cap this business
    /// at.
    pub lifetime_cap_micro: u64,
    /// Most level-2 topics a device sends.
    pub max_topics: u32,
    /// Chance, in percent, that a level-2 topic slot is random.
    pub noise_percent: u32,
    /// What each trust level gives and gets, lowest first.
    pub levels: Vec<LevelOffer>,
}

impl Offer {
    /// The bytes signed: compact JSON with every object's keys sorted
    /// (integers and strings only), so a client recomputes them from the
    /// offer it parsed whatever order its JSON library keeps.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // `Value`'s maps are sorted (serde_json without `preserve_order`).
        let value = serde_json::to_value(self).expect("an offer serialises");
        serde_json::to_vec(&value).expect("a value serialises")
    }

    /// The device's view of these terms.
    pub fn terms(&self) -> Terms {
        Terms {
            business: self.business.clone(),
            taxonomy: self.taxonomy.clone(),
            report_epsilon_micro: self.report_epsilon_micro,
        }
    }
}

/// The answer to a disclosure: the ledger receipt and the nonce its
/// digest was salted with (`SHA-256(nonce ‖ disclosure JSON)`).
pub struct DisclosureReceipt {
    /// The ledger receipt for the disclosure's arrival.
    pub receipt: Receipt,
    /// Salt of the receipt's digest, so the person can check it against
    /// what they sent and nobody else can guess it.
    pub nonce: [u8; 32],
}

/// The level-1 aggregate: estimated totals per category.
pub struct Aggregate {
    /// The business id.
    pub business: String,
    /// ε of each counted report, in micro-nats.
    pub report_epsilon_micro: u64,
    /// Level-1 reports counted so far.
    pub reports: u64,
    /// `None` while the catalogue names no category (no question to ask).
    pub p_truth: Option<f64>,
    /// Per category: its name, the reports naming it (each possibly a
    /// randomised answer) and the estimated true count.
    pub categories: Vec<(String, u64, Estimate)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PublishedRecord {
    version: u64,
    digest: Hash,
    ledger_index: u64,
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct OfferRecord {
    version: u64,
    digest: Hash,
}

/// Per ε (micro-nats), per reported category: reports received.
pub(crate) type Counts = BTreeMap<u64, BTreeMap<String, u64>>;

const LEAVES: [(&str, &str); 5] = [
    (
        "nothing",
        "recommendations computed on your device from the public model",
    ),
    (
        "randomized answers to which category you shop most, with no identifier",
        "the same, and you help the shop know its customers as a crowd",
    ),
    (
        "up to 3 interests you approve, each possibly replaced by noise, under a pseudonym only this shop sees",
        "offers for those interests",
    ),
    (
        "the items you viewed or bought, under that pseudonym",
        "personal recommendations from the shop",
    ),
    (
        "that history and the details you choose to give (loyalty account, sizes)",
        "a loyalty account and service that knows you",
    ),
];

/// Digest a disclosure receipt carries.
pub fn disclosure_digest(nonce: &[u8; 32], disclosure: &Disclosure) -> Hash {
    let mut h = Sha256::new();
    h.update(nonce);
    h.update(serde_json::to_vec(disclosure).expect("a disclosure serialises"));
    Hash(h.finalize().into())
}

impl App {
    /// The admin's persona settings now in force.
    pub fn persona_config(&self) -> PersonaConfig {
        self.persona.config.read().unwrap().clone()
    }

    /// Sets what the offer says; refused when a device would refuse it
    /// (ε per report above what the reference client takes, a cap below
    /// one report) or the business id is empty.
    pub fn set_persona_config(&self, config: PersonaConfig) -> Result<(), String> {
        let eps = config.report_epsilon_micro;
        if config.business.trim().is_empty() {
            return Err("the persona business id is empty".into());
        }
        if eps == 0 || eps > fineline_persona::MAX_REPORT_EPSILON_MICRO {
            return Err(format!(
                "ε per report must be above 0 and at most {} nats",
                fineline_persona::MAX_REPORT_EPSILON_MICRO / 1_000_000
            ));
        }
        if config.lifetime_cap_micro < eps {
            return Err("the lifetime ε cap must allow at least one report".into());
        }
        *self.persona.config.write().unwrap() = config;
        self.persona_catalogue_changed();
        Ok(())
    }

    /// The catalogue changed: the next offer reads it again.
    pub fn persona_catalogue_changed(&self) {
        *self.persona.offer.write().unwrap() = None;
    }

    /// The public model of the recommender now served, signed, its
    /// publication a ledger entry written once per version (also across
    /// restarts: the last publication is remembered in the database).
    pub async fn public_model(&self) -> Result<Arc<PublishedModel>, AppError> {
        let trained = self
            .recs
            .current()
            .ok_or_else(|| AppError::not_found("no model is trained yet"))?;
        let version = trained.trained_at.millis().max(0) as u64;
        let cached = |p: &Option<Arc<PublishedModel>>| {
            p.as_ref().filter(|m| m.model.version == version).cloned()
        };
        if let Some(m) = cached(&self.persona.published.read().unwrap()) {
            return Ok(m);
        }
        let _write = self.persona_turn().await?;
        if let Some(m) = cached(&self.persona.published.read().unwrap()) {
            return Ok(m);
        }
        // Building the model fits EASE on the release (a cubic solve over
        // the listed items): keep it off the executor. EASE on the device
        // is what reaches the server's quality at the floor
        // (docs/benchmarks.md, "Level 0 on the device"); the neighbour
        // model stands in only if that fit fails.
        let model = tokio::task::spawn_blocking(move || {
            trained
                .model
                .public_ease_model(version, PublicEaseConfig::default())
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "public EASE fit failed; publishing neighbours");
                    trained.model.public_model(version)
                })
        })
        .await
        .map_err(AppError::internal)?;
        let digest = Hash(model.digest);
        let before: Option<PublishedRecord> = self.setting_json(PUBLISHED_SETTING).await?;
        let ledger_index = match before {
            Some(r) if r.version == version && r.digest == digest => r.ledger_index,
            _ => {
                let entry = LedgerEntry::ModelPublished {
                    version,
                    digest,
                    at: Timestamp::now(),
                };
                let appended = self
                    .ledger
                    .append(self.database(), &[entry], |idx| {
                        let record = PublishedRecord {
                            version,
                            digest,
                            ledger_index: idx[0],
                        };
                        vec![WriteOp::PutSetting {
                            name: PUBLISHED_SETTING.into(),
                            value: serde_json::to_vec(&record).expect("serialises"),
                        }]
                    })
                    .await?;
                tracing::info!(version, "public model published");
                appended.indices[0]
            }
        };
        let signature = self
            .ledger
            .signer()
            .sign_document(MODEL_LABEL, &model.canonical_bytes());
        let published = Arc::new(PublishedModel {
            model,
            signature,
            ledger_index,
        });
        *self.persona.published.write().unwrap() = Some(published.clone());
        Ok(published)
    }

    /// A receipt for a ledger entry that names no one (a model publication).
    pub async fn public_receipt(&self, index: u64) -> Result<Receipt, AppError> {
        self.ledger.receipt(self.database(), index, None).await
    }

    /// The offer now in force and its signature. Its version goes up by
    /// one whenever its content changes (the catalogue's categories, the
    /// configured ε), remembered in the database.
    pub async fn persona_offer(&self) -> Result<(Offer, Signature), AppError> {
        if let Some((built, offer, sig)) = self.persona.offer.read().unwrap().as_ref() {
            if built.elapsed() < OFFER_TTL {
                return Ok((offer.clone(), *sig));
            }
        }
        let config = self.persona_config();
        let mut taxonomy: Vec<String> = self
            .database()
            .items()
            .await
            .map_err(AppError::internal)?
            .into_iter()
            .map(|r| r.category)
            .filter(|c| !c.is_empty())
            .collect();
        taxonomy.sort();
        taxonomy.dedup();
        let levels = TrustLevel::ALL
            .iter()
            .zip(LEAVES)
            .map(|(l, (leaves, gets))| LevelOffer {
                level: l.number(),
                name: l.name(),
                leaves,
                gets,
                purposes: l
                    .grants()
                    .into_iter()
                    .map(|(purpose, c)| PurposeGrant {
                        purpose,
                        categories: c.to_vec(),
                    })
                    .collect(),
            })
            .collect();
        let mut offer = Offer {
            business: config.business,
            version: 0,
            taxonomy,
            report_epsilon_micro: config.report_epsilon_micro,
            lifetime_cap_micro: config.lifetime_cap_micro,
            max_topics: MAX_TOPICS as u32,
            noise_percent: NOISE_PERCENT as u32,
            levels,
        };
        // The content digest is taken with version 0, so it names the content alone.
        let digest = Hash(Sha256::digest(offer.canonical_bytes()).into());
        let _write = self.persona_turn().await?;
        let before: OfferRecord = self.setting_json(OFFER_SETTING).await?.unwrap_or_default();
        offer.version = if before.version > 0 && before.digest == digest {
            before.version
        } else {
            let record = OfferRecord {
                version: before.version + 1,
                digest,
            };
            self.database()
                .apply(fineline_db::WriteSet {
                    ops: vec![WriteOp::PutSetting {
                        name: OFFER_SETTING.into(),
                        value: serde_json::to_vec(&record).expect("serialises"),
                    }],
                })
                .await
                .map_err(AppError::internal)?;
            record.version
        };
        let signature = self
            .ledger
            .signer()
            .sign_document(OFFER_LABEL, &offer.canonical_bytes());
        *self.persona.offer.write().unwrap() =
            Some((std::time::Instant::now(), offer.clone(), signature));
        Ok((offer, signature))
    }

    /// Takes one disclosure: a level-1 report is counted, level-2 topics
    /// are kept under the re-pseudonymised business pseudonym; either way
    /// a ledger entry records that it arrived, and the receipt is answered.
    ///
    /// A level-1 report carries the device's `reporter` token for the
    /// offer's version ([`fineline_persona::reporter_token`]): the ε spent
    /// per token is kept (under a keyed digest) and a report past the
    /// offer's lifetime cap is refused, beyond the per-address rate limits.
    pub async fn persona_disclose(
        &self,
        disclosure: Disclosure,
        reporter: Option<BusinessPseudonym>,
    ) -> Result<DisclosureReceipt, AppError> {
        let (offer, _) = self.persona_offer().await?;
        let terms = offer.terms();
        if disclosure.business != terms.business {
            return Err(AppError::field(
                "business",
                format!("this server is business {:?}", terms.business),
            ));
        }
        let level = disclosure.level;
        if level >= TrustLevel::Member {
            if reporter.is_some() {
                return Err(AppError::field(
                    "reporter",
                    "only level-1 reports carry a reporter token; levels 3 and 4 go under the pseudonym",
                ));
            }
            return self.persona_disclose_member(disclosure).await;
        }
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let entry = LedgerEntry::PersonaDisclosure {
            level: level.number(),
            digest: disclosure_digest(&nonce, &disclosure),
            at: Timestamp::now(),
        };
        let _write = self.persona_turn().await?;
        let mut spent_op = None;
        let op = match (&disclosure.level, &disclosure.payload) {
            (
                TrustLevel::Crowd,
                Payload::Crowd {
                    category,
                    epsilon_micro,
                },
            ) => {
                if terms.taxonomy.is_empty() || !terms.question().contains(category) {
                    return Err(AppError::field(
                        "payload.category",
                        "not a category of the offer's question",
                    ));
                }
                if *epsilon_micro != terms.report_epsilon_micro {
                    return Err(AppError::field(
                        "payload.epsilon_micro",
                        format!(
                            "the offer asks reports at {} micro-nats",
                            terms.report_epsilon_micro
                        ),
                    ));
                }
                let reporter = reporter.ok_or_else(|| {
                    AppError::field(
                        "reporter",
                        "a level-1 report carries the device's reporter token for this offer version",
                    )
                })?;
                let who = self.vault.keyring().pseudonymize_as(
                    &format!("{PSEUDONYM_DOMAIN}-reporter/{}", offer.version),
                    &reporter.to_hex(),
                );
                let spent_name = format!("{REPORTER_PREFIX}{}.{}", offer.version, who.to_text());
                let spent: u64 = self.setting_json(&spent_name).await?.unwrap_or(0);
                let spent = spent.saturating_add(*epsilon_micro);
                if spent > offer.lifetime_cap_micro {
                    return Err(AppError::BudgetExhausted {
                        message: format!(
                            "this reporter token has spent the offer's lifetime ε cap ({} micro-nats) on offer version {}",
                            offer.lifetime_cap_micro, offer.version
                        ),
                        remaining: None,
                        asked: None,
                    });
                }
                spent_op = Some(WriteOp::PutSetting {
                    name: spent_name,
                    value: serde_json::to_vec(&spent).map_err(AppError::internal)?,
                });
                let mut counts: Counts =
                    self.setting_json(COUNTS_SETTING).await?.unwrap_or_default();
                *counts
                    .entry(*epsilon_micro)
                    .or_default()
                    .entry(category.clone())
                    .or_default() += 1;
                WriteOp::PutSetting {
                    name: COUNTS_SETTING.into(),
                    value: serde_json::to_vec(&counts).map_err(AppError::internal)?,
                }
            }
            (TrustLevel::Regular, Payload::Interests { pseudonym, topics }) => {
                if reporter.is_some() {
                    return Err(AppError::field(
                        "reporter",
                        "only level-1 reports carry a reporter token; level 2 goes under the pseudonym",
                    ));
                }
                // Kept only under the consent the level change recorded:
                // once the person lowers the level, the shop takes no more.
                let subject = self.persona_subject(pseudonym);
                let allowed = self.consents.read().unwrap().allowed(
                    &subject,
                    fineline_core::Purpose::Personalization,
                    Timestamp::now(),
                );
                if !allowed {
                    return Err(AppError::field(
                        "payload.pseudonym",
                        "no level-2 consent is recorded for this pseudonym: send the level change first (POST /v1/persona/level)",
                    ));
                }
                if topics.len() > MAX_TOPICS {
                    return Err(AppError::field(
                        "payload.topics",
                        format!("at most {MAX_TOPICS} topics"),
                    ));
                }
                if let Some(t) = topics.iter().find(|t| !terms.taxonomy.contains(t)) {
                    return Err(AppError::field(
                        "payload.topics",
                        format!("{t:?} is not in the offer's taxonomy"),
                    ));
                }
                let who = self
                    .vault
                    .keyring()
                    .pseudonymize_as(PSEUDONYM_DOMAIN, &pseudonym.to_hex());
                let kept = serde_json::json!({"topics": topics, "at": disclosure.at.millis()});
                WriteOp::PutSetting {
                    name: format!("{INTERESTS_PREFIX}{}", who.to_text()),
                    value: serde_json::to_vec(&kept).map_err(AppError::internal)?,
                }
            }
            (TrustLevel::Crowd | TrustLevel::Regular, _) => {
                return Err(AppError::field(
                    "payload",
                    format!("not the payload of a level-{} disclosure", level.number()),
                ))
            }
            _ => return Err(AppError::field("level", "level 0 sends nothing")),
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |_| {
                std::iter::once(op).chain(spent_op).collect()
            })
            .await?;
        drop(_write);
        let receipt = self
            .ledger
            .receipt(self.database(), appended.indices[0], None)
            .await?;
        Ok(DisclosureReceipt { receipt, nonce })
    }

    /// The topics a level-2 persona gave, by the pseudonym it sent them under.
    pub async fn persona_interests(
        &self,
        pseudonym_hex: &str,
    ) -> Result<Option<Vec<String>>, AppError> {
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, pseudonym_hex);
        #[derive(serde::Deserialize)]
        struct Kept {
            topics: Vec<String>,
        }
        let kept: Option<Kept> = self
            .setting_json(&format!("{INTERESTS_PREFIX}{}", who.to_text()))
            .await?;
        Ok(kept.map(|k| k.topics))
    }
}
