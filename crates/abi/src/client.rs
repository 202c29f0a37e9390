//! Client PDs → `wire`: the public ABI.
//!
//! The tenant and module of a call are those the system description gives
//! the calling channel; nothing in a request names them.

/// Request labels.
pub mod label {
    /// Append records. Buffer: records (see [`crate::records`]).
    /// MR0 = number of records, MR1 = bytes. Reply MR0 = first index, MR1 = count.
    pub const APPEND: u64 = 1;
    /// Read records. MR0 = first index, MR1 = most records (0: as many as fit).
    /// Reply: records in the buffer; MR0 = count, MR1 = bytes, MR2 = ledger
    /// size read, MR3 = audit sequence number of this read.
    pub const READ_SINCE: u64 = 2;
    /// The signed checkpoint. Reply: the note in the buffer; MR0 = bytes, MR1 = ledger size.
    pub const CHECKPOINT: u64 = 3;
    /// Inclusion proof. MR0 = index, MR1 = tree size (0: current). Reply buffer:
    /// leaf hash, root hash, then the proof hashes (32 bytes each); MR0 = proof
    /// hashes, MR1 = tree size, MR2 = audit sequence number.
    pub const PROVE_INCLUSION: u64 = 4;
    /// Consistency proof. MR0 = old size, MR1 = tree size (0: current). Reply
    /// buffer: old root, root, then the proof hashes; MR0 = proof hashes,
    /// MR1 = tree size, MR2 = audit sequence number.
    pub const PROVE_CONSISTENCY: u64 = 5;
    /// Read audit records; as [`READ_SINCE`], on the audit ledger.
    pub const READ_AUDIT: u64 = 6;
    /// The audit ledger's signed checkpoint; as [`CHECKPOINT`].
    pub const AUDIT_CHECKPOINT: u64 = 7;
    /// Who am I. Reply MR0 = ledger size, MR1 = audit size, MR2 = rights
    /// (see [`super::rights`]), MR3 = ABI version.
    pub const STATUS: u64 = 8;
}

/// What a module may do, from its role in the system description.
pub mod rights {
    /// Ring 1: append.
    pub const APPEND: u64 = 1 << 0;
    /// Ring 2: `READ_SINCE`, proofs.
    pub const READ: u64 = 1 << 1;
    /// Ring 2: `CHECKPOINT`.
    pub const CHECKPOINT: u64 = 1 << 2;
    /// Audit: `READ_AUDIT`, `AUDIT_CHECKPOINT`.
    pub const AUDIT: u64 = 1 << 3;
}

/// A module's role, as `tenants.toml` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Ring 1: writes records.
    Ring1,
    /// Ring 2: reads records and checkpoints.
    Ring2,
    /// Reads the audit ledger.
    Audit,
}

impl Role {
    /// The rights of the role.
    pub const fn rights(self) -> u64 {
        match self {
            Role::Ring1 => rights::APPEND,
            Role::Ring2 => rights::READ | rights::CHECKPOINT,
            Role::Audit => rights::AUDIT,
        }
    }

    /// The role's name in `tenants.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Ring1 => "ring1",
            Role::Ring2 => "ring2",
            Role::Audit => "audit",
        }
    }

    /// Parses a role name.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Ring1, Role::Ring2, Role::Audit].into_iter().find(|r| r.name() == s)
    }
}

/// The right a request needs, or `None` for an unknown label.
pub const fn required_right(label: u64) -> Option<u64> {
    match label {
        label::APPEND => Some(rights::APPEND),
        label::READ_SINCE | label::PROVE_INCLUSION | label::PROVE_CONSISTENCY => Some(rights::READ),
        label::CHECKPOINT => Some(rights::CHECKPOINT),
        label::READ_AUDIT | label::AUDIT_CHECKPOINT => Some(rights::AUDIT),
        label::STATUS => Some(0),
        _ => None,
    }
}

/// Reply status codes (the reply's label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// The label is not a request of this ABI.
    UnknownLabel = 1,
    /// A message register is out of its range, or too few were sent.
    BadArgument = 2,
    /// The buffer does not hold what the registers say (framing, length).
    BadBuffer = 3,
    /// A record is empty.
    EmptyRecord = 4,
    /// A record is larger than the ledger accepts.
    RecordTooLarge = 5,
    /// An append with no records.
    NoRecords = 6,
    /// An index or size beyond the ledger.
    OutOfRange = 7,
    /// The module's role does not allow this request.
    Forbidden = 8,
    /// Storage is full; nothing acknowledged is lost.
    Full = 9,
    /// The ledger stopped after a storage failure and is recovering; retry.
    Unavailable = 10,
    /// Stored data failed verification against the signed tree.
    Corrupt = 11,
    /// The reply would not fit the shared buffer.
    BufferTooSmall = 12,
    /// Anything else.
    Internal = 13,
}

impl Status {
    /// Decodes a reply label; unknown values are [`Status::Internal`].
    pub fn from_label(label: u64) -> Status {
        use Status::*;
        [
            Ok,
            UnknownLabel,
            BadArgument,
            BadBuffer,
            EmptyRecord,
            RecordTooLarge,
            NoRecords,
            OutOfRange,
            Forbidden,
            Full,
            Unavailable,
            Corrupt,
            BufferTooSmall,
        ]
        .into_iter()
        .find(|s| *s as u64 == label)
        .unwrap_or(Internal)
    }

    /// A short name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownLabel => "unknown label",
            Status::BadArgument => "bad argument",
            Status::BadBuffer => "bad buffer",
            Status::EmptyRecord => "empty record",
            Status::RecordTooLarge => "record too large",
            Status::NoRecords => "no records",
            Status::OutOfRange => "out of range",
            Status::Forbidden => "forbidden",
            Status::Full => "storage full",
            Status::Unavailable => "unavailable",
            Status::Corrupt => "corrupt",
            Status::BufferTooSmall => "buffer too small",
            Status::Internal => "internal error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_unknown_is_internal() {
        for code in 0..13 {
            assert_eq!(Status::from_label(code) as u64, code);
        }
        assert_eq!(Status::from_label(13), Status::Internal);
        assert_eq!(Status::from_label(u64::MAX), Status::Internal);
    }

    #[test]
    fn rights_follow_roles() {
        assert_eq!(required_right(label::APPEND), Some(rights::APPEND));
        assert_eq!(Role::Ring1.rights() & rights::READ, 0);
        assert_ne!(Role::Ring2.rights() & rights::READ, 0);
        assert_eq!(Role::Ring2.rights() & rights::APPEND, 0);
        assert_eq!(Role::Audit.rights(), rights::AUDIT);
        assert_eq!(required_right(0), None);
        assert_eq!(required_right(99), None);
        assert_eq!(Role::parse("ring2"), Some(Role::Ring2));
        assert_eq!(Role::parse("root"), None);
    }
}
