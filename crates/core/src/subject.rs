use std::fmt;
use std::str::FromStr;

/// A person as fineline knows them: a keyed hash of their raw id.
///
/// The raw id (email, customer number) is turned into a pseudonym at the
/// edge by the vault and never kept. The key id names the HMAC key that
/// made it, so keys can rotate without losing who is who.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym {
    /// Which vault HMAC key made the digest, so rotation keeps people apart.
    pub key_id: u32,
    /// HMAC-SHA-256 of the raw id under that key (32 bytes).
    pub digest: [u8; 32],
}

impl Pseudonym {
    /// Wraps a digest the vault already computed; it hashes nothing itself.
    pub fn new(key_id: u32, digest: [u8; 32]) -> Self {
        Self { key_id, digest }
    }

    /// The form stored and shown: `k{key_id}_{hex digest}`.
    pub fn to_text(&self) -> String {
        format!("k{}_{}", self.key_id, hex::encode(self.digest))
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({})", self.to_text())
    }
}

/// Refusal of text not of the form `k<key id>_<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a pseudonym (expected k<key id>_<64 hex digits>)")]
pub struct InvalidPseudonym;

impl FromStr for Pseudonym {
    type Err = InvalidPseudonym;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix('k').ok_or(InvalidPseudonym)?;
        let (id, hexpart) = rest.split_once('_').ok_or(InvalidPseudonym)?;
        let key_id = id.parse().map_err(|_| InvalidPseudonym)?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hexpart, &mut digest).map_err(|_| InvalidPseudonym)?;
        Ok(Self { key_id, digest })
    }
}

impl serde::Serialize for Pseudonym {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> serde::Deserialize<'de> for Pseudonym {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who is calling: the business, its systems, or a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The business: publishes policies, sees the console.
    Admin,
    /// The business's systems: send events and sightings.
    Ingest,
    /// A partner: receives differentially private insights only.
    Analyst,
}

impl Role {
    /// The lower-case name used in API tokens and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Ingest => "ingest",
            Role::Analyst => "analyst",
        }
    }
}

/// Refusal of a role name other than admin, ingest or analyst; carries the name given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected admin, ingest or analyst")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "ingest" => Ok(Role::Ingest),
            "analyst" => Ok(Role::Analyst),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pseudonym_text_round_trips(key_id in any::<u32>(), digest in any::<[u8; 32]>()) {
            let p = Pseudonym::new(key_id, digest);
            prop_assert_eq!(p.to_text().parse::<Pseudonym>().unwrap(), p);
        }

        #[test]
        fn pseudonym_parser_never_panics(s in ".{0,80}") {
            let _ = s.parse::<Pseudonym>();
        }
    }
}
