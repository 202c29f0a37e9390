//! Records in a shared buffer: C2SP entry-bundle framing, each record a
//! big-endian `u16` length followed by its bytes, back to back.

use platform::SharedRegion;
use tlog::bundle::{self, CheckError, Checked};

/// Why the records in a buffer are not what the registers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// The byte count is larger than the buffer.
    BeyondBuffer,
    /// The framing ends inside a record.
    Truncated,
    /// The count of records differs from the framing.
    CountMismatch,
    /// No records.
    NoRecords,
    /// A record is empty.
    Empty,
    /// A record is larger than the tenant's maximum.
    TooLarge,
}

impl From<CheckError> for FramingError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Truncated => FramingError::Truncated,
            CheckError::CountMismatch => FramingError::CountMismatch,
            CheckError::NoRecords => FramingError::NoRecords,
            CheckError::Empty => FramingError::Empty,
            CheckError::TooLarge { .. } => FramingError::TooLarge,
        }
    }
}

/// Checks, once, that `buf[..bytes]` holds exactly `count` (at least one)
/// non-empty records of at most `max_record` bytes; the checked records
/// are handed on as such ([`Checked`]) and not parsed again.
pub fn parse(
    buf: &[u8],
    count: u64,
    bytes: u64,
    max_record: usize,
) -> Result<Checked<'_>, FramingError> {
    let bytes = usize::try_from(bytes).map_err(|_| FramingError::BeyondBuffer)?;
    let data = buf.get(..bytes).ok_or(FramingError::BeyondBuffer)?;
    Ok(Checked::new(data, count, max_record)?)
}

/// Frames `records` into a shared buffer from offset 0, where an append
/// reads them; returns the bytes written. `None` if a record is longer
/// than the framing allows or they do not fit.
pub fn stage(buf: &mut SharedRegion, records: &[&[u8]]) -> Option<usize> {
    let mut at = 0usize;
    for r in records {
        let len = u16::try_from(r.len()).ok()?;
        buf.write(at, &len.to_be_bytes())?;
        buf.write(at + 2, r)?;
        at += bundle::encoded_len(r.len());
    }
    Some(at)
}

/// Writes records into a buffer, refusing any that would not fit.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u64,
}

impl<'a> Writer<'a> {
    /// An empty writer over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, len: 0, count: 0 }
    }

    /// Appends one record; `false` (and nothing written) if it does not fit.
    pub fn push(&mut self, record: &[u8]) -> bool {
        match bundle::put(self.buf, self.len, record) {
            Some(end) => {
                self.len = end;
                self.count += 1;
                true
            }
            None => false,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records written.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_checked_against_the_registers() {
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        assert!(w.push(b"ab") && w.push(b"c"));
        assert!(!w.push(b"0123456789abc"));
        let (n, len) = (w.count(), w.len() as u64);
        assert_eq!((n, len), (2, 7));
        assert_eq!(parse(&buf, 2, 7, 2).unwrap().count(), 2);
        assert_eq!(parse(&buf, 2, 7, 1).err(), Some(FramingError::TooLarge));
        assert_eq!(parse(&buf, 3, 7, 2).err(), Some(FramingError::CountMismatch));
        assert_eq!(parse(&buf, 0, 0, 2).err(), Some(FramingError::NoRecords));
        assert_eq!(parse(&buf, 2, 6, 2).err(), Some(FramingError::Truncated));
        assert_eq!(parse(&buf, 2, 17, 2).err(), Some(FramingError::BeyondBuffer));
        assert_eq!(parse(&buf, 2, u64::MAX, 2).err(), Some(FramingError::BeyondBuffer));
        assert_eq!(parse(&[0, 0], 1, 2, 2).err(), Some(FramingError::Empty));
    }

    #[test]
    fn staged_records_parse_back() {
        let mem = platform::host::leak(16);
        let mut region = platform::host::view(mem);
        let n = stage(&mut region, &[b"ab", b"c"]).unwrap();
        assert_eq!(&mem[..n], b"\x00\x02ab\x00\x01c");
        assert!(parse(mem, 2, n as u64, 2).unwrap().iter().eq([&b"ab"[..], b"c"]));
        assert_eq!(stage(&mut region, &[&[0u8; 15]]), None, "does not fit");
    }
}
