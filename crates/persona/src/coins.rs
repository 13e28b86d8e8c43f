//! Randomness as an explicit input.
//!
//! Every random choice in this crate reads from bytes the device drew
//! (`crypto.getRandomValues` in a browser, the OS in Rust), so the same
//! persona, terms and bytes always give the same disclosure and test
//! vectors can pin it. A draw is uniform by rejection, never by a biased
//! modulo: read 8 bytes big-endian as `r`; with `zone = 2⁶⁴ − (2⁶⁴ mod n)`,
//! accept `r mod n` when `r < zone`, else read the next 8 bytes. A client
//! in JavaScript does the same with `BigInt`.

use crate::PersonaError;

/// A cursor over the device's random bytes.
#[derive(Debug, Clone)]
pub struct Coins<'a> {
    bytes: &'a [u8],
    used: usize,
}

impl<'a> Coins<'a> {
    /// Reads from `bytes`, first byte first.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, used: 0 }
    }

    /// Bytes consumed so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// A uniform integer in `[0, n)`; `n` must be at least 1.
    pub fn below(&mut self, n: u64) -> Result<u64, PersonaError> {
        if n == 0 {
            return Err(PersonaError::Invalid("a draw below 0"));
        }
        // 2⁶⁴ mod n, computed without 2⁶⁴.
        let rem = ((u64::MAX % n) + 1) % n;
        loop {
            let chunk = self
                .bytes
                .get(self.used..self.used + 8)
                .ok_or(PersonaError::OutOfCoins)?;
            self.used += 8;
            let r = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
            // zone = 2⁶⁴ − rem; r < zone ⇔ r ≤ u64::MAX − rem.
            if rem == 0 || r <= u64::MAX - rem {
                return Ok(r % n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draw_in_the_rejected_zone_reads_the_next_eight_bytes() {
        // n = 3: 2⁶⁴ mod 3 = 1, so u64::MAX alone is rejected.
        let mut bytes = vec![0xff; 8];
        bytes.extend_from_slice(&5u64.to_be_bytes());
        let mut coins = Coins::new(&bytes);
        assert_eq!(coins.below(3).unwrap(), 2);
        assert_eq!(coins.used(), 16);
        assert!(matches!(coins.below(3), Err(PersonaError::OutOfCoins)));
        // A power of two rejects nothing.
        assert_eq!(Coins::new(&[0xff; 8]).below(4).unwrap(), 3);
    }
}
