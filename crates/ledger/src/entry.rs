//! What the ledger records, and how a person is named in it.
//!
//! An entry never holds a pseudonym: only a [`Commitment`], the
//! HMAC-SHA256 of the pseudonym's text form under a per-person [`Salt`].
//! The salt lives outside the log (with the person's receipt and in the
//! store until erasure). Destroying it leaves the commitment unlinkable to
//! anyone, while the log itself stays intact and verifiable.
//!
//! Canonical bytes (the leaf input) are the compact `serde_json` encoding
//! of the entry: an object whose first member is `"kind"`, followed by the
//! variant's fields in declaration order, integers only (no floats), hashes
//! and commitments as lowercase hex, maps with sorted keys, no whitespace.
//! Field order is part of the format: never reorder or rename fields, add
//! new kinds instead. A verifier parses an entry and re-encodes it;
//! unknown fields are rejected so nothing can ride along unverified.

use crate::hash::{leaf_hash, Hash};
use fineline_core::{Pseudonym, Purpose, Role, Timestamp};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroize;

/// A per-person secret of 32 random bytes. Wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Salt([u8; 32]);

impl Salt {
    /// A fresh salt from the OS, made when a person first appears.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Salt(bytes)
    }

    /// Rebuilds a salt read back from the key store or a receipt.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Salt(bytes)
    }

    /// The 32 secret bytes; whoever holds them can link the person's entries.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for Salt {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt(..)")
    }
}

impl serde::Serialize for Salt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Salt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.as_str(), &mut bytes)
            .map_err(|_| serde::de::Error::custom("a salt is 64 hex digits"))?;
        Ok(Salt(bytes))
    }
}

/// HMAC-SHA256(key = salt, message = pseudonym text `k{id}_{hex}`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Commitment(pub Hash);

impl Commitment {
    /// Commits to the person's pseudonym under their salt.
    pub fn new(salt: &Salt, subject: &Pseudonym) -> Self {
        let mac = Self::mac(salt, subject);
        Commitment(Hash(mac.finalize().into_bytes().into()))
    }

    /// Whether this commitment names `subject` under `salt` (constant time).
    pub fn matches(&self, salt: &Salt, subject: &Pseudonym) -> bool {
        Self::mac(salt, subject).verify_slice(&self.0 .0).is_ok()
    }

    fn mac(salt: &Salt, subject: &Pseudonym) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(salt.as_bytes()).expect("HMAC takes any key length");
        mac.update(subject.to_text().as_bytes());
        mac
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Commitment({})", self.0)
    }
}

/// Whether a purpose was allowed or taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// The person allowed the purpose.
    Granted,
    /// The person took the purpose back.
    Withdrawn,
}

impl ConsentState {
    /// The snake_case word used in receipts and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Withdrawn => "withdrawn",
        }
    }
}

/// Which read of a person's data happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The person downloaded their data.
    Export,
    /// Recommendations were computed from their history.
    Recommendations,
    /// The business looked at their records in the console.
    AdminRead,
    /// The person viewed their own data in the privacy center.
    SubjectView,
}

impl Access {
    /// The snake_case word used in receipts and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Export => "export",
            Access::Recommendations => "recommendations",
            Access::AdminRead => "admin_read",
            Access::SubjectView => "subject_view",
        }
    }
}

/// Who read: the person themselves, fineline itself, or a caller role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The person, with their own subject token.
    Subject,
    /// fineline itself, not on any caller's request.
    System,
    /// The business, through an admin token.
    Admin,
    /// The business's systems, through an ingest token.
    Ingest,
    /// A partner, through an analyst token.
    Analyst,
}

impl From<Role> for Actor {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Actor::Admin,
            Role::Ingest => Actor::Ingest,
            Role::Analyst => Actor::Analyst,
        }
    }
}

impl Actor {
    /// The snake_case word used in receipts and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Subject => "subject",
            Actor::System => "system",
            Actor::Admin => "admin",
            Actor::Ingest => "ingest",
            Actor::Analyst => "analyst",
        }
    }
}

/// One record in the log. Free-text fields (`source`, `record_id`,
/// `analyst`, `period`) are system identifiers: never put personal data in
/// them, it would be public and permanent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LedgerEntry {
    /// A person allowed or took back a purpose.
    ConsentChange {
        /// Names the person under their salt.
        commitment: Commitment,
        /// The purpose the choice is about.
        purpose: Purpose,
        /// What the person chose.
        state: ConsentState,
        /// The policy version the person was shown.
        policy_version: u32,
        /// Where the change came from, e.g. "privacy_center", "gpc", "tcf".
        source: String,
        /// The consent record's id in the store.
        record_id: String,
        /// When the person chose (ms since the Unix epoch).
        at: Timestamp,
    },
    /// The business published a new policy version.
    PolicyPublished {
        /// The version published.
        version: u32,
        /// SHA-256 of the published policy document.
        digest: Hash,
        /// When it was published (ms since the Unix epoch).
        at: Timestamp,
    },
    /// A person's data was erased and their key shredded.
    Erasure {
        /// Names the person under their salt.
        commitment: Commitment,
        /// When the erasure finished (ms since the Unix epoch).
        at: Timestamp,
    },
    /// Someone read a person's data.
    DataAccess {
        /// Names the person whose data was read, under their salt.
        commitment: Commitment,
        /// What kind of read it was.
        what: Access,
        /// Who read it.
        actor: Actor,
        /// When it was read (ms since the Unix epoch).
        at: Timestamp,
    },
    /// A differentially private result left for a partner.
    Release {
        /// The partner's analyst account (a business, not a person).
        analyst: String,
        /// SHA-256 of the canonical query, so the release can be matched to it.
        query_digest: Hash,
        /// Privacy cost charged, in nano-rho (zCDP ρ × 10⁹).
        cost_nano_rho: u64,
        /// The budget period charged, e.g. "2026-12".
        period: String,
        /// When it was released (ms since the Unix epoch).
        at: Timestamp,
    },
    /// One day's ingestion counts, without naming anyone.
    DailySummary {
        /// Days since the Unix epoch (UTC).
        day: i64,
        /// Events refused for lack of consent, per purpose.
        rejected_by_purpose: BTreeMap<Purpose, u64>,
        /// Events stored that day.
        accepted: u64,
        /// When the summary was written (ms since the Unix epoch).
        at: Timestamp,
    },
    /// A phone was opted out of in-store detection at a kiosk.
    DeviceOptOut {
        /// Commitment to the device's pseudonym (never its MAC).
        commitment: Commitment,
        /// When it was opted out (ms since the Unix epoch).
        at: Timestamp,
    },
    /// The business published a version of its public model (what devices
    /// recommend from at persona level 0).
    ModelPublished {
        /// The model's version.
        version: u64,
        /// SHA-256 of the model's canonical bytes.
        digest: Hash,
        /// When it was published (ms since the Unix epoch).
        at: Timestamp,
    },
    /// A persona's device disclosed something (trust level 1 to 4), or checked in at a store (2 to 4). The
    /// entry names no one and does not reveal what was disclosed: only a
    /// digest the device can recompute with the nonce its answer carried.
    PersonaDisclosure {
        /// The trust level the disclosure was made at.
        level: u8,
        /// SHA-256 of the server's nonce followed by the disclosure's bytes.
        digest: Hash,
        /// When it was received (ms since the Unix epoch).
        at: Timestamp,
    },
}

/// Why bytes could not be read back as a ledger entry.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The bytes are not a known entry in JSON.
    #[error("not a ledger entry: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The entry parses but re-encodes differently, so its hash would not match.
    #[error("ledger entry bytes are not in canonical form")]
    NotCanonical,
}

impl LedgerEntry {
    /// The leaf input: see the module docs for the exact form.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("entries contain no maps with non-string keys")
    }

    /// Parses leaf input, insisting it is exactly the canonical form, so
    /// the entry shown is the entry hashed.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry: LedgerEntry = serde_json::from_slice(bytes)?;
        if entry.canonical_bytes() != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// RFC 9162 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.canonical_bytes())
    }

    /// When the recorded event happened (ms since the Unix epoch).
    pub fn at(&self) -> Timestamp {
        match self {
            LedgerEntry::ConsentChange { at, .. }
            | LedgerEntry::PolicyPublished { at, .. }
            | LedgerEntry::Erasure { at, .. }
            | LedgerEntry::DataAccess { at, .. }
            | LedgerEntry::Release { at, .. }
            | LedgerEntry::DailySummary { at, .. }
            | LedgerEntry::DeviceOptOut { at, .. }
            | LedgerEntry::ModelPublished { at, .. }
            | LedgerEntry::PersonaDisclosure { at, .. } => *at,
        }
    }

    /// The person (or device) the entry is about, if any.
    pub fn commitment(&self) -> Option<&Commitment> {
        match self {
            LedgerEntry::ConsentChange { commitment, .. }
            | LedgerEntry::Erasure { commitment, .. }
            | LedgerEntry::DataAccess { commitment, .. }
            | LedgerEntry::DeviceOptOut { commitment, .. } => Some(commitment),
            _ => None,
        }
    }

    /// Short human description, e.g. "consent change partner_insights
    /// withdrawn at 2026-12-02T17:21:24Z".
    pub fn describe(&self) -> String {
        let what = match self {
            LedgerEntry::ConsentChange {
                purpose,
                state,
                policy_version,
                ..
            } => format!(
                "consent change {purpose} {} (policy v{policy_version})",
                state.as_str()
            ),
            LedgerEntry::PolicyPublished {
                version, digest, ..
            } => format!("policy v{version} published (digest {digest})"),
            LedgerEntry::Erasure { .. } => "erasure".to_string(),
            LedgerEntry::DataAccess { what, actor, .. } => {
                format!("data access {} by {}", what.as_str(), actor.as_str())
            }
            LedgerEntry::Release {
                analyst,
                cost_nano_rho,
                period,
                ..
            } => format!("release to {analyst} costing {cost_nano_rho} nano-rho of {period}"),
            LedgerEntry::DailySummary {
                day,
                rejected_by_purpose,
                accepted,
                ..
            } => format!(
                "daily summary of day {day}: {accepted} accepted, {} rejected",
                rejected_by_purpose.values().sum::<u64>()
            ),
            LedgerEntry::DeviceOptOut { .. } => "device opt-out".to_string(),
            LedgerEntry::ModelPublished {
                version, digest, ..
            } => format!("public model v{version} published (digest {digest})"),
            LedgerEntry::PersonaDisclosure { level, .. } => {
                format!("persona disclosure at level {level}")
            }
        };
        format!("{what} at {}", format_time(self.at()))
    }
}

/// RFC 3339 UTC, falling back to raw milliseconds if out of range.
pub(crate) fn format_time(at: Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(at.millis()) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{} ms", at.millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Pseudonym {
        Pseudonym::new(3, [0xab; 32])
    }

    #[test]
    fn commitment_is_hmac_of_pseudonym_text_under_salt() {
        let salt = Salt::from_bytes([1; 32]);
        let c = Commitment::new(&salt, &subject());
        let mut mac = Hmac::<Sha256>::new_from_slice(&[1; 32]).unwrap();
        mac.update(format!("k3_{}", "ab".repeat(32)).as_bytes());
        assert_eq!(c.0 .0, <[u8; 32]>::from(mac.finalize().into_bytes()));
        assert!(c.matches(&salt, &subject()));
        assert!(!c.matches(&Salt::from_bytes([2; 32]), &subject()));
        assert!(!c.matches(&salt, &Pseudonym::new(4, [0xab; 32])));
    }

    #[test]
    fn canonical_bytes_are_fixed() {
        let mut rejected = BTreeMap::new();
        rejected.insert(Purpose::Location, 2);
        rejected.insert(Purpose::Analytics, 5);
        let entry = LedgerEntry::DailySummary {
            day: 20_424,
            rejected_by_purpose: rejected,
            accepted: 90,
            at: Timestamp(1_764_633_600_000),
        };
        let text = String::from_utf8(entry.canonical_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"daily_summary","day":20424,"rejected_by_purpose":{"analytics":5,"location":2},"accepted":90,"at":1764633600000}"#
        );
        assert_eq!(
            LedgerEntry::from_canonical_bytes(text.as_bytes()).unwrap(),
            entry
        );
        let spaced = text.replace(",", ", ");
        assert!(matches!(
            LedgerEntry::from_canonical_bytes(spaced.as_bytes()),
            Err(EntryError::NotCanonical)
        ));
    }

    #[test]
    fn persona_kinds_have_fixed_bytes() {
        let model = LedgerEntry::ModelPublished {
            version: 7,
            digest: Hash([0xab; 32]),
            at: Timestamp(5),
        };
        let text = String::from_utf8(model.canonical_bytes()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"kind":"model_published","version":7,"digest":"{}","at":5}}"#,
                "ab".repeat(32)
            )
        );
        let disclosure = LedgerEntry::PersonaDisclosure {
            level: 1,
            digest: Hash([0xcd; 32]),
            at: Timestamp(6),
        };
        let text = String::from_utf8(disclosure.canonical_bytes()).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"kind":"persona_disclosure","level":1,"digest":"{}","at":6}}"#,
                "cd".repeat(32)
            )
        );
        assert_eq!(
            LedgerEntry::from_canonical_bytes(text.as_bytes()).unwrap(),
            disclosure
        );
        assert_eq!(disclosure.commitment(), None, "names no one");
    }

    #[test]
    fn documents_are_signed_apart_from_tree_heads() {
        let signer = crate::LogSigner::generate();
        let sig = signer.sign_document("public-model", b"bytes");
        let key = signer.verifying_key();
        assert!(crate::verify_document(&key, "public-model", b"bytes", &sig));
        assert!(!crate::verify_document(
            &key,
            "persona-offer",
            b"bytes",
            &sig
        ));
        assert!(!crate::verify_document(
            &key,
            "public-model",
            b"bytez",
            &sig
        ));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"kind":"erasure","commitment":"00000000000000000000000000000000000000000000000000000000000000aa","at":1,"email":"a@b.c"}"#;
        assert!(serde_json::from_str::<LedgerEntry>(text).is_err());
        let without = text.replace(r#","email":"a@b.c""#, "");
        assert!(serde_json::from_str::<LedgerEntry>(&without).is_ok());
    }

    #[test]
    fn consent_change_reads_well() {
        let entry = LedgerEntry::ConsentChange {
            commitment: Commitment::new(&Salt::generate(), &subject()),
            purpose: Purpose::PartnerInsights,
            state: ConsentState::Withdrawn,
            policy_version: 3,
            source: "privacy_center".into(),
            record_id: "17".into(),
            at: Timestamp(1_764_696_084_000),
        };
        assert_eq!(
            entry.describe(),
            "consent change partner_insights withdrawn (policy v3) at 2025-12-02T17:21:24Z"
        );
        let text = String::from_utf8(entry.canonical_bytes()).unwrap();
        assert!(text.starts_with(r#"{"kind":"consent_change","commitment":""#));
        assert!(
            !text.contains("k3_"),
            "the pseudonym must never be in an entry"
        );
    }
}
