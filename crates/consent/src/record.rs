use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use fineline_core::{Pseudonym, Purpose, Timestamp};
use serde::{Deserialize, Serialize};

use crate::policy::{Policy, PolicyHistory};

/// A consent record's id: 128 random bits, written as a UUID (version 4) so
/// other ISO/IEC TS 27560 tooling recognises it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 16]);

impl RecordId {
    /// A fresh id from the operating system's generator.
    pub fn random() -> Self {
        Self::from_random_bytes(rand::random())
    }

    /// Stamps the UUID version and variant bits onto 16 random bytes.
    pub fn from_random_bytes(mut b: [u8; 16]) -> Self {
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Self(b)
    }

    /// The 16 raw bytes of the UUID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// Refusal of text that is not a hyphenated UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a consent record id (expected a UUID such as 0b1e6f0a-8c3d-4e2f-9a1b-2c3d4e5f6a7b)")]
pub struct InvalidRecordId;

impl FromStr for RecordId {
    type Err = InvalidRecordId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return Err(InvalidRecordId);
        }
        let mut b = [0u8; 16];
        hex::decode_to_slice(parts.concat(), &mut b).map_err(|_| InvalidRecordId)?;
        Ok(Self(b))
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident, $err:ident, $word:literal, $expected:literal { $($(#[$vm:meta])* $v:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The snake_case word used in records, URLs and the ledger.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {kind} {value:?}; expected one of {expected}", kind = $word, value = .0, expected = $expected)]
        /// Refusal of a word outside the set; carries the word given.
        pub struct $err(pub String);

        impl FromStr for $name {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($name::$v),)*
                    _ => Err($err(s.to_string())),
                }
            }
        }
    };
}

word_enum!(
    /// How the choice reached fineline (the 27560 "method").
    ConsentSource, UnknownConsentSource, "consent source", "web, app, kiosk, gpc, tcf, api, persona" {
        /// The privacy center web page.
        Web => "web",
        /// The business's own app.
        App => "app",
        /// A store kiosk page.
        Kiosk => "kiosk",
        /// A Global Privacy Control signal from the person's browser.
        Gpc => "gpc",
        /// An IAB TCF consent string from a consent banner.
        Tcf => "tcf",
        /// The business's systems, through the API.
        Api => "api",
        /// The person's own device: a persona's trust level (docs/persona.md).
        Persona => "persona",
    }
);

word_enum!(
    /// The state a record puts a purpose in. Only `Given` allows anything.
    ConsentState, UnknownConsentState, "consent state", "given, withdrawn, expired" {
        /// The person allowed the purpose.
        Given => "given",
        /// The person took the purpose back (or refused it).
        Withdrawn => "withdrawn",
        /// A grant that lapsed, e.g. because a newer policy asked again.
        Expired => "expired",
    }
);

/// One consent change, with the fields ISO/IEC TS 27560 asks a consent
/// record to carry. Records are append-only: a later record supersedes an
/// earlier one for the same purpose, nothing is edited in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    /// Names this record in receipts and the ledger.
    pub record_id: RecordId,
    /// Whose choice it is, by pseudonym.
    pub subject: Pseudonym,
    /// The policy version the person was shown.
    pub notice_version: u32,
    /// The purpose the choice is about.
    pub purpose: Purpose,
    /// The data categories the notice declared for the purpose, copied so
    /// the record stands alone as evidence of what was agreed.
    pub data_categories: BTreeSet<String>,
    /// How the choice reached fineline.
    pub source: ConsentSource,
    /// When the person chose (ms since the Unix epoch).
    pub at: Timestamp,
    /// What the person chose for the purpose.
    pub state: ConsentState,
}

/// Why a consent record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// The record names a policy version never published.
    #[error("policy version {0} is not known")]
    UnknownVersion(u32),
    /// A grant of a purpose the named policy version does not declare.
    #[error("policy version {version} does not declare {purpose}, so it cannot be granted")]
    NotDeclared {
        /// The purpose the record tried to grant.
        purpose: Purpose,
        /// The policy version the record names.
        version: u32,
    },
    /// The record claims a notice the person could not yet have seen.
    #[error("consent at {at} names policy version {version}, published later at {published_at}")]
    BeforeNotice {
        /// The policy version the record names.
        version: u32,
        /// When the record says the person chose (ms since the Unix epoch).
        at: Timestamp,
        /// When that version was published (ms since the Unix epoch).
        published_at: Timestamp,
    },
    /// A record was folded into another person's timeline.
    #[error("consent record is for another subject")]
    WrongSubject,
}

impl ConsentRecord {
    /// A record of `state` for `purpose` under `policy`, with a fresh id and
    /// the data categories the policy declares. Granting a purpose the
    /// policy does not declare is refused; withdrawing one is always fine.
    pub fn new(
        subject: Pseudonym,
        policy: &Policy,
        purpose: Purpose,
        state: ConsentState,
        source: ConsentSource,
        at: Timestamp,
    ) -> Result<Self, ConsentError> {
        let data_categories = match policy.declaration(purpose) {
            Some(d) => d.data_categories.clone(),
            None if state == ConsentState::Given => {
                return Err(ConsentError::NotDeclared {
                    purpose,
                    version: policy.version,
                })
            }
            None => BTreeSet::new(),
        };
        Ok(Self {
            record_id: RecordId::random(),
            subject,
            notice_version: policy.version,
            purpose,
            data_categories,
            source,
            at,
            state,
        })
    }

    /// Checks the record against the policies it names, as the server must
    /// before storing one that arrived from outside.
    pub fn validate(&self, policies: &PolicyHistory) -> Result<(), ConsentError> {
        let policy = policies
            .version(self.notice_version)
            .ok_or(ConsentError::UnknownVersion(self.notice_version))?;
        if self.at < policy.published_at {
            return Err(ConsentError::BeforeNotice {
                version: policy.version,
                at: self.at,
                published_at: policy.published_at,
            });
        }
        if self.state == ConsentState::Given && !policy.declares(self.purpose) {
            return Err(ConsentError::NotDeclared {
                purpose: self.purpose,
                version: policy.version,
            });
        }
        Ok(())
    }
}
