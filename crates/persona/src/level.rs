//! Trust levels and what each means in fineline's purposes.
//!
//! | level | leaves the device | purposes granted (data categories) |
//! |---|---|---|
//! | 0 stranger | nothing | none |
//! | 1 crowd | randomized-response reports, no identifier | analytics (`ldp_reports`) |
//! | 2 regular | approved coarse interests under the business pseudonym | personalization (`interests`), analytics (+ `interests`) |
//! | 3 member | pseudonymous history under that pseudonym | both (+ `browsing_history`, `purchase_history`) |
//! | 4 known | + the identity attributes the person chose | both (+ `identity`) |
//!
//! A level change becomes consent steps the business records (and the
//! ledger proves) exactly as privacy-center changes: raising grants,
//! lowering withdraws. When a purpose stays but its scope narrows (4 → 3,
//! 3 → 2) the step is a withdrawal followed by a grant of the narrower
//! scope, so every lowering leaves a `withdrawn` entry and its receipt.

use fineline_core::Purpose;

use crate::PersonaError;

/// How much a persona trusts one business.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub enum TrustLevel {
    /// Nothing about the person leaves the device (the default).
    #[default]
    Stranger,
    /// Only locally differentially private reports, without identifier.
    Crowd,
    /// Coarse interests the person approved, under a per-business pseudonym.
    Regular,
    /// Pseudonymous history: server-side personalization as today.
    Member,
    /// Identified: the loyalty account and attributes the person gave.
    Known,
}

impl TrustLevel {
    /// Levels in order, 0 to 4.
    pub const ALL: [TrustLevel; 5] = [
        TrustLevel::Stranger,
        TrustLevel::Crowd,
        TrustLevel::Regular,
        TrustLevel::Member,
        TrustLevel::Known,
    ];

    /// The level's number.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Plain-words name.
    pub fn name(self) -> &'static str {
        match self {
            TrustLevel::Stranger => "stranger",
            TrustLevel::Crowd => "crowd",
            TrustLevel::Regular => "regular",
            TrustLevel::Member => "member",
            TrustLevel::Known => "known",
        }
    }

    /// What the business may use at this level: each granted purpose with
    /// the data categories it covers.
    pub fn grants(self) -> Vec<(Purpose, &'static [&'static str])> {
        // Scopes nest, so raising a level only ever widens what is granted.
        const LDP: &[&str] = &["ldp_reports"];
        const INTERESTS: &[&str] = &["interests"];
        const HISTORY: &[&str] = &["interests", "browsing_history", "purchase_history"];
        const KNOWN: &[&str] = &[
            "interests",
            "browsing_history",
            "purchase_history",
            "identity",
        ];
        const COUNT_INTERESTS: &[&str] = &["ldp_reports", "interests"];
        const COUNT_HISTORY: &[&str] = &[
            "ldp_reports",
            "interests",
            "browsing_history",
            "purchase_history",
        ];
        const COUNT_KNOWN: &[&str] = &[
            "ldp_reports",
            "interests",
            "browsing_history",
            "purchase_history",
            "identity",
        ];
        let both = |personal, counted| {
            vec![
                (Purpose::Personalization, personal),
                (Purpose::Analytics, counted),
            ]
        };
        match self {
            TrustLevel::Stranger => vec![],
            TrustLevel::Crowd => vec![(Purpose::Analytics, LDP)],
            TrustLevel::Regular => both(INTERESTS, COUNT_INTERESTS),
            TrustLevel::Member => both(HISTORY, COUNT_HISTORY),
            TrustLevel::Known => both(KNOWN, COUNT_KNOWN),
        }
    }
}

impl TryFrom<u8> for TrustLevel {
    type Error = PersonaError;
    fn try_from(n: u8) -> Result<Self, PersonaError> {
        TrustLevel::ALL
            .get(n as usize)
            .copied()
            .ok_or(PersonaError::Invalid("a trust level is 0 to 4"))
    }
}

impl From<TrustLevel> for u8 {
    fn from(l: TrustLevel) -> u8 {
        l.number()
    }
}

/// One consent step a level change asks the business to record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsentStep {
    /// The purpose changed.
    pub purpose: Purpose,
    /// `true` grants, `false` withdraws.
    pub granted: bool,
    /// On a grant, the data categories it covers; empty on a withdrawal.
    pub categories: Vec<String>,
}

/// The consent steps that take a business from `from` to `to`, in the
/// order they must be recorded (withdrawals first, purposes in order).
pub fn consent_steps(from: TrustLevel, to: TrustLevel) -> Vec<ConsentStep> {
    let before = from.grants();
    let after = to.grants();
    let scope = |g: &[(Purpose, &[&str])], p: Purpose| -> Option<Vec<String>> {
        g.iter()
            .find(|(q, _)| *q == p)
            .map(|(_, c)| c.iter().map(|s| s.to_string()).collect())
    };
    let mut withdraw = Vec::new();
    let mut grant = Vec::new();
    for p in Purpose::ALL {
        match (scope(&before, p), scope(&after, p)) {
            (Some(_), None) => withdraw.push(p),
            (None, Some(new)) => grant.push((p, new)),
            (Some(old), Some(new)) if old != new => {
                // Narrowing must be a withdrawal the ledger shows; widening is a grant.
                if old.iter().any(|c| !new.contains(c)) {
                    withdraw.push(p);
                }
                grant.push((p, new));
            }
            _ => {}
        }
    }
    withdraw
        .into_iter()
        .map(|purpose| ConsentStep {
            purpose,
            granted: false,
            categories: vec![],
        })
        .chain(grant.into_iter().map(|(purpose, categories)| ConsentStep {
            purpose,
            granted: true,
            categories,
        }))
        .collect()
}
