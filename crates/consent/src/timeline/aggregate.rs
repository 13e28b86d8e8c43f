//! Counts across everyone in the index, for the business console: how
//! many people had each purpose on at given moments, and how far a policy
//! version's request to consent again has got. Only counts leave here.

use std::collections::{BTreeMap, BTreeSet};

use fineline_core::{Purpose, Timestamp};

use super::{Choice, Choices, ConsentIndex, View, LATEST};
use crate::policy::reconsent_required;
use crate::record::ConsentState;
use crate::slot;

/// Everyone's consent at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentTally {
    /// The moment counted (ms since the Unix epoch).
    pub at: Timestamp,
    /// People with any consent record at or before `at` (the denominator
    /// of a grant rate; people who withdrew everything still count).
    pub subjects: u64,
    /// People for whom the purpose was in effect at `at`; purposes no one
    /// allowed are present with 0.
    pub given: BTreeMap<Purpose, u64>,
}

/// How a purpose a policy version asked about again was answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurposeProgress {
    /// People whose grant was in effect just before the version was
    /// published, and so lapsed with it.
    pub asked: u64,
    /// Of those, people whose latest choice is a grant under this version
    /// or a newer one.
    pub reconsented: u64,
    /// Of those, people whose latest choice is a refusal made after the
    /// version was published.
    pub declined: u64,
}

impl PurposeProgress {
    /// Asked and not yet answered either way.
    pub fn pending(&self) -> u64 {
        self.asked - self.reconsented - self.declined
    }
}

/// One policy version's re-consent progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconsentProgress {
    /// The policy version that asked again.
    pub version: u32,
    /// When that version was published (ms since the Unix epoch).
    pub published_at: Timestamp,
    /// The purposes this version asked about again (empty for the first
    /// version and for versions that only removed or reworded things).
    pub purposes: BTreeMap<Purpose, PurposeProgress>,
    /// People asked about at least one purpose.
    pub subjects_asked: u64,
    /// People who granted again every purpose they were asked about.
    pub subjects_reconsented: u64,
}

fn known_at(choices: &Choices, at: Timestamp) -> bool {
    choices
        .by_purpose
        .iter()
        .any(|list| list.first().is_some_and(|c| c.at <= at))
}

/// Whether a choice was made before version `version` was published.
/// Choices share millisecond timestamps with a publication; consent
/// changes and publications are serialised, so one made at that very
/// millisecond under an older notice came first.
fn made_before(c: &Choice, version: u32, published_at: Timestamp) -> bool {
    c.at < published_at || (c.at == published_at && c.notice_version < version)
}

/// Whether `p` was in effect for this person just before `version` was published.
fn in_effect_before(
    view: &View<'_>,
    choices: &Choices,
    p: Purpose,
    version: u32,
    published_at: Timestamp,
) -> bool {
    let list = &choices.by_purpose[slot(p)];
    let i = list.partition_point(|c| made_before(c, version, published_at));
    let Some(c) = i.checked_sub(1).map(|i| list[i]) else {
        return false;
    };
    let just_before = Timestamp(published_at.0 - 1);
    c.state == ConsentState::Given
        && view.policies.declared_at(p, just_before)
        && !view.policies.asked_again(p, c.notice_version, just_before)
}

impl ConsentIndex {
    /// [`ConsentTally`] at each of `moments`. One pass over everyone per
    /// call: O(people × moments × purposes) binary searches.
    pub fn tally(&self, moments: &[Timestamp]) -> Vec<ConsentTally> {
        let mut out: Vec<ConsentTally> = moments
            .iter()
            .map(|&at| ConsentTally {
                at,
                subjects: 0,
                given: Purpose::ALL.into_iter().map(|p| (p, 0)).collect(),
            })
            .collect();
        for choices in self.subjects.values() {
            let view = View {
                choices: Some(choices),
                policies: &self.policies,
            };
            for t in out.iter_mut() {
                if !known_at(choices, t.at) {
                    continue;
                }
                t.subjects += 1;
                for p in Purpose::ALL {
                    if view.allowed(p, t.at) {
                        *t.given.entry(p).or_default() += 1;
                    }
                }
            }
        }
        out
    }

    /// Re-consent progress of every published version, oldest first.
    pub fn reconsent_progress(&self) -> Vec<ReconsentProgress> {
        let all = self.policies.all();
        let mut out: Vec<ReconsentProgress> = all
            .iter()
            .enumerate()
            .map(|(i, policy)| {
                let asked_again: BTreeSet<Purpose> = match i {
                    0 => BTreeSet::new(),
                    _ => reconsent_required(&all[i - 1], policy),
                };
                ReconsentProgress {
                    version: policy.version,
                    published_at: policy.published_at,
                    purposes: asked_again
                        .into_iter()
                        .map(|p| (p, PurposeProgress::default()))
                        .collect(),
                    subjects_asked: 0,
                    subjects_reconsented: 0,
                }
            })
            .collect();
        for choices in self.subjects.values() {
            let view = View {
                choices: Some(choices),
                policies: &self.policies,
            };
            for v in out.iter_mut() {
                let (mut asked, mut all_back) = (false, true);
                for (&p, progress) in v.purposes.iter_mut() {
                    if !in_effect_before(&view, choices, p, v.version, v.published_at) {
                        continue;
                    }
                    asked = true;
                    progress.asked += 1;
                    let Some(now) = choices.latest(p, LATEST) else {
                        continue;
                    };
                    if now.state == ConsentState::Given && now.notice_version >= v.version {
                        progress.reconsented += 1;
                        continue;
                    }
                    all_back = false;
                    if now.state != ConsentState::Given
                        && !made_before(&now, v.version, v.published_at)
                    {
                        progress.declined += 1;
                    }
                }
                if asked {
                    v.subjects_asked += 1;
                    v.subjects_reconsented += u64::from(all_back);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use fineline_core::Pseudonym;

    use crate::{demo_policy, ConsentRecord, ConsentSource, Policy, PolicyHistory};

    use super::*;

    fn person(n: u8) -> Pseudonym {
        Pseudonym::new(0, [n; 32])
    }

    fn record(who: u8, policy: &Policy, p: Purpose, state: ConsentState, at: i64) -> ConsentRecord {
        ConsentRecord::new(
            person(who),
            policy,
            p,
            state,
            ConsentSource::Web,
            Timestamp(at),
        )
        .unwrap()
    }

    /// v1 at t=1000; v2 at t=5000 adds a recipient to analytics, so
    /// analytics grants made under v1 lapse at 5000.
    fn two_versions() -> (Policy, Policy, ConsentIndex) {
        let v1 = demo_policy(1, Timestamp(1_000));
        let mut v2 = demo_policy(2, Timestamp(5_000));
        let analytics = v2
            .purposes
            .iter_mut()
            .find(|d| d.purpose == Purpose::Analytics)
            .unwrap();
        analytics.recipients.insert("new-partner".into());
        let index =
            ConsentIndex::new(PolicyHistory::from_policies([v1.clone(), v2.clone()]).unwrap());
        (v1, v2, index)
    }

    #[test]
    fn tally_counts_people_known_by_then_and_grants_in_effect() {
        let (v1, v2, mut index) = two_versions();
        use ConsentState::*;
        index.record(&record(1, &v1, Purpose::Analytics, Given, 2_000));
        index.record(&record(1, &v1, Purpose::Personalization, Given, 2_000));
        index.record(&record(2, &v1, Purpose::Personalization, Given, 3_000));
        index.record(&record(2, &v1, Purpose::Personalization, Withdrawn, 4_000));
        index.record(&record(3, &v2, Purpose::Analytics, Given, 6_000));

        let t = index.tally(&[
            Timestamp(1_500),
            Timestamp(3_500),
            Timestamp(4_500),
            Timestamp(7_000),
        ]);
        assert_eq!(t[0].subjects, 0);
        assert_eq!(t[1].subjects, 2);
        assert_eq!(t[1].given[&Purpose::Personalization], 2);
        assert_eq!(t[1].given[&Purpose::Analytics], 1);
        assert_eq!(
            t[2].given[&Purpose::Personalization],
            1,
            "a withdrawal counts"
        );
        // v2 lapsed person 1's analytics; person 3 granted under v2.
        assert_eq!(t[3].subjects, 3);
        assert_eq!(t[3].given[&Purpose::Analytics], 1);
        assert_eq!(t[3].given[&Purpose::Personalization], 1);
        assert_eq!(t[3].given[&Purpose::Location], 0);
    }

    #[test]
    fn reconsent_progress_splits_asked_into_back_declined_and_pending() {
        let (v1, v2, mut index) = two_versions();
        use ConsentState::*;
        for who in 1..=4 {
            index.record(&record(who, &v1, Purpose::Analytics, Given, 2_000));
        }
        // 5 had withdrawn before v2: not asked.
        index.record(&record(5, &v1, Purpose::Analytics, Given, 2_000));
        index.record(&record(5, &v1, Purpose::Analytics, Withdrawn, 3_000));
        index.record(&record(1, &v2, Purpose::Analytics, Given, 6_000));
        index.record(&record(2, &v2, Purpose::Analytics, Given, 6_000));
        index.record(&record(3, &v2, Purpose::Analytics, Withdrawn, 6_000));

        // Withdrew at the very millisecond v2 was published, under v1's
        // notice: that came first, so 6 was not asked either.
        index.record(&record(6, &v1, Purpose::Analytics, Given, 2_000));
        index.record(&record(6, &v1, Purpose::Analytics, Withdrawn, 5_000));

        let progress = index.reconsent_progress();
        assert_eq!(progress.len(), 2);
        assert!(progress[0].purposes.is_empty());
        assert_eq!(progress[0].subjects_asked, 0);
        let v = &progress[1];
        assert_eq!(v.version, 2);
        assert_eq!(
            v.purposes.keys().copied().collect::<Vec<_>>(),
            [Purpose::Analytics]
        );
        let a = &v.purposes[&Purpose::Analytics];
        assert_eq!(
            (a.asked, a.reconsented, a.declined, a.pending()),
            (4, 2, 1, 1)
        );
        assert_eq!((v.subjects_asked, v.subjects_reconsented), (4, 2));
    }
}
