pub mod consent;
pub mod events;
pub mod export_html;
pub mod ledger;
pub mod ops;
pub mod policy;
pub mod privacy;
pub mod rights;
