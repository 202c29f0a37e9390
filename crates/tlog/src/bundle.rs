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

/// Why framed records were refused by [`Checked::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// The framing ends inside a record.
    Truncated,
    /// The count of records differs from the framing.
    CountMismatch,
    /// No records.
    NoRecords,
    /// A record is empty.
    Empty,
    /// A record is larger than allowed.
    TooLarge {
        /// Its size.
        len: usize,
    },
}

/// Records in bundle framing, checked once: exactly `count` (at least
/// one) records, each non-empty and at most `max` bytes. Handed on as
/// such, so that nothing after the check parses or checks them again.
#[derive(Clone, Copy, Debug)]
pub struct Checked<'a> {
    framed: &'a [u8],
    count: u64,
    max: usize,
}

impl<'a> Checked<'a> {
    /// Checks that `framed` holds exactly `count` records of 1..=`max` bytes.
    pub fn new(framed: &'a [u8], count: u64, max: usize) -> Result<Self, CheckError> {
        if count == 0 {
            return Err(CheckError::NoRecords);
        }
        let mut n = 0u64;
        for e in entries(framed) {
            match e.map_err(|_| CheckError::Truncated)?.len() {
                0 => return Err(CheckError::Empty),
                len if len > max => return Err(CheckError::TooLarge { len }),
                _ => n += 1,
            }
        }
        if n != count {
            return Err(CheckError::CountMismatch);
        }
        Ok(Checked { framed, count, max })
    }

    /// The records, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        // Checked: every entry parses.
        entries(self.framed).flatten()
    }

    /// How many.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The size every record is at most.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The records as framed.
    pub fn framed(&self) -> &'a [u8] {
        self.framed
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
    fn records_are_checked_once_for_count_emptiness_and_size() {
        let two = b"\x00\x02ab\x00\x01c";
        let c = Checked::new(two, 2, 2).unwrap();
        assert_eq!((c.count(), c.max(), c.framed()), (2, 2, &two[..]));
        assert!(c.iter().eq([&b"ab"[..], b"c"]));
        assert_eq!(Checked::new(two, 2, 1).err(), Some(CheckError::TooLarge { len: 2 }));
        assert_eq!(Checked::new(two, 0, 2).err(), Some(CheckError::NoRecords));
        assert_eq!(Checked::new(two, 3, 2).err(), Some(CheckError::CountMismatch));
        assert_eq!(Checked::new(&two[..6], 2, 2).err(), Some(CheckError::Truncated));
        assert_eq!(Checked::new(b"\x00\x00", 1, 2).err(), Some(CheckError::Empty));
        assert_eq!(Checked::new(b"", 1, 2).err(), Some(CheckError::CountMismatch));
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
