//! Published foot-traffic figures. Each closed store-day is noised once,
//! committed to the ledger, and from then on everyone who may read the
//! store's report — its admin and every analyst — gets that same release.
//!
//! Why once: with a fresh draw per request, whoever can ask twice averages
//! the noise away, and a store's admin (who pays no analyst budget) could
//! ask without end. Re-reading a published release is post-processing and
//! costs no privacy, so a device's loss for a store-day is the release's
//! epsilon however many people read it, and no analyst budget is charged.
//!
//! Why only closed days: a day still filling up would need a new release for
//! every new visit. A day is closed [`RELEASE_GRACE_MS`] after its local
//! midnight, when late sightings and visits running past midnight are in.

use fineline_core::Timestamp;
use fineline_db::WriteOp;
use fineline_footfall::dp::{self, DpConfig, DpReport};
use fineline_footfall::{build_reports, Store as Shop};
use fineline_ledger::{Hash, LedgerEntry};
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::App;

/// How long after a day's local midnight its figures are published.
pub const RELEASE_GRACE_MS: i64 = 6 * 60 * 60 * 1000;

/// One store-day as published: the noisy figures and the ledger entry that
/// commits to them (its `query_digest` is SHA-256 of `release`'s JSON).
#[derive(Clone, Serialize, Deserialize)]
pub struct Published {
    /// The noisy figures as published.
    #[serde(flatten)]
    pub release: DpReport,
    /// Index of the ledger entry that commits to them.
    pub ledger_index: u64,
}

/// A report range: what is published, and the days not closed yet.
pub struct Publication {
    /// Published store-days in the range, oldest first.
    pub days: Vec<Published>,
    /// Days of the range not yet closed (before [`RELEASE_GRACE_MS`] past
    /// their local midnight): nothing is published for them yet.
    pub pending: Vec<Date>,
    /// Store-days this call published (0 when all were published before).
    pub newly_published: usize,
}

fn setting_name(store_id: &str, day: Date) -> String {
    format!("footfall/release/{store_id}/{day}")
}

/// Privacy loss of one store-day's release, split evenly between the
/// counts and the clamped dwell sum.
pub const EPSILON_PER_DAY: f64 = 1.0;

/// The noise of one store-day's release, and its zCDP rho (pure eps-DP is
/// eps^2/2-zCDP per mechanism) for the ledger.
fn release_config() -> (DpConfig, u64) {
    let cfg = DpConfig {
        epsilon_counts: EPSILON_PER_DAY / 2.0,
        epsilon_dwell: EPSILON_PER_DAY / 2.0,
        ..DpConfig::default()
    };
    let rho = cfg.epsilon_counts.powi(2) / 2.0 + cfg.epsilon_dwell.powi(2) / 2.0;
    (cfg, (rho * 1e9).ceil() as u64)
}

/// Publishes the closed days of `from..=to` not yet published, then returns
/// the range as published.
pub async fn publish(
    state: &App,
    shop: &Shop,
    from: Date,
    to: Date,
    now: Timestamp,
) -> Result<Publication, AppError> {
    let closed = |day: Date| match day.tomorrow() {
        Ok(next) => {
            shop.instant(next, Time::midnight()).millis() + RELEASE_GRACE_MS <= now.millis()
        }
        Err(_) => false,
    };
    let days: Vec<Date> = from
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= to)
        .collect();
    // Two requests racing to publish the same day would each draw noise;
    // the second would double the day's privacy loss.
    let _one_at_a_time = state.footfall.release_guard().await;
    let database = state.database();
    let mut found = Vec::with_capacity(days.len());
    let mut missing = Vec::new();
    let mut pending = Vec::new();
    for &day in &days {
        if !closed(day) {
            pending.push(day);
            continue;
        }
        match database
            .setting(&setting_name(shop.id(), day))
            .await
            .map_err(AppError::internal)?
        {
            Some(bytes) => {
                let p: Published = serde_json::from_slice(&bytes).map_err(AppError::internal)?;
                found.push(p);
            }
            None => missing.push(day),
        }
    }
    let mut newly_published = missing.len();
    if let (Some(&first), Some(&last)) = (missing.first(), missing.last()) {
        let sessions = state
            .footfall
            .sessions_for_report(database, shop, first, last)
            .await?;
        let cfg = state.footfall.session_config();
        let (dp_cfg, nano_rho) = release_config();
        let mut releases = Vec::with_capacity(missing.len());
        for mut exact in build_reports(shop, &cfg, &sessions, first, last) {
            if missing.binary_search(&exact.day).is_ok() {
                // Kiosk check-ins go in the same release as the Wi-Fi figures,
                // under the same noise and sensitivity (see `dp`).
                let checkins = state.checkin_day(shop.id(), exact.day).await?;
                exact.checkins_anonymous = checkins.anonymous();
                exact.checkins_pseudonymous = checkins.pseudonymous();
                releases.push(dp::release(&exact, &dp_cfg).map_err(AppError::internal)?);
            }
        }
        let bodies: Vec<Vec<u8>> = releases
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<_, _>>()
            .map_err(AppError::internal)?;
        let period = crate::budget::period_of(now);
        let entries: Vec<LedgerEntry> = bodies
            .iter()
            .map(|body| LedgerEntry::Release {
                analyst: format!("footfall:{}", shop.id()),
                query_digest: Hash(Sha256::digest(body).into()),
                cost_nano_rho: nano_rho,
                period: period.clone(),
                at: now,
            })
            .collect();
        let published = |indices: &[u64]| -> Vec<Published> {
            releases
                .iter()
                .zip(indices)
                .map(|(release, &ledger_index)| Published {
                    release: release.clone(),
                    ledger_index,
                })
                .collect()
        };
        // Insert-only: another replica publishing one of these days at the
        // same moment makes this write fail whole, ledger entries included.
        let appended = state
            .ledger
            .append(database, &entries, |indices| {
                published(indices)
                    .iter()
                    .map(|p| WriteOp::InsertSetting {
                        name: setting_name(shop.id(), p.release.day),
                        value: serde_json::to_vec(p).expect("a release serialises"),
                    })
                    .collect()
            })
            .await;
        match appended {
            Ok(appended) => found.extend(published(&appended.indices)),
            Err(e) => {
                // Answer with what the other replica published: one draw of
                // noise per day, never a second (its loss would add up).
                for &day in &missing {
                    match database.setting(&setting_name(shop.id(), day)).await? {
                        Some(bytes) => {
                            found.push(serde_json::from_slice(&bytes).map_err(AppError::internal)?)
                        }
                        None => return Err(e),
                    }
                }
                newly_published = 0;
            }
        }
        found.sort_by_key(|p| p.release.day);
    }
    Ok(Publication {
        days: found,
        pending,
        newly_published,
    })
}
