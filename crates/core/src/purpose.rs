use std::fmt;
use std::str::FromStr;

/// A use of personal data that a policy declares and a person may allow.
///
/// Every purpose is off until the person opts in: there is no default-on
/// variant and no "legitimate interest" escape hatch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Recommendations and interests built from the person's own history.
    Personalization,
    /// First-party aggregate analytics.
    Analytics,
    /// Differentially private aggregates released to partners.
    PartnerInsights,
    /// Use of location events.
    Location,
    /// Detecting the person's phone in a store by its Wi-Fi sightings.
    InStoreDetection,
}

impl Purpose {
    /// Every purpose, in the order policies and the privacy center list them.
    pub const ALL: [Purpose; 5] = [
        Purpose::Personalization,
        Purpose::Analytics,
        Purpose::PartnerInsights,
        Purpose::Location,
        Purpose::InStoreDetection,
    ];

    /// The snake_case name used in policies, URLs and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Personalization => "personalization",
            Purpose::Analytics => "analytics",
            Purpose::PartnerInsights => "partner_insights",
            Purpose::Location => "location",
            Purpose::InStoreDetection => "in_store_detection",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refusal of a purpose name outside the five; carries the name given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose {0:?}; expected one of personalization, analytics, partner_insights, location, in_store_detection")]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPurpose(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), p);
        }
        assert!("marketing".parse::<Purpose>().is_err());
    }
}
