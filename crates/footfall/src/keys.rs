//! Pseudonyms for devices: what the engine keeps instead of a MAC.
//!
//! A device key is HMAC-SHA256(period key, MAC). Period keys rotate (default
//! every 90 days) so a device's key changes with the period and nothing links
//! it across periods; once a period is retired its key is dropped and the
//! keyring refuses to derive it again. Opt-outs use a separate key that does
//! not rotate, so an opt-out holds for as long as the person wants it to.
//!
//! Period keys are derived from the root secret, so retiring one in memory
//! stops this process from making it again, but whoever holds the root can
//! still re-derive it: unlinkability across periods rests on the root never
//! leaving the vault.

use std::collections::BTreeMap;
use std::fmt;

use fineline_core::Timestamp;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::mac::Mac;

type HmacSha256 = Hmac<Sha256>;

const DAY_MS: i64 = 86_400_000;
/// Default rotation: the repeat-visitor lookback, so no key outlives it by more than one period.
pub const DEFAULT_ROTATION_DAYS: u32 = 90;

/// A device as the engine knows it: the rotation period that keyed it and
/// the HMAC digest. The same phone has a different key in every period.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceKey {
    /// The rotation period whose key made the digest, counted in rotation lengths from the Unix epoch.
    pub period: u32,
    /// HMAC-SHA-256 of the MAC under that period's key.
    pub digest: [u8; 32],
}

impl DeviceKey {
    /// Text form, same shape as a subject pseudonym: `k{period}_{hex}`.
    pub fn to_text(&self) -> String {
        fineline_core::Pseudonym::new(self.period, self.digest).to_text()
    }
}

impl serde::Serialize for DeviceKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> serde::Deserialize<'de> for DeviceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p: fineline_core::Pseudonym = serde::Deserialize::deserialize(d)?;
        Ok(Self {
            period: p.key_id,
            digest: p.digest,
        })
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({})", self.to_text())
    }
}

/// Why a device key or key list could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A root or opt-out secret shorter than 32 bytes.
    #[error("root secret must be at least 32 bytes")]
    ShortSecret,
    /// A rotation period of 0 days.
    #[error("rotation period must be at least one day")]
    ZeroRotation,
    /// The sighting falls in a period whose key was retired and deleted.
    #[error("key period {period} is retired (keys before {retired_before} were deleted)")]
    Retired {
        /// The period of the sighting.
        period: u32,
        /// The first period still kept.
        retired_before: u32,
    },
    /// A sighting stamped before 1970 falls in no key period.
    #[error("timestamp is before the epoch: no key period")]
    BeforeEpoch,
}

/// Period keys derived from one root secret (kept in the vault by the server).
pub struct DeviceKeyring {
    root: Zeroizing<Vec<u8>>,
    rotation_ms: i64,
    retired_before: u32,
    // Keyed HMAC state per period: cloning it skips re-hashing the key per sighting.
    keys: BTreeMap<u32, HmacSha256>,
}

impl DeviceKeyring {
    /// A keyring over `root_secret` (at least 32 bytes) rotating every `rotation_days`.
    pub fn new(root_secret: &[u8], rotation_days: u32) -> Result<Self, KeyError> {
        if root_secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        if rotation_days == 0 {
            return Err(KeyError::ZeroRotation);
        }
        Ok(Self {
            root: Zeroizing::new(root_secret.to_vec()),
            rotation_ms: rotation_days as i64 * DAY_MS,
            retired_before: 0,
            keys: BTreeMap::new(),
        })
    }

    /// Days each period key lives.
    pub fn rotation_days(&self) -> u32 {
        (self.rotation_ms / DAY_MS) as u32
    }

    /// The rotation period a moment falls in (periods count from the epoch).
    pub fn period_of(&self, at: Timestamp) -> Result<u32, KeyError> {
        period_of(at, self.rotation_ms)
    }

    /// First moment of a period, so the server can tell when to retire it.
    pub fn period_start(&self, period: u32) -> Timestamp {
        Timestamp(period as i64 * self.rotation_ms)
    }

    /// The device key for a MAC seen at `at`.
    pub fn device_key(&mut self, mac: &Mac, at: Timestamp) -> Result<DeviceKey, KeyError> {
        let period = self.period_of(at)?;
        if period < self.retired_before {
            return Err(KeyError::Retired {
                period,
                retired_before: self.retired_before,
            });
        }
        let root = &self.root;
        let keyed = self
            .keys
            .entry(period)
            .or_insert_with(|| period_hmac(root, period));
        let mut h = keyed.clone();
        h.update(&mac.octets());
        Ok(DeviceKey {
            period,
            digest: h.finalize().into_bytes().into(),
        })
    }

    /// Drop every period key before `period` and refuse to derive them again.
    /// The server calls this once the lookback has passed a period, after
    /// deleting the visits keyed by it.
    pub fn retire_before(&mut self, period: u32) {
        self.retired_before = self.retired_before.max(period);
        self.keys = self.keys.split_off(&self.retired_before);
    }

    /// The first period whose key may still be derived.
    pub fn retired_before(&self) -> u32 {
        self.retired_before
    }

    /// The periods whose data may still be needed at `now`: those overlapping
    /// the last `lookback_days`, oldest first, minus retired ones. Retire
    /// everything before the first (after deleting sessions keyed by them).
    pub fn needed_periods(&self, now: Timestamp, lookback_days: u32) -> Vec<u32> {
        let oldest = now.plus_millis(-(lookback_days as i64) * DAY_MS);
        let first = period_of(Timestamp(oldest.0.max(0)), self.rotation_ms).unwrap_or(0);
        let last = period_of(now, self.rotation_ms).unwrap_or(0);
        (first.max(self.retired_before)..=last).collect()
    }

    /// Periods whose keys are currently held in memory.
    pub fn live_periods(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
}

pub(crate) fn period_of(at: Timestamp, rotation_ms: i64) -> Result<u32, KeyError> {
    if at.0 < 0 {
        return Err(KeyError::BeforeEpoch);
    }
    Ok((at.0 / rotation_ms) as u32)
}

fn period_hmac(root: &[u8], period: u32) -> HmacSha256 {
    let mut kdf = HmacSha256::new_from_slice(root).expect("HMAC takes any key length");
    kdf.update(b"fineline footfall device key v1");
    kdf.update(&period.to_be_bytes());
    let key = Zeroizing::new(<[u8; 32]>::from(kdf.finalize().into_bytes()));
    HmacSha256::new_from_slice(key.as_slice()).expect("HMAC takes any key length")
}

/// Devices whose owners said no. Holds HMACs under its own key (never the
/// device-key root), so entries survive rotation and cannot be joined to visits.
pub struct OptOutList {
    key: HmacSha256,
    entries: std::collections::HashSet<[u8; 32]>,
}

impl OptOutList {
    /// An empty opt-out list keyed from `secret` (at least 32 bytes).
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(KeyError::ShortSecret);
        }
        let mut kdf = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        kdf.update(b"fineline footfall opt-out v1");
        let key = Zeroizing::new(<[u8; 32]>::from(kdf.finalize().into_bytes()));
        Ok(Self {
            key: HmacSha256::new_from_slice(key.as_slice()).expect("HMAC takes any key length"),
            entries: Default::default(),
        })
    }

    /// The digest to persist for a MAC (what the server stores and puts a receipt on).
    pub fn digest(&self, mac: &Mac) -> [u8; 32] {
        let mut h = self.key.clone();
        h.update(&mac.octets());
        h.finalize().into_bytes().into()
    }

    /// Opt a device out; returns the stored digest.
    pub fn opt_out(&mut self, mac: &Mac) -> [u8; 32] {
        let d = self.digest(mac);
        self.entries.insert(d);
        d
    }

    /// Reload a digest persisted earlier.
    pub fn insert_digest(&mut self, digest: [u8; 32]) {
        self.entries.insert(digest);
    }

    /// Whether the device's owner opted it out.
    pub fn is_opted_out(&self, mac: &Mac) -> bool {
        !self.entries.is_empty() && self.entries.contains(&self.digest(mac))
    }

    /// How many devices are opted out.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no device is opted out.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn keys_rotate_and_retire() {
        let mut ring = DeviceKeyring::new(ROOT, 90).unwrap();
        let mac = Mac::parse("00:1a:2b:3c:4d:5e").unwrap();
        let day = |d: i64| Timestamp(d * DAY_MS + 1);
        let a = ring.device_key(&mac, day(10)).unwrap();
        let b = ring.device_key(&mac, day(89)).unwrap();
        let c = ring.device_key(&mac, day(90)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.digest, c.digest);
        assert_eq!((a.period, c.period), (0, 1));
        assert_eq!(ring.needed_periods(day(100), 90), vec![0, 1]);
        assert_eq!(ring.needed_periods(day(185), 90), vec![1, 2]);
        ring.retire_before(1);
        assert_eq!(ring.live_periods(), vec![1]);
        assert_eq!(ring.needed_periods(day(100), 90), vec![1]);
        assert!(matches!(
            ring.device_key(&mac, day(10)),
            Err(KeyError::Retired { .. })
        ));
        // Another keyring from the same root agrees: the server can restart.
        let mut again = DeviceKeyring::new(ROOT, 90).unwrap();
        assert_eq!(again.device_key(&mac, day(90)).unwrap(), c);
    }

    #[test]
    fn opt_out_is_independent_of_device_keys() {
        let mut ring = DeviceKeyring::new(ROOT, 90).unwrap();
        let mut list = OptOutList::new(ROOT).unwrap();
        let mac = Mac::parse("00:1a:2b:3c:4d:5e").unwrap();
        let other = Mac::parse("00:1a:2b:3c:4d:5f").unwrap();
        assert!(!list.is_opted_out(&mac));
        let d = list.opt_out(&mac);
        assert!(list.is_opted_out(&mac));
        assert!(!list.is_opted_out(&other));
        // Same secret, different key: the opt-out digest never equals a device key.
        assert_ne!(ring.device_key(&mac, Timestamp(0)).unwrap().digest, d);
        assert!(DeviceKeyring::new(&ROOT[..31], 90).is_err());
    }
}
