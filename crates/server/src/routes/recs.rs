//! Recommendations, similar items, the catalogue and training control.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use fineline_core::{ItemId, Role};
use fineline_db::ItemRow;
use fineline_recs::Reason;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::consent::{actor_of, authorize_subject};
use crate::state::AppState;
use crate::wire::TrainingStatus;
use fineline_app::recommend::Recommended;
use fineline_app::recs_service::Trained;

const MAX_N: usize = 100;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecsParams {
    /// How many items (1-100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub n: Option<usize>,
    /// The item the person is looking at now, if any.
    pub context: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecommendedItem {
    pub item: String,
    /// The catalogue's title, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The catalogue's category, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub score: f32,
    /// Readable: "because you viewed X", "similar to X", "popular right now".
    pub reason: String,
    /// `because_you_viewed`, `similar_to` or `popular`.
    pub reason_kind: &'static str,
    /// The item the reason names, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// That item's title, if the catalogue has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because_title: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Recommendations {
    /// `personalized` (the person granted personalization: their history
    /// was used) or `non_personal` (popularity and the context item only;
    /// their events were not read).
    pub tier: &'static str,
    pub items: Vec<RecommendedItem>,
    /// When the model answering was trained (ms since epoch); absent before
    /// the first training.
    pub model_trained_at: Option<i64>,
}

pub(crate) fn parse_n(n: Option<usize>) -> Result<usize, ApiError> {
    let n = n.unwrap_or(10);
    if !(1..=MAX_N).contains(&n) {
        return Err(ApiError::field("n", format!("must be 1 to {MAX_N}")));
    }
    Ok(n)
}

fn parse_item(field: &str, s: &str) -> Result<ItemId, ApiError> {
    ItemId::new(s).map_err(|e| ApiError::field(field, e.to_string()))
}

fn wire(trained: &Trained, r: fineline_recs::Recommendation) -> RecommendedItem {
    let name = |i: &ItemId| {
        trained
            .titles
            .get(i)
            .cloned()
            .unwrap_or_else(|| i.as_str().to_string())
    };
    let (reason, reason_kind, because) = match &r.reason {
        Reason::BecauseYouViewed(i) => (
            format!("because you viewed {}", name(i)),
            "because_you_viewed",
            Some(i.as_str().to_string()),
        ),
        Reason::SimilarTo(i) => (
            format!("similar to {}", name(i)),
            "similar_to",
            Some(i.as_str().to_string()),
        ),
        Reason::PopularRightNow => ("popular right now".to_string(), "popular", None),
    };
    let because_title = match &r.reason {
        Reason::BecauseYouViewed(i) | Reason::SimilarTo(i) => trained.titles.get(i).cloned(),
        Reason::PopularRightNow => None,
    };
    RecommendedItem {
        title: trained.titles.get(&r.item).cloned(),
        category: trained
            .model
            .catalogue()
            .categories(&r.item)
            .first()
            .cloned(),
        because_title,
        item: r.item.as_str().to_string(),
        score: r.score,
        reason,
        reason_kind,
        because,
    }
}

/// Ranked items for a person, with a reason each. With `personalization`
/// granted now, their history (including events newer than the model)
/// drives the answer and the read is a ledger entry; without it only
/// popularity and the context item are used. Purchased items are not
/// recommended again unless the catalogue marks them repeatable; removed
/// interests stop influencing the answer.
#[utoipa::path(get, path = "/v1/subjects/{id}/recommendations", params(("id" = String, Path, description = "the person's own id, or `me` with their token"), RecsParams),
    responses((status = 200, body = Recommendations), (status = 403, body = crate::error::ErrorBody)))]
pub async fn recommendations(
    State(state): State<AppState>,
    caller: Caller,
    path: crate::routes::consent::LatePath<String>,
    params: Result<Query<RecsParams>, QueryRejection>,
) -> Result<Json<Recommendations>, ApiError> {
    let raw_id = crate::routes::consent::subject_path(&state, &caller, path)?;
    let subject = authorize_subject(&state, &caller, &raw_id)?;
    let Query(p) = params.map_err(|e| ApiError::field("n", e.body_text()))?;
    let n = parse_n(p.n)?;
    let context = p
        .context
        .as_deref()
        .map(|c| parse_item("context", c))
        .transpose()?;
    let out = state
        .recommend(&subject, n, context.as_ref(), actor_of(&caller))
        .await?;
    Ok(Json(Recommendations {
        tier: tier_name(out.personalized),
        model_trained_at: out.model.as_ref().map(|t| t.trained_at.millis()),
        items: wire_all(out),
    }))
}

pub(crate) fn wire_all(out: Recommended) -> Vec<RecommendedItem> {
    match &out.model {
        Some(t) => out.items.into_iter().map(|r| wire(t, r)).collect(),
        None => Vec::new(),
    }
}

pub(crate) fn tier_name(personalized: bool) -> &'static str {
    if personalized {
        "personalized"
    } else {
        "non_personal"
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// How many items (1-100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub n: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SimilarItems {
    pub item: String,
    pub similar: Vec<RecommendedItem>,
}

/// Items bought or viewed together with this one (item-to-item, cosine
/// over consented co-occurrences). No personal data: open to anyone.
#[utoipa::path(get, path = "/v1/items/{item}/similar", params(SimilarParams),
    responses((status = 200, body = SimilarItems), (status = 400, body = crate::error::ErrorBody)))]
pub async fn similar(
    State(state): State<AppState>,
    Path(item): Path<String>,
    params: Result<Query<SimilarParams>, QueryRejection>,
) -> Result<Json<SimilarItems>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::field("n", e.body_text()))?;
    let n = parse_n(p.n)?;
    let id = parse_item("item", &item)?;
    let similar = wire_all(state.similar_items(&id, n));
    Ok(Json(SimilarItems { item, similar }))
}

/// One catalogue entry as the business sends it.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIn {
    pub item: String,
    /// Interest category ("running", "coffee"); may be empty.
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub title: String,
    /// May be recommended again after a purchase (groceries, consumables).
    #[serde(default)]
    pub repeatable: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ItemsStored {
    pub stored: usize,
}

/// Insert or replace catalogue items (admin). They reach recommendations
/// at the next training.
#[utoipa::path(post, path = "/v1/items", request_body = Vec<ItemIn>,
    responses((status = 200, body = ItemsStored), (status = 400, body = crate::error::ErrorBody)))]
pub async fn put_items(
    State(state): State<AppState>,
    caller: Caller,
    body: crate::error::LateJson<Vec<ItemIn>>,
) -> Result<Json<ItemsStored>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = body?.0;
    if items.len() > 10_000 {
        return Err(ApiError::field("items", "at most 10000 items per request"));
    }
    let mut rows = Vec::with_capacity(items.len());
    for (i, it) in items.into_iter().enumerate() {
        let item = parse_item(&format!("[{i}].item"), &it.item)?;
        if it.category.len() > 64 || it.title.len() > 512 {
            return Err(ApiError::field(
                format!("[{i}]"),
                "category at most 64 and title at most 512 bytes",
            ));
        }
        rows.push(ItemRow {
            item,
            category: it.category,
            title: it.title,
            repeatable: it.repeatable,
        });
    }
    let stored = state.put_items(rows).await?;
    Ok(Json(ItemsStored { stored }))
}

/// Train the recommender now (admin) and wait for it; serving continues
/// from the previous model meanwhile.
#[utoipa::path(post, path = "/v1/recs/train",
    responses((status = 200, body = TrainingStatus), (status = 403, body = crate::error::ErrorBody)))]
pub async fn train(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TrainingStatus>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(state.train(Arc::new(|_| {})).await?.into()))
}

/// The last training: when, on how many events, which algorithm, holdout quality.
#[utoipa::path(get, path = "/v1/recs/status",
    responses((status = 200, body = TrainingStatus), (status = 404, body = crate::error::ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<TrainingStatus>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst, Role::Ingest])?;
    state
        .training_status()
        .map(|s| Json(s.into()))
        .ok_or_else(|| ApiError::not_found("the recommender has not been trained yet"))
}
