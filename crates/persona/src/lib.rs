//! fineline's persona: the person's profile kept on their own device.
//!
//! A person holds one or more [`Persona`]s. For each business a persona
//! has a [`TrustLevel`] (0 stranger … 4 known, default 0) and the
//! [disclosure function](Persona::disclose) says exactly what leaves at
//! that level:
//!
//! - 0: nothing; recommendations are computed here ([`recommend()`]) from
//!   the business's [`PublicModel`] and the local history;
//! - 1: one k-ary randomized-response answer ([`RandomizedResponse`]), no
//!   identifier, refused once the business's lifetime ε ([`Budget`]) is
//!   spent; the server side estimates totals with [`estimate_totals`];
//! - 2: up to three interests the person approved, each possibly noise
//!   ([`noisy_topics`]), under a per-business [`BusinessPseudonym`] two
//!   businesses cannot link;
//! - 3: the history under that pseudonym; 4: plus chosen identity attributes.
//!
//! Levels map onto fineline's purposes ([`consent_steps`]): raising grants,
//! lowering withdraws, and the [`DeviceLog`] keeps every disclosure and
//! level change with the ledger receipts the business answered, each
//! verified with `fineline-ledger`'s receipt verifier. The device can have
//! its records at one business erased itself ([`ErasureRequest`], signed
//! under a per-business key only this persona holds).
//!
//! Invariants: no I/O, no clock, no global state, no hidden randomness:
//! every random choice reads [`Coins`] the caller drew, so equal inputs
//! give equal disclosures (the JSON vectors in `tests/vectors/` pin them
//! for other clients). Arithmetic a client must reproduce is integer
//! (fixed-point scores, [`odds_q20`], rejection sampling) or HMAC-SHA256.

#![deny(missing_docs)]

mod checkin;
mod coins;
mod disclose;
mod erasure;
mod ids;
mod interests;
mod ldp;
mod level;
mod log;
mod persona;
mod recommend;

pub use checkin::{
    checkin_window, store_token, verify_token, CheckIn, CheckinToken, TokenError,
    CHECKIN_MIN_GAP_MS, CHECKIN_NONCE_BYTES, CHECKIN_TAG_BYTES, CHECKIN_TOKEN_LABEL,
    CHECKIN_WINDOW_MS,
};
pub use coins::Coins;
pub use disclose::{true_category, Disclosure, Payload, Terms, NO_CATEGORY};
pub use erasure::{
    erasure_message, erasure_signing_key, recommendations_message, sign_recommendations,
    verify_recommendations, ErasureRequest, RequestRefusal, ERASURE_KEY_LABEL, ERASURE_MAX_SKEW_MS,
    ERASURE_NONCE_BYTES, ERASURE_REQUEST_LABEL, RECOMMENDATIONS_REQUEST_LABEL,
};
pub use fineline_recs::PublicModel;
pub use ids::{
    business_pseudonym, reporter_token, BusinessPseudonym, BUSINESS_ID_LABEL, REPORTER_LABEL,
};
pub use interests::{
    category_counts, check_approval, noisy_topics, suggest_interests, MAX_TOPICS, NOISE_PERCENT,
};
pub use ldp::{
    estimate_totals, estimator_sd, odds_q20, reports_needed, Budget, Estimate, RandomizedResponse,
    DEFAULT_LIFETIME_CAP_MICRO, MAX_CATEGORIES, MAX_REPORT_EPSILON_MICRO, ONE_Q20,
};
pub use level::{consent_steps, ConsentStep, TrustLevel};
pub use log::{DeviceLog, LogEntry, Logged};
pub use persona::{BusinessSettings, Persona, Wallet};
pub use recommend::{recommend, OnDeviceRec};

/// Why the device refused or could not do something.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    /// The arguments break a rule stated in the message.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// An interest not in the business's taxonomy.
    #[error("unknown interest {0:?}: not in the business's taxonomy")]
    UnknownTopic(String),
    /// The random bytes ran out before every draw was made.
    #[error("not enough random bytes for this disclosure")]
    OutOfCoins,
    /// A level-1 report would exceed the business's lifetime ε.
    #[error("lifetime privacy budget for this business exhausted: report needs ε {asked_micro} µnats, {remaining_micro} µnats remain")]
    BudgetExhausted {
        /// What the report would spend.
        asked_micro: u64,
        /// What is left of the cap.
        remaining_micro: u64,
    },
    /// The receipt does not verify against the business's log key.
    #[error("receipt does not verify: {0}")]
    Receipt(#[from] fineline_ledger::ReceiptError),
    /// The receipt verifies but is for something this entry did not ask.
    #[error("receipt is for a different consent change than this log entry")]
    ReceiptMismatch,
}
