//! C2SP entry bundles: a sequence of entries, each a big-endian `uint16`
//! length followed by that many bytes.

/// The largest entry a bundle can hold.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Bytes an entry takes in a bundle.
pub const fn encoded_len(entry_len: usize) -> usize {
    2 + entry_len
}

/// Why an entry bundle could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleError {
    /// The bundle ends inside a length prefix or an entry.
    Truncated {
        /// Index of the entry within the bundle.
        entry: usize,
    },
}

impl core::fmt::Display for BundleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BundleError::Truncated { entry } => write!(f, "bundle truncated in entry {entry}"),
        }
    }
}

/// Writes `entry` at `buf[at..]`, returning the offset after it, or `None`
/// when the entry is too large or `buf` too small.
pub fn put(buf: &mut [u8], at: usize, entry: &[u8]) -> Option<usize> {
    let len = u16::try_from(entry.len()).ok()?;
    let end = at.checked_add(encoded_len(entry.len()))?;
    let dst = buf.get_mut(at..end)?;
    dst[..2].copy_from_slice(&len.to_be_bytes());
    dst[2..].copy_from_slice(entry);
    Some(end)
}

/// Iterates over the entries of a bundle.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    rest: &'a [u8],
    entry: usize,
}

/// Iterates over the entries of `bundle`.
pub fn entries(bundle: &[u8]) -> Entries<'_> {
    Entries { rest: bundle, entry: 0 }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<&'a [u8], BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let err = BundleError::Truncated { entry: self.entry };
        let Some((len, rest)) = self.rest.split_first_chunk::<2>() else {
            self.rest = &[];
            return Some(Err(err));
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            self.rest = &[];
            return Some(Err(err));
        }
        let (entry, rest) = rest.split_at(len);
        self.rest = rest;
        self.entry += 1;
        Some(Ok(entry))
    }
}

/// Counts the entries of a well-formed bundle.
pub fn count(bundle: &[u8]) -> Result<usize, BundleError> {
    entries(bundle).try_fold(0, |n, e| e.map(|_| n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 32];
        let mut at = 0;
        for e in [&b"a"[..], b"", b"hello"] {
            at = put(&mut buf, at, e).unwrap();
        }
        assert_eq!(&buf[..at], b"\x00\x01a\x00\x00\x00\x05hello");
        let got: heapless::Vec<&[u8], 4> = entries(&buf[..at]).map(Result::unwrap).collect();
        assert_eq!(got.as_slice(), [&b"a"[..], b"", b"hello"]);
        assert_eq!(count(&buf[..at]), Ok(3));
    }

    #[test]
    fn truncation_is_reported() {
        assert_eq!(count(b"\x00"), Err(BundleError::Truncated { entry: 0 }));
        assert_eq!(count(b"\x00\x01a\x00\x03ab"), Err(BundleError::Truncated { entry: 1 }));
    }

    #[test]
    fn put_refuses_what_does_not_fit() {
        let mut buf = [0u8; 4];
        assert_eq!(put(&mut buf, 0, b"abc"), None);
        assert_eq!(put(&mut buf, 0, b"ab"), Some(4));
    }
}
