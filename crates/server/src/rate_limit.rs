//! Token buckets per caller, in front of every route: per API key (a
//! per-key limit, else its role's), per subject token, and per client
//! address for requests without a valid credential (the kiosk opt-out,
//! the ledger, the policy). governor's GCRA does the counting.
//!
//! A refusal is HTTP 429 with code `rate_limited` and `Retry-After`;
//! an exhausted DP budget is also 429 but `budget_exhausted`, and waiting
//! seconds does not cure it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fineline_core::{Pseudonym, Role};
use governor::clock::{Clock, DefaultClock};

use crate::auth::{bearer, Caller};
use crate::error::ApiError;
use crate::state::AppState;
use fineline_app::sync::RwLock;

pub use fineline_app::api_keys::{InvalidRateLimit, RateLimit};

/// The governor quota of a limit; `None` when it is off.
fn quota(limit: RateLimit) -> Option<governor::Quota> {
    let rate = NonZeroU32::new(limit.per_second)?;
    let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Some(governor::Quota::per_second(rate).allow_burst(burst))
}

/// The limits a server starts with. Defaults stop a runaway client or a
/// leaked key from starving everyone else, while staying far above what
/// one honest integration sends (an ingest request carries up to 10,000
/// events, so 1,000 requests/s is more than the server can store).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// The operator's own key: off unless set.
    pub admin: RateLimit,
    pub ingest: RateLimit,
    /// DP queries are the costliest reads a partner can make.
    pub analyst: RateLimit,
    /// One person's privacy center.
    pub subject: RateLimit,
    /// Per client address, for requests without a valid credential.
    pub public: RateLimit,
    /// Read the client address from this header (the last address in it)
    /// instead of the connection: set it only behind a proxy you run that
    /// overwrites or appends to it, or anyone can pick their own bucket.
    pub client_ip_header: Option<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            admin: RateLimit::OFF,
            ingest: RateLimit::per_second(1_000),
            analyst: RateLimit::per_second(50),
            subject: RateLimit::per_second(20),
            public: RateLimit::per_second(1_000),
            client_ip_header: None,
        }
    }
}

impl RateLimitConfig {
    pub fn for_role(&self, role: Role) -> RateLimit {
        match role {
            Role::Admin => self.admin,
            Role::Ingest => self.ingest,
            Role::Analyst => self.analyst,
        }
    }

    /// Apply `CLASS=LIMIT` (class: admin, ingest, analyst, subject, public).
    pub fn set(&mut self, assignment: &str) -> Result<(), InvalidRateLimit> {
        let bad = || InvalidRateLimit(assignment.to_string());
        let (class, limit) = assignment.split_once('=').ok_or_else(bad)?;
        let limit: RateLimit = limit.parse()?;
        let slot = match class.trim() {
            "admin" => &mut self.admin,
            "ingest" => &mut self.ingest,
            "analyst" => &mut self.analyst,
            "subject" => &mut self.subject,
            "public" => &mut self.public,
            _ => return Err(bad()),
        };
        *slot = limit;
        Ok(())
    }
}

/// Whose bucket a request draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Bucket {
    /// An API key, by the hex SHA-256 of its text.
    Key(String),
    Subject(Pseudonym),
    Client(IpAddr),
}

type Keyed = governor::DefaultKeyedRateLimiter<Bucket>;

/// Checks between sweeps of buckets that have refilled (a full bucket
/// holds no information, and client addresses are unbounded).
const SWEEP_EVERY: u64 = 1 << 16;

#[derive(Default)]
pub struct RateLimiter {
    config: RwLock<RateLimitConfig>,
    /// One keyed limiter per distinct limit (role defaults, per-key ones).
    limiters: RwLock<HashMap<RateLimit, Arc<Keyed>>>,
    checks: AtomicU64,
}

impl RateLimiter {
    /// Replace the limits; every bucket starts full again.
    pub fn configure(&self, config: RateLimitConfig) {
        *self.config.write().unwrap() = config;
        self.limiters.write().unwrap().clear();
    }

    pub fn config(&self) -> RateLimitConfig {
        self.config.read().unwrap().clone()
    }

    /// Take one token from `bucket`, or say how long until one is there.
    fn check(&self, bucket: &Bucket, limit: RateLimit) -> Result<(), Duration> {
        let Some(quota) = quota(limit) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for l in self.limiters.read().unwrap().values() {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        let existing = self.limiters.read().unwrap().get(&limit).cloned();
        let limiter = match existing {
            Some(l) => l,
            None => self
                .limiters
                .write()
                .unwrap()
                .entry(limit)
                .or_insert_with(|| Arc::new(governor::RateLimiter::keyed(quota)))
                .clone(),
        };
        limiter
            .check_key(bucket)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

fn client_ip(req: &Request, from_header: Option<&str>) -> IpAddr {
    let forwarded = from_header
        .and_then(|h| req.headers().get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok());
    forwarded
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Who is calling, as far as limits go. A credential that checks out is
/// kept in the request for the handler's `Caller` extractor, so it is not
/// verified twice.
async fn bucket_for(state: &AppState, req: &mut Request) -> (Bucket, RateLimit) {
    let config = state.rate_limits().config.read().unwrap().clone();
    if let Some(token) = bearer(req.headers()).map(str::to_string) {
        match state.tokens().verify(&token) {
            Some(Ok(subject)) => {
                req.extensions_mut().insert(Caller::Subject(subject));
                return (Bucket::Subject(subject), config.subject);
            }
            Some(Err(_)) => {}
            None => {
                if let Ok(Some(key)) = state.api_key(&token).await {
                    req.extensions_mut().insert(Caller::Key(key.role));
                    let limit = key.limit.unwrap_or_else(|| config.for_role(key.role));
                    return (Bucket::Key(key.hash.clone()), limit);
                }
            }
        }
    }
    let ip = client_ip(req, config.client_ip_header.as_deref());
    (Bucket::Client(ip), config.public)
}

/// The middleware: refuse before the body is read or a handler runs.
pub async fn enforce(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Load balancers' health checks are never refused.
    if matches!(req.uri().path(), "/healthz" | "/healthz/leader") {
        return next.run(req).await;
    }
    let (bucket, limit) = bucket_for(&state, &mut req).await;
    match state.rate_limits().check(&bucket, limit) {
        Ok(()) => next.run(req).await,
        Err(wait) => refusal(wait, &bucket),
    }
}

fn refusal(wait: Duration, bucket: &Bucket) -> Response {
    // Whole seconds, rounded up: `Retry-After: 0` would invite a retry storm.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let whose = match bucket {
        Bucket::Key(_) => "this API key",
        Bucket::Subject(_) => "this subject token",
        Bucket::Client(_) => "this client address",
    };
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from {whose}; retry after {secs} s"),
    )
    .with_detail(serde_json::json!({ "retry_after_s": secs }))
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_with_and_without_burst() {
        assert_eq!(
            "5/7".parse(),
            Ok(RateLimit {
                per_second: 5,
                burst: 7
            })
        );
        assert_eq!("5".parse(), Ok(RateLimit::per_second(5)));
        assert_eq!("0".parse(), Ok(RateLimit::OFF));
        assert_eq!("off".parse(), Ok(RateLimit::OFF));
        assert!("5/0".parse::<RateLimit>().is_err());
        assert!("fast".parse::<RateLimit>().is_err());
        let mut c = RateLimitConfig::default();
        c.set("public=3/4").unwrap();
        assert_eq!(c.public.to_string(), "3/4");
        assert!(c.set("root=3").is_err());
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_names_the_wait() {
        let l = RateLimiter::default();
        let limit = RateLimit {
            per_second: 1,
            burst: 3,
        };
        let a = Bucket::Client(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for _ in 0..3 {
            assert!(l.check(&a, limit).is_ok());
        }
        let wait = l.check(&a, limit).unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        // Another caller's bucket is untouched.
        assert!(l.check(&Bucket::Key("ab".into()), limit).is_ok());
        // Off means off.
        for _ in 0..100 {
            assert!(l.check(&a, RateLimit::OFF).is_ok());
        }
    }
}
