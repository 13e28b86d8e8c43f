//! Foot traffic: stores and sensors, sightings, device opt-outs with
//! receipts, the store kiosk page and daily reports.
//!
//! A MAC arrives in a sighting or an opt-out body and is gone by the end of
//! the handler: it is never stored, logged or echoed back.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use fineline_core::{Role, Timestamp, MAX_FUTURE_MS};
use fineline_footfall::{Mac, OpeningHours, Sighting, StoreConfig};
use fineline_ledger::Receipt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::auth::Caller;
use crate::error::{ApiError, JsonBody, LateJson};
use crate::state::AppState;
use crate::wire::Dropped;
use crate::wire_events::{Rejection, WireTime};

/// Largest batch `POST /v1/footfall/sightings` takes.
pub const MAX_SIGHTINGS: usize = 50_000;
/// Longest report range, in days.
const MAX_REPORT_DAYS: i64 = 366;
/// How far back a report reaches. Every day asked for is published (a
/// release of an empty day is as private as any), so without a limit a
/// reader could grow the ledger by asking for ever older years.
const REPORT_HISTORY_DAYS: i64 = 3 * 366;

/// A day's opening hours in local time, `"09:00"` to `"20:00"`; `"24:00"` closes at midnight.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursIn {
    pub open: String,
    pub close: String,
}

/// A store as its admin registers it.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreIn {
    /// 1-64 letters, digits, '-', '_' or '.'.
    pub store_id: String,
    /// The Wi-Fi sensors in the store; each belongs to one store only.
    pub sensors: Vec<String>,
    /// Seven entries, Monday first; `null` means closed that day.
    pub opening_hours: Vec<Option<HoursIn>>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

fn parse_hhmm(s: &str, field: &str) -> Result<jiff::civil::Time, ApiError> {
    let bad = || ApiError::field(field, "expected HH:MM, 00:00 to 24:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    match (h, m) {
        (24, 0) => Ok(jiff::civil::Time::MAX),
        (0..=23, 0..=59) => Ok(jiff::civil::Time::constant(h, m, 0, 0)),
        _ => Err(bad()),
    }
}

fn hhmm(t: jiff::civil::Time) -> String {
    if t == jiff::civil::Time::MAX {
        "24:00".into()
    } else {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }
}

impl StoreIn {
    fn into_config(self) -> Result<StoreConfig, ApiError> {
        if self.opening_hours.len() != 7 {
            return Err(ApiError::field(
                "opening_hours",
                "seven entries, Monday first (null for a closed day)",
            ));
        }
        let mut hours = [None; 7];
        for (i, h) in self.opening_hours.iter().enumerate() {
            if let Some(h) = h {
                hours[i] = Some(OpeningHours::new(
                    parse_hhmm(&h.open, &format!("opening_hours[{i}].open"))?,
                    parse_hhmm(&h.close, &format!("opening_hours[{i}].close"))?,
                ));
            }
        }
        Ok(StoreConfig {
            store_id: self.store_id,
            sensors: self.sensors,
            opening_hours: hours,
            time_zone: self.time_zone,
        })
    }

    fn from_config(c: &StoreConfig) -> Self {
        Self {
            store_id: c.store_id.clone(),
            sensors: c.sensors.clone(),
            opening_hours: c
                .opening_hours
                .iter()
                .map(|h| {
                    h.map(|h| HoursIn {
                        open: hhmm(h.open),
                        close: hhmm(h.close),
                    })
                })
                .collect(),
            time_zone: c.time_zone.clone(),
        }
    }
}

/// Register a store and its sensors (admin).
#[utoipa::path(post, path = "/v1/footfall/stores", request_body = StoreIn,
    responses((status = 201, body = StoreIn), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_store(
    State(state): State<AppState>,
    caller: Caller,
    body: LateJson<StoreIn>,
) -> Result<(StatusCode, Json<StoreIn>), ApiError> {
    caller.require(&[Role::Admin])?;
    let body = body?.0;
    let cfg = body.into_config()?;
    state.add_footfall_store(cfg.clone()).await?;
    Ok((StatusCode::CREATED, Json(StoreIn::from_config(&cfg))))
}

/// Registered stores (admin).
#[utoipa::path(get, path = "/v1/footfall/stores", responses((status = 200, body = Vec<StoreIn>)))]
pub async fn stores(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StoreIn>>, ApiError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(
        state
            .footfall_stores()
            .iter()
            .map(StoreIn::from_config)
            .collect(),
    ))
}

/// One sighting as a sensor reports it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SightingIn {
    pub sensor_id: String,
    /// `aa:bb:cc:dd:ee:ff`, `aa-bb-...` or 12 hex digits. Pseudonymised at
    /// once; never stored.
    pub mac: String,
    /// Signal strength in dBm.
    pub rssi: i32,
    /// RFC 3339 time or milliseconds since the Unix epoch.
    #[schema(value_type = String)]
    pub timestamp: WireTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SightingsReport {
    pub accepted: u64,
    /// Valid sightings that were not kept, by reason.
    pub dropped: Dropped,
    /// Malformed sightings, by index, naming the field.
    pub rejected: Vec<Rejection>,
    /// Sessions this batch closed, stored before this response.
    pub sessions_stored: usize,
}

fn parse_sighting(index: usize, json: &str, now: Timestamp) -> Result<Sighting, Rejection> {
    let s: SightingIn = match serde_json::from_str(json) {
        Ok(s) => s,
        Err(_) => {
            // Slow path only for bad rows: find the field at fault.
            let de = &mut serde_json::Deserializer::from_str(json);
            let e = match serde_path_to_error::deserialize::<_, SightingIn>(de) {
                Ok(_) => return Err(Rejection::field(index, "sighting", "invalid sighting")),
                Err(e) => e,
            };
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            let field = if path == "." {
                ["sensor_id", "mac", "rssi", "timestamp"]
                    .into_iter()
                    .find(|f| inner.contains(&format!("`{f}`")))
                    .unwrap_or("sighting")
                    .to_string()
            } else {
                path
            };
            // Never echo the value: it may be a MAC in the wrong place.
            return Err(Rejection::field(
                index,
                &field,
                "missing or of the wrong type",
            ));
        }
    };
    if s.sensor_id.is_empty() || s.sensor_id.len() > 64 {
        return Err(Rejection::field(index, "sensor_id", "must be 1-64 bytes"));
    }
    let mac = Mac::parse(&s.mac).map_err(|e| Rejection::field(index, "mac", e.to_string()))?;
    let rssi = i16::try_from(s.rssi)
        .ok()
        .filter(|r| (-127..=20).contains(r))
        .ok_or_else(|| Rejection::field(index, "rssi", "dBm must be between -127 and 20"))?;
    let at = s.timestamp.0;
    if at.0 < 0 || at.0 > now.0 + MAX_FUTURE_MS {
        return Err(Rejection::field(
            index,
            "timestamp",
            "before 1970 or more than 10 minutes in the future",
        ));
    }
    Ok(Sighting {
        sensor_id: s.sensor_id,
        mac,
        rssi,
        at,
    })
}

/// Ingest up to 50,000 sightings (ingest role). Sessions the batch closes
/// are stored before the response: an acknowledged batch is durable. With
/// replicas, only the leader takes sightings (503 `not_leader` elsewhere:
/// route them by `/healthz/leader`).
#[utoipa::path(post, path = "/v1/footfall/sightings", request_body(content = Vec<SightingIn>),
    responses((status = 200, body = SightingsReport), (status = 400, body = crate::error::ErrorBody),
              (status = 503, body = crate::error::ErrorBody)))]
pub async fn sightings(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<SightingsReport>, ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let items: Vec<&RawValue> = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("body must be a JSON array of sightings"))?;
    if items.len() > MAX_SIGHTINGS {
        return Err(ApiError::field(
            "body",
            format!(
                "a batch holds at most {MAX_SIGHTINGS} sightings, got {}",
                items.len()
            ),
        ));
    }
    let now = Timestamp::now();
    let mut rejected = Vec::new();
    let mut batch = Vec::with_capacity(items.len());
    for (i, raw) in items.into_iter().enumerate() {
        match parse_sighting(i, raw.get(), now) {
            Ok(s) => batch.push(s),
            Err(r) => rejected.push(r),
        }
    }
    let out = state.ingest_sightings(batch).await?;
    Ok(Json(SightingsReport {
        accepted: out.accepted,
        dropped: out.dropped.into(),
        rejected,
        sessions_stored: out.sessions_stored,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Flushed {
    pub sessions_stored: usize,
}

/// Close every open session and store it (end of an import; admin or ingest).
#[utoipa::path(post, path = "/v1/footfall/flush", responses((status = 200, body = Flushed)))]
pub async fn flush(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Flushed>, ApiError> {
    caller.require(&[Role::Ingest, Role::Admin])?;
    let sessions_stored = state.flush_sessions().await?;
    Ok(Json(Flushed { sessions_stored }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutIn {
    /// The phone's Wi-Fi MAC address. Used once to make a keyed digest; never stored.
    pub mac: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OptOutReceipt {
    /// A ledger receipt for the opt-out, verifiable offline with `fineline verify`.
    /// It commits to a keyed digest of the device, never to the MAC.
    #[schema(value_type = Object)]
    pub receipt: Receipt,
    /// Stored sessions of the device that were deleted.
    pub sessions_deleted: u64,
}

/// Opt a device out of foot-traffic counting (public: the kiosk page and
/// privacy center call it). Its sightings are dropped from now on and its
/// stored sessions are deleted.
#[utoipa::path(post, path = "/v1/footfall/optout", request_body = OptOutIn,
    responses((status = 201, body = OptOutReceipt), (status = 400, body = crate::error::ErrorBody)))]
pub async fn opt_out(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OptOutIn>,
) -> Result<(StatusCode, Json<OptOutReceipt>), ApiError> {
    let mac = Mac::parse(body.mac.trim()).map_err(|e| ApiError::field("mac", e.to_string()))?;
    drop(body);
    let done = state.opt_out_device(&mac).await?;
    Ok((
        StatusCode::CREATED,
        Json(OptOutReceipt {
            receipt: done.receipt,
            sessions_deleted: done.sessions_deleted,
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// First local day, `YYYY-MM-DD`.
    pub from: String,
    /// Last local day (inclusive), `YYYY-MM-DD`.
    pub to: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreReport {
    pub store_id: String,
    /// The published figures of each closed day in the range, oldest first:
    /// noisy values with their 95% intervals, and the ledger entry that
    /// commits to them.
    #[schema(value_type = Vec<Object>)]
    pub days: Vec<fineline_app::footfall_release::Published>,
    /// Days in the range not closed yet (published six hours after their
    /// local midnight).
    #[schema(value_type = Vec<String>)]
    pub pending_days: Vec<jiff::civil::Date>,
    /// Epsilon of each store-day's release (half on counts, half on dwell).
    pub epsilon_per_day: f64,
    /// Store-days this request published; the rest were published before
    /// and are returned as they were.
    pub newly_published: usize,
}

/// Daily reports of a store, for its admin and for analysts alike: the same
/// differentially private release of each closed day, published once (see
/// `footfall_release`). Exact figures never leave the server.
#[utoipa::path(get, path = "/v1/footfall/stores/{id}/report", params(ReportParams),
    responses((status = 200, body = StoreReport), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    _caller: fineline_app::budget::Analyst,
    Path(id): Path<String>,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StoreReport>, ApiError> {
    let Query(p) = params.map_err(report_param_error)?;
    let day = |s: &str, field: &str| {
        s.parse::<jiff::civil::Date>()
            .map_err(|_| ApiError::field(field, "expected a date YYYY-MM-DD"))
    };
    let (from, to) = (day(&p.from, "from")?, day(&p.to, "to")?);
    let span = (to - from).get_days() as i64;
    if !(0..MAX_REPORT_DAYS).contains(&span) {
        return Err(ApiError::field(
            "to",
            format!("must be on or after from, at most {MAX_REPORT_DAYS} days later"),
        ));
    }
    let now = Timestamp::now();
    let oldest = jiff::Timestamp::from_millisecond(now.millis())
        .map_err(ApiError::internal)?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_sub(jiff::Span::new().days(REPORT_HISTORY_DAYS))
        .map_err(ApiError::internal)?;
    if from < oldest {
        return Err(ApiError::field(
            "from",
            format!("reports reach back {REPORT_HISTORY_DAYS} days, to {oldest}"),
        ));
    }
    let out = state.publish_footfall(&id, from, to, now).await?;
    Ok(Json(StoreReport {
        store_id: id,
        days: out.days,
        pending_days: out.pending,
        epsilon_per_day: fineline_app::footfall_release::EPSILON_PER_DAY,
        newly_published: out.newly_published,
    }))
}

/// Names the query parameter at fault: `mode=exact` and `epsilon` were
/// parameters once, and a client still sending them should hear why.
fn report_param_error(e: axum::extract::rejection::QueryRejection) -> ApiError {
    let text = e.body_text();
    for (field, why) in [
        (
            "mode",
            "exact figures are not released; every reader gets the published DP report",
        ),
        (
            "epsilon",
            "each store-day is published once at a fixed epsilon (epsilon_per_day)",
        ),
    ] {
        if text.contains(&format!("unknown field `{field}`")) {
            return ApiError::field(field, why);
        }
    }
    let unknown = text
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    let field = unknown.unwrap_or_else(|| {
        ["from", "to"]
            .into_iter()
            .find(|f| text.contains(&format!("`{f}`")))
            .unwrap_or("query")
            .to_string()
    });
    ApiError::field(&field, text)
}

const KIOSK_PAGE: &str = include_str!("../../assets/optout.html");
const KIOSK_SCRIPT: &str = include_str!("../../assets/optout.js");
const KIOSK_STYLE: &str = include_str!("../../assets/optout.css");

/// Same-origin scripts, styles and fetches only; never framed; no referrer.
pub const KIOSK_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn kiosk(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, KIOSK_CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The store kiosk page: opt a phone out by its Wi-Fi address.
pub async fn kiosk_page() -> impl IntoResponse {
    kiosk("text/html; charset=utf-8", KIOSK_PAGE)
}

pub async fn kiosk_script() -> impl IntoResponse {
    kiosk("text/javascript; charset=utf-8", KIOSK_SCRIPT)
}

pub async fn kiosk_style() -> impl IntoResponse {
    kiosk("text/css; charset=utf-8", KIOSK_STYLE)
}
