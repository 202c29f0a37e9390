//! `wire` → `ledger_<tenant>`: the client requests, forwarded with the
//! caller's identity as `wire` established it.
//!
//! Labels, registers and replies are those of [`crate::client`]. The shared
//! buffer starts with a [`CALLER_BYTES`]-byte caller header; request and reply
//! data follow at [`DATA_OFFSET`].

use zerocopy::byteorder::little_endian;
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
}
