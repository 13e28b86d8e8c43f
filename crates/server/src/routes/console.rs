//! The business console at `/console`: static pages compiled into the
//! binary, and the read-only aggregates they chart.
//!
//! Who sees what: admin keys see every page (overview, insights, foot
//! traffic, recommendations); analyst keys see insights only, since the
//! other pages show exact figures about the business's own customers.
//! Every figure here is a count over many people; nothing per person
//! leaves. Pages talk only to this server (CSP `default-src 'self'`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fineline_core::{Purpose, Role, Timestamp};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::ReleaseRecord;
use fineline_app::budget::{self, Analyst};

/// Same-origin only, never framed; forms are sent by script, not posted.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Longest overview range, in days: the consent tally walks everyone once
/// per day.
pub const MAX_OVERVIEW_DAYS: i64 = 92;

const DAY_MS: i64 = 86_400_000;

macro_rules! asset {
    ($name:literal, $type:expr) => {
        (
            $name,
            $type,
            include_bytes!(concat!("../../assets/console/", $name)) as &[u8],
        )
    };
}

/// Every file under `/console/`, compiled in.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("app.js", JS),
    asset!("app.css", CSS),
    asset!("charts.js", JS),
    asset!("overview.js", JS),
    asset!("insights.js", JS),
    asset!("footfall.js", JS),
    asset!("recs.js", JS),
    asset!("persona.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
];
const PAGE: &str = include_str!("../../assets/console/index.html");
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

fn hardened(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn page() -> Response {
    hardened("text/html; charset=utf-8", PAGE.as_bytes())
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, ty, body)) => hardened(ty, body),
        None => ApiError::not_found("no such console file").into_response(),
    }
}

pub async fn vendor_asset(Path(name): Path<String>) -> Response {
    asset(Path(format!("vendor/{name}"))).await
}

/// What the signed-in key may open.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Session {
    pub role: String,
    /// Console pages for this role: `overview`, `insights`, `footfall`, `recs`, `persona`.
    pub pages: Vec<&'static str>,
}

/// The console's sign-in check: the key's role and its pages (admin, analyst).
#[utoipa::path(get, path = "/v1/console/session",
    responses((status = 200, body = Session), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn session(caller: Caller) -> Result<Json<Session>, ApiError> {
    caller.require(&[Role::Admin, Role::Analyst])?;
    let role = caller.role().unwrap_or(Role::Analyst);
    let pages = match role {
        Role::Admin => vec!["overview", "insights", "footfall", "recs", "persona"],
        _ => vec!["insights"],
    };
    Ok(Json(Session {
        role: role.as_str().to_string(),
        pages,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last UTC day, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
}

/// Everyone's consent at the end of one UTC day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentDay {
    pub day: String,
    /// People with any consent record by then.
    pub subjects: u64,
    /// People with the purpose in effect, per purpose.
    #[schema(value_type = Object)]
    pub given: BTreeMap<Purpose, u64>,
    /// `given / subjects` (0 when nobody is known yet).
    #[schema(value_type = Object)]
    pub rate: BTreeMap<Purpose, f64>,
}

/// Events of one UTC arrival day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventDay {
    pub day: String,
    pub accepted: u64,
    /// Refused for lack of consent, all purposes.
    pub refused_no_consent: u64,
    #[schema(value_type = Object)]
    pub refused_by_purpose: BTreeMap<Purpose, u64>,
    /// Whether the day's counts are sealed into the ledger yet.
    pub sealed: bool,
}

/// Accepted and rejected events since this server process started (the
/// `/metrics` counters).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SinceStart {
    pub accepted: u64,
    /// By reason: `no_consent`, `invalid_field`, `erased`.
    pub rejected: BTreeMap<String, u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventsOverview {
    pub since_start: SinceStart,
    pub days: Vec<EventDay>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PurposeReconsent {
    #[schema(value_type = String)]
    pub purpose: Purpose,
    /// People whose grant lapsed when the version was published.
    pub asked: u64,
    pub reconsented: u64,
    pub declined: u64,
    pub pending: u64,
}

/// A policy version and how far its request to consent again has got.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyVersionProgress {
    pub version: u32,
    /// Milliseconds since the Unix epoch.
    pub published_at: i64,
    pub current: bool,
    pub purposes: Vec<PurposeReconsent>,
    pub subjects_asked: u64,
    /// People who granted again every purpose they were asked about.
    pub subjects_reconsented: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub from: String,
    pub to: String,
    pub consent: Vec<ConsentDay>,
    pub events: EventsOverview,
    pub policies: Vec<PolicyVersionProgress>,
}

fn parse_day(s: &str, field: &str) -> Result<i64, ApiError> {
    let date: jiff::civil::Date = s
        .parse()
        .map_err(|_| ApiError::field(field, "expected a date YYYY-MM-DD"))?;
    let ts = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| ApiError::field(field, "date out of range"))?;
    Ok(ts.timestamp().as_millisecond().div_euclid(DAY_MS))
}

fn day_name(day: i64) -> String {
    jiff::Timestamp::from_millisecond(day * DAY_MS)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The days of `range`, inclusive, as day numbers since the epoch.
fn days_of(range: &Range) -> Result<(i64, i64), ApiError> {
    let to = match &range.to {
        Some(s) => parse_day(s, "to")?,
        None => Timestamp::now().day(),
    };
    let from = match &range.from {
        Some(s) => parse_day(s, "from")?,
        None => to - 29,
    };
    if from > to {
        return Err(ApiError::field("from", "must be on or before to"));
    }
    if to - from >= MAX_OVERVIEW_DAYS {
        return Err(ApiError::field(
            "to",
            format!("at most {MAX_OVERVIEW_DAYS} days after from"),
        ));
    }
    Ok((from, to))
}

/// Consent rates per purpose per day, events accepted and rejected, and
/// policy versions with their re-consent progress (admin).
#[utoipa::path(get, path = "/v1/console/overview", params(Range),
    responses((status = 200, body = Overview), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn overview(
    State(state): State<AppState>,
    caller: Caller,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Overview>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Query(range) = range.map_err(|e| ApiError::field("from", e.body_text()))?;
    let (from, to) = days_of(&range)?;
    let moments: Vec<Timestamp> = (from..=to)
        .map(|d| Timestamp((d + 1) * DAY_MS - 1))
        .collect();
    let (tallies, progress) = state.consent_tallies(moments).await?;
    let consent = tallies
        .into_iter()
        .map(|t| ConsentDay {
            day: day_name(t.at.day()),
            subjects: t.subjects,
            rate: t
                .given
                .iter()
                .map(|(p, n)| {
                    let rate = if t.subjects == 0 {
                        0.0
                    } else {
                        *n as f64 / t.subjects as f64
                    };
                    (*p, rate)
                })
                .collect(),
            given: t.given,
        })
        .collect();
    let sealed = fineline_app::daily::sealed_days(&state).await?;
    let open = fineline_app::daily::unsealed_days(&state).await?;
    let days = (from..=to)
        .map(|d| {
            let (counts, is_sealed) = match (sealed.get(&d), open.get(&d)) {
                (Some(c), _) => (c.clone(), true),
                (None, Some(c)) => (c.clone(), false),
                (None, None) => (Default::default(), false),
            };
            EventDay {
                day: day_name(d),
                accepted: counts.accepted,
                refused_no_consent: counts.refused_by_purpose.values().sum(),
                refused_by_purpose: counts.refused_by_purpose,
                sealed: is_sealed,
            }
        })
        .collect();
    let mut rejected: BTreeMap<String, u64> = ["no_consent", "invalid_field", "erased"]
        .into_iter()
        .map(|r| (r.to_string(), 0))
        .collect();
    for (reason, n) in state.metrics().rejections() {
        rejected.insert(reason.to_string(), n);
    }
    let current = state.current_policy().map(|p| p.version);
    let policies = progress
        .into_iter()
        .map(|v| PolicyVersionProgress {
            version: v.version,
            published_at: v.published_at.millis(),
            current: Some(v.version) == current,
            purposes: v
                .purposes
                .iter()
                .map(|(p, g)| PurposeReconsent {
                    purpose: *p,
                    asked: g.asked,
                    reconsented: g.reconsented,
                    declined: g.declined,
                    pending: g.pending(),
                })
                .collect(),
            subjects_asked: v.subjects_asked,
            subjects_reconsented: v.subjects_reconsented,
        })
        .collect();
    Ok(Json(Overview {
        from: day_name(from),
        to: day_name(to),
        consent,
        events: EventsOverview {
            since_start: SinceStart {
                accepted: state
                    .metrics()
                    .events_accepted
                    .load(std::sync::atomic::Ordering::Relaxed),
                rejected,
            },
            days,
        },
        policies,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PeriodParam {
    /// Budget period `YYYY-MM` (default: the current month).
    pub period: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Releases {
    pub analyst: String,
    pub period: String,
    /// Newest first.
    pub releases: Vec<ReleaseRecord>,
}

/// The caller's own DP releases in a budget period, each with its ledger
/// entry (analyst, admin).
#[utoipa::path(get, path = "/v1/insights/releases", params(PeriodParam),
    responses((status = 200, body = Releases), (status = 400, body = crate::error::ErrorBody)))]
pub async fn releases(
    State(state): State<AppState>,
    analyst: Analyst,
    Query(p): Query<PeriodParam>,
) -> Result<Json<Releases>, ApiError> {
    let period = super::insights::requested_period(p.period)?;
    let mut releases = budget::releases(&state, &analyst.id, &period).await?;
    releases.reverse();
    Ok(Json(Releases {
        analyst: analyst.id,
        period,
        releases: releases.into_iter().map(Into::into).collect(),
    }))
}

/// Devices at one trust level, by the last level change their pseudonym sent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LevelDevices {
    pub level: u8,
    pub name: String,
    /// At 0 and 1: only devices that came down from 2 or above (a device
    /// that never rose sends nothing, so it is in no count).
    pub devices: u64,
}

/// One category's level-1 estimate, with whether its interval is useful.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Level1Category {
    pub category: String,
    /// Estimated reporting devices that truly hold it.
    pub estimate: f64,
    /// 95 % interval.
    pub low: f64,
    pub high: f64,
    /// Whether the interval is narrower than the estimate (±100 %): below
    /// that the figure is noise, and the console says so.
    pub useful: bool,
}

/// A store's kiosk check-ins over its last published days (DP figures).
#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreCheckinsBody {
    pub store_id: String,
    /// Closed days summed (up to 7).
    pub days: usize,
    /// Noisy sum of check-ins at levels 0 and 1, and its ~95 % half-width.
    pub anonymous: i64,
    pub anonymous_half_width: i64,
    /// Noisy sum of check-ins under a pseudonym (levels 2-4).
    pub pseudonymous: i64,
    pub pseudonymous_half_width: i64,
}

/// The persona's figures for the console.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PersonaFiguresBody {
    pub levels: Vec<LevelDevices>,
    /// Level changes to a lower level (withdrawals, each with receipts).
    pub withdrawals: u64,
    /// Level-1 reports counted at the offer's ε.
    pub level1_reports: u64,
    /// ε per level-1 report, in micro-nats.
    pub report_epsilon_micro: u64,
    pub level1: Vec<Level1Category>,
    pub checkins: Vec<StoreCheckinsBody>,
}

/// Devices per trust level, withdrawals, level-1 estimates and kiosk
/// check-ins per store (admin). Check-ins come only from the stores'
/// published DP releases; level-1 figures are randomized-response estimates.
#[utoipa::path(get, path = "/v1/console/persona",
    responses((status = 200, body = PersonaFiguresBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn persona(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PersonaFiguresBody>, ApiError> {
    caller.require(&[Role::Admin])?;
    let f = state.persona_figures(Timestamp::now()).await?;
    Ok(Json(PersonaFiguresBody {
        levels: fineline_persona::TrustLevel::ALL
            .iter()
            .map(|l| LevelDevices {
                level: l.number(),
                name: l.name().to_string(),
                devices: f.devices_at[l.number() as usize],
            })
            .collect(),
        withdrawals: f.withdrawals,
        level1_reports: f.level1.reports,
        report_epsilon_micro: f.level1.report_epsilon_micro,
        level1: f
            .level1
            .categories
            .into_iter()
            .map(|(category, _, e)| Level1Category {
                category,
                useful: e.total > 0.0 && (e.high - e.low) / 2.0 < e.total,
                estimate: e.total,
                low: e.low,
                high: e.high,
            })
            .collect(),
        checkins: f
            .checkins
            .into_iter()
            .map(|c| StoreCheckinsBody {
                store_id: c.store_id,
                days: c.days,
                anonymous: c.anonymous.0,
                anonymous_half_width: c.anonymous.1,
                pseudonymous: c.pseudonymous.0,
                pseudonymous_half_width: c.pseudonymous.1,
            })
            .collect(),
    }))
}
