//! Global Privacy Control.
//!
//! GPC (`Sec-GPC: 1`) is a person's browser saying "do not sell or share my
//! personal data" (it is recognised as an opt-out of sale/sharing under the
//! CCPA/CPRA, and as an objection under the GDPR). Of fineline's purposes
//! only `partner_insights` hands anything derived from a person to another
//! party, so that is what the signal withdraws. First-party uses
//! (personalization, analytics, location, in-store detection) are not sale
//! or sharing, and GPC is not a statement about them either way.

use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::policy::Policy;
use crate::record::{ConsentRecord, ConsentSource, ConsentState};

/// The purposes a `Sec-GPC: 1` signal withdraws.
pub fn gpc_withdrawals() -> &'static [Purpose] {
    &[Purpose::PartnerInsights]
}

/// Whether a `Sec-GPC` header value turns the signal on. The GPC spec
/// defines only the value `1`; anything else means no signal.
pub fn gpc_signal(header_value: &str) -> bool {
    header_value.trim() == "1"
}

/// The withdrawal records a GPC signal from `subject` produces under the
/// current policy.
pub fn gpc_records(subject: Pseudonym, policy: &Policy, at: Timestamp) -> Vec<ConsentRecord> {
    gpc_withdrawals()
        .iter()
        .filter_map(|&p| {
            ConsentRecord::new(
                subject,
                policy,
                p,
                ConsentState::Withdrawn,
                ConsentSource::Gpc,
                at,
            )
            .ok()
        })
        .collect()
}
