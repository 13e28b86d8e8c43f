//! How a consent record is kept in the database. Shared by the consent
//! handlers that write it and by `App`, which rebuilds the consent
//! index from it at start, so it belongs to neither the HTTP layer nor a
//! single handler.

use fineline_consent::ConsentRecord;
use serde::{Deserialize, Serialize};

/// What the database keeps for each consent record: the record itself and
/// where its proof lives in the ledger.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct StoredConsent {
    /// The decision itself, whatever its source (privacy center, GPC, TCF).
    pub record: ConsentRecord,
    /// Index of the ledger entry that commits to the record; its receipt's
    /// inclusion proof is for this index.
    pub ledger_index: u64,
}
