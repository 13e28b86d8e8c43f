//! IAB Transparency & Consent Framework v2.2 TC strings.
//!
//! A TC string is what a TCF consent banner (CMP) stores after a person
//! chooses. fineline accepts one as a consent source: [`decode`] reads the
//! core segment in full (optional segments are recognised by their type and
//! skipped), and [`TcString::fineline_choices`] maps the person's answers to
//! fineline purposes. Anything malformed is an error naming what is wrong,
//! never a panic, and decoding allocates in proportion to the input (vendor
//! lists are kept as ranges, not expanded).

mod bits;
mod codec;

use std::collections::{BTreeMap, BTreeSet};

use fineline_core::{Pseudonym, Purpose, Timestamp};

use crate::policy::Policy;
use crate::record::{ConsentRecord, ConsentSource, ConsentState};

pub use codec::{decode, encode};

/// Why a TC string could not be decoded or encoded; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcfError {
    /// Nothing was given.
    #[error("TC string is empty")]
    Empty,
    #[error("TC string segment {segment} is not base64url without padding")]
    /// A segment is not base64url without padding.
    BadBase64 {
        /// Position of the segment (0 is the core segment).
        segment: usize,
    },
    /// The version field is not 2.
    #[error("TC string version {0} is not supported; expected 2 (TCF v2.x)")]
    WrongVersion(u8),
    #[error("TC string is truncated at field {field}")]
    /// The bits ran out in the middle of a field.
    Truncated {
        /// The spec's name of the field being read.
        field: String,
    },
    #[error("TC string field {field}: {reason}")]
    /// A field holds a value the spec does not allow.
    Invalid {
        /// The spec's name of the field.
        field: String,
        /// What is wrong with its value.
        reason: &'static str,
    },
    #[error("TC string field {field}: range entries are out of order or overlap")]
    /// Range entries go backwards or overlap.
    RangeOutOfOrder {
        /// The spec's name of the ranged field.
        field: String,
    },
    #[error("TC string segment {segment} has type {kind}, not a known optional segment (1-3)")]
    /// An optional segment has a type other than 1-3.
    UnknownSegment {
        /// Position of the segment (0 is the core segment).
        segment: usize,
        /// The segment type it declares.
        kind: u8,
    },
    #[error("cannot encode TC string field {field}: {reason}")]
    /// A value does not fit its field in the string.
    CannotEncode {
        /// The spec's name of the field.
        field: String,
        /// Why it cannot be written.
        reason: &'static str,
    },
}

/// A set of vendor ids (1-65535) kept as sorted, disjoint, non-adjacent
/// inclusive ranges: one range entry in a TC string can name 65,535
/// vendors, so expanding them would let a short string cost a lot of memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorSet {
    ranges: Vec<(u16, u16)>,
}

impl VendorSet {
    /// No vendors.
    pub fn new() -> Self {
        Self::default()
    }

    /// From inclusive ranges in any order; overlapping or touching ranges
    /// merge. Ranges with `start > end` are ignored.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u16, u16)>) -> Self {
        let mut rs: Vec<(u16, u16)> = ranges.into_iter().filter(|(s, e)| s <= e).collect();
        rs.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(rs.len());
        for (s, e) in rs {
            match out.last_mut() {
                Some(last) if u32::from(s) <= u32::from(last.1) + 1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Self { ranges: out }
    }

    /// From single vendor ids in any order.
    pub fn from_ids(ids: impl IntoIterator<Item = u16>) -> Self {
        Self::from_ranges(ids.into_iter().map(|i| (i, i)))
    }

    /// Whether the vendor is in the set (binary search over ranges).
    pub fn contains(&self, id: u16) -> bool {
        let i = self.ranges.partition_point(|&(_, e)| e < id);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= id)
    }

    /// The inclusive ranges, sorted, disjoint and non-adjacent.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// Whether no vendor is in the set.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many vendor ids the set holds (ranges expanded, counted not allocated).
    pub fn len(&self) -> usize {
        self.ranges
            .iter()
            .map(|&(s, e)| usize::from(e - s) + 1)
            .sum()
    }

    /// The highest vendor id, if any.
    pub fn max(&self) -> Option<u16> {
        self.ranges.last().map(|&(_, e)| e)
    }

    /// Every vendor id in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|&(s, e)| s..=e)
    }

    /// Appends a range known to come after every range already present,
    /// merging when it touches the last one.
    fn push_after(&mut self, s: u16, e: u16) {
        match self.ranges.last_mut() {
            Some(last) if u32::from(s) == u32::from(last.1) + 1 => last.1 = e,
            _ => self.ranges.push((s, e)),
        }
    }
}

/// The Vendor Consent or Vendor Legitimate Interest section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorSection {
    /// The highest vendor id the section may name.
    pub max_vendor_id: u16,
    /// How the section was (or is to be) written: range entries or a
    /// bitfield. The meaning is the same either way.
    pub range_encoded: bool,
    /// The vendors the person consented to (or disclosed under legitimate interest).
    pub vendors: VendorSet,
}

/// What a publisher restricts for some vendors on one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionType {
    /// The purpose is not allowed for these vendors at all.
    NotAllowed = 0,
    /// These vendors need consent, even where they claim legitimate interest.
    RequireConsent = 1,
    /// These vendors may rely on legitimate interest only.
    RequireLegitimateInterest = 2,
    /// Reserved by the spec; kept so such strings still decode.
    Undefined = 3,
}

/// One publisher restriction: a purpose, what is restricted, for which vendors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherRestriction {
    /// The TCF purpose id (1-24) restricted.
    pub purpose_id: u8,
    /// What the publisher requires of those vendors.
    pub restriction: RestrictionType,
    /// The vendors the restriction applies to.
    pub vendors: VendorSet,
}

/// The core segment of a TC string, field for field (names follow the IAB
/// "Consent string and vendor list formats v2" spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcString {
    /// Stored by the spec in deciseconds; sub-decisecond parts are dropped
    /// on encoding.
    pub created: Timestamp,
    /// When the person last changed their choices (deciseconds in the string).
    pub last_updated: Timestamp,
    /// The IAB-registered id of the consent banner (CMP) that wrote it.
    pub cmp_id: u16,
    /// That banner's own version number.
    pub cmp_version: u16,
    /// Which screen of the banner the choices were made on.
    pub consent_screen: u8,
    /// Two upper-case ASCII letters, e.g. `*b"EN"`.
    pub consent_language: [u8; 2],
    /// The Global Vendor List version the choices refer to.
    pub vendor_list_version: u16,
    /// 4 for TCF v2.2 (2 was v2.0).
    pub tcf_policy_version: u8,
    /// Whether the choices apply to this site or app only, not globally.
    pub is_service_specific: bool,
    /// Whether the publisher customised the standard purpose texts.
    pub use_non_standard_texts: bool,
    /// Special feature ids 1-12 the person opted in to.
    pub special_feature_opt_ins: BTreeSet<u8>,
    /// Purpose ids 1-24 the person consented to.
    pub purposes_consent: BTreeSet<u8>,
    /// Purpose ids 1-24 disclosed under legitimate interest.
    pub purposes_li_transparency: BTreeSet<u8>,
    /// Whether purpose 1 (store or access information on a device) was left undisclosed.
    pub purpose_one_treatment: bool,
    /// Two upper-case ASCII letters.
    pub publisher_cc: [u8; 2],
    /// Which vendors the person consented to.
    pub vendor_consents: VendorSection,
    /// Which vendors were disclosed as relying on legitimate interest.
    pub vendor_legitimate_interests: VendorSection,
    /// The publisher's per-purpose restrictions on vendors.
    pub publisher_restrictions: Vec<PublisherRestriction>,
    /// Types of the optional segments that followed the core one
    /// (1 disclosed vendors, 2 allowed vendors, 3 publisher TC). They are
    /// skipped, not decoded, and [`encode`] does not write them.
    pub skipped_segments: Vec<u8>,
}

/// TCF purposes 3 and 4 (personalised advertising profile and selection)
/// and 5 and 6 (personalised content profile and selection): building a
/// profile from someone's behaviour to choose what they see, which is what
/// fineline's recommendations do.
const PERSONALIZATION: [u8; 4] = [3, 4, 5, 6];
/// TCF purposes 7 (measure advertising performance), 8 (measure content
/// performance), 9 (understand audiences through statistics) and 10
/// (develop and improve services): fineline's first-party analytics.
const ANALYTICS: [u8; 4] = [7, 8, 9, 10];
/// TCF special feature 1: use precise geolocation data.
const PRECISE_GEOLOCATION: u8 = 1;

impl TcString {
    /// Whether the person consented to TCF purpose `id` (1-24).
    pub fn purpose_consent(&self, id: u8) -> bool {
        self.purposes_consent.contains(&id)
    }

    /// Whether the person opted in to TCF special feature `id` (1-12).
    pub fn special_feature(&self, id: u8) -> bool {
        self.special_feature_opt_ins.contains(&id)
    }

    /// The fineline choices this TC string expresses.
    ///
    /// A TC string is the person's full answer to the banner, so it both
    /// grants and withdraws. A fineline purpose is `Given` only if *every*
    /// TCF purpose mapped to it was consented, otherwise `Withdrawn`: TCF
    /// purposes are narrower than ours, and consent to part of a use is not
    /// consent to all of it. Legitimate-interest signals never count as
    /// consent. Purposes TCF has no counterpart for (partner_insights,
    /// in_store_detection) are absent: the string says nothing about them.
    /// Global purpose consents are used rather than per-vendor ones because
    /// fineline is the publisher's own first-party system, not a vendor.
    pub fn fineline_choices(&self) -> BTreeMap<Purpose, ConsentState> {
        let state = |given: bool| {
            if given {
                ConsentState::Given
            } else {
                ConsentState::Withdrawn
            }
        };
        let all = |ids: &[u8]| ids.iter().all(|&i| self.purpose_consent(i));
        BTreeMap::from([
            (Purpose::Personalization, state(all(&PERSONALIZATION))),
            (Purpose::Analytics, state(all(&ANALYTICS))),
            (
                Purpose::Location,
                state(self.special_feature(PRECISE_GEOLOCATION)),
            ),
        ])
    }

    /// The consent records this TC string produces for `subject` under
    /// `policy`, one per mapped purpose. Grants for purposes the policy does
    /// not declare are left out (there is nothing to grant); withdrawals are
    /// always kept.
    pub fn records(
        &self,
        subject: Pseudonym,
        policy: &Policy,
        at: Timestamp,
    ) -> Vec<ConsentRecord> {
        self.fineline_choices()
            .into_iter()
            .filter_map(|(purpose, state)| {
                ConsentRecord::new(subject, policy, purpose, state, ConsentSource::Tcf, at).ok()
            })
            .collect()
    }
}
