//! The bench program: it takes the harness's place (same identities) when
//! a system is booted for a benchmark, and reads its workload from the
//! probe region: 8 bytes of magic, then little-endian u64 words.
//!
//! - [`MAGIC`] ([`workload`]): records, records per append, record size,
//!   status calls. It prints `bench: status calls N in T us`, `bench:
//!   appends N batch B size S in T us`, `bench: engine appends N batch B
//!   size S in T us`, then `bench: DONE`.
//! - [`CRASH_MAGIC`] ([`crash_workload`]): records per append, record
//!   size, appends per audited read. It appends records made by
//!   [`crash_record`] until it is killed, printing `bench: ACK <first>
//!   <last> <made>` once an append is acknowledged (the records
//!   `first..=last` hold the bytes of records `made…`), `bench: READ
//!   <index>` after an audited read, and `bench: FULL` when the ledger is
//!   full.
//!
//! Either way `bench: FAILED: <why>` says it could not go on.

use core::fmt::{self, Write};

/// What the bench program's lines start with (after the simulator's prefix).
pub const PREFIX: &str = "bench: ";
/// An acknowledged append of a crash workload: `ACK <first> <last> <made>`.
pub const ACK: &str = "ACK";
/// An audited read of a crash workload: `READ <index>`.
pub const READ: &str = "READ";
/// The ledger is full.
pub const FULL: &str = "FULL";
/// A benchmark finished.
pub const DONE: &str = "DONE";
/// The program could not go on: `FAILED: <why>`.
pub const FAILED: &str = "FAILED";

/// Marks a workload in the probe region: `BENCH1`, then little-endian u64s:
/// records, records per append, record size, status calls.
pub const MAGIC: &[u8; 8] = b"BENCH1\0\0";
/// Marks a crash workload: `CRASH1`, then little-endian u64s: records per
/// append, record size, appends per audited read.
pub const CRASH_MAGIC: &[u8; 8] = b"CRASH1\0\0";

fn encode<const N: usize>(magic: &[u8; 8], words: &[u64]) -> [u8; N] {
    let mut out = [0u8; N];
    out[..8].copy_from_slice(magic);
    for (w, slot) in words.iter().zip(out[8..].chunks_exact_mut(8)) {
        slot.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The probe region's bytes for a benchmark: `records` records,
/// `batch` per append, of `size` bytes, after `status_calls` status calls.
pub fn workload(records: u64, batch: u64, size: u64, status_calls: u64) -> [u8; 40] {
    encode(MAGIC, &[records, batch, size, status_calls])
}

/// The probe region's bytes for a crash workload: `batch` records per
/// append, of `size` bytes, an audited read every `read_every` appends.
pub fn crash_workload(batch: u64, size: u64, read_every: u64) -> [u8; 32] {
    encode(CRASH_MAGIC, &[batch, size, read_every])
}

/// Writes into a byte slice, refusing what does not fit.
struct Cursor<'a>(&'a mut [u8], usize);

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.1 + s.len();
        self.0.get_mut(self.1..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}

/// The bytes of record `index` of a crash workload of `size`-byte records
/// (at least 24, at most `out`'s length): its index in decimal, then a
/// pattern that depends on it. Returns the length written.
pub fn crash_record(index: u64, size: usize, out: &mut [u8]) -> usize {
    let size = size.clamp(24, out.len());
    let mut head = [0u8; 32];
    let mut c = Cursor(&mut head, 0);
    let _ = write!(c, "crash {index:016} ");
    let n = c.1.min(size);
    out[..n].copy_from_slice(&head[..n]);
    for (k, b) in out[n..size].iter_mut().enumerate() {
        *b = b'a' + (((index % 26) as usize + k) % 26) as u8;
    }
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_magic_then_little_endian_words() {
        let w = workload(1, 2, 3, 4);
        assert_eq!(&w[..8], MAGIC);
        assert_eq!(w[8..16], 1u64.to_le_bytes());
        assert_eq!(w[32..], 4u64.to_le_bytes());
        let c = crash_workload(8, 64, 4);
        assert_eq!(&c[..8], CRASH_MAGIC);
        assert_eq!(c[24..], 4u64.to_le_bytes());
    }

    #[test]
    fn a_crash_record_follows_from_its_index() {
        let mut out = [0u8; 64];
        assert_eq!(crash_record(7, 30, &mut out), 30);
        assert_eq!(&out[..30], b"crash 0000000000000007 hijklmn");
        // Too short a size is raised to 24; too long one cut to the buffer.
        assert_eq!(crash_record(7, 1, &mut out), 24);
        assert_eq!(crash_record(u64::MAX, 1000, &mut out), 64);
        assert_eq!(&out[..27], b"crash 18446744073709551615 ");
    }
}
