pub mod consent;
pub mod events;
pub mod ledger;
pub mod ops;
pub mod policy;
