use std::collections::BTreeSet;

use fineline_core::{Purpose, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A published privacy policy: the notice a person consents under.
///
/// This is the document format an admin publishes (JSON through the API,
/// or a file). Versions only ever go up; a person's choice is recorded
/// against the version they were shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Version number; each publication must be higher than the last.
    pub version: u32,
    /// When it took effect (ms since the Unix epoch); grants it invalidates lapse from here.
    pub published_at: Timestamp,
    /// The heading shown above the text.
    pub title: String,
    /// Plain-language text shown to people before they choose.
    pub text: String,
    /// What each declared purpose covers; undeclared purposes cannot be granted.
    pub purposes: Vec<PurposeDeclaration>,
}

/// What the policy says about one purpose: what data, kept how long, shared
/// with whom. Adding a data category or recipient changes what a person
/// agreed to, so it asks them again (see [`reconsent_required`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeDeclaration {
    /// Which use of data this declaration is about.
    pub purpose: Purpose,
    /// Plain-language explanation shown next to the choice.
    pub description: String,
    /// Slugs such as `purchase_history`; compared exactly, so they must be
    /// normalised (lower-case `a-z`, `0-9`, `_`).
    pub data_categories: BTreeSet<String>,
    /// How long data kept for this purpose is retained, in days from the event.
    pub retention_days: u32,
    /// Who receives the data beyond the business itself; empty if no one.
    pub recipients: BTreeSet<String>,
}

/// Why a policy was refused or could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A field of the document is wrong; names it and says why.
    #[error("policy field `{field}`: {reason}")]
    InvalidField {
        /// The field's path in the document, e.g. `purposes[1].retention_days`.
        field: String,
        /// What is wrong with it, in words an admin can act on.
        reason: String,
    },
    /// No version exists yet, so nobody can consent to anything.
    #[error("no policy has been published")]
    NonePublished,
    /// No version with this number was published.
    #[error("policy version {0} is not known")]
    UnknownVersion(u32),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Longest free-text field; a notice nobody can read is not informed consent.
const MAX_TEXT: usize = 100_000;

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), PolicyError> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(invalid(field, format!("longer than {max} bytes")));
    }
    Ok(())
}

impl Policy {
    /// Checks the document on its own and, when given, against the version
    /// it replaces. The error names the offending field, e.g.
    /// `purposes[2].retention_days`.
    pub fn validate(&self, previous: Option<&Policy>) -> Result<(), PolicyError> {
        if self.version == 0 {
            return Err(invalid("version", "must be at least 1"));
        }
        if let Some(prev) = previous {
            if self.version <= prev.version {
                return Err(invalid(
                    "version",
                    format!("must be greater than the current version {}", prev.version),
                ));
            }
            if self.published_at <= prev.published_at {
                return Err(invalid(
                    "published_at",
                    format!(
                        "must be later than version {}'s ({})",
                        prev.version, prev.published_at
                    ),
                ));
            }
        }
        check_text("title", &self.title, 200)?;
        check_text("text", &self.text, MAX_TEXT)?;
        if self.purposes.is_empty() {
            return Err(invalid("purposes", "must declare at least one purpose"));
        }
        let mut seen = BTreeSet::new();
        for (i, d) in self.purposes.iter().enumerate() {
            let at = |f: &str| format!("purposes[{i}].{f}");
            if !seen.insert(d.purpose) {
                return Err(invalid(
                    at("purpose"),
                    format!("{} is declared twice", d.purpose),
                ));
            }
            check_text(&at("description"), &d.description, 10_000)?;
            if d.data_categories.is_empty() {
                return Err(invalid(at("data_categories"), "must name at least one"));
            }
            if let Some(bad) = d.data_categories.iter().find(|c| !is_slug(c)) {
                return Err(invalid(
                    at("data_categories"),
                    format!("{bad:?} must be 1-64 characters of a-z, 0-9 and _"),
                ));
            }
            if d.retention_days == 0 {
                return Err(invalid(at("retention_days"), "must be at least 1 day"));
            }
            if let Some(bad) = d
                .recipients
                .iter()
                .find(|r| r.trim().is_empty() || r.trim() != r.as_str() || r.len() > 200)
            {
                return Err(invalid(
                    at("recipients"),
                    format!("{bad:?} must be 1-200 characters without surrounding spaces"),
                ));
            }
        }
        Ok(())
    }

    /// What this version says about `purpose`, if it declares it.
    pub fn declaration(&self, purpose: Purpose) -> Option<&PurposeDeclaration> {
        self.purposes.iter().find(|d| d.purpose == purpose)
    }

    /// Whether this version declares `purpose` (so it may be granted).
    pub fn declares(&self, purpose: Purpose) -> bool {
        self.declaration(purpose).is_some()
    }

    /// SHA-256 over a canonical, length-prefixed encoding: independent of
    /// JSON formatting and of the order purposes are listed in, so the
    /// ledger can commit to "the notice" rather than to its bytes on the wire.
    pub fn digest(&self) -> [u8; 32] {
        fn bytes(h: &mut Sha256, b: &[u8]) {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
        fn set(h: &mut Sha256, s: &BTreeSet<String>) {
            h.update((s.len() as u64).to_be_bytes());
            for x in s {
                bytes(h, x.as_bytes());
            }
        }
        let mut h = Sha256::new();
        bytes(&mut h, b"fineline/policy/v1");
        h.update(self.version.to_be_bytes());
        h.update(self.published_at.millis().to_be_bytes());
        bytes(&mut h, self.title.as_bytes());
        bytes(&mut h, self.text.as_bytes());
        let mut decls: Vec<&PurposeDeclaration> = self.purposes.iter().collect();
        decls.sort_by_key(|d| d.purpose);
        h.update((decls.len() as u64).to_be_bytes());
        for d in decls {
            bytes(&mut h, d.purpose.as_str().as_bytes());
            bytes(&mut h, d.description.as_bytes());
            set(&mut h, &d.data_categories);
            h.update(d.retention_days.to_be_bytes());
            set(&mut h, &d.recipients);
        }
        h.finalize().into()
    }

    /// [`Self::digest`] as 64 lower-case hex digits, as receipts and the ledger show it.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest())
    }
}

/// Purposes whose earlier choices `new` does not inherit: purposes it adds,
/// and purposes that gained a data category or a recipient. Removing things,
/// changing retention or rewording text leaves earlier choices standing,
/// because the person already agreed to at least as much.
pub fn reconsent_required(old: &Policy, new: &Policy) -> BTreeSet<Purpose> {
    new.purposes
        .iter()
        .filter(|n| match old.declaration(n.purpose) {
            None => true,
            Some(o) => {
                !n.data_categories.is_subset(&o.data_categories)
                    || !n.recipients.is_subset(&o.recipients)
            }
        })
        .map(|n| n.purpose)
        .collect()
}

fn bit(p: Purpose) -> u8 {
    1 << crate::slot(p)
}

/// Every published policy version, oldest first, with what each version
/// invalidated precomputed so consent checks are binary searches.
#[derive(Debug, Clone, Default)]
pub struct PolicyHistory {
    policies: Vec<Policy>,
    /// Purposes declared by `policies[i]`, one bit per purpose slot.
    declared: Vec<u8>,
    /// Per purpose slot: (version, published_at) of each version that asked
    /// for that purpose again. Ascending in both, as versions are.
    reconsent_points: [Vec<(u32, Timestamp)>; 5],
}

impl PolicyHistory {
    /// An empty history: no policy published yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a history from versions in any order, validating each against
    /// its predecessor.
    pub fn from_policies(policies: impl IntoIterator<Item = Policy>) -> Result<Self, PolicyError> {
        let mut all: Vec<Policy> = policies.into_iter().collect();
        all.sort_by_key(|p| p.version);
        let mut h = Self::new();
        for p in all {
            h.publish(p)?;
        }
        Ok(h)
    }

    /// Adds a new version after validating it against the current one.
    pub fn publish(&mut self, policy: Policy) -> Result<(), PolicyError> {
        policy.validate(self.policies.last())?;
        let asks_again = match self.policies.last() {
            Some(prev) => reconsent_required(prev, &policy),
            // A grant can only name a version that exists, so this only
            // matters for records naming no real version: they never count.
            None => policy.purposes.iter().map(|d| d.purpose).collect(),
        };
        for p in asks_again {
            self.reconsent_points[crate::slot(p)].push((policy.version, policy.published_at));
        }
        self.declared
            .push(policy.purposes.iter().fold(0, |m, d| m | bit(d.purpose)));
        self.policies.push(policy);
        Ok(())
    }

    /// The newest published version, the one people are shown.
    pub fn current(&self) -> Option<&Policy> {
        self.policies.last()
    }

    /// The version with this number, if it was published.
    pub fn version(&self, version: u32) -> Option<&Policy> {
        self.policies
            .binary_search_by_key(&version, |p| p.version)
            .ok()
            .map(|i| &self.policies[i])
    }

    /// Every version, oldest first.
    pub fn all(&self) -> &[Policy] {
        &self.policies
    }

    /// Whether nothing has been published yet.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    fn in_force_index(&self, at: Timestamp) -> Option<usize> {
        self.policies
            .partition_point(|p| p.published_at <= at)
            .checked_sub(1)
    }

    /// The version in force at `at`: the latest one published at or before it.
    pub fn in_force(&self, at: Timestamp) -> Option<&Policy> {
        self.in_force_index(at).map(|i| &self.policies[i])
    }

    pub(crate) fn declared_at(&self, purpose: Purpose, at: Timestamp) -> bool {
        self.in_force_index(at)
            .is_some_and(|i| self.declared[i] & bit(purpose) != 0)
    }

    /// Whether a version newer than `granted_under`, published at or before
    /// `at`, asked for `purpose` again. Versions ascend with publication
    /// time, so the first newer version that asked is the earliest one.
    pub(crate) fn asked_again(&self, purpose: Purpose, granted_under: u32, at: Timestamp) -> bool {
        let points = &self.reconsent_points[crate::slot(purpose)];
        let i = points.partition_point(|&(v, _)| v <= granted_under);
        points.get(i).is_some_and(|&(_, published)| published <= at)
    }
}
