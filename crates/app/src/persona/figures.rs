//! The console's persona figures (issue 18): devices per trust level as
//! their level changes left them, withdrawals, the level-1 totals and the
//! stores' kiosk check-ins.
//!
//! What the business can count is only what devices sent: a device that
//! stays at level 0 or 1 never sends a level change (nothing names it),
//! so it is in no count here. Devices at 2 to 4 are counted by the last
//! change their pseudonym sent; those that came back below 2 are counted
//! at the level they said they went to. Level-1 figures are the
//! randomized-response estimates with their intervals, and check-ins come
//! from the stores' published DP releases only (invariant 6): the exact
//! check-in counts never reach the console.

use fineline_core::Timestamp;
use fineline_db::WriteOp;
use fineline_persona::{BusinessPseudonym, TrustLevel};

use fineline_persona::{estimate_totals, RandomizedResponse};

use super::{Aggregate, Counts, COUNTS_SETTING as LDP_COUNTS, PSEUDONYM_DOMAIN, Z_95};
use crate::{App, AppError};

const COUNTS_SETTING: &str = "persona.level_counts";
/// Per pseudonym (keyed digest): the level its last change recorded.
pub(super) const LEVEL_PREFIX: &str = "persona.level.";
/// Closed days of check-ins the console sums per store.
pub const CHECKIN_DAYS: i64 = 7;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct LevelCounts {
    /// Pseudonyms whose last change left them at each level.
    at: [u64; 5],
    /// Changes to a lower level (each a withdrawal with receipts).
    withdrawals: u64,
}

/// One store's published check-ins over the last closed days.
#[derive(Debug, Clone)]
pub struct StoreCheckins {
    /// The store's id.
    pub store_id: String,
    /// Published days summed (closed, up to [`CHECKIN_DAYS`]).
    pub days: usize,
    /// Noisy sum of check-ins without identifier, and its ~95 % half-width.
    pub anonymous: (i64, i64),
    /// Noisy sum of check-ins under a pseudonym, and its ~95 % half-width.
    pub pseudonymous: (i64, i64),
}

/// What the console shows about the persona.
pub struct PersonaFigures {
    /// Devices by the level their last change sent, 0 to 4 (0 and 1: only
    /// those that came down from 2 or above).
    pub devices_at: [u64; 5],
    /// Level changes to a lower level.
    pub withdrawals: u64,
    /// The level-1 aggregate (estimates with intervals).
    pub level1: Aggregate,
    /// Per store, the check-ins of its last published days.
    pub checkins: Vec<StoreCheckins>,
}

impl App {
    /// Counts a recorded level change: the pseudonym leaves the level its
    /// last change put it at (or `from`, for its first) for `to`.
    pub(super) async fn count_level_change(
        &self,
        pseudonym: &BusinessPseudonym,
        from: TrustLevel,
        to: TrustLevel,
    ) -> Result<(), AppError> {
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, &pseudonym.to_hex());
        let name = format!("{LEVEL_PREFIX}{}", who.to_text());
        let _write = self.persona_turn().await?;
        let before: Option<u8> = self.setting_json(&name).await?;
        let mut counts: LevelCounts = self.setting_json(COUNTS_SETTING).await?.unwrap_or_default();
        let prev = before.map_or(from.number(), |b| b);
        if before.is_some() {
            let slot = &mut counts.at[prev as usize];
            *slot = slot.saturating_sub(1);
        }
        counts.at[to.number() as usize] += 1;
        if to.number() < prev {
            counts.withdrawals += 1;
        }
        let ops = vec![
            WriteOp::PutSetting {
                name,
                value: serde_json::to_vec(&to.number()).map_err(AppError::internal)?,
            },
            WriteOp::PutSetting {
                name: COUNTS_SETTING.into(),
                value: serde_json::to_vec(&counts).map_err(AppError::internal)?,
            },
        ];
        self.database()
            .apply(fineline_db::WriteSet { ops })
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    /// The ops that forget the last level `pseudonym`'s changes left it at
    /// and take it out of the devices-per-level count (an erasure; the
    /// withdrawals it made stay counted: they happened). The caller holds
    /// the persona writers' turn and lands the ops in the erasure.
    pub(super) async fn forget_level(
        &self,
        pseudonym: &BusinessPseudonym,
    ) -> Result<Vec<WriteOp>, AppError> {
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, &pseudonym.to_hex());
        let name = format!("{LEVEL_PREFIX}{}", who.to_text());
        let Some(level) = self.setting_json::<u8>(&name).await? else {
            return Ok(Vec::new());
        };
        let mut counts: LevelCounts = self.setting_json(COUNTS_SETTING).await?.unwrap_or_default();
        if let Some(slot) = counts.at.get_mut(level as usize) {
            *slot = slot.saturating_sub(1);
        }
        Ok(vec![
            WriteOp::DeleteSetting { name },
            WriteOp::PutSetting {
                name: COUNTS_SETTING.into(),
                value: serde_json::to_vec(&counts).map_err(AppError::internal)?,
            },
        ])
    }

    /// The console's persona figures at `now` (see the module doc). Reading
    /// them publishes the stores' closed days not yet published, as
    /// reading a store's report does.
    pub async fn persona_figures(&self, now: Timestamp) -> Result<PersonaFigures, AppError> {
        let counts: LevelCounts = self.setting_json(COUNTS_SETTING).await?.unwrap_or_default();
        let level1 = self.persona_aggregate().await?;
        let mut checkins = Vec::new();
        for store in self.footfall_stores() {
            let Some(shop) = self.footfall.store(&store.store_id) else {
                continue;
            };
            let today = shop.local_day(now);
            let span = |n: i64| today.checked_sub(jiff::Span::new().days(n));
            let (Ok(from), Ok(to)) = (span(CHECKIN_DAYS), span(1)) else {
                continue;
            };
            let published = self
                .publish_footfall(&store.store_id, from, to, now)
                .await?;
            let sum = |pick: &dyn Fn(
                &fineline_footfall::dp::DpReport,
            ) -> Option<fineline_footfall::dp::Noisy>| {
                let noisy: Vec<_> = published
                    .days
                    .iter()
                    .filter_map(|p| pick(&p.release))
                    .collect();
                let value = noisy.iter().map(|n| n.value).sum::<i64>();
                // Independent discrete Laplace draws: add variances, 1.96 σ.
                let var: f64 = noisy
                    .iter()
                    .map(|n| {
                        let q = (-1.0 / n.scale).exp();
                        2.0 * q / ((1.0 - q) * (1.0 - q))
                    })
                    .sum();
                (value, (1.96 * var.sqrt()).ceil() as i64)
            };
            checkins.push(StoreCheckins {
                store_id: store.store_id.clone(),
                days: published.days.len(),
                anonymous: sum(&|r| r.checkins_anonymous),
                pseudonymous: sum(&|r| r.checkins_pseudonymous),
            });
        }
        Ok(PersonaFigures {
            devices_at: counts.at,
            withdrawals: counts.withdrawals,
            level1,
            checkins,
        })
    }

    /// The level-1 estimate per category of the offer's question, at the
    /// offer's ε, with 95 % intervals.
    pub async fn persona_aggregate(&self) -> Result<Aggregate, AppError> {
        let (offer, _) = self.persona_offer().await?;
        let question = offer.terms().question();
        if offer.taxonomy.is_empty() {
            return Ok(Aggregate {
                business: offer.business,
                report_epsilon_micro: offer.report_epsilon_micro,
                reports: 0,
                p_truth: None,
                categories: vec![],
            });
        }
        let counts: Counts = self.setting_json(LDP_COUNTS).await?.unwrap_or_default();
        let at = counts.get(&offer.report_epsilon_micro);
        let observed: Vec<u64> = question
            .iter()
            .map(|c| at.and_then(|m| m.get(c)).copied().unwrap_or(0))
            .collect();
        let mech = RandomizedResponse::new(question.len() as u32, offer.report_epsilon_micro)
            .map_err(|e| AppError::bad_request(e.to_string()))?;
        let estimates = estimate_totals(&mech, &observed, Z_95);
        Ok(Aggregate {
            business: offer.business,
            report_epsilon_micro: offer.report_epsilon_micro,
            reports: observed.iter().sum(),
            p_truth: Some(mech.p_truth()),
            categories: question
                .into_iter()
                .zip(observed)
                .zip(estimates)
                .map(|((c, n), e)| (c, n, e))
                .collect(),
        })
    }
}
