//! Engine errors.

use core::fmt;

use tlog::Tile;

use crate::store::StoreError;

/// Why a ledger operation failed. Every error before a commit leaves the
/// ledger unchanged; a store failure during a commit poisons the engine until
/// it is reopened (which recovers the store to its last checkpoint).
#[derive(Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// Records must not be empty.
    EmptyEntry,
    /// A record is larger than this ledger accepts.
    EntryTooLarge {
        /// Size of the record.
        len: usize,
        /// Largest accepted.
        max: usize,
    },
    /// A batch append with no records.
    NoEntries,
    /// An index or tree size beyond the ledger.
    OutOfRange {
        /// What was asked for.
        index: u64,
        /// The ledger's size.
        size: u64,
    },
    /// Invalid request arguments (e.g. an old size of 0 for a consistency proof).
    InvalidArgument(&'static str),
    /// The caller identity is empty, too long or has characters outside printable ASCII.
    BadCaller,
    /// The first record to read does not fit the reader's byte limit.
    ReadLimitTooSmall {
        /// Bytes the next record needs (length prefix included).
        needed: usize,
    },
    /// The tree is at its maximum size.
    TreeFull,
    /// A fixed buffer cannot hold an object.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// Stored data does not match the signed tree. `tile` names the object
    /// (`None`: the checkpoint).
    Corrupt {
        /// The offending object.
        tile: Option<Tile>,
        /// What is wrong.
        what: &'static str,
    },
    /// An earlier store failure interrupted a commit; reopen to recover.
    Poisoned,
    /// A ledger opened as existing has no checkpoint: it was never created
    /// here, or was emptied. Only creating a ledger writes a first one.
    Missing {
        /// Which log: `"record"` or `"audit"`.
        log: &'static str,
    },
    /// The tile store failed.
    Store(StoreError<E>),
}

impl<E> From<StoreError<E>> for Error<E> {
    fn from(e: StoreError<E>) -> Self {
        Error::Store(e)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EmptyEntry => f.write_str("empty record (records must have at least one byte)"),
            Error::EntryTooLarge { len, max } => {
                write!(f, "record of {len} bytes is larger than the maximum of {max}")
            }
            Error::NoEntries => f.write_str("no records to append"),
            Error::OutOfRange { index, size } => {
                write!(f, "index {index} is out of range (ledger size {size})")
            }
            Error::InvalidArgument(why) => f.write_str(why),
            Error::BadCaller => f.write_str("invalid caller identity"),
            Error::ReadLimitTooSmall { needed } => {
                write!(f, "the next record needs {needed} bytes, more than the read limit")
            }
            Error::TreeFull => f.write_str("the ledger is at its maximum size"),
            Error::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {needed} bytes needed")
            }
            Error::Corrupt { tile: Some(t), what } => write!(f, "{t}: {what}"),
            Error::Corrupt { tile: None, what } => write!(f, "checkpoint: {what}"),
            Error::Poisoned => {
                f.write_str("an earlier write failed; reopen the ledger to recover it")
            }
            Error::Missing { log } => write!(
                f,
                "the {log} ledger has no checkpoint: it is missing or was emptied, and only init creates a ledger"
            ),
            Error::Store(e) => write!(f, "store: {e}"),
        }
    }
}
