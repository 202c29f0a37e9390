//! L2: the ledger contract every envelope offers.

use core::ops::Range;

use tlog::{Hash, Proof};

use crate::audit::Caller;

/// How much one read may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Most records.
    pub max_entries: u64,
    /// Most bytes, counting each record as in an entry bundle (2-byte length + data).
    pub max_bytes: usize,
}

impl Limit {
    /// No limit beyond the ledger's end.
    pub const NONE: Limit = Limit { max_entries: u64::MAX, max_bytes: usize::MAX };

    /// At most `n` records.
    pub fn entries(n: u64) -> Limit {
        Limit { max_entries: n, ..Limit::NONE }
    }
}

/// What a read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSummary {
    /// First index returned.
    pub from: u64,
    /// Records returned.
    pub count: u64,
    /// Ledger size the read was served from.
    pub tree_size: u64,
    /// Index of the audit record written for this read.
    pub audit_seq: u64,
}

/// Proof that a record is in the ledger of `tree_size` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The record's index.
    pub index: u64,
    /// The tree the proof is for.
    pub tree_size: u64,
    /// The record's leaf hash.
    pub leaf_hash: Hash,
    /// The tree's root hash.
    pub root: Hash,
    /// The audit path, leaf level first.
    pub proof: Proof,
}

/// Proof that the ledger of `old_size` records is a prefix of the ledger of
/// `tree_size` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree.
    pub old_size: u64,
    /// The newer tree.
    pub tree_size: u64,
    /// The older tree's root hash.
    pub old_root: Hash,
    /// The newer tree's root hash.
    pub root: Hash,
    /// The proof hashes.
    pub proof: Proof,
}

/// The service-fs ledger: append-only records, audited reads, signed
/// checkpoints and proofs. Nothing is acknowledged before it is durable
/// (where the store is), and every read is recorded in the audit sub-ledger
/// before any data is returned.
///
/// Access rights (who may append, read or read the audit ledger) are the
/// wire layer's job; the ledger records who did what.
pub trait Ledger {
    /// Why an operation failed.
    type Error;

    /// Number of records.
    fn size(&self) -> u64;

    /// Appends records as one durable commit; returns their indexes. Either
    /// all are appended or, on error, none.
    fn append_batch<'e, I>(&mut self, records: I) -> Result<Range<u64>, Self::Error>
    where
        I: IntoIterator<Item = &'e [u8]>,
        I::IntoIter: Clone;

    /// Appends one record; returns its index.
    fn append(&mut self, record: &[u8]) -> Result<u64, Self::Error> {
        self.append_batch([record]).map(|r| r.start)
    }

    /// Reads records from index `from` (at most `limit`), passing each to
    /// `sink` after the read has been audited. `from` may equal the size
    /// (nothing new yet); beyond it is an error.
    fn read_since(
        &mut self,
        caller: &Caller<'_>,
        from: u64,
        limit: Limit,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Self::Error>;

    /// The signed checkpoint (C2SP signed note) of the current ledger.
    fn checkpoint(&mut self) -> Result<&[u8], Self::Error>;

    /// Proves record `index` is in the ledger of `tree_size` records (audited).
    fn prove_inclusion(
        &mut self,
        caller: &Caller<'_>,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, Self::Error>;

    /// Proves the ledger of `old_size` records is a prefix of the ledger of
    /// `tree_size` records (audited).
    fn prove_consistency(
        &mut self,
        caller: &Caller<'_>,
        old_size: u64,
        tree_size: u64,
    ) -> Result<ConsistencyProof, Self::Error>;

    /// Number of audit records.
    fn audit_size(&self) -> u64;

    /// Reads audit records (this read is itself audited first; the records
    /// returned are those before it).
    fn read_audit_since(
        &mut self,
        caller: &Caller<'_>,
        from: u64,
        limit: Limit,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Self::Error>;

    /// The signed checkpoint of the audit ledger.
    fn audit_checkpoint(&mut self) -> Result<&[u8], Self::Error>;
}
