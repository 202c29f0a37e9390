//! Write a client PD against this: one [`Client`] per channel into `wire`
//! (the system description gives each module one channel and one shared
//! buffer). Every call is one protected procedure call; errors are the
//! ABI's [`Status`] codes. See `docs/abi.md` for the wire format.
//!
//! ```ignore
//! let mut c = Client::new(platform, Channel::new(0)?, regions.shared("sfs_buf")?);
//! let first = c.append(&[b"user alice logged in"])?.start;
//! let read = c.read_since(first, 10)?;
//! c.for_each(&read, &mut [0; 1024], |index, record| { /* … */ })?;
//! ```
#![no_std]

use core::num::NonZeroU64;
use core::ops::Range;

use abi::client::{
    Appended, NoteReply, ProofReply, ReadReply, ReplyError, Request, Status, StatusReply,
};
use platform::{Channel, Msg, Platform, SharedRegion};
use tlog::{HASH_SIZE, Hash, Proof};

/// A connection to the ledger through one module identity.
pub struct Client<P> {
    p: P,
    ch: Channel,
    buf: SharedRegion,
}

/// What a read returned (the records are in the shared buffer until the next call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// First index.
    pub from: u64,
    /// Records returned.
    pub count: u64,
    /// Bytes they take in the buffer.
    pub bytes: usize,
    /// Ledger size the read was served from.
    pub tree_size: u64,
    /// The audit record's sequence number.
    pub audit_seq: u64,
}

/// An inclusion proof as `wire` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inclusion {
    /// The record's leaf hash.
    pub leaf: Hash,
    /// The tree's root hash.
    pub root: Hash,
    /// The tree size.
    pub tree_size: u64,
    /// The proof hashes.
    pub proof: Proof,
}

/// A consistency proof as `wire` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consistency {
    /// The old tree's root.
    pub old_root: Hash,
    /// The tree's root.
    pub root: Hash,
    /// The tree size.
    pub tree_size: u64,
    /// The proof hashes.
    pub proof: Proof,
}

/// `STATUS`: what this identity sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Ledger size.
    pub size: u64,
    /// Audit ledger size.
    pub audit_size: u64,
    /// Rights (`abi::client::rights`).
    pub rights: u64,
    /// ABI version.
    pub version: u64,
    /// The largest record the ledger accepts.
    pub max_record: u64,
}

/// A count or size the ABI sends as 0 when none is given.
fn optional(n: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(n)
}

impl<P: Platform> Client<P> {
    /// A client on channel `ch` with its shared buffer.
    pub fn new(p: P, ch: Channel, buf: SharedRegion) -> Client<P> {
        Client { p, ch, buf }
    }

    /// Sends a raw message (for tests of the ABI itself).
    pub fn call(&mut self, msg: Msg) -> Msg {
        self.p.ppcall(self.ch, msg)
    }

    /// Makes `request`; its reply, as `decode` reads it.
    fn request<T>(
        &mut self,
        request: Request,
        decode: fn(&Msg) -> Result<T, ReplyError>,
    ) -> Result<T, Status> {
        decode(&self.call(request.encode())).map_err(ReplyError::status)
    }

    /// The shared buffer (for tests that put garbage in it).
    pub fn buffer(&mut self) -> &mut SharedRegion {
        &mut self.buf
    }

    /// Appends records as one durable commit; returns their indexes.
    pub fn append(&mut self, records: &[&[u8]]) -> Result<Range<u64>, Status> {
        if records.iter().any(|r| r.len() > tlog::bundle::MAX_ENTRY_SIZE) {
            return Err(Status::RecordTooLarge);
        }
        let staged = abi::records::stage(&mut self.buf, records).ok_or(Status::BufferTooSmall)?;
        self.append_staged(records.len() as u64, staged)
    }

    /// Appends the `count` records the caller framed at the start of the
    /// buffer (`bytes` of it, [`Client::buffer`]): a record as large as
    /// the buffer allows, without a copy of it anywhere else.
    pub fn append_staged(&mut self, count: u64, bytes: usize) -> Result<Range<u64>, Status> {
        let r = self.request(Request::Append { count, bytes: bytes as u64 }, Appended::decode)?;
        Ok(r.first..r.first + r.count)
    }

    fn read(&mut self, request: Request, from: u64) -> Result<Read, Status> {
        let r = self.request(request, ReadReply::decode)?;
        let bytes = usize::try_from(r.bytes).map_err(|_| Status::BadBuffer)?;
        Ok(Read { from, count: r.count, bytes, tree_size: r.tree_size, audit_seq: r.audit_seq })
    }

    /// Reads up to `max` records from `from` (0: as many as fit the buffer).
    pub fn read_since(&mut self, from: u64, max: u64) -> Result<Read, Status> {
        self.read(Request::ReadSince { from, max: optional(max) }, from)
    }

    /// Reads up to `max` audit records from `from`.
    pub fn read_audit(&mut self, from: u64, max: u64) -> Result<Read, Status> {
        self.read(Request::ReadAudit { from, max: optional(max) }, from)
    }

    /// Passes each record of the last read to `f`, copied into `scratch`
    /// (which must hold the largest record).
    pub fn for_each(
        &self,
        read: &Read,
        scratch: &mut [u8],
        mut f: impl FnMut(u64, &[u8]),
    ) -> Result<(), Status> {
        self.walk(read, scratch, true, |i, _, r| f(i, r))
    }

    /// Like [`Client::for_each`], for records of any size: passes each
    /// record's index, its length and as much of its start as `scratch`
    /// holds.
    pub fn for_each_prefix(
        &self,
        read: &Read,
        scratch: &mut [u8],
        f: impl FnMut(u64, usize, &[u8]),
    ) -> Result<(), Status> {
        self.walk(read, scratch, false, f)
    }

    /// Walks the records framing of `read` in the buffer; `whole`: a record
    /// larger than `scratch` is an error rather than cut short.
    fn walk(
        &self,
        read: &Read,
        scratch: &mut [u8],
        whole: bool,
        mut f: impl FnMut(u64, usize, &[u8]),
    ) -> Result<(), Status> {
        let mut at = 0;
        for i in 0..read.count {
            let mut len = [0u8; 2];
            self.buf.read(at, &mut len).ok_or(Status::BadBuffer)?;
            let len = usize::from(u16::from_be_bytes(len));
            if whole && len > scratch.len() {
                return Err(Status::BufferTooSmall);
            }
            let n = len.min(scratch.len());
            self.buf.read(at + 2, &mut scratch[..n]).ok_or(Status::BadBuffer)?;
            f(read.from + i, len, &scratch[..n]);
            at += 2 + len;
        }
        if at != read.bytes { Err(Status::BadBuffer) } else { Ok(()) }
    }

    fn note(&mut self, request: Request, out: &mut [u8]) -> Result<(usize, u64), Status> {
        let r = self.request(request, NoteReply::decode)?;
        let len = usize::try_from(r.bytes).map_err(|_| Status::BufferTooSmall)?;
        let dst = out.get_mut(..len).ok_or(Status::BufferTooSmall)?;
        self.buf.read(0, dst).ok_or(Status::BadBuffer)?;
        Ok((len, r.tree_size))
    }

    /// The signed checkpoint into `out`; returns (length, ledger size).
    pub fn checkpoint(&mut self, out: &mut [u8]) -> Result<(usize, u64), Status> {
        self.note(Request::Checkpoint, out)
    }

    /// The audit ledger's signed checkpoint into `out`.
    pub fn audit_checkpoint(&mut self, out: &mut [u8]) -> Result<(usize, u64), Status> {
        self.note(Request::AuditCheckpoint, out)
    }

    fn hashes(&self, count: u64) -> Result<(Hash, Hash, Proof), Status> {
        let count = usize::try_from(count).map_err(|_| Status::BadBuffer)?;
        let mut h = [0u8; HASH_SIZE];
        let mut at = |i: usize| -> Result<Hash, Status> {
            self.buf.read(i * HASH_SIZE, &mut h).ok_or(Status::BadBuffer)?;
            Ok(Hash(h))
        };
        let (a, b) = (at(0)?, at(1)?);
        let mut proof = Proof::new();
        for i in 0..count {
            proof.push(at(2 + i)?).map_err(|_| Status::BadBuffer)?;
        }
        Ok((a, b, proof))
    }

    /// Proves record `index` is in the ledger of `tree_size` records (0: now).
    pub fn prove_inclusion(&mut self, index: u64, tree_size: u64) -> Result<Inclusion, Status> {
        let request = Request::ProveInclusion { index, tree_size: optional(tree_size) };
        let r = self.request(request, ProofReply::decode)?;
        let (leaf, root, proof) = self.hashes(r.hashes)?;
        Ok(Inclusion { leaf, root, tree_size: r.tree_size, proof })
    }

    /// Proves the ledger of `old` records is a prefix of that of `tree_size` (0: now).
    pub fn prove_consistency(&mut self, old: u64, tree_size: u64) -> Result<Consistency, Status> {
        let request = Request::ProveConsistency { old, tree_size: optional(tree_size) };
        let r = self.request(request, ProofReply::decode)?;
        let (old_root, root, proof) = self.hashes(r.hashes)?;
        Ok(Consistency { old_root, root, tree_size: r.tree_size, proof })
    }

    /// `STATUS`.
    pub fn status(&mut self) -> Result<Info, Status> {
        let r = self.request(Request::Status, StatusReply::decode)?;
        Ok(Info {
            size: r.size,
            audit_size: r.audit_size,
            rights: r.rights,
            version: r.version,
            max_record: r.max_record,
        })
    }
}
