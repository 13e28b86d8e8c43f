//! Wi-Fi MAC addresses as sensors report them.
//!
//! A `Mac` only lives between parsing and pseudonymization: it has no
//! `Display`, its `Debug` is redacted and parse errors never echo the input,
//! so a raw MAC cannot slip into a log line by accident.

use std::fmt;
use std::str::FromStr;

/// A 48-bit hardware address, as seen over the air.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac([u8; 6]);

/// Why a string is not a MAC. Never carries the input: it may be a real one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// The text has the wrong length for any MAC form; carries its length only.
    #[error("not a MAC address: expected six hex octets separated by ':' or '-' (aa:bb:cc:dd:ee:ff) or 12 hex digits, got {0} characters")]
    Shape(usize),
    /// One octet is not two hex digits; carries its position (0-based).
    #[error("not a MAC address: octet {0} is not two hex digits")]
    Octet(usize),
}

impl Mac {
    /// A MAC from its six bytes, as simulators and tests build one.
    pub const fn from_octets(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    /// The six bytes, for keying; never print them.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Parse `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabbccddeeff`,
    /// case-insensitive. Separators must not be mixed.
    pub fn parse(s: &str) -> Result<Self, MacError> {
        let b = s.as_bytes();
        let mut out = [0u8; 6];
        match b.len() {
            12 => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = octet(&b[2 * i..2 * i + 2]).ok_or(MacError::Octet(i + 1))?;
                }
            }
            17 => {
                let sep = b[2];
                if sep != b':' && sep != b'-' {
                    return Err(MacError::Shape(s.chars().count()));
                }
                for (i, o) in out.iter_mut().enumerate() {
                    let at = 3 * i;
                    if i < 5 && b[at + 2] != sep {
                        return Err(MacError::Shape(s.chars().count()));
                    }
                    *o = octet(&b[at..at + 2]).ok_or(MacError::Octet(i + 1))?;
                }
            }
            _ => return Err(MacError::Shape(s.chars().count())),
        }
        Ok(Self(out))
    }

    /// Locally administered bit set: the phone made this address up
    /// (MAC randomization), so it says nothing about who comes back.
    pub fn is_randomized(&self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// Lower-case colon form. Only for tests and for hashing into a
    /// pseudonym; never store or log the result.
    pub fn to_canonical(&self) -> String {
        let o = self.0;
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

fn octet(pair: &[u8]) -> Option<u8> {
    let hi = (pair[0] as char).to_digit(16)?;
    let lo = (pair[1] as char).to_digit(16)?;
    Some((hi * 16 + lo) as u8)
}

impl FromStr for Mac {
    type Err = MacError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_randomized() {
            "randomized"
        } else {
            "global"
        };
        write!(f, "Mac(<redacted {kind}>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_three_forms() {
        let want = Mac::from_octets([0xaa, 0xbb, 0xcc, 0x0d, 0xee, 0xff]);
        for s in ["aa:bb:cc:0d:ee:ff", "AA-BB-CC-0D-EE-FF", "aabbcc0deeff"] {
            assert_eq!(Mac::parse(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn rejects_other_shapes_without_echoing() {
        for s in [
            "",
            "12:34:56:78:9a",
            "aa:bb-cc:dd:ee:ff",
            "aa.bb.cc.dd.ee.ff",
            "aa:bb:cc:dd:ee:fg",
            "+a:bb:cc:dd:ee:ff",
            "aabbccddeef",
            "aabb.ccddeeff",
            "aé:bb:cc:dd:ee:f",
        ] {
            let e = Mac::parse(s).unwrap_err();
            assert!(!e.to_string().contains(s) || s.is_empty(), "{e}");
        }
    }

    #[test]
    fn randomized_bit() {
        assert!(Mac::parse("02:00:00:00:00:01").unwrap().is_randomized());
        assert!(Mac::parse("da:a1:19:00:00:01").unwrap().is_randomized());
        assert!(!Mac::parse("00:1a:2b:3c:4d:5e").unwrap().is_randomized());
        assert!(!format!("{:?}", Mac::parse("00:1a:2b:3c:4d:5e").unwrap()).contains("1a"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = Mac::parse(&s);
        }

        #[test]
        fn never_panics_on_near_misses(s in "[0-9a-fA-F:\\-g ]{10,19}") {
            let _ = Mac::parse(&s);
        }

        #[test]
        fn round_trips(o in any::<[u8; 6]>(), form in 0..3u8, upper in any::<bool>()) {
            let mac = Mac::from_octets(o);
            let mut s = mac.to_canonical();
            if form == 1 { s = s.replace(':', "-"); }
            if form == 2 { s = s.replace(':', ""); }
            if upper { s = s.to_uppercase(); }
            prop_assert_eq!(Mac::parse(&s).unwrap(), mac);
            prop_assert_eq!(Mac::parse(&mac.to_canonical()).unwrap(), mac);
        }
    }
}
