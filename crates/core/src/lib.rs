//! fineline's shared vocabulary.
//!
//! Every other crate speaks in these types. They carry no behaviour that
//! touches disk, network or keys: a [`Pseudonym`] is already keyed (the
//! vault makes it), a [`Purpose`] is one of the five uses a policy can
//! declare, a [`Timestamp`] is milliseconds since the Unix epoch.
#![deny(missing_docs)]

mod event;
mod purpose;
mod subject;
mod time;

pub use event::{Event, EventKind, InvalidEventKind, InvalidItemId, ItemId};
pub use purpose::{Purpose, UnknownPurpose};
pub use subject::{InvalidPseudonym, Pseudonym, Role, UnknownRole};
pub use time::{Timestamp, MAX_FUTURE_MS};
