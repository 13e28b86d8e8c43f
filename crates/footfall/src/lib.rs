//! In-store foot traffic without tracking anyone: Wi-Fi sightings become
//! visits, and visits become daily store reports.
//!
//! Invariants:
//! - A raw MAC never outlives [`Footfall::ingest`]: it is checked against the
//!   opt-out list (its own HMAC key), then replaced by a [`DeviceKey`], an
//!   HMAC under a period key that rotates (default 90 days) and is dropped
//!   when retired. `Mac` has no `Display` and a redacted `Debug`.
//! - Opted-out devices are dropped before anything about them is kept.
//! - Randomized MACs (locally administered bit) count in visits, dwell and
//!   passers-by, never in new/repeat figures, and are never linked up.
//! - Repeat visitors are only recognised within one key period: after a
//!   rotation everyone looks new. That is the price of keys that expire.
//! - Memory is bounded by devices in range at once: the sessionizer keeps
//!   open-session state per device, never the sightings.
//! - Analysts only get [`dp::release`] output: each device counts once per
//!   store per day, dwell clamped to 4 h, discrete Laplace noise via OpenDP;
//!   the release states its epsilon cost for the server to charge.
#![deny(missing_docs)]

pub mod bench;
pub mod csv_import;
pub mod dp;
mod ingest;
mod keys;
mod mac;
pub mod report;
mod session;
pub mod simulate;
mod store;

pub use ingest::{Footfall, IngestStats, OptOutRecord, Sighting};
pub use keys::{DeviceKey, DeviceKeyring, KeyError, OptOutList, DEFAULT_ROTATION_DAYS};
pub use mac::{Mac, MacError};
pub use report::{build_reports, DailyReport};
pub use session::{Outcome, Session, SessionConfig, Sessionizer};
pub use store::{OpeningHours, Store, StoreConfig, StoreError};
