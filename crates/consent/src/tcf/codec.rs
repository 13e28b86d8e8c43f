use std::collections::BTreeSet;

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use fineline_core::Timestamp;

use super::bits::{BitReader, BitWriter};
use super::{PublisherRestriction, RestrictionType, TcString, TcfError, VendorSection, VendorSet};

/// base64url without padding. Encoders zero-fill the last character, but
/// some do not, so stray trailing bits are tolerated.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// Deciseconds, as the spec stores Created and LastUpdated.
const DS: i64 = 100;
const MAX_RANGE_ENTRIES: usize = 4095;

fn invalid(field: &str, reason: &'static str) -> TcfError {
    TcfError::Invalid {
        field: field.to_string(),
        reason,
    }
}

fn b64(segment: &str, index: usize) -> Result<Vec<u8>, TcfError> {
    B64.decode(segment)
        .map_err(|_| TcfError::BadBase64 { segment: index })
}

fn letters(r: &mut BitReader<'_>, field: &str) -> Result<[u8; 2], TcfError> {
    let mut out = [0u8; 2];
    for c in &mut out {
        let v = r.u8(6, field)?;
        if v > 25 {
            return Err(invalid(field, "not a letter A-Z"));
        }
        *c = b'A' + v;
    }
    Ok(out)
}

fn flags(r: &mut BitReader<'_>, n: u8, field: &str) -> Result<BTreeSet<u8>, TcfError> {
    let mut out = BTreeSet::new();
    for id in 1..=n {
        if r.bool(field)? {
            out.insert(id);
        }
    }
    Ok(out)
}

/// Range entries: `NumEntries` then, per entry, `IsARange`,
/// `StartOrOnlyVendorId` and (for a range) `EndVendorId`. Entries must
/// ascend without overlapping; ids start at 1 and stay within `max`.
fn range_entries(r: &mut BitReader<'_>, section: &str, max: u16) -> Result<VendorSet, TcfError> {
    let n = r.u16(12, &format!("{section}.NumEntries"))?;
    let mut set = VendorSet::new();
    let mut prev_end = 0u16;
    for i in 0..n {
        let field = format!("{section}.Entry[{i}]");
        let is_range = r.bool(&field)?;
        let start = r.u16(16, &field)?;
        let end = if is_range { r.u16(16, &field)? } else { start };
        if start == 0 {
            return Err(invalid(&field, "vendor id 0 does not exist"));
        }
        if end < start {
            return Err(invalid(&field, "range ends before it starts"));
        }
        if start <= prev_end {
            return Err(TcfError::RangeOutOfOrder { field });
        }
        if end > max {
            return Err(invalid(&field, "vendor id beyond MaxVendorId"));
        }
        set.push_after(start, end);
        prev_end = end;
    }
    Ok(set)
}

fn vendor_section(r: &mut BitReader<'_>, section: &str) -> Result<VendorSection, TcfError> {
    let max_vendor_id = r.u16(16, &format!("{section}.MaxVendorId"))?;
    let range_encoded = r.bool(&format!("{section}.IsRangeEncoding"))?;
    let vendors = if range_encoded {
        range_entries(r, section, max_vendor_id)?
    } else {
        let field = format!("{section}.BitField");
        let mut set = VendorSet::new();
        for id in 1..=max_vendor_id {
            if r.bool(&field)? {
                set.push_after(id, id);
            }
        }
        set
    };
    Ok(VendorSection {
        max_vendor_id,
        range_encoded,
        vendors,
    })
}

fn restriction(r: &mut BitReader<'_>, i: u16) -> Result<PublisherRestriction, TcfError> {
    let section = format!("PubRestrictions[{i}]");
    let purpose_id = r.u8(6, &format!("{section}.PurposeId"))?;
    let restriction = match r.u8(2, &format!("{section}.RestrictionType"))? {
        0 => RestrictionType::NotAllowed,
        1 => RestrictionType::RequireConsent,
        2 => RestrictionType::RequireLegitimateInterest,
        _ => RestrictionType::Undefined,
    };
    let vendors = range_entries(r, &section, u16::MAX)?;
    Ok(PublisherRestriction {
        purpose_id,
        restriction,
        vendors,
    })
}

/// Decodes a TC string (`core[.segment]*`).
pub fn decode(tc: &str) -> Result<TcString, TcfError> {
    if tc.is_empty() {
        return Err(TcfError::Empty);
    }
    let mut segments = tc.split('.');
    let core = b64(segments.next().unwrap_or_default(), 0)?;
    let r = &mut BitReader::new(&core);

    let version = r.u8(6, "Version")?;
    if version != 2 {
        return Err(TcfError::WrongVersion(version));
    }
    let created = Timestamp(r.read(36, "Created")? as i64 * DS);
    let last_updated = Timestamp(r.read(36, "LastUpdated")? as i64 * DS);
    let cmp_id = r.u16(12, "CmpId")?;
    let cmp_version = r.u16(12, "CmpVersion")?;
    let consent_screen = r.u8(6, "ConsentScreen")?;
    let consent_language = letters(r, "ConsentLanguage")?;
    let vendor_list_version = r.u16(12, "VendorListVersion")?;
    let tcf_policy_version = r.u8(6, "TcfPolicyVersion")?;
    let is_service_specific = r.bool("IsServiceSpecific")?;
    let use_non_standard_texts = r.bool("UseNonStandardTexts")?;
    let special_feature_opt_ins = flags(r, 12, "SpecialFeatureOptIns")?;
    let purposes_consent = flags(r, 24, "PurposesConsent")?;
    let purposes_li_transparency = flags(r, 24, "PurposesLITransparency")?;
    let purpose_one_treatment = r.bool("PurposeOneTreatment")?;
    let publisher_cc = letters(r, "PublisherCC")?;
    let vendor_consents = vendor_section(r, "VendorConsents")?;
    let vendor_legitimate_interests = vendor_section(r, "VendorLegitimateInterests")?;
    let n = r.u16(12, "NumPubRestrictions")?;
    let publisher_restrictions = (0..n)
        .map(|i| restriction(r, i))
        .collect::<Result<Vec<_>, _>>()?;

    let mut skipped_segments = Vec::new();
    for (i, seg) in segments.enumerate() {
        let index = i + 1;
        let bytes = b64(seg, index)?;
        let kind = BitReader::new(&bytes).u8(3, &format!("segment {index} SegmentType"))?;
        if !(1..=3).contains(&kind) {
            return Err(TcfError::UnknownSegment {
                segment: index,
                kind,
            });
        }
        skipped_segments.push(kind);
    }

    Ok(TcString {
        created,
        last_updated,
        cmp_id,
        cmp_version,
        consent_screen,
        consent_language,
        vendor_list_version,
        tcf_policy_version,
        is_service_specific,
        use_non_standard_texts,
        special_feature_opt_ins,
        purposes_consent,
        purposes_li_transparency,
        purpose_one_treatment,
        publisher_cc,
        vendor_consents,
        vendor_legitimate_interests,
        publisher_restrictions,
        skipped_segments,
    })
}

fn cannot(field: &str, reason: &'static str) -> TcfError {
    TcfError::CannotEncode {
        field: field.to_string(),
        reason,
    }
}

fn put(w: &mut BitWriter, bits: u32, v: u64, field: &str) -> Result<(), TcfError> {
    if bits < 64 && v >> bits != 0 {
        return Err(cannot(field, "value too large for its bit width"));
    }
    w.write(bits, v);
    Ok(())
}

fn put_letters(w: &mut BitWriter, l: [u8; 2], field: &str) -> Result<(), TcfError> {
    for c in l {
        if !c.is_ascii_uppercase() {
            return Err(cannot(field, "must be two letters A-Z"));
        }
        w.write(6, u64::from(c - b'A'));
    }
    Ok(())
}

fn put_flags(w: &mut BitWriter, n: u8, set: &BTreeSet<u8>, field: &str) -> Result<(), TcfError> {
    if set.iter().any(|&i| i == 0 || i > n) {
        return Err(cannot(field, "id out of range"));
    }
    for id in 1..=n {
        w.bool(set.contains(&id));
    }
    Ok(())
}

fn put_time(w: &mut BitWriter, t: Timestamp, field: &str) -> Result<(), TcfError> {
    if t.millis() < 0 {
        return Err(cannot(field, "before 1970"));
    }
    put(w, 36, (t.millis() / DS) as u64, field)
}

fn put_ranges(w: &mut BitWriter, set: &VendorSet, field: &str) -> Result<(), TcfError> {
    if set.ranges().len() > MAX_RANGE_ENTRIES {
        return Err(cannot(field, "more than 4095 range entries"));
    }
    if set.ranges().first().is_some_and(|&(s, _)| s == 0) {
        return Err(cannot(field, "vendor id 0 does not exist"));
    }
    w.write(12, set.ranges().len() as u64);
    for &(s, e) in set.ranges() {
        w.bool(s != e);
        w.write(16, u64::from(s));
        if s != e {
            w.write(16, u64::from(e));
        }
    }
    Ok(())
}

fn put_section(w: &mut BitWriter, v: &VendorSection, field: &str) -> Result<(), TcfError> {
    if v.vendors.max().is_some_and(|m| m > v.max_vendor_id) {
        return Err(cannot(field, "vendor id beyond MaxVendorId"));
    }
    w.write(16, u64::from(v.max_vendor_id));
    w.bool(v.range_encoded);
    if v.range_encoded {
        put_ranges(w, &v.vendors, field)
    } else {
        if v.vendors.ranges().first().is_some_and(|&(s, _)| s == 0) {
            return Err(cannot(field, "vendor id 0 does not exist"));
        }
        let mut next = 1u32;
        for &(s, e) in v.vendors.ranges() {
            for _ in next..u32::from(s) {
                w.bool(false);
            }
            for _ in s..=e {
                w.bool(true);
            }
            next = u32::from(e) + 1;
        }
        for _ in next..=u32::from(v.max_vendor_id) {
            w.bool(false);
        }
        Ok(())
    }
}

/// Encodes the core segment (optional segments are not written).
pub fn encode(tc: &TcString) -> Result<String, TcfError> {
    let w = &mut BitWriter::default();
    w.write(6, 2);
    put_time(w, tc.created, "Created")?;
    put_time(w, tc.last_updated, "LastUpdated")?;
    put(w, 12, tc.cmp_id.into(), "CmpId")?;
    put(w, 12, tc.cmp_version.into(), "CmpVersion")?;
    put(w, 6, tc.consent_screen.into(), "ConsentScreen")?;
    put_letters(w, tc.consent_language, "ConsentLanguage")?;
    put(w, 12, tc.vendor_list_version.into(), "VendorListVersion")?;
    put(w, 6, tc.tcf_policy_version.into(), "TcfPolicyVersion")?;
    w.bool(tc.is_service_specific);
    w.bool(tc.use_non_standard_texts);
    put_flags(w, 12, &tc.special_feature_opt_ins, "SpecialFeatureOptIns")?;
    put_flags(w, 24, &tc.purposes_consent, "PurposesConsent")?;
    put_flags(
        w,
        24,
        &tc.purposes_li_transparency,
        "PurposesLITransparency",
    )?;
    w.bool(tc.purpose_one_treatment);
    put_letters(w, tc.publisher_cc, "PublisherCC")?;
    put_section(w, &tc.vendor_consents, "VendorConsents")?;
    put_section(
        w,
        &tc.vendor_legitimate_interests,
        "VendorLegitimateInterests",
    )?;
    let n = tc.publisher_restrictions.len();
    if n > MAX_RANGE_ENTRIES {
        return Err(cannot("NumPubRestrictions", "more than 4095 restrictions"));
    }
    w.write(12, n as u64);
    for (i, p) in tc.publisher_restrictions.iter().enumerate() {
        let field = format!("PubRestrictions[{i}]");
        put(w, 6, p.purpose_id.into(), &field)?;
        w.write(2, p.restriction as u64);
        put_ranges(w, &p.vendors, &field)?;
    }
    Ok(B64.encode(std::mem::take(w).into_bytes()))
}
