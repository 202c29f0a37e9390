//! The audit sub-ledger's records: who read what, when, by which clock.
//!
//! Each record is one line of JSON with a fixed field order, so auditors can
//! read it with standard tools. Records never contain ledger data.

use core::fmt::{self, Write};

use tlog::Tile;

/// Longest encoded audit record.
pub const MAX_AUDIT_RECORD: usize = 512;
/// Longest module name or credential.
pub const MAX_IDENTITY: usize = 64;

/// Who is calling, as established by the wire layer (L3) from the channel or
/// credential, never from a request payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The module (client) identity, e.g. `acme.identity`.
    pub module: &'a str,
    /// How the caller was authenticated, e.g. `channel:3` or `uid:1000`.
    pub credential: &'a str,
    /// A request ID from the wire layer, if it assigns them.
    pub request: Option<u64>,
}

impl Caller<'_> {
    /// Whether both identities are 1..=64 printable ASCII characters other
    /// than `"` and `\` (so records need no escaping).
    pub fn is_valid(&self) -> bool {
        let ok = |s: &str| {
            (1..=MAX_IDENTITY).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        ok(self.module) && ok(self.credential)
    }
}

/// A point in time and where it came from. Without a clock there is no time:
/// the record says so instead of inventing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// Milliseconds since the Unix epoch, if the source gives wall-clock time.
    pub unix_ms: Option<u64>,
    /// The time source, e.g. `host-realtime`, `arm-generic-timer+boot-epoch`, `none`.
    pub source: &'static str,
}

/// Source of audit timestamps.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> Timestamp;
}

/// No clock: records carry `"time_ms":null,"time_source":"none"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    fn now(&mut self) -> Timestamp {
        Timestamp { unix_ms: None, source: "none" }
    }
}

/// The audited operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `read_since` on the ledger.
    ReadSince,
    /// An inclusion proof.
    ProveInclusion,
    /// A consistency proof.
    ProveConsistency,
    /// A read of the audit ledger itself.
    ReadAudit,
    /// A tile or entry bundle of the record log, fetched by a tlog-tiles
    /// client (`from` the tile index, `count` its width).
    ReadTile,
    /// A tile or entry bundle of the audit log.
    ReadAuditTile,
    /// An operator put back a newer checkpoint the ledger had signed (after
    /// a rollback was refused): `from` the size found, `count` the entries
    /// it restored.
    RestoreCheckpoint,
}

impl Op {
    /// The name used in records.
    pub fn name(self) -> &'static str {
        match self {
            Op::ReadSince => "read_since",
            Op::ProveInclusion => "prove_inclusion",
            Op::ProveConsistency => "prove_consistency",
            Op::ReadAudit => "read_audit",
            Op::ReadTile => "read_tile",
            Op::ReadAuditTile => "read_audit_tile",
            Op::RestoreCheckpoint => "restore_checkpoint",
        }
    }
}

/// One audit record: a read of `count` entries from index `from` of a tree
/// of `tree_size` entries (for proofs: the index or old size, and 1 or the
/// number of entries the proof spans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    /// Index of this record in the audit ledger.
    pub seq: u64,
    /// What was done.
    pub op: Op,
    /// Who did it.
    pub caller: Caller<'a>,
    /// First index read.
    pub from: u64,
    /// Number of entries returned.
    pub count: u64,
    /// Size of the tree the read was served from.
    pub tree_size: u64,
    /// When.
    pub time: Timestamp,
    /// For a tile read: the tile.
    pub tile: Option<Tile>,
}

impl fmt::Display for AuditRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.caller;
        write!(
            f,
            "{{\"v\":1,\"seq\":{},\"op\":\"{}\",\"module\":\"{}\",\"credential\":\"{}\",",
            self.seq,
            self.op.name(),
            c.module,
            c.credential
        )?;
        write!(
            f,
            "\"from\":{},\"count\":{},\"tree_size\":{},",
            self.from, self.count, self.tree_size
        )?;
        if let Some(t) = self.tile {
            write!(f, "\"tile\":\"{t}\",")?;
        }
        match c.request {
            Some(r) => write!(f, "\"request\":{r},")?,
            None => f.write_str("\"request\":null,")?,
        }
        match self.time.unix_ms {
            Some(t) => write!(f, "\"time_ms\":{t},")?,
            None => f.write_str("\"time_ms\":null,")?,
        }
        write!(f, "\"time_source\":\"{}\"}}", self.time.source)
    }
}

impl AuditRecord<'_> {
    /// Encodes the record; `None` if it does not fit (identities are bounded,
    /// so a valid caller always fits [`MAX_AUDIT_RECORD`]).
    pub fn encode(&self) -> Option<heapless::String<MAX_AUDIT_RECORD>> {
        let mut s = heapless::String::new();
        write!(s, "{self}").ok()?;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_format_is_stable() {
        let caller = Caller { module: "acme.audit", credential: "channel:7", request: Some(9) };
        let r = AuditRecord {
            seq: 3,
            op: Op::ReadSince,
            caller,
            from: 10,
            count: 5,
            tree_size: 20,
            time: Timestamp { unix_ms: Some(1_700_000_000_000), source: "host-realtime" },
            tile: None,
        };
        assert_eq!(
            r.encode().unwrap().as_str(),
            "{\"v\":1,\"seq\":3,\"op\":\"read_since\",\"module\":\"acme.audit\",\
             \"credential\":\"channel:7\",\"from\":10,\"count\":5,\"tree_size\":20,\
             \"request\":9,\"time_ms\":1700000000000,\"time_source\":\"host-realtime\"}"
        );
        let t = AuditRecord { op: Op::ReadTile, tile: Some(Tile::hashes(0, 1234, 5)), ..r };
        assert!(t.encode().unwrap().contains(
            "\"op\":\"read_tile\",\"module\":\"acme.audit\",\"credential\":\"channel:7\",\
             \"from\":10,\"count\":5,\"tree_size\":20,\"tile\":\"tile/0/x001/234.p/5\",\"request\""
        ));
    }

    #[test]
    fn worst_case_fits() {
        let long = "x".repeat(MAX_IDENTITY);
        let caller = Caller { module: &long, credential: &long, request: Some(u64::MAX) };
        assert!(caller.is_valid());
        let r = AuditRecord {
            seq: u64::MAX,
            op: Op::ProveConsistency,
            caller,
            from: u64::MAX,
            count: u64::MAX,
            tree_size: u64::MAX,
            time: Timestamp { unix_ms: Some(u64::MAX), source: "arm-generic-timer+boot-epoch" },
            tile: Some(Tile::hashes(u8::MAX, u64::MAX, 255)),
        };
        assert!(r.encode().is_some());
    }

    #[test]
    fn identities_are_checked() {
        let ok = Caller { module: "m", credential: "uid:0", request: None };
        assert!(ok.is_valid());
        for bad in ["", "a b", "q\"uote", "back\\slash", "t\tab", "\u{e9}"] {
            assert!(!Caller { module: bad, ..ok }.is_valid(), "{bad:?}");
            assert!(!Caller { credential: bad, ..ok }.is_valid(), "{bad:?}");
        }
        let long = "x".repeat(MAX_IDENTITY + 1);
        assert!(!Caller { module: &long, ..ok }.is_valid());
    }
}
