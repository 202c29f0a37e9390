//! RFC 6962 §2.1 hashing with SHA-256.

use core::fmt;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

/// Size of a SHA-256 hash in bytes.
pub const HASH_SIZE: usize = 32;

/// A SHA-256 Merkle tree hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// The root of the empty tree: `SHA-256("")` (RFC 6962 §2.1, `MTH({})`).
///
/// Go's `sumdb/tlog.TreeHash(0)` returns the all-zero hash instead; C2SP
/// checkpoints follow RFC 6962.
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// Length of a hash in standard base64 (with padding).
pub const HASH_BASE64_LEN: usize = 44;

/// Hash of a log entry: `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// Hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 1 + 2 * HASH_SIZE];
    buf[0] = 1;
    buf[1..1 + HASH_SIZE].copy_from_slice(&left.0);
    buf[1 + HASH_SIZE..].copy_from_slice(&right.0);
    Hash(Sha256::digest(buf).into())
}

impl Hash {
    /// Reads a hash from exactly [`HASH_SIZE`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        bytes.try_into().ok().map(Hash)
    }

    /// Decodes standard base64, as used in checkpoints and proofs.
    pub fn from_base64(s: &str) -> Option<Hash> {
        let mut out = [0u8; HASH_SIZE];
        match Base64::decode(s, &mut out) {
            Ok(b) if b.len() == HASH_SIZE => Some(Hash(out)),
            _ => None,
        }
    }

    /// Encodes as standard base64 into `buf`, returning the text.
    pub fn to_base64<'a>(&self, buf: &'a mut [u8; HASH_BASE64_LEN]) -> &'a str {
        // A 44-byte buffer always fits 32 bytes of base64.
        Base64::encode(&self.0, buf).unwrap_or_default()
    }
}

impl fmt::Display for Hash {
    /// Standard base64, the form used in checkpoints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; HASH_BASE64_LEN];
        f.write_str(self.to_base64(&mut buf))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT.0, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn rfc6962_known_answers() {
        // Leaf hash of the empty entry and of the first entry of the
        // RFC 6962 reference test vectors (certificate-transparency-go).
        let empty = leaf_hash(b"");
        assert_eq!(
            format!("{empty:?}"),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l0 = leaf_hash(&[]);
        let l1 = leaf_hash(&[0x00]);
        assert_eq!(
            format!("{l1:?}"),
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
        );
        // MTH of the two-entry tree ["", "\x00"] from the same vectors.
        let n = node_hash(&l0, &l1);
        assert_eq!(
            format!("{n:?}"),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn base64_round_trip() {
        let h = leaf_hash(b"hello");
        let mut buf = [0u8; HASH_BASE64_LEN];
        let s = h.to_base64(&mut buf);
        assert_eq!(Hash::from_base64(s), Some(h));
        assert_eq!(Hash::from_base64("AAAA"), None);
        assert_eq!(Hash::from_base64("not base64!"), None);
    }
}
