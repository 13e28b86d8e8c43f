//! The persona's server side (docs/persona.md): the public model and the
//! signed offer (public), disclosures at levels 1 to 4 (public, answered
//! with a ledger receipt), the shop's recommendations for a member, the
//! level-1 aggregate (analysts), and the browser client's modules under
//! `/persona/`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fineline_app::budget::Analyst;
use fineline_core::{Purpose, Timestamp};
use fineline_ledger::{key_id, Receipt};
use fineline_persona::{BusinessPseudonym, Disclosure, Payload, TrustLevel};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, JsonBody};
use crate::state::AppState;

/// One listed item of the public model.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicItemBody {
    /// The catalogue key.
    pub id: String,
    /// Catalogue categories.
    pub categories: Vec<String>,
    /// People holding the item, or 0 below the floor.
    pub popularity: u32,
    /// `[listed index, weight × 10⁶]`, highest first; the weight is a
    /// signed 32-bit integer (EASE weights can be negative).
    #[schema(value_type = Vec<Vec<i64>>)]
    pub neighbours: Vec<(u32, i32)>,
}

/// The public model, signed by the ledger key and recorded in the ledger.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicModelBody {
    /// The model's version (the training time, ms since the Unix epoch).
    pub version: u64,
    /// The floor of people every count in the model clears.
    pub min_support: u32,
    /// Hex SHA-256 of the model's canonical bytes (`crates/recs` `public.rs`).
    pub digest: String,
    pub items: Vec<PublicItemBody>,
    /// Hex Ed25519 signature over `"fineline-document/v1\0public-model\0"`
    /// followed by the canonical bytes, under the ledger's key.
    pub signature: String,
    /// Hex SHA-256 of the signing key (`/v1/ledger/key`).
    pub key_id: String,
    /// Where the `model_published` entry is in the ledger.
    pub ledger_index: u64,
    /// A receipt for that entry against the current tree head.
    #[schema(value_type = Object)]
    pub receipt: Receipt,
}

/// The business's public model, for devices to recommend from (level 0).
#[utoipa::path(get, path = "/v1/persona/model",
    responses((status = 200, body = PublicModelBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn model(State(state): State<AppState>) -> Result<Json<PublicModelBody>, ApiError> {
    let published = state.public_model().await?;
    let receipt = state.public_receipt(published.ledger_index).await?;
    let m = &published.model;
    Ok(Json(PublicModelBody {
        version: m.version,
        min_support: m.min_support,
        digest: hex::encode(m.digest),
        items: m
            .items
            .iter()
            .map(|it| PublicItemBody {
                id: it.id.as_str().to_string(),
                categories: it.categories.clone(),
                popularity: it.popularity,
                neighbours: it.neighbours.clone(),
            })
            .collect(),
        signature: hex::encode(published.signature.to_bytes()),
        key_id: key_id(&state.ledger_key()).to_hex(),
        ledger_index: published.ledger_index,
        receipt,
    }))
}

/// One purpose a level grants.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PurposeGrantBody {
    #[schema(value_type = String)]
    pub purpose: Purpose,
    /// Data categories the grant covers.
    pub categories: Vec<String>,
}

/// What the person gets at one trust level.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LevelBody {
    /// 0 stranger … 4 known.
    pub level: u8,
    pub name: String,
    /// What leaves the device, in plain words.
    pub leaves: String,
    /// What the person gets, in plain words.
    pub gets: String,
    /// The fineline purposes the level grants (consent records).
    pub purposes: Vec<PurposeGrantBody>,
}

/// The offer's signed content.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OfferBody {
    /// The business id devices derive their pseudonym from.
    pub business: String,
    /// Goes up by one whenever the content changes.
    pub version: u64,
    /// Categories of level 1's question and level 2's topics.
    pub taxonomy: Vec<String>,
    /// ε of each level-1 report, in micro-nats.
    pub report_epsilon_micro: u64,
    /// Lifetime ε cap per device for this business, in micro-nats.
    pub lifetime_cap_micro: u64,
    /// Most topics a level-2 disclosure carries.
    pub max_topics: u32,
    /// Chance, in percent, that a level-2 topic slot is noise.
    pub noise_percent: u32,
    pub levels: Vec<LevelBody>,
}

/// The offer and its signature.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOffer {
    pub offer: OfferBody,
    /// Hex Ed25519 signature over `"fineline-document/v1\0persona-offer\0"`
    /// followed by `offer` as compact JSON with sorted keys.
    pub signature: String,
    /// Hex SHA-256 of the signing key (`/v1/ledger/key`).
    pub key_id: String,
}

/// What the person gets at each trust level, signed and versioned.
#[utoipa::path(get, path = "/v1/persona/offer", responses((status = 200, body = SignedOffer)))]
pub async fn offer(State(state): State<AppState>) -> Result<Json<SignedOffer>, ApiError> {
    let (o, signature) = state.persona_offer().await?;
    Ok(Json(SignedOffer {
        offer: OfferBody {
            business: o.business,
            version: o.version,
            taxonomy: o.taxonomy,
            report_epsilon_micro: o.report_epsilon_micro,
            lifetime_cap_micro: o.lifetime_cap_micro,
            max_topics: o.max_topics,
            noise_percent: o.noise_percent,
            levels: o
                .levels
                .into_iter()
                .map(|l| LevelBody {
                    level: l.level,
                    name: l.name.into(),
                    leaves: l.leaves.into(),
                    gets: l.gets.into(),
                    purposes: l
                        .purposes
                        .into_iter()
                        .map(|p| PurposeGrantBody {
                            purpose: p.purpose,
                            categories: p.categories.iter().map(|c| c.to_string()).collect(),
                        })
                        .collect(),
                })
                .collect(),
        },
        signature: hex::encode(signature.to_bytes()),
        key_id: key_id(&state.ledger_key()).to_hex(),
    }))
}

/// What a disclosure carries: exactly `fineline_persona::Payload` at
/// levels 1 to 4.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PayloadIn {
    /// Level 1: one randomized-response answer, no identifier.
    Crowd {
        /// The reported category (one of the taxonomy, or `(none)`).
        category: String,
        /// ε the report spent, in micro-nats (the offer's).
        epsilon_micro: u64,
    },
    /// Level 2: approved topics, each possibly noise, under the pseudonym.
    Interests {
        /// 64 hex digits: the persona's pseudonym at this business.
        pseudonym: String,
        /// Topics from the taxonomy, in its order.
        topics: Vec<String>,
    },
    /// Level 3: the local history under the pseudonym (taken only while the
    /// pseudonym's recorded level is 3 or 4).
    History {
        /// 64 hex digits: the persona's pseudonym at this business.
        pseudonym: String,
        /// Distinct items viewed or bought, oldest first (at most 1000).
        items: Vec<String>,
    },
    /// Level 4: the history and the identity attributes the person typed
    /// (taken only while the pseudonym's recorded level is 4).
    Identified {
        /// 64 hex digits: the persona's pseudonym at this business.
        pseudonym: String,
        /// Distinct items viewed or bought, oldest first (at most 1000).
        items: Vec<String>,
        /// At most 8 attributes, names of `a-z0-9_`, values of at most 200
        /// bytes (e.g. `name`, `email`, `clothing_size`, `shoe_size`).
        identity: std::collections::BTreeMap<String, String>,
    },
}

fn pseudonym_in(p: String) -> Result<BusinessPseudonym, ApiError> {
    BusinessPseudonym::try_from(p)
        .map_err(|_| ApiError::field("payload.pseudonym", "64 hex digits"))
}

fn items_in(items: Vec<String>) -> Result<Vec<fineline_core::ItemId>, ApiError> {
    items
        .iter()
        .map(|i| {
            fineline_core::ItemId::new(i)
                .map_err(|e| ApiError::field("payload.items", format!("{i:?}: {e}")))
        })
        .collect()
}

/// One disclosure, as the device's disclosure function produced it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureIn {
    /// The business id of the offer.
    pub business: String,
    /// 1 to 4.
    pub level: u8,
    /// When the device made it (ms since the Unix epoch).
    pub at: i64,
    pub payload: PayloadIn,
    /// Level 1 only, 64 hex digits: the device's reporter token for this
    /// offer version, `HMAC-SHA256(persona secret, "fineline/persona/v1/reporter\0" ‖ business ‖ "\0" ‖ offer version)`.
    /// The ε spent per token is capped at the offer's lifetime cap (429
    /// past it). Not part of the disclosure's digest.
    #[serde(default)]
    pub reporter: Option<String>,
}

/// The ledger receipt for a disclosure.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DisclosureReceiptBody {
    /// The ledger entry is `persona_disclosure` whose digest is
    /// SHA-256(nonce ‖ the disclosure's JSON as the reference client writes it).
    #[schema(value_type = Object)]
    pub receipt: Receipt,
    /// 64 hex digits.
    pub nonce: String,
}

impl DisclosureIn {
    fn into_disclosure(self) -> Result<(Disclosure, Option<BusinessPseudonym>), ApiError> {
        let reporter = self
            .reporter
            .clone()
            .map(|r| {
                BusinessPseudonym::try_from(r)
                    .map_err(|_| ApiError::field("reporter", "64 hex digits"))
            })
            .transpose()?;
        let level = TrustLevel::try_from(self.level)
            .map_err(|_| ApiError::field("level", "a trust level is 0 to 4"))?;
        let payload = match self.payload {
            PayloadIn::Crowd {
                category,
                epsilon_micro,
            } => Payload::Crowd {
                category,
                epsilon_micro,
            },
            PayloadIn::Interests { pseudonym, topics } => Payload::Interests {
                pseudonym: pseudonym_in(pseudonym)?,
                topics,
            },
            PayloadIn::History { pseudonym, items } => Payload::History {
                pseudonym: pseudonym_in(pseudonym)?,
                items: items_in(items)?,
            },
            PayloadIn::Identified {
                pseudonym,
                items,
                identity,
            } => Payload::Identified {
                pseudonym: pseudonym_in(pseudonym)?,
                items: items_in(items)?,
                identity,
            },
        };
        Ok((
            Disclosure {
                business: self.business,
                level,
                at: Timestamp(self.at),
                payload,
            },
            reporter,
        ))
    }
}

/// Take a level-1 report, level-2 interests, or a level-3/4 history (and
/// identity), each only under the consent its level recorded; answer with
/// a receipt.
#[utoipa::path(post, path = "/v1/persona/disclosures", request_body = DisclosureIn,
    responses((status = 201, body = DisclosureReceiptBody), (status = 400, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody)))]
pub async fn disclose(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DisclosureIn>,
) -> Result<(StatusCode, Json<DisclosureReceiptBody>), ApiError> {
    let (disclosure, reporter) = body.into_disclosure()?;
    let done = state.persona_disclose(disclosure, reporter).await?;
    Ok((
        StatusCode::CREATED,
        Json(DisclosureReceiptBody {
            receipt: done.receipt,
            nonce: hex::encode(done.nonce),
        }),
    ))
}

/// One category's level-1 estimate.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CategoryEstimate {
    pub category: String,
    /// Reports naming this category (randomized).
    pub reports: u64,
    /// Unbiased estimate of the reporting devices that truly hold it.
    pub estimate: f64,
    /// Standard deviation of the estimate.
    pub sd: f64,
    /// 95 % interval.
    pub low: f64,
    pub high: f64,
}

/// The level-1 aggregate.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AggregateBody {
    pub business: String,
    /// ε per report, in micro-nats (the offer's; reports at other ε are not mixed in).
    pub report_epsilon_micro: u64,
    /// Reports counted.
    pub reports: u64,
    /// Chance a report is the truth; null while the catalogue names no category.
    pub p_truth: Option<f64>,
    pub categories: Vec<CategoryEstimate>,
}

/// Estimated totals per category from level-1 reports, with 95 % intervals.
#[utoipa::path(get, path = "/v1/persona/aggregate", responses((status = 200, body = AggregateBody)))]
pub async fn aggregate(
    State(state): State<AppState>,
    _analyst: Analyst,
) -> Result<Json<AggregateBody>, ApiError> {
    let a = state.persona_aggregate().await?;
    Ok(Json(AggregateBody {
        business: a.business,
        report_epsilon_micro: a.report_epsilon_micro,
        reports: a.reports,
        p_truth: a.p_truth,
        categories: a
            .categories
            .into_iter()
            .map(|(category, reports, e)| CategoryEstimate {
                category,
                reports,
                estimate: e.total,
                sd: e.sd,
                low: e.low,
                high: e.high,
            })
            .collect(),
    }))
}

macro_rules! module {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../../assets/persona/", $name)) as &[u8],
        )
    };
}

/// The browser client's modules, compiled in.
const MODULES: &[(&str, &[u8])] = &[
    module!("persona.js"),
    module!("receipt.js"),
    module!("store.js"),
];

/// `/persona/{name}`: an ES module (browsers refuse one served as anything
/// but JavaScript; nosniff keeps them from guessing otherwise).
pub async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::not_found("no such persona file").into_response(),
    }
}

/// A level change, as the device's `setLevel` logged it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelChangeIn {
    /// The business id of the offer.
    pub business: String,
    /// 64 hex digits: the persona's pseudonym at this business.
    pub pseudonym: String,
    /// The level the device was at (0-4).
    pub from: u8,
    /// The level the person chose (0-4); one of `from` and `to` is 2 or more.
    pub to: u8,
    /// 64 hex digits, with a change to level 2 or above: the persona's
    /// Ed25519 erasure key for this business, the public half of
    /// `HMAC-SHA256(persona secret, "fineline/persona/v1/erasure-key\0" ‖ business)`
    /// as a seed. Kept for the pseudonym (the first one stays: another is
    /// 409) so the device can ask for erasure itself
    /// (`POST /v1/persona/erasure`).
    #[serde(default)]
    pub erasure_key: Option<String>,
}

/// One consent step of a level change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentStepBody {
    #[schema(value_type = String)]
    pub purpose: Purpose,
    /// `true` grants, `false` withdraws.
    pub granted: bool,
    /// On a grant, the data categories it covers.
    pub categories: Vec<String>,
}

/// The consent steps recorded and a receipt for each.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LevelReceiptsBody {
    /// Withdrawals first, in the order recorded.
    pub steps: Vec<ConsentStepBody>,
    /// One ledger receipt (a `consent_change` entry) per step, same order.
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Receipt>,
}

/// Record a level change as consent: lowering withdraws, with receipts.
#[utoipa::path(post, path = "/v1/persona/level", request_body = LevelChangeIn,
    responses((status = 201, body = LevelReceiptsBody), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn change_level(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LevelChangeIn>,
) -> Result<(StatusCode, Json<LevelReceiptsBody>), ApiError> {
    let level = |field: &str, n: u8| {
        TrustLevel::try_from(n).map_err(|_| ApiError::field(field, "a trust level is 0 to 4"))
    };
    let change = fineline_app::persona::LevelChange {
        business: body.business,
        pseudonym: BusinessPseudonym::try_from(body.pseudonym)
            .map_err(|_| ApiError::field("pseudonym", "64 hex digits"))?,
        from: level("from", body.from)?,
        to: level("to", body.to)?,
        erasure_key: body
            .erasure_key
            .map(|k| {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(&k, &mut bytes)
                    .ok()
                    .and_then(|_| fineline_ledger::VerifyingKey::from_bytes(&bytes).ok())
                    .ok_or_else(|| {
                        ApiError::field("erasure_key", "an Ed25519 public key, 64 hex digits")
                    })
            })
            .transpose()?,
    };
    let done = state.persona_change_level(change).await?;
    Ok((
        StatusCode::CREATED,
        Json(LevelReceiptsBody {
            steps: done
                .steps
                .into_iter()
                .map(|s| ConsentStepBody {
                    purpose: s.purpose,
                    granted: s.granted,
                    categories: s.categories,
                })
                .collect(),
            receipts: done.receipts,
        }),
    ))
}

/// A device's request to erase what the business holds under its
/// pseudonym, signed under the erasure key it registered.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequestIn {
    /// The business id of the offer.
    pub business: String,
    /// 64 hex digits: the persona's pseudonym at this business.
    pub pseudonym: String,
    /// When the device made it (ms since the Unix epoch); within 5 minutes
    /// of the server's clock.
    pub at: i64,
    /// 32 hex digits the device drew; a request is taken once.
    pub nonce: String,
    /// 128 hex digits: Ed25519 over `"fineline/persona/v1/erasure\0" ‖
    /// business ‖ "\0" ‖ pseudonym (32 bytes) ‖ at (8 bytes big-endian) ‖
    /// nonce (16 bytes)`, under the key sent with the level change.
    pub signature: String,
}

/// Erase what the business holds under a persona's pseudonym, at the
/// device's own signed request: the subject's records as any erasure (the
/// ledger entry, shredding, every model forgetting them) and the persona's
/// level, topics, check-in digests and erasure key. The signature is the
/// credential: 401 `signature_refused` naming `pseudonym` (no key
/// registered) or `signature`; then 400 naming `at` (stale or future) or
/// `business`, 409 naming `nonce` for a request already taken. The answer
/// is the erasure receipt, as `DELETE /v1/subjects/{id}` gives.
#[utoipa::path(post, path = "/v1/persona/erasure", request_body = ErasureRequestIn,
    responses((status = 200, body = crate::routes::rights::ErasureReceipt),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ErasureRequestIn>,
) -> Result<Json<crate::routes::rights::ErasureReceipt>, ApiError> {
    let request = fineline_persona::ErasureRequest {
        business: body.business,
        pseudonym: BusinessPseudonym::try_from(body.pseudonym)
            .map_err(|_| ApiError::field("pseudonym", "64 hex digits"))?,
        at: Timestamp(body.at),
        nonce: body.nonce,
        signature: body.signature,
    };
    let erased = state.persona_erase(request, Timestamp::now()).await?;
    Ok(Json(crate::routes::rights::ErasureReceipt {
        erased_at: erased.at.millis(),
        rows_deleted: erased.rows_deleted,
        receipt: erased.receipt,
    }))
}

/// One item of the shop window.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CatalogueItemBody {
    /// The catalogue key (the public model's item id).
    pub id: String,
    pub title: String,
    pub category: String,
}

/// The catalogue: what the shop sells, for the storefront to show.
#[utoipa::path(get, path = "/v1/persona/catalogue",
    responses((status = 200, body = Vec<CatalogueItemBody>)))]
pub async fn catalogue(
    State(state): State<AppState>,
) -> Result<Json<Vec<CatalogueItemBody>>, ApiError> {
    Ok(Json(
        state
            .persona_catalogue()
            .await?
            .into_iter()
            .map(|i| CatalogueItemBody {
                id: i.id,
                title: i.title,
                category: i.category,
            })
            .collect(),
    ))
}

/// A member's request for the shop's own recommendations.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaRecsIn {
    /// The business id of the offer.
    pub business: String,
    /// 64 hex digits: the persona's pseudonym at this business.
    pub pseudonym: String,
    /// How many items (1-100, default 10); the signature covers the
    /// number used (10 when absent).
    #[serde(default)]
    pub n: Option<usize>,
    /// When the device made the request (ms since the Unix epoch); within
    /// 5 minutes of the server's clock.
    pub at: i64,
    /// 128 hex digits: Ed25519 over `"fineline/persona/v1/recommendations\0" ‖
    /// business ‖ "\0" ‖ pseudonym (32 bytes) ‖ at (8 bytes big-endian) ‖
    /// n (4 bytes big-endian)`, under the key sent with the level change.
    pub signature: String,
}

/// The shop's server-side recommendations for a persona at level 3 or 4,
/// from the history it disclosed (POST, so the pseudonym is in no URL or
/// log). The request is signed on the device under the key its level
/// change registered, since the answer is derived from the history: 401
/// `signature_refused` naming `pseudonym` (no key) or `signature`; then
/// 400 naming `at` (stale or future), `n`, `business`, or `pseudonym`
/// below level 3 or after a withdrawal.
#[utoipa::path(post, path = "/v1/persona/recommendations", request_body = PersonaRecsIn,
    responses((status = 200, body = crate::routes::recs::Recommendations),
        (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
pub async fn recommendations(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PersonaRecsIn>,
) -> Result<Json<crate::routes::recs::Recommendations>, ApiError> {
    let pseudonym = BusinessPseudonym::try_from(body.pseudonym)
        .map_err(|_| ApiError::field("pseudonym", "64 hex digits"))?;
    // `n` is judged after the signature, by the application.
    let out = state
        .persona_recommend(
            &body.business,
            &pseudonym,
            body.n.unwrap_or(10),
            Timestamp(body.at),
            &body.signature,
            Timestamp::now(),
        )
        .await?;
    Ok(Json(crate::routes::recs::Recommendations {
        tier: crate::routes::recs::tier_name(out.personalized),
        model_trained_at: out.model.as_ref().map(|t| t.trained_at.millis()),
        items: crate::routes::recs::wire_all(out),
    }))
}
