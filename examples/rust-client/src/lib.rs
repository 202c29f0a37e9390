//! An integrator's client PD in Rust (`rust_client.elf`), built from
//! `examples/` the way a program in `programs/` is (docs/abi.md, "Your own
//! programs"). One PD holds three identities of its tenant, on channels
//! 0, 1 and 2 with buffers `sfs_buf_0` to `sfs_buf_2`; `STATUS` tells it
//! which may append, read and audit. It checks what docs/abi.md promises
//! and prints `<pd>: PASS <check>` or `<pd>: FAIL <check>: <why>`, then
//! `<pd>: DONE <n> passed, <m> failed`, as the harness does.
//!
//! The crate's contract with the glue: its PD type, generic over the
//! platform, named `Program` at the crate's root and implementing
//! [`platform::Program`] (how every PD starts, on seL4 and in the
//! simulator alike).
#![no_std]

use core::fmt::Write;

use abi::client::{Status, rights};
use client::Client;
use platform::{Channel, Console, Pd, Platform, Regions};
use tlog::proof::verify_inclusion;

/// The PD once its checks ran: it serves nothing.
pub struct RustClient<P> {
    // Kept only so that the type is one over the platform, as the
    // contract's `Program<P>` is.
    _p: P,
}

/// The crate's PD type, for the glue (`scripts/programs.sh`).
pub type Program<P> = RustClient<P>;

impl<P: Platform> Pd for RustClient<P> {}

/// Why the PD cannot start.
#[derive(Debug)]
pub enum Error {
    /// An identity's buffer is not mapped, or `STATUS` failed on it.
    Identity(u8),
}

/// The three identities, by what they may do.
struct Identities<P> {
    writer: Client<P>,
    reader: Client<P>,
    auditor: Client<P>,
}

impl<P: Platform> platform::Program<P> for RustClient<P> {
    type Error = Error;

    /// Runs the checks at start and reports them.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, Error> {
        run(p, regions)?;
        Ok(RustClient { _p: p })
    }
}

/// The checks, reported.
fn run<P: Platform>(p: P, regions: &mut dyn Regions) -> Result<(), Error> {
    let mut ids = identities(p, regions)?;
    let mut r = Report { p, passed: 0, failed: 0 };
    let max = ids.writer.status().map(|i| i.max_record as usize).unwrap_or(0);
    let range = r.check("append-1-byte-and-max-record", append_two(&mut ids.writer, max));
    if let Some(range) = range {
        let audit_before = ids.auditor.status().map(|i| i.audit_size).unwrap_or(0);
        r.check("read-back-what-was-appended", read_back(&mut ids.reader, range.start, max));
        r.check("inclusion-proof-verifies", prove(&mut ids.reader, range.start + 1));
        r.check("reads-are-audited", audited(&mut ids.auditor, audit_before));
    }
    // One byte over max_record, where such a record can be framed at all.
    if let Some(end) = stage(&mut ids.writer, 0, max + 1) {
        r.check("oversize-record-refused", oversize(&mut ids.writer, end));
    }
    let _ = writeln!(Console(p), "{}: DONE {} passed, {} failed", p.pd_name(), r.passed, r.failed);
    Ok(())
}

/// Channels 0..3 and their buffers, sorted by their rights.
fn identities<P: Platform>(p: P, regions: &mut dyn Regions) -> Result<Identities<P>, Error> {
    let mut found: [Option<Client<P>>; 3] = [None, None, None];
    for ch in 0..3u8 {
        let buf = system::buffer_symbol(ch).and_then(|s| regions.shared(s));
        let (Some(buf), Some(channel)) = (buf, Channel::new(ch)) else {
            return Err(Error::Identity(ch));
        };
        let mut c = Client::new(p, channel, buf);
        let slot = match c.status().map_err(|_| Error::Identity(ch))?.rights {
            r if r & rights::APPEND != 0 => 0,
            r if r & rights::READ != 0 => 1,
            _ => 2,
        };
        found[slot] = Some(c);
    }
    match found {
        [Some(writer), Some(reader), Some(auditor)] => Ok(Identities { writer, reader, auditor }),
        _ => Err(Error::Identity(0)),
    }
}

/// Counts and prints the checks.
struct Report<P> {
    p: P,
    passed: u32,
    failed: u32,
}

impl<P: Platform> Report<P> {
    fn check<T>(&mut self, name: &str, result: Result<T, &'static str>) -> Option<T> {
        let pd = self.p.pd_name();
        match result {
            Ok(v) => {
                self.passed += 1;
                let _ = writeln!(Console(self.p), "{pd}: PASS {name}");
                Some(v)
            }
            Err(why) => {
                self.failed += 1;
                let _ = writeln!(Console(self.p), "{pd}: FAIL {name}: {why}");
                None
            }
        }
    }
}

/// Byte `i` of the test record of `len` bytes.
fn byte(i: usize, len: usize) -> u8 {
    (i as u8).wrapping_mul(31) ^ (len as u8)
}

/// Frames a test record of `len` bytes at `offset` straight into the
/// buffer (no record-sized array anywhere); the offset after it.
fn stage<P: Platform>(c: &mut Client<P>, offset: usize, len: usize) -> Option<usize> {
    let buf = c.buffer();
    buf.write(offset, &u16::try_from(len).ok()?.to_be_bytes())?;
    let mut chunk = [0u8; 64];
    for start in (0..len).step_by(chunk.len()) {
        let n = chunk.len().min(len - start);
        for (k, b) in chunk[..n].iter_mut().enumerate() {
            *b = byte(start + k, len);
        }
        buf.write(offset + 2 + start, &chunk[..n])?;
    }
    Some(offset + 2 + len)
}

fn append_two<P: Platform>(
    c: &mut Client<P>,
    max: usize,
) -> Result<core::ops::Range<u64>, &'static str> {
    let end = stage(c, 0, 1).ok_or("cannot stage a 1-byte record")?;
    let end = stage(c, end, max).ok_or("max_record does not fit beside it in the buffer")?;
    let range = c.append_staged(2, end).map_err(Status::name)?;
    if range.end - range.start != 2 { Err("not two records appended") } else { Ok(range) }
}

/// The reader finds both records, byte for byte.
fn read_back<P: Platform>(c: &mut Client<P>, first: u64, max: usize) -> Result<(), &'static str> {
    let read = c.read_since(first, 2).map_err(Status::name)?;
    if read.count != 2 {
        return Err("did not read two records");
    }
    let mut offset = 0;
    for len in [1, max] {
        let mut head = [0u8; 2];
        c.buffer().read(offset, &mut head).ok_or("reply beyond the buffer")?;
        if usize::from(u16::from_be_bytes(head)) != len {
            return Err("a record came back with another length");
        }
        let mut chunk = [0u8; 64];
        for start in (0..len).step_by(chunk.len()) {
            let n = chunk.len().min(len - start);
            c.buffer().read(offset + 2 + start, &mut chunk[..n]).ok_or("reply cut short")?;
            if (0..n).any(|k| chunk[k] != byte(start + k, len)) {
                return Err("a record came back changed");
            }
        }
        offset += 2 + len;
    }
    Ok(())
}

fn prove<P: Platform>(c: &mut Client<P>, index: u64) -> Result<(), &'static str> {
    let proof = c.prove_inclusion(index, 0).map_err(Status::name)?;
    verify_inclusion(&proof.proof, proof.tree_size, &proof.root, index, &proof.leaf)
        .map_err(|_| "the proof does not verify")
}

/// The audit ledger gained the reader's records: its `read_since` first.
fn audited<P: Platform>(c: &mut Client<P>, before: u64) -> Result<(), &'static str> {
    let read = c.read_audit(before, 1).map_err(Status::name)?;
    let mut start = [0u8; 64];
    let mut op_ok = false;
    c.for_each_prefix(&read, &mut start, |_, _, r| {
        op_ok = r.windows(17).any(|w| w == b"\"op\":\"read_since\"");
    })
    .map_err(Status::name)?;
    if read.count == 1 && op_ok { Ok(()) } else { Err("no read_since audit record") }
}

/// The record staged (`end` bytes), one byte over `max_record`, is refused.
fn oversize<P: Platform>(c: &mut Client<P>, end: usize) -> Result<(), &'static str> {
    match c.append_staged(1, end) {
        Err(Status::RecordTooLarge) => Ok(()),
        Err(e) => Err(e.name()),
        Ok(_) => Err("an oversize record was appended"),
    }
}
