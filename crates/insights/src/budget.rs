//! Privacy budgets: integer accounting in nano-ρ (zCDP) and femto-δ.
//!
//! Integers so that composition is exact and a ledger can be persisted and compared
//! without rounding: costs add (zCDP composes additively), and a charge succeeds only
//! if `spent + cost <= total` in both coordinates. The δ coordinate accrues only from
//! thresholded releases of groups whose keys are not public.

use std::collections::HashMap;

use opendp::combinators::ConcentratedMeasure;
use opendp::measures::ZeroConcentratedDivergence;
use serde::{Deserialize, Serialize};

/// Units per ρ.
pub const NANO: u64 = 1_000_000_000;
/// Units per δ.
pub const FEMTO: u64 = 1_000_000_000_000_000;
/// Default budget per analyst per period: ρ = 0.1, δ = 1e-7.
pub const DEFAULT_BUDGET: Cost = Cost {
    nano_rho: 100_000_000,
    femto_delta: 100_000_000,
};
/// δ at which ρ is reported as (ε, δ).
pub const REPORT_DELTA: f64 = 1e-6;

/// A privacy cost or budget amount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cost {
    /// ρ spent or allowed, in nano-ρ (zCDP ρ × 10⁹).
    pub nano_rho: u64,
    /// δ spent or allowed, in femto-δ (δ × 10¹⁵).
    pub femto_delta: u64,
}

/// A cost as (ε, δ): ρ converted with OpenDP's zCDP→approx-DP profile at `conversion_delta`,
/// plus the thresholding δ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApproxDp {
    /// zCDP ρ.
    pub rho: f64,
    /// ε of the (ε, δ) guarantee.
    pub epsilon: f64,
    /// δ of the guarantee: conversion δ plus any thresholding δ.
    pub delta: f64,
}

/// Why a charge or a conversion failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// The charge would overspend the period's budget; nothing was charged.
    #[error("privacy budget exhausted: remaining {remaining:?}, asked {asked:?}")]
    Exhausted {
        /// What was left before the charge.
        remaining: Cost,
        /// What the query costs.
        asked: Cost,
    },
    /// OpenDP could not express ρ as (ε, δ).
    #[error("cannot convert rho {rho} at delta {delta}: {reason}")]
    Conversion {
        /// The ρ to convert.
        rho: f64,
        /// The δ asked for.
        delta: f64,
        /// OpenDP's message.
        reason: String,
    },
}

impl Cost {
    /// Nothing spent.
    pub const ZERO: Cost = Cost {
        nano_rho: 0,
        femto_delta: 0,
    };

    /// The ρ part as a real number.
    pub fn rho(self) -> f64 {
        self.nano_rho as f64 / NANO as f64
    }

    /// The δ part as a real number.
    pub fn delta(self) -> f64 {
        self.femto_delta as f64 / FEMTO as f64
    }

    /// Sequential composition; `None` on overflow (never silently wraps).
    pub fn checked_add(self, o: Cost) -> Option<Cost> {
        Some(Cost {
            nano_rho: self.nano_rho.checked_add(o.nano_rho)?,
            femto_delta: self.femto_delta.checked_add(o.femto_delta)?,
        })
    }

    /// What is left of `self` after `o`, never below zero.
    pub fn saturating_sub(self, o: Cost) -> Cost {
        Cost {
            nano_rho: self.nano_rho.saturating_sub(o.nano_rho),
            femto_delta: self.femto_delta.saturating_sub(o.femto_delta),
        }
    }

    /// Whether `self` is at most `o` in both ρ and δ.
    pub fn fits_within(self, o: Cost) -> bool {
        self.nano_rho <= o.nano_rho && self.femto_delta <= o.femto_delta
    }

    /// Rounds δ up so that the recorded cost never understates the true one.
    pub fn from_parts(nano_rho: u64, delta: f64) -> Cost {
        Cost {
            nano_rho,
            femto_delta: (delta * FEMTO as f64).ceil() as u64,
        }
    }

    /// This cost as (ε, δ_conversion + δ_threshold).
    pub fn to_approx_dp(self, conversion_delta: f64) -> Result<ApproxDp, BudgetError> {
        let rho = self.rho();
        Ok(ApproxDp {
            rho,
            epsilon: zcdp_epsilon(rho, conversion_delta)?,
            delta: conversion_delta + self.delta(),
        })
    }
}

/// ε of ρ-zCDP at δ, by OpenDP's own conversion (the tight bound of Canonne, Kamath and
/// Steinke 2020, never larger than the classical ρ + 2·sqrt(ρ·ln(1/δ))).
pub fn zcdp_epsilon(rho: f64, delta: f64) -> Result<f64, BudgetError> {
    if rho == 0.0 {
        return Ok(0.0);
    }
    let err = |e: opendp::error::Error| BudgetError::Conversion {
        rho,
        delta,
        reason: e.to_string(),
    };
    let profile = <ZeroConcentratedDivergence as ConcentratedMeasure>::convert(rho).map_err(err)?;
    profile.epsilon(delta).map_err(err)
}

/// The classical conversion, kept as a checked upper bound on [`zcdp_epsilon`].
pub fn zcdp_epsilon_classical(rho: f64, delta: f64) -> f64 {
    rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()
}

/// One analyst's account for one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// What the analyst may spend in the period.
    pub total: Cost,
    /// What releases already charged in the period.
    pub spent: Cost,
}

impl Account {
    /// A fresh account: `total` to spend, nothing spent.
    pub fn new(total: Cost) -> Self {
        Account {
            total,
            spent: Cost::ZERO,
        }
    }

    /// What is left to spend (never negative).
    pub fn remaining(&self) -> Cost {
        self.total.saturating_sub(self.spent)
    }

    /// The account after charging `cost`, or the refusal. Pure: the caller stores the
    /// result in the same transaction it read `self` in (compare-and-set on `spent`).
    pub fn try_charge(&self, cost: Cost) -> Result<Account, BudgetError> {
        let exhausted = || BudgetError::Exhausted {
            remaining: self.remaining(),
            asked: cost,
        };
        let spent = self.spent.checked_add(cost).ok_or_else(exhausted)?;
        if !spent.fits_within(self.total) {
            return Err(exhausted());
        }
        Ok(Account {
            total: self.total,
            spent,
        })
    }
}

/// Budgets of all analysts, keyed by (analyst, period). Charging takes `&mut self`, so a
/// server that holds it behind one lock (or persists `Account` with compare-and-set) cannot
/// overspend under concurrent queries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetLedger {
    /// Budget of an analyst and period nobody set a budget for.
    pub default_budget: Cost,
    accounts: HashMap<(String, String), Account>,
}

impl Default for BudgetLedger {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET)
    }
}

impl BudgetLedger {
    /// An empty ledger; every account starts at `default_budget`.
    pub fn new(default_budget: Cost) -> Self {
        BudgetLedger {
            default_budget,
            accounts: HashMap::new(),
        }
    }

    /// Sets an analyst's budget for a period (keeps what was already spent).
    pub fn set_budget(&mut self, analyst: &str, period: &str, total: Cost) {
        let key = (analyst.to_string(), period.to_string());
        let acc = self
            .accounts
            .entry(key)
            .or_insert_with(|| Account::new(total));
        acc.total = total;
    }

    /// The analyst's account for the period (the default budget if never charged).
    pub fn account(&self, analyst: &str, period: &str) -> Account {
        self.accounts
            .get(&(analyst.to_string(), period.to_string()))
            .copied()
            .unwrap_or_else(|| Account::new(self.default_budget))
    }

    /// Charges `cost` all-or-nothing; returns what remains.
    pub fn charge(&mut self, analyst: &str, period: &str, cost: Cost) -> Result<Cost, BudgetError> {
        let next = self.account(analyst, period).try_charge(cost)?;
        self.accounts
            .insert((analyst.to_string(), period.to_string()), next);
        Ok(next.remaining())
    }

    /// Restores an account (e.g. loaded from the store).
    pub fn restore(&mut self, analyst: &str, period: &str, account: Account) {
        self.accounts
            .insert((analyst.to_string(), period.to_string()), account);
    }
}
