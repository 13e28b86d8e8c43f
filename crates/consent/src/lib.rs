//! fineline's consent engine: which purposes a subject allowed, when.
//!
//! An admin publishes versioned [`Policy`] documents declaring purposes with
//! their data categories, retention and recipients. People's choices arrive
//! as append-only [`ConsentRecord`]s (web, app, kiosk, API, a GPC signal or
//! an IAB TCF string), and a [`ConsentTimeline`] / [`ConsentIndex`] answers
//! "was this purpose allowed for this subject at this moment?".
//!
//! Invariants:
//! - Opt-in only: no record means not allowed, and only a `given` record
//!   allows anything.
//! - A grant covers the policy version it was given under and any later
//!   version that adds nothing to that purpose. A version that adds the
//!   purpose, a recipient or a data category turns it off until the person
//!   answers again; choices for unchanged purposes carry over.
//! - A purpose the policy in force does not declare is never allowed.
//! - Pure: no I/O, no clocks in decisions, no global state. Nothing here
//!   sees a raw identifier, only pseudonyms.
#![deny(missing_docs)]

mod demo;
mod gpc;
mod policy;
mod record;
pub mod tcf;
mod timeline;

pub use demo::demo_policy;
pub use gpc::{gpc_records, gpc_signal, gpc_withdrawals};
pub use policy::{reconsent_required, Policy, PolicyError, PolicyHistory, PurposeDeclaration};
pub use record::{
    ConsentError, ConsentRecord, ConsentSource, ConsentState, InvalidRecordId, RecordId,
    UnknownConsentSource, UnknownConsentState,
};
pub use tcf::{TcString, TcfError};
pub use timeline::{
    ConsentIndex, ConsentTally, ConsentTimeline, PurposeProgress, ReconsentProgress,
};

use fineline_core::Purpose;

/// A purpose's position in [`Purpose::ALL`], for fixed-size per-purpose
/// tables.
fn slot(p: Purpose) -> usize {
    match p {
        Purpose::Personalization => 0,
        Purpose::Analytics => 1,
        Purpose::PartnerInsights => 2,
        Purpose::Location => 3,
        Purpose::InStoreDetection => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_purpose_order() {
        for (i, p) in Purpose::ALL.into_iter().enumerate() {
            assert_eq!(slot(p), i);
        }
    }
}
