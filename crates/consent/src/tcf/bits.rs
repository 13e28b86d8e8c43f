//! Big-endian bit fields, as the TC string packs them.

use super::TcfError;

pub(super) struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `n` (at most 64) bits as an unsigned integer, most significant
    /// first; `field` names what was being read if the input runs out.
    pub(super) fn read(&mut self, n: u32, field: &str) -> Result<u64, TcfError> {
        debug_assert!(n <= 64);
        let end = self.pos.checked_add(n as usize);
        if end.is_none_or(|e| e > self.bytes.len() * 8) {
            return Err(TcfError::Truncated {
                field: field.to_string(),
            });
        }
        let mut v = 0u64;
        for _ in 0..n {
            let byte = self.bytes[self.pos / 8];
            let b = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u64::from(b);
            self.pos += 1;
        }
        Ok(v)
    }

    pub(super) fn bool(&mut self, field: &str) -> Result<bool, TcfError> {
        Ok(self.read(1, field)? == 1)
    }

    pub(super) fn u8(&mut self, n: u32, field: &str) -> Result<u8, TcfError> {
        debug_assert!(n <= 8);
        Ok(self.read(n, field)? as u8)
    }

    pub(super) fn u16(&mut self, n: u32, field: &str) -> Result<u16, TcfError> {
        debug_assert!(n <= 16);
        Ok(self.read(n, field)? as u16)
    }
}

#[derive(Default)]
pub(super) struct BitWriter {
    bytes: Vec<u8>,
    len: usize,
}

impl BitWriter {
    /// Appends the low `n` bits of `v`, most significant first. Callers
    /// check that `v` fits.
    pub(super) fn write(&mut self, n: u32, v: u64) {
        for i in (0..n).rev() {
            if self.len & 7 == 0 {
                self.bytes.push(0);
            }
            if (v >> i) & 1 == 1 {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 1 << (7 - (self.len % 8));
            }
            self.len += 1;
        }
    }

    pub(super) fn bool(&mut self, b: bool) {
        self.write(1, u64::from(b));
    }

    /// The bytes, zero-padded to a whole byte.
    pub(super) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_across_byte_boundaries() {
        let mut w = BitWriter::default();
        w.write(6, 2);
        w.write(36, 15_100_821_554);
        w.bool(true);
        w.write(12, 0xabc);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read(6, "a").unwrap(), 2);
        assert_eq!(r.read(36, "b").unwrap(), 15_100_821_554);
        assert!(r.bool("c").unwrap());
        assert_eq!(r.read(12, "d").unwrap(), 0xabc);
        assert!(matches!(
            r.read(8, "e"),
            Err(TcfError::Truncated { field }) if field == "e"
        ));
    }
}
