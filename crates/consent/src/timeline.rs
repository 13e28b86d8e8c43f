use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::policy::{Policy, PolicyError, PolicyHistory};
use crate::record::{ConsentError, ConsentRecord, ConsentState};
use crate::slot;

mod aggregate;
pub use aggregate::{ConsentTally, PurposeProgress, ReconsentProgress};

/// The part of a record the timeline needs: 16 bytes, so thousands of
/// changes per subject stay cache-friendly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Choice {
    at: Timestamp,
    notice_version: u32,
    state: ConsentState,
}

/// One subject's choices per purpose, each list sorted by time. Records
/// with equal times keep arrival order, so the later-recorded one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Choices {
    by_purpose: [Vec<Choice>; 5],
}

impl Choices {
    fn record(&mut self, r: &ConsentRecord) {
        let list = &mut self.by_purpose[slot(r.purpose)];
        let c = Choice {
            at: r.at,
            notice_version: r.notice_version,
            state: r.state,
        };
        // Records mostly arrive in time order: this is a push in practice.
        let i = list.partition_point(|x| x.at <= r.at);
        list.insert(i, c);
    }

    fn latest(&self, purpose: Purpose, at: Timestamp) -> Option<Choice> {
        let list = &self.by_purpose[slot(purpose)];
        let i = list.partition_point(|x| x.at <= at);
        i.checked_sub(1).map(|i| list[i])
    }
}

/// The answers, shared by [`ConsentTimeline`] and [`ConsentIndex`].
struct View<'a> {
    choices: Option<&'a Choices>,
    policies: &'a PolicyHistory,
}

impl View<'_> {
    fn allowed(&self, purpose: Purpose, at: Timestamp) -> bool {
        self.effective(purpose, at) == Some(ConsentState::Given)
    }

    /// A grant counts while the policy in force still declares the purpose
    /// and no newer version than the one it was given under has asked for
    /// the purpose again. Comparing against the notice version (not the
    /// grant's time) means a grant made on a stale page does not cover what
    /// a newer version added.
    fn effective(&self, purpose: Purpose, at: Timestamp) -> Option<ConsentState> {
        let c = self.choices?.latest(purpose, at)?;
        if c.state != ConsentState::Given {
            return Some(c.state);
        }
        let stands = self.policies.declared_at(purpose, at)
            && !self.policies.asked_again(purpose, c.notice_version, at);
        Some(if stands {
            ConsentState::Given
        } else {
            ConsentState::Expired
        })
    }

    fn state_at(&self, at: Timestamp) -> BTreeMap<Purpose, ConsentState> {
        Purpose::ALL
            .into_iter()
            .filter_map(|p| self.effective(p, at).map(|s| (p, s)))
            .collect()
    }

    fn reconsent_needed(&self, at: Timestamp) -> BTreeSet<Purpose> {
        let Some(choices) = self.choices else {
            return BTreeSet::new();
        };
        Purpose::ALL
            .into_iter()
            .filter(|&p| {
                choices.latest(p, at).is_some_and(|c| {
                    c.state == ConsentState::Given
                        && self.policies.declared_at(p, at)
                        && self.policies.asked_again(p, c.notice_version, at)
                })
            })
            .collect()
    }
}

/// "End of time": the state after every known record and policy version.
const LATEST: Timestamp = Timestamp(i64::MAX);

/// One subject's consent over time, answering "was this purpose allowed at
/// this moment?" by binary search.
///
/// No record means not allowed; a later record replaces an earlier one; a
/// grant lapses when a newer policy version adds the purpose, a recipient
/// or a data category (see [`crate::reconsent_required`]).
#[derive(Debug, Clone)]
pub struct ConsentTimeline {
    subject: Pseudonym,
    policies: Arc<PolicyHistory>,
    choices: Choices,
}

impl ConsentTimeline {
    /// A timeline with no choices yet: every purpose refused.
    pub fn new(subject: Pseudonym, policies: Arc<PolicyHistory>) -> Self {
        Self {
            subject,
            policies,
            choices: Choices::default(),
        }
    }

    /// Builds the timeline from the subject's stored records, in any order.
    pub fn from_records<'r>(
        subject: Pseudonym,
        policies: Arc<PolicyHistory>,
        records: impl IntoIterator<Item = &'r ConsentRecord>,
    ) -> Result<Self, ConsentError> {
        let mut t = Self::new(subject, policies);
        let mut records: Vec<&ConsentRecord> = records.into_iter().collect();
        // Stable: equal times keep the order the store returned them in.
        records.sort_by_key(|r| r.at);
        for r in records {
            t.record(r)?;
        }
        Ok(t)
    }

    /// Adds one of this subject's records at its place in time; another subject's is refused.
    pub fn record(&mut self, r: &ConsentRecord) -> Result<(), ConsentError> {
        if r.subject != self.subject {
            return Err(ConsentError::WrongSubject);
        }
        self.choices.record(r);
        Ok(())
    }

    /// Whose timeline this is.
    pub fn subject(&self) -> &Pseudonym {
        &self.subject
    }

    fn view(&self) -> View<'_> {
        View {
            choices: Some(&self.choices),
            policies: &self.policies,
        }
    }

    /// Whether the person allowed `purpose` at `at`, under the policy then in force.
    pub fn allowed(&self, purpose: Purpose, at: Timestamp) -> bool {
        self.view().allowed(purpose, at)
    }

    /// Effective state per purpose at `at`; purposes never recorded are
    /// absent (and so not allowed). A grant a newer policy invalidated shows
    /// as `Expired`.
    pub fn state_at(&self, at: Timestamp) -> BTreeMap<Purpose, ConsentState> {
        self.view().state_at(at)
    }

    /// [`Self::state_at`] after every known record and policy version.
    pub fn current(&self) -> BTreeMap<Purpose, ConsentState> {
        self.state_at(LATEST)
    }

    /// Purposes the subject had granted that a newer policy version asks
    /// about again. Purposes they were never asked about are not listed.
    pub fn reconsent_needed(&self) -> BTreeSet<Purpose> {
        self.view().reconsent_needed(LATEST)
    }

    /// [`Self::reconsent_needed`] as it stood at `at`.
    pub fn reconsent_needed_at(&self, at: Timestamp) -> BTreeSet<Purpose> {
        self.view().reconsent_needed(at)
    }
}

/// Hashes a [`Pseudonym`] by its digest's first bytes. The digest is
/// already a keyed hash (HMAC) of the raw id, so it is uniformly spread and
/// nobody without the key can aim collisions; running SipHash over it again
/// only costs time on the ingestion path.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        // splitmix64's finaliser: cheap, and keeps the table healthy even
        // for digests that are not uniform (tests, synthetic data).
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        // The digest arrives as one 32-byte write; take 8 of its bytes. Other
        // writes (lengths, key ids) are folded in cheaply.
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
    }

    fn write_u32(&mut self, v: u32) {
        self.0 = self.0.rotate_left(5) ^ u64::from(v);
    }

    fn write_usize(&mut self, _len: usize) {}
}

/// Every subject's consent in memory, for the ingestion path: one hash
/// look-up plus one binary search per event, and records are folded in
/// without cloning them.
#[derive(Debug, Clone, Default)]
pub struct ConsentIndex {
    policies: Arc<PolicyHistory>,
    subjects: HashMap<Pseudonym, Choices, BuildHasherDefault<DigestHasher>>,
}

impl ConsentIndex {
    /// An index of nobody yet, under these policy versions.
    pub fn new(policies: PolicyHistory) -> Self {
        Self {
            policies: Arc::new(policies),
            subjects: HashMap::default(),
        }
    }

    /// Every published policy version the index judges against.
    pub fn policies(&self) -> &Arc<PolicyHistory> {
        &self.policies
    }

    /// Publishes a new policy version; grants it invalidates stop counting
    /// from its publication time on.
    pub fn publish(&mut self, policy: Policy) -> Result<(), PolicyError> {
        Arc::make_mut(&mut self.policies).publish(policy)
    }

    /// Folds in one record at its place in the subject's timeline.
    pub fn record(&mut self, r: &ConsentRecord) {
        self.subjects.entry(r.subject).or_default().record(r);
    }

    fn view(&self, subject: &Pseudonym) -> View<'_> {
        View {
            choices: self.subjects.get(subject),
            policies: &self.policies,
        }
    }

    /// Whether the subject allowed `purpose` at `at`; unknown subjects allowed nothing.
    pub fn allowed(&self, subject: &Pseudonym, purpose: Purpose, at: Timestamp) -> bool {
        self.view(subject).allowed(purpose, at)
    }

    /// Effective state per purpose at `at` (see [`ConsentTimeline::state_at`]).
    pub fn state_at(&self, subject: &Pseudonym, at: Timestamp) -> BTreeMap<Purpose, ConsentState> {
        self.view(subject).state_at(at)
    }

    /// The subject's state after every known record and policy version.
    pub fn current(&self, subject: &Pseudonym) -> BTreeMap<Purpose, ConsentState> {
        self.state_at(subject, LATEST)
    }

    /// Purposes the subject granted that a newer policy version asks about again.
    pub fn reconsent_needed(&self, subject: &Pseudonym) -> BTreeSet<Purpose> {
        self.view(subject).reconsent_needed(LATEST)
    }

    /// A standalone timeline for one subject (copies only that subject's
    /// compact choices).
    pub fn timeline(&self, subject: &Pseudonym) -> ConsentTimeline {
        ConsentTimeline {
            subject: *subject,
            policies: Arc::clone(&self.policies),
            choices: self.subjects.get(subject).cloned().unwrap_or_default(),
        }
    }

    /// Drops a subject's choices (erasure); they are then allowed nothing.
    pub fn forget(&mut self, subject: &Pseudonym) -> bool {
        self.subjects.remove(subject).is_some()
    }

    /// Everyone with a consent record, in no particular order.
    pub fn subjects(&self) -> impl Iterator<Item = &Pseudonym> + '_ {
        self.subjects.keys()
    }

    /// How many people have any consent record.
    pub fn subject_count(&self) -> usize {
        self.subjects.len()
    }
}
