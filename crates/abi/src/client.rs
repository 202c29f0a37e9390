//! Client PDs → `wire`: the public ABI.
//!
//! The tenant and module of a call are those the system description gives
//! the calling channel; nothing in a request names them.
//!
//! [`Request`] is every request, [`Reply`] every answer, each with one
//! `encode` to a [`Msg`] and one `decode` from it. This layout is the C
//! ABI of `docs/abi.md`: labels, 64-bit registers, data in the buffer.

use core::num::NonZeroU64;

use crate::{DecodeError, Msg, registers};

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

/// `0` in a register: none given (as many as fit, the current tree).
fn optional(v: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(v)
}

fn or_zero(v: Option<NonZeroU64>) -> u64 {
    v.map_or(0, NonZeroU64::get)
}

/// A client request, as `wire` receives it and forwards it to the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `APPEND`: `count` records framed in the buffer's first `bytes`.
    Append {
        /// Records.
        count: u64,
        /// Bytes of the buffer they take.
        bytes: u64,
    },
    /// `READ_SINCE`: records from `from`, at most `max` (`None`: as many as fit).
    ReadSince {
        /// First index.
        from: u64,
        /// Most records.
        max: Option<NonZeroU64>,
    },
    /// `CHECKPOINT`: the signed checkpoint.
    Checkpoint,
    /// `PROVE_INCLUSION`: record `index` in the tree of `tree_size` (`None`: now).
    ProveInclusion {
        /// The record.
        index: u64,
        /// The tree.
        tree_size: Option<NonZeroU64>,
    },
    /// `PROVE_CONSISTENCY`: the tree of `old` records (≥ 1, the ledger
    /// checks) is a prefix of that of `tree_size` (`None`: now).
    ProveConsistency {
        /// The old tree's size.
        old: u64,
        /// The tree.
        tree_size: Option<NonZeroU64>,
    },
    /// `READ_AUDIT`: as [`Request::ReadSince`], on the audit ledger.
    ReadAudit {
        /// First index.
        from: u64,
        /// Most records.
        max: Option<NonZeroU64>,
    },
    /// `AUDIT_CHECKPOINT`: the audit ledger's signed checkpoint.
    AuditCheckpoint,
    /// `STATUS`: who am I.
    Status,
}

impl Request {
    /// Its label.
    pub const fn label(&self) -> u64 {
        match self {
            Request::Append { .. } => label::APPEND,
            Request::ReadSince { .. } => label::READ_SINCE,
            Request::Checkpoint => label::CHECKPOINT,
            Request::ProveInclusion { .. } => label::PROVE_INCLUSION,
            Request::ProveConsistency { .. } => label::PROVE_CONSISTENCY,
            Request::ReadAudit { .. } => label::READ_AUDIT,
            Request::AuditCheckpoint => label::AUDIT_CHECKPOINT,
            Request::Status => label::STATUS,
        }
    }

    /// The message: its label and exactly the registers it uses.
    pub fn encode(&self) -> Msg {
        let l = self.label();
        match *self {
            Request::Append { count, bytes } => Msg::new(l, &[count, bytes]),
            Request::ReadSince { from, max } | Request::ReadAudit { from, max } => {
                Msg::new(l, &[from, or_zero(max)])
            }
            Request::ProveInclusion { index: a, tree_size }
            | Request::ProveConsistency { old: a, tree_size } => {
                Msg::new(l, &[a, or_zero(tree_size)])
            }
            Request::Checkpoint | Request::AuditCheckpoint | Request::Status => Msg::new(l, &[]),
        }
    }

    /// The request `msg` makes; registers beyond those it uses are ignored.
    pub fn decode(msg: &Msg) -> Result<Request, DecodeError> {
        let two = || registers::<2>(msg);
        Ok(match msg.label {
            label::APPEND => two().map(|[count, bytes]| Request::Append { count, bytes })?,
            label::READ_SINCE => {
                two().map(|[from, max]| Request::ReadSince { from, max: optional(max) })?
            }
            label::READ_AUDIT => {
                two().map(|[from, max]| Request::ReadAudit { from, max: optional(max) })?
            }
            label::PROVE_INCLUSION => two().map(|[index, size]| Request::ProveInclusion {
                index,
                tree_size: optional(size),
            })?,
            label::PROVE_CONSISTENCY => two()
                .map(|[old, size]| Request::ProveConsistency { old, tree_size: optional(size) })?,
            label::CHECKPOINT => Request::Checkpoint,
            label::AUDIT_CHECKPOINT => Request::AuditCheckpoint,
            label::STATUS => Request::Status,
            other => return Err(DecodeError::UnknownLabel(other)),
        })
    }
}

impl Status {
    /// The reply refusing a request with this status (no registers).
    pub fn reply(self) -> Msg {
        Msg::new(self as u64, &[])
    }
}

impl From<DecodeError> for Status {
    fn from(e: DecodeError) -> Status {
        match e {
            DecodeError::UnknownLabel(_) => Status::UnknownLabel,
            DecodeError::MissingRegisters { .. } | DecodeError::OutOfRange { .. } => {
                Status::BadArgument
            }
        }
    }
}

/// Why a reply is not the answer a request expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The request was refused: the reply's label, as sent (it may be a
    /// status this ABI has no name for).
    Refused(u64),
    /// An `OK` reply without the registers its request's reply has.
    Malformed(DecodeError),
}

impl ReplyError {
    /// The status a client sees: the refusal's, or `INTERNAL`.
    pub fn status(self) -> Status {
        match self {
            ReplyError::Refused(label) => Status::from_label(label),
            ReplyError::Malformed(_) => Status::Internal,
        }
    }
}

/// The first `N` registers of an `OK` reply.
fn ok_registers<const N: usize>(msg: &Msg) -> Result<[u64; N], ReplyError> {
    if msg.label != Status::Ok as u64 {
        return Err(ReplyError::Refused(msg.label));
    }
    registers::<N>(msg).map_err(ReplyError::Malformed)
}

fn ok(mrs: &[u64]) -> Msg {
    Msg::new(Status::Ok as u64, mrs)
}

/// `APPEND` answered: records `first..first + count` were appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Index of the first.
    pub first: u64,
    /// Records appended.
    pub count: u64,
}

/// `READ_SINCE` or `READ_AUDIT` answered: `count` records framed in the
/// buffer's first `bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadReply {
    /// Records returned.
    pub count: u64,
    /// Bytes of the buffer they take.
    pub bytes: u64,
    /// Size of the ledger they were read from.
    pub tree_size: u64,
    /// The audit record this read added.
    pub audit_seq: u64,
}

/// `CHECKPOINT` or `AUDIT_CHECKPOINT` answered: the note in the buffer's
/// first `bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteReply {
    /// Bytes of the note.
    pub bytes: u64,
    /// Size of the ledger it signs.
    pub tree_size: u64,
}

/// `PROVE_INCLUSION` or `PROVE_CONSISTENCY` answered: two hashes, then
/// `hashes` proof hashes, in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProofReply {
    /// Proof hashes after the first two.
    pub hashes: u64,
    /// Size of the tree proved.
    pub tree_size: u64,
    /// The audit record this proof added.
    pub audit_seq: u64,
}

/// `STATUS` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusReply {
    /// Ledger size.
    pub size: u64,
    /// Audit ledger size.
    pub audit_size: u64,
    /// The caller's [`rights`].
    pub rights: u64,
    /// [`crate::VERSION`].
    pub version: u64,
    /// The largest record the ledger accepts.
    pub max_record: u64,
}

/// A request's answer, whichever it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// To `APPEND`.
    Appended(Appended),
    /// To `READ_SINCE`, `READ_AUDIT`.
    Read(ReadReply),
    /// To `CHECKPOINT`, `AUDIT_CHECKPOINT`.
    Note(NoteReply),
    /// To `PROVE_INCLUSION`, `PROVE_CONSISTENCY`.
    Proof(ProofReply),
    /// To `STATUS`.
    Status(StatusReply),
}

impl Appended {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        ok(&[self.first, self.count])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<Appended, ReplyError> {
        ok_registers(msg).map(|[first, count]| Appended { first, count })
    }
}

impl ReadReply {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        ok(&[self.count, self.bytes, self.tree_size, self.audit_seq])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<ReadReply, ReplyError> {
        ok_registers(msg).map(|[count, bytes, tree_size, audit_seq]| ReadReply {
            count,
            bytes,
            tree_size,
            audit_seq,
        })
    }
}

impl NoteReply {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        ok(&[self.bytes, self.tree_size])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<NoteReply, ReplyError> {
        ok_registers(msg).map(|[bytes, tree_size]| NoteReply { bytes, tree_size })
    }
}

impl ProofReply {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        ok(&[self.hashes, self.tree_size, self.audit_seq])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<ProofReply, ReplyError> {
        ok_registers(msg).map(|[hashes, tree_size, audit_seq]| ProofReply {
            hashes,
            tree_size,
            audit_seq,
        })
    }

    /// Bytes of the buffer the hashes take; `None` if beyond any buffer.
    pub fn bytes(&self) -> Option<u64> {
        self.hashes.checked_add(2)?.checked_mul(tlog::HASH_SIZE as u64)
    }
}

impl StatusReply {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        ok(&[self.size, self.audit_size, self.rights, self.version, self.max_record])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<StatusReply, ReplyError> {
        ok_registers(msg).map(|[size, audit_size, rights, version, max_record]| StatusReply {
            size,
            audit_size,
            rights,
            version,
            max_record,
        })
    }
}

impl Reply {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        match self {
            Reply::Appended(r) => r.encode(),
            Reply::Read(r) => r.encode(),
            Reply::Note(r) => r.encode(),
            Reply::Proof(r) => r.encode(),
            Reply::Status(r) => r.encode(),
        }
    }

    /// The answer `msg` is to `request`.
    pub fn decode(request: &Request, msg: &Msg) -> Result<Reply, ReplyError> {
        Ok(match request {
            Request::Append { .. } => Reply::Appended(Appended::decode(msg)?),
            Request::ReadSince { .. } | Request::ReadAudit { .. } => {
                Reply::Read(ReadReply::decode(msg)?)
            }
            Request::Checkpoint | Request::AuditCheckpoint => Reply::Note(NoteReply::decode(msg)?),
            Request::ProveInclusion { .. } | Request::ProveConsistency { .. } => {
                Reply::Proof(ProofReply::decode(msg)?)
            }
            Request::Status => Reply::Status(StatusReply::decode(msg)?),
        })
    }

    /// Bytes of reply data it says are in the buffer from offset 0;
    /// `None` if more than any buffer holds.
    pub fn data_bytes(&self) -> Option<usize> {
        let n = match self {
            Reply::Appended(_) | Reply::Status(_) => 0,
            Reply::Read(r) => r.bytes,
            Reply::Note(r) => r.bytes,
            Reply::Proof(r) => r.bytes()?,
        };
        usize::try_from(n).ok()
    }
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_MRS;
    use proptest::prelude::*;

    fn request() -> impl Strategy<Value = Request> {
        let opt = || any::<u64>().prop_map(NonZeroU64::new);
        prop_oneof![
            (any::<u64>(), any::<u64>())
                .prop_map(|(count, bytes)| Request::Append { count, bytes }),
            (any::<u64>(), opt()).prop_map(|(from, max)| Request::ReadSince { from, max }),
            Just(Request::Checkpoint),
            (any::<u64>(), opt())
                .prop_map(|(index, tree_size)| Request::ProveInclusion { index, tree_size }),
            (any::<u64>(), opt())
                .prop_map(|(old, tree_size)| Request::ProveConsistency { old, tree_size }),
            (any::<u64>(), opt()).prop_map(|(from, max)| Request::ReadAudit { from, max }),
            Just(Request::AuditCheckpoint),
            Just(Request::Status),
        ]
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let w = || any::<u64>();
        prop_oneof![
            (w(), w()).prop_map(|(first, count)| Reply::Appended(Appended { first, count })),
            (w(), w(), w(), w()).prop_map(|(count, bytes, tree_size, audit_seq)| {
                Reply::Read(ReadReply { count, bytes, tree_size, audit_seq })
            }),
            (w(), w()).prop_map(|(bytes, tree_size)| Reply::Note(NoteReply { bytes, tree_size })),
            (w(), w(), w()).prop_map(|(hashes, tree_size, audit_seq)| {
                Reply::Proof(ProofReply { hashes, tree_size, audit_seq })
            }),
            (w(), w(), w(), w(), w()).prop_map(
                |(size, audit_size, rights, version, max_record)| {
                    Reply::Status(StatusReply { size, audit_size, rights, version, max_record })
                }
            ),
        ]
    }

    /// A request each reply answers.
    fn asked(r: &Reply) -> Request {
        match r {
            Reply::Appended(_) => Request::Append { count: 1, bytes: 3 },
            Reply::Read(_) => Request::ReadAudit { from: 0, max: None },
            Reply::Note(_) => Request::AuditCheckpoint,
            Reply::Proof(_) => Request::ProveConsistency { old: 1, tree_size: None },
            Reply::Status(_) => Request::Status,
        }
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in request()) {
            let msg = r.encode();
            prop_assert_eq!(msg.label, r.label());
            prop_assert_eq!(Request::decode(&msg), Ok(r));
            prop_assert!(required_right(msg.label).is_some());
        }

        #[test]
        fn replies_round_trip(r in reply()) {
            let msg = r.encode();
            prop_assert_eq!(msg.label, Status::Ok as u64);
            prop_assert_eq!(Reply::decode(&asked(&r), &msg), Ok(r));
        }

        #[test]
        fn any_message_decodes_or_is_refused(label in 0u64..16, count in 0usize..=MAX_MRS) {
            let msg = Msg::new(label, &[7; MAX_MRS][..count]);
            match Request::decode(&msg) {
                Ok(r) => prop_assert_eq!(r.label(), label),
                Err(DecodeError::UnknownLabel(l)) => {
                    prop_assert_eq!(l, label);
                    prop_assert!(required_right(label).is_none());
                }
                Err(DecodeError::MissingRegisters { needed, got }) => {
                    prop_assert!(got < needed && got == count)
                }
                Err(e) => prop_assert!(false, "{:?}", e),
            }
        }
    }

    #[test]
    fn zero_registers_mean_none_given() {
        let m = Msg::new(label::READ_SINCE, &[5, 0]);
        assert_eq!(Request::decode(&m), Ok(Request::ReadSince { from: 5, max: None }));
        let m = Msg::new(label::PROVE_INCLUSION, &[5, 0]);
        let r = Request::decode(&m).unwrap();
        assert_eq!(r, Request::ProveInclusion { index: 5, tree_size: None });
        assert_eq!(r.encode(), m);
    }

    #[test]
    fn malformed_requests_are_refused_with_their_status() {
        for l in [0, 9, 99, u64::MAX] {
            let e = Request::decode(&Msg::new(l, &[0; 8])).unwrap_err();
            assert_eq!((e, Status::from(e)), (DecodeError::UnknownLabel(l), Status::UnknownLabel));
        }
        for l in [label::APPEND, label::READ_SINCE, label::PROVE_INCLUSION] {
            for n in 0..2 {
                let e = Request::decode(&Msg::new(l, &[1; 2][..n])).unwrap_err();
                assert_eq!(e, DecodeError::MissingRegisters { needed: 2, got: n });
                assert_eq!(Status::from(e), Status::BadArgument);
            }
        }
    }

    #[test]
    fn refused_and_short_replies_are_errors() {
        let refused = Msg::new(77, &[1, 2, 3, 4, 5]);
        assert_eq!(StatusReply::decode(&refused), Err(ReplyError::Refused(77)));
        assert_eq!(ReplyError::Refused(77).status(), Status::Internal);
        let full = Msg::new(Status::Full as u64, &[]);
        assert_eq!(Appended::decode(&full).map_err(ReplyError::status), Err(Status::Full));
        let short = Msg::new(0, &[1, 2, 3]);
        let e = ReadReply::decode(&short).unwrap_err();
        assert_eq!(e, ReplyError::Malformed(DecodeError::MissingRegisters { needed: 4, got: 3 }));
        assert_eq!(e.status(), Status::Internal);
        assert!(NoteReply::decode(&Msg::new(0, &[1])).is_err());
        assert!(ProofReply::decode(&Msg::new(0, &[1, 2])).is_err());
        assert!(Appended::decode(&Msg::new(0, &[])).is_err());
    }

    #[test]
    fn reply_data_is_sized_without_overflow() {
        let proof = |hashes| Reply::Proof(ProofReply { hashes, tree_size: 1, audit_seq: 0 });
        assert_eq!(proof(3).data_bytes(), Some(5 * 32));
        assert_eq!(proof(u64::MAX).data_bytes(), None);
        assert_eq!(proof(u64::MAX / 32).data_bytes(), None);
        let read = ReadReply { count: 1, bytes: 9, tree_size: 1, audit_seq: 0 };
        assert_eq!(Reply::Read(read).data_bytes(), Some(9));
        let appended = Reply::Appended(Appended { first: 0, count: 1 });
        assert_eq!(appended.data_bytes(), Some(0));
    }

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
