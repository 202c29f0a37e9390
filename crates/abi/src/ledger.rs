//! `wire` → `ledger_<tenant>`: the client requests, forwarded with the
//! caller's identity as `wire` established it.
//!
//! Requests and replies are those of [`crate::client`] ([`Request`],
//! [`Reply`](crate::client::Reply)), but for `STATUS`, which the ledger
//! answers with [`LedgerStatus`] and `wire` completes with what only it
//! knows. The shared buffer starts with a [`CALLER_BYTES`]-byte caller
//! header ([`CallerHeader`]); request and reply data follow at
//! [`DATA_OFFSET`].

use zerocopy::byteorder::little_endian;

pub use crate::client::Request;
use crate::client::{ReplyError, Status, StatusReply};
use crate::{Msg, registers};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Where request and reply data start in the wire–ledger buffer.
pub const DATA_OFFSET: usize = 256;
/// Bytes of the caller header.
pub const CALLER_BYTES: usize = 136;
/// Longest module name or credential.
pub const MAX_IDENTITY: usize = 63;

/// The caller header at the start of the wire–ledger buffer: who is
/// calling, as `wire` established it.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct CallerHeader {
    module: Identity,
    credential: Identity,
    /// The client's request ID.
    request: little_endian::U64,
}

/// A length byte and up to [`MAX_IDENTITY`] bytes of UTF-8.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
struct Identity {
    len: u8,
    bytes: [u8; MAX_IDENTITY],
}

impl Identity {
    fn new(s: &str) -> Option<Identity> {
        let mut bytes = [0; MAX_IDENTITY];
        bytes.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(Identity { len: s.len() as u8, bytes })
    }

    fn get(&self) -> Option<&str> {
        core::str::from_utf8(self.bytes.get(..usize::from(self.len))?).ok()
    }
}

const _: () = assert!(size_of::<CallerHeader>() == CALLER_BYTES);

/// Writes the caller header: module name and credential (each a length
/// byte and up to 63 bytes) and the request ID. `false` if a name is too
/// long or `buf` is shorter than [`DATA_OFFSET`].
pub fn write_caller(buf: &mut [u8], module: &str, credential: &str, request: u64) -> bool {
    let (Some(module), Some(credential)) = (Identity::new(module), Identity::new(credential))
    else {
        return false;
    };
    if buf.len() < DATA_OFFSET {
        return false;
    }
    let header = CallerHeader { module, credential, request: request.into() };
    buf[..CALLER_BYTES].copy_from_slice(header.as_bytes());
    true
}

/// Reads the caller header: (module, credential, request ID).
pub fn read_caller(buf: &[u8]) -> Option<(&str, &str, u64)> {
    let (h, _) = CallerHeader::ref_from_prefix(buf).ok()?;
    Some((h.module.get()?, h.credential.get()?, h.request.get()))
}

/// The ledger's answer to `STATUS`: its sizes. `wire` turns it into the
/// client's [`StatusReply`], adding the caller's rights and the largest
/// record from its own configuration. MR2 is kept for the rights, zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerStatus {
    /// Ledger size.
    pub size: u64,
    /// Audit ledger size.
    pub audit_size: u64,
    /// [`crate::VERSION`].
    pub version: u64,
}

impl LedgerStatus {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        Msg::new(Status::Ok as u64, &[self.size, self.audit_size, 0, self.version])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<LedgerStatus, ReplyError> {
        if msg.label != Status::Ok as u64 {
            return Err(ReplyError::Refused(msg.label));
        }
        let [size, audit_size, _, version] = registers::<4>(msg).map_err(ReplyError::Malformed)?;
        Ok(LedgerStatus { size, audit_size, version })
    }

    /// The client's reply: these sizes, with `rights` and `max_record`.
    pub fn for_client(&self, rights: u64, max_record: u64) -> StatusReply {
        StatusReply {
            size: self.size,
            audit_size: self.audit_size,
            rights,
            version: self.version,
            max_record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_round_trip() {
        let mut buf = [0xAAu8; DATA_OFFSET];
        assert!(write_caller(&mut buf, "acme.identity", "channel:3", 77));
        assert_eq!(read_caller(&buf), Some(("acme.identity", "channel:3", 77)));
        let long = [b'x'; 64];
        assert!(!write_caller(&mut buf, core::str::from_utf8(&long).unwrap(), "c", 0));
        buf[0] = 200;
        assert_eq!(read_caller(&buf), None);
        assert_eq!(read_caller(&buf[..10]), None);
    }

    #[test]
    fn the_ledgers_status_round_trips_and_wire_completes_it() {
        let s = LedgerStatus { size: 3, audit_size: 9, version: crate::VERSION };
        let msg = s.encode();
        assert_eq!(msg, Msg::new(0, &[3, 9, 0, crate::VERSION]));
        assert_eq!(LedgerStatus::decode(&msg), Ok(s));
        let client = s.for_client(2, 512);
        assert_eq!(client.encode(), Msg::new(0, &[3, 9, 2, crate::VERSION, 512]));
        let short = Msg::new(0, &[3, 9, 0]);
        assert!(matches!(LedgerStatus::decode(&short), Err(ReplyError::Malformed(_))));
        let refused = Msg::new(Status::Unavailable as u64, &[]);
        assert_eq!(LedgerStatus::decode(&refused), Err(ReplyError::Refused(10)));
    }
}
