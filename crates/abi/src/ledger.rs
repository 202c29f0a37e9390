//! `wire` → `ledger_<tenant>`: the client requests, forwarded with the
//! caller's identity as `wire` established it.
//!
//! Labels, registers and replies are those of [`crate::client`]. The shared
//! buffer starts with a [`CALLER_BYTES`]-byte caller header; request and reply
//! data follow at [`DATA_OFFSET`].

/// Where request and reply data start in the wire–ledger buffer.
pub const DATA_OFFSET: usize = 256;
/// Bytes of the caller header.
pub const CALLER_BYTES: usize = 136;
/// Longest module name or credential.
pub const MAX_IDENTITY: usize = 63;

/// Writes the caller header: module name and credential (each a length
/// byte and up to 63 bytes) and the request ID. `false` if a name is too long.
pub fn write_caller(buf: &mut [u8], module: &str, credential: &str, request: u64) -> bool {
    if module.len() > MAX_IDENTITY || credential.len() > MAX_IDENTITY || buf.len() < DATA_OFFSET {
        return false;
    }
    buf[..CALLER_BYTES].fill(0);
    for (at, s) in [(0, module), (64, credential)] {
        buf[at] = s.len() as u8;
        buf[at + 1..at + 1 + s.len()].copy_from_slice(s.as_bytes());
    }
    buf[128..136].copy_from_slice(&request.to_le_bytes());
    true
}

/// Reads the caller header: (module, credential, request ID).
pub fn read_caller(buf: &[u8]) -> Option<(&str, &str, u64)> {
    let field = |at: usize| {
        let len = usize::from(*buf.get(at)?);
        let bytes = buf.get(at + 1..at + 1 + len).filter(|_| len <= MAX_IDENTITY)?;
        core::str::from_utf8(bytes).ok()
    };
    let request = u64::from_le_bytes(buf.get(128..136)?.try_into().ok()?);
    Some((field(0)?, field(64)?, request))
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
