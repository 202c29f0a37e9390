//! CRC-32C (Castagnoli, as in iSCSI: RFC 3720 §B.4): polynomial
//! 0x1EDC6F41, reflected, initial value and final XOR 0xFFFFFFFF. The check
//! value of the ASCII bytes `123456789` is 0xE3069283.

use crc::{CRC_32_ISCSI, Crc};

const CASTAGNOLI: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// The CRC-32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    CASTAGNOLI.checksum(bytes)
}

/// A CRC-32C computed over bytes fed in pieces.
#[derive(Clone)]
pub struct Crc32c(crc::Digest<'static, u32>);

impl Crc32c {
    /// Nothing fed yet.
    pub fn new() -> Crc32c {
        Crc32c(CASTAGNOLI.digest())
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC of everything fed.
    pub fn finish(self) -> u32 {
        self.0.finalize()
    }
}

impl Default for Crc32c {
    fn default() -> Self {
        Crc32c::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 3720 B.4 and the usual check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let inc: [u8; 32] = core::array::from_fn(|i| i as u8);
        assert_eq!(crc32c(&inc), 0x46DD_794E);
    }

    #[test]
    fn pieces_give_the_same_crc() {
        let mut c = Crc32c::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finish(), 0xE306_9283);
    }
}
