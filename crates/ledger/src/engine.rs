//! The engine: a tenant's record log and audit log behind the [`Ledger`] contract.

use core::fmt::Write;
use core::ops::Range;

use note::Signer;
use tlog::{Proof, Tile};

use crate::api::{ConsistencyProof, InclusionProof, Ledger, Limit, ReadSummary};
use crate::audit::{AuditRecord, Caller, Clock, MAX_AUDIT_RECORD, Op};
use crate::buffer::Buffer;
use crate::error::Error;
use crate::log::{Log, LogBuffers};
use crate::store::{Recovery, TileStore};

/// Suffix of the audit ledger's origin and key name.
pub const AUDIT_SUFFIX: &str = "/audit";

/// The memory of both logs (see [`LogBuffers`]); the audit log's records
/// are at most [`MAX_AUDIT_RECORD`] bytes.
#[derive(Default)]
pub struct Buffers<B> {
    /// The record log's.
    pub log: LogBuffers<B>,
    /// The audit log's.
    pub audit: LogBuffers<B>,
}

#[cfg(feature = "alloc")]
impl Buffers<alloc::vec::Vec<u8>> {
    /// Growable buffers whose tile caches hold `log_tiles` and `audit_tiles`
    /// verified tiles (about 16 KiB each, taken only as tiles fill them).
    pub fn with_cache(log_tiles: usize, audit_tiles: usize) -> Self {
        let cache = |tiles: usize| alloc::vec![0; tiles * crate::cache::SLOT_BYTES];
        Buffers {
            log: LogBuffers { cache: cache(log_tiles), ..LogBuffers::default() },
            audit: LogBuffers { cache: cache(audit_tiles), ..LogBuffers::default() },
        }
    }
}

impl<'a> Buffers<&'a mut [u8]> {
    /// Bytes [`Buffers::carve`] needs for records up to `max_entry` bytes.
    pub const fn bytes_needed(max_entry: usize) -> usize {
        use crate::log::bundle_capacity;
        use tlog::tree::EDGE_BYTES;
        4 * EDGE_BYTES + 2 * bundle_capacity(max_entry) + 2 * bundle_capacity(MAX_AUDIT_RECORD)
    }

    /// Cuts the engine's buffers out of one block of memory (for a PD's
    /// private region); returns them and what is left, or `None` if `mem` is
    /// smaller than [`Buffers::bytes_needed`].
    pub fn carve(mem: &'a mut [u8], max_entry: usize) -> Option<(Self, &'a mut [u8])> {
        use crate::log::bundle_capacity;
        use tlog::tree::EDGE_BYTES;
        if mem.len() < Self::bytes_needed(max_entry) {
            return None;
        }
        let (log_b, mem) = mem.split_at_mut(bundle_capacity(max_entry));
        let (log_s, mem) = mem.split_at_mut(bundle_capacity(max_entry));
        let (audit_b, mem) = mem.split_at_mut(bundle_capacity(MAX_AUDIT_RECORD));
        let (audit_s, mem) = mem.split_at_mut(bundle_capacity(MAX_AUDIT_RECORD));
        let (e1, mem) = mem.split_at_mut(EDGE_BYTES);
        let (c1, mem) = mem.split_at_mut(EDGE_BYTES);
        let (e2, mem) = mem.split_at_mut(EDGE_BYTES);
        let (c2, rest) = mem.split_at_mut(EDGE_BYTES);
        let log = LogBuffers { bundle: log_b, scratch: log_s, edge: e1, cache: c1 };
        let audit = LogBuffers { bundle: audit_b, scratch: audit_s, edge: e2, cache: c2 };
        Some((Buffers { log, audit }, rest))
    }
}

/// An engine that did not open: why, and everything it was given but the
/// signer.
pub struct OpenError<S: TileStore, B, C> {
    /// Why.
    pub error: Error<S::Error>,
    /// The record log's store.
    pub log_store: S,
    /// The audit log's store.
    pub audit_store: S,
    /// The clock.
    pub clock: C,
    /// The memory.
    pub buffers: Buffers<B>,
}

/// Why [`Engine::append_stream`] failed.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamError<X, E> {
    /// The source of the records failed.
    Source(X),
    /// The ledger refused a record or could not commit.
    Ledger(E),
}

/// What opening a tenant's ledger repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The record log.
    pub log: Recovery,
    /// The audit log.
    pub audit: Recovery,
}

/// One of a tenant's two ledgers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    /// The record log.
    Log,
    /// The audit log.
    Audit,
}

/// A read the engine serves only once it is recorded in the audit ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Records of `tree` from `from`, as many as fit `limit` (`read_since`,
    /// or on the audit log `read_audit_since`).
    Records {
        /// Which log.
        tree: Tree,
        /// First index.
        from: u64,
        /// How much.
        limit: Limit,
    },
    /// An inclusion proof of record `index` in the tree of `tree_size`.
    Inclusion {
        /// The record.
        index: u64,
        /// The tree.
        tree_size: u64,
    },
    /// A consistency proof from `old_size` to `tree_size`.
    Consistency {
        /// The older tree.
        old_size: u64,
        /// The newer tree.
        tree_size: u64,
    },
    /// A tile or entry bundle of `tree`, as a tlog-tiles server serves it.
    Tile {
        /// Which log.
        tree: Tree,
        /// The tile.
        tile: Tile,
    },
}

/// A read checked by [`Engine::plan`]: recorded (with others, in one audit
/// commit) by [`Engine::record_planned`], and only then served by the
/// `serve_*` methods, which refuse a plan not yet recorded.
#[derive(Clone, Copy, Debug)]
pub struct Planned<'c> {
    read: Read,
    caller: Caller<'c>,
    op: Op,
    from: u64,
    count: u64,
    tree_size: u64,
    seq: Option<u64>,
}

impl Planned<'_> {
    /// The read.
    pub fn read(&self) -> Read {
        self.read
    }

    /// The audit sequence number of its record, once recorded.
    pub fn audit_seq(&self) -> Option<u64> {
        self.seq
    }
}

/// A tenant's ledger: records and their audit trail, each a tlog-tiles log
/// with its own checkpoint, both signed by the tenant's key (under the names
/// `<origin>` and `<origin>/audit`).
pub struct Engine<S, B, C> {
    log: Log<S, B>,
    audit: Log<S, B>,
    clock: C,
}

impl<S: TileStore, B: Buffer, C: Clock> Engine<S, B, C> {
    /// Opens (creating if empty) a tenant's ledger. `signer`'s name is the
    /// origin; records up to `max_entry` bytes are accepted.
    pub fn open(
        log_store: S,
        audit_store: S,
        signer: Signer,
        clock: C,
        buffers: Buffers<B>,
        max_entry: usize,
    ) -> Result<(Self, Recovered), Error<S::Error>> {
        Self::try_open(log_store, audit_store, signer, clock, buffers, max_entry)
            .map_err(|f| f.error)
    }

    /// [`Engine::open`], giving everything back when it fails, to try
    /// again later (a store that was unavailable).
    pub fn try_open(
        log_store: S,
        audit_store: S,
        signer: Signer,
        clock: C,
        buffers: Buffers<B>,
        max_entry: usize,
    ) -> Result<(Self, Recovered), OpenError<S, B, C>> {
        let audit_signer = match audit_signer(&signer) {
            Ok(s) => s,
            Err(error) => return Err(OpenError { error, log_store, audit_store, clock, buffers }),
        };
        let Buffers { log, audit } = buffers;
        let (log, log_rec) = match Log::try_open(log_store, signer, log, max_entry) {
            Ok(opened) => opened,
            Err(f) => {
                let buffers = Buffers { log: f.buffers, audit };
                let (error, log_store) = (f.error, f.store);
                return Err(OpenError { error, log_store, audit_store, clock, buffers });
            }
        };
        match Log::try_open(audit_store, audit_signer, audit, MAX_AUDIT_RECORD) {
            Ok((audit, audit_rec)) => {
                Ok((Engine { log, audit, clock }, Recovered { log: log_rec, audit: audit_rec }))
            }
            Err(f) => {
                let (log_store, log) = log.into_parts();
                let buffers = Buffers { log, audit: f.buffers };
                let (error, audit_store) = (f.error, f.store);
                Err(OpenError { error, log_store, audit_store, clock, buffers })
            }
        }
    }

    /// Opens a tenant's ledger that must exist already: both logs hold a
    /// checkpoint ([`Error::Missing`] otherwise, and nothing is written).
    /// Where a ledger is never created implicitly (the POSIX envelope: only
    /// `init` creates one), so that removing its files is noticed rather
    /// than answered with a fresh, empty ledger.
    pub fn open_existing(
        mut log_store: S,
        mut audit_store: S,
        signer: Signer,
        clock: C,
        buffers: Buffers<B>,
        max_entry: usize,
    ) -> Result<(Self, Recovered), Error<S::Error>> {
        let mut note = [0u8; crate::log::MAX_NOTE];
        for (store, log) in [(&mut log_store, "record"), (&mut audit_store, "audit")] {
            match store.get_checkpoint(&mut note) {
                Ok(None) => return Err(Error::Missing { log }),
                Ok(Some(_)) | Err(crate::store::StoreError::TooSmall { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Self::open(log_store, audit_store, signer, clock, buffers, max_entry)
    }

    /// The record log.
    pub fn log(&self) -> &Log<S, B> {
        &self.log
    }

    /// The audit log.
    pub fn audit(&self) -> &Log<S, B> {
        &self.audit
    }

    /// Gives back the record and audit stores.
    pub fn into_stores(self) -> (S, S) {
        (self.log.into_store(), self.audit.into_store())
    }

    /// Gives back everything the engine was opened with, but the signer
    /// (a PD keeps its own copy): to reopen it after a failure.
    pub fn into_parts(self) -> (S, S, C, Buffers<B>) {
        let (log_store, log) = self.log.into_parts();
        let (audit_store, audit) = self.audit.into_parts();
        (log_store, audit_store, self.clock, Buffers { log, audit })
    }

    /// Appends the records `next` produces as one commit, holding none of
    /// them but the current one: `next` writes the next record into `buf`
    /// and returns its length, or `None` after the last. For a caller that
    /// checked its records already (their count and sizes) and streams them
    /// from elsewhere. Nothing is acknowledged unless all were appended and
    /// committed; a bad record or a failing `next` after the first record
    /// poisons the engine as a failed commit does (reopening recovers).
    pub fn append_stream<X>(
        &mut self,
        buf: &mut [u8],
        mut next: impl FnMut(&mut [u8]) -> Result<Option<usize>, X>,
    ) -> Result<Range<u64>, StreamError<X, Error<S::Error>>> {
        let first = self.log.pending_size();
        let mut n = 0u64;
        let result = loop {
            let len = match next(buf) {
                Ok(Some(len)) => len,
                Ok(None) => break Ok(()),
                Err(e) => break Err(StreamError::Source(e)),
            };
            let Some(record) = buf.get(..len) else {
                break Err(StreamError::Ledger(Error::InvalidArgument("record beyond the buffer")));
            };
            let appended = self.log.check_entry(record).and_then(|()| self.log.append(record));
            if let Err(e) = appended {
                break Err(StreamError::Ledger(e));
            }
            n += 1;
        };
        let result = result.and_then(|()| match n {
            0 => Err(StreamError::Ledger(Error::NoEntries)),
            _ => self.log.commit().map_err(StreamError::Ledger),
        });
        if let Err(e) = result {
            if n > 0 {
                self.log.poison();
            }
            return Err(e);
        }
        Ok(first..first + n)
    }

    /// Appends records checked once already (their count, framing and
    /// sizes, against at most this log's maximum) as one commit; returns
    /// their indexes. Nothing re-parses or re-checks them: they are hashed
    /// in batches and each is copied into its bundle.
    pub fn append_checked(
        &mut self,
        records: &tlog::bundle::Checked<'_>,
    ) -> Result<Range<u64>, Error<S::Error>> {
        if records.max() > self.log.max_entry() {
            // Checked against a larger maximum: check each against ours.
            return self.append_batch(records.iter());
        }
        self.commit_checked(records.iter(), records.count())
    }

    /// Appends `n` checked records as one commit; returns their indexes.
    fn commit_checked<'e>(
        &mut self,
        records: impl Iterator<Item = &'e [u8]>,
        n: u64,
    ) -> Result<Range<u64>, Error<S::Error>> {
        let first = self.log.pending_size();
        if first.checked_add(n).is_none_or(|end| end > tlog::tree::MAX_TREE_SIZE) {
            return Err(Error::TreeFull);
        }
        // Past the first append the log's memory runs ahead of its store: any
        // failure now leaves it poisoned until reopened.
        let appended = self.log.append_checked(records);
        if let Err(e) = appended.and_then(|()| self.log.commit()) {
            self.log.poison();
            return Err(e);
        }
        Ok(first..first + n)
    }

    /// Records in the audit ledger that `caller` restored a checkpoint (of
    /// the record log, or of the audit log itself) from size `found` to
    /// `restored`, after a rollback was refused; returns the audit
    /// sequence number.
    pub fn record_restore(
        &mut self,
        caller: &Caller<'_>,
        found: u64,
        restored: u64,
    ) -> Result<u64, Error<S::Error>> {
        self.record(Op::RestoreCheckpoint, caller, found, restored.saturating_sub(found), restored)
    }

    /// The record log or the audit log.
    fn tree_mut(&mut self, tree: Tree) -> &mut Log<S, B> {
        match tree {
            Tree::Log => &mut self.log,
            Tree::Audit => &mut self.audit,
        }
    }

    /// A consistency proof of `tree` from size `old` to its committed size,
    /// for a witness asked to cosign the current checkpoint. Not audited:
    /// it is the ledger's own request to its witnesses, and holds only
    /// hashes of the trees the two checkpoints commit to.
    pub fn witness_proof(&mut self, tree: Tree, old: u64) -> Result<Proof, Error<S::Error>> {
        let log = self.tree_mut(tree);
        let size = log.size();
        log.prove_consistency(size, old)
    }

    /// Stores `cosigned`, the current checkpoint of `tree` with witnesses'
    /// cosignatures added (see [`Log::add_cosignatures`]).
    pub fn add_cosignatures(&mut self, tree: Tree, cosigned: &[u8]) -> Result<(), Error<S::Error>> {
        self.tree_mut(tree).add_cosignatures(cosigned)
    }

    /// Checks `read` for `caller` and fixes what it will return, without
    /// recording or serving anything: a refused read leaves no trace.
    pub fn plan<'c>(
        &mut self,
        caller: Caller<'c>,
        read: Read,
    ) -> Result<Planned<'c>, Error<S::Error>> {
        if !caller.is_valid() {
            return Err(Error::BadCaller);
        }
        let (op, from, count, tree_size) = match read {
            Read::Records { tree, from, limit } => {
                let op = if tree == Tree::Audit { Op::ReadAudit } else { Op::ReadSince };
                let log = self.tree_mut(tree);
                let size = log.size();
                (op, from, Self::fit(log, from, limit)?, size)
            }
            Read::Inclusion { index, tree_size } => {
                let size = self.log.size();
                if tree_size > size || index >= tree_size {
                    return Err(Error::OutOfRange { index: index.max(tree_size), size });
                }
                (Op::ProveInclusion, index, 1, tree_size)
            }
            Read::Consistency { old_size, tree_size } => {
                let size = self.log.size();
                if tree_size > size {
                    return Err(Error::OutOfRange { index: tree_size, size });
                }
                if old_size == 0 {
                    return Err(Error::InvalidArgument(
                        "old tree size must be between 1 and the tree size",
                    ));
                }
                if old_size > tree_size {
                    return Err(Error::OutOfRange { index: old_size, size: tree_size });
                }
                (Op::ProveConsistency, old_size, tree_size - old_size, tree_size)
            }
            Read::Tile { tree, tile } => {
                let log = self.tree_mut(tree);
                let size = log.size();
                if !tile.within(size) {
                    return Err(Error::OutOfRange { index: tile.index, size });
                }
                let op = if tree == Tree::Audit { Op::ReadAuditTile } else { Op::ReadTile };
                (op, tile.index, u64::from(tile.width), size)
            }
        };
        Ok(Planned { read, caller, op, from, count, tree_size, seq: None })
    }

    /// Records every plan of `batch` not yet recorded in the audit ledger,
    /// one record each in order, in one commit (one signature, one sync):
    /// the group commit of concurrent reads. On failure none is recorded.
    pub fn record_planned(&mut self, batch: &mut [Planned<'_>]) -> Result<(), Error<S::Error>> {
        let first = self.audit.pending_size();
        let mut seq = first;
        for p in batch.iter().filter(|p| p.seq.is_none()) {
            let time = self.clock.now();
            let tile = match p.read {
                Read::Tile { tile, .. } => Some(tile),
                _ => None,
            };
            let rec = AuditRecord {
                seq,
                op: p.op,
                caller: p.caller,
                from: p.from,
                count: p.count,
                tree_size: p.tree_size,
                time,
                tile,
            };
            let text = rec.encode().ok_or(Error::BadCaller)?;
            if let Err(e) = self.audit.append(text.as_bytes()) {
                if seq > first {
                    self.audit.poison();
                }
                return Err(e);
            }
            seq += 1;
        }
        if seq == first {
            return Ok(());
        }
        // The log poisons itself if its commit fails.
        self.audit.commit()?;
        for (seq, p) in (first..).zip(batch.iter_mut().filter(|p| p.seq.is_none())) {
            p.seq = Some(seq);
        }
        Ok(())
    }

    fn recorded(p: &Planned<'_>) -> Result<u64, Error<S::Error>> {
        p.seq.ok_or(Error::InvalidArgument("a read served before it was recorded"))
    }

    /// Serves a recorded [`Read::Records`] plan: passes its records to `sink`.
    pub fn serve_records(
        &mut self,
        p: &Planned<'_>,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Error<S::Error>> {
        let audit_seq = Self::recorded(p)?;
        let Read::Records { tree, from, .. } = p.read else {
            return Err(Error::InvalidArgument("not a records read"));
        };
        self.tree_mut(tree).walk(from, from + p.count, &mut |i, e| {
            sink(i, e);
            true
        })?;
        Ok(ReadSummary { from, count: p.count, tree_size: p.tree_size, audit_seq })
    }

    /// Serves a recorded [`Read::Inclusion`] plan.
    pub fn serve_inclusion(&mut self, p: &Planned<'_>) -> Result<InclusionProof, Error<S::Error>> {
        Self::recorded(p)?;
        let Read::Inclusion { index, tree_size } = p.read else {
            return Err(Error::InvalidArgument("not an inclusion proof"));
        };
        let proof = self.log.prove_inclusion(tree_size, index)?;
        let leaf_hash = self.log.node(0, index)?;
        let root = self.log.root_at(tree_size)?;
        Ok(InclusionProof { index, tree_size, leaf_hash, root, proof })
    }

    /// Serves a recorded [`Read::Consistency`] plan.
    pub fn serve_consistency(
        &mut self,
        p: &Planned<'_>,
    ) -> Result<ConsistencyProof, Error<S::Error>> {
        Self::recorded(p)?;
        let Read::Consistency { old_size, tree_size } = p.read else {
            return Err(Error::InvalidArgument("not a consistency proof"));
        };
        let proof = self.log.prove_consistency(tree_size, old_size)?;
        let old_root = self.log.root_at(old_size)?;
        let root = self.log.root_at(tree_size)?;
        Ok(ConsistencyProof { old_size, tree_size, old_root, root, proof })
    }

    /// Serves a recorded [`Read::Tile`] plan into `buf`; returns its length.
    pub fn serve_tile(
        &mut self,
        p: &Planned<'_>,
        buf: &mut [u8],
    ) -> Result<usize, Error<S::Error>> {
        Self::recorded(p)?;
        let Read::Tile { tree, tile } = p.read else {
            return Err(Error::InvalidArgument("not a tile read"));
        };
        self.tree_mut(tree).read_object(&tile, buf)
    }

    /// Plans, records and serves one read: the path of every single call.
    fn audited<T>(
        &mut self,
        caller: &Caller<'_>,
        read: Read,
        serve: impl FnOnce(&mut Self, &Planned<'_>) -> Result<T, Error<S::Error>>,
    ) -> Result<T, Error<S::Error>> {
        let mut p = [self.plan(*caller, read)?];
        self.record_planned(&mut p)?;
        serve(self, &p[0])
    }

    /// Whether a storage failure stopped the engine (reopen it to recover).
    pub fn is_poisoned(&self) -> bool {
        self.log.is_poisoned() || self.audit.is_poisoned()
    }

    /// Appends one audit record and commits it; returns its index.
    fn record(
        &mut self,
        op: Op,
        caller: &Caller<'_>,
        from: u64,
        count: u64,
        tree_size: u64,
    ) -> Result<u64, Error<S::Error>> {
        let seq = self.audit.pending_size();
        let time = self.clock.now();
        let rec =
            AuditRecord { seq, op, caller: *caller, from, count, tree_size, time, tile: None };
        let text = rec.encode().ok_or(Error::BadCaller)?;
        self.audit.append(text.as_bytes())?;
        self.audit.commit()?;
        Ok(seq)
    }

    /// How many records from `from` fit `limit` (see [`Log::fit`]).
    fn fit(log: &mut Log<S, B>, from: u64, limit: Limit) -> Result<u64, Error<S::Error>> {
        let fit = log.fit(from, limit.max_entries, limit.max_bytes)?;
        match fit.count {
            0 if fit.needed > 0 => Err(Error::ReadLimitTooSmall { needed: fit.needed }),
            count => Ok(count),
        }
    }

    fn read(
        &mut self,
        tree: Tree,
        caller: &Caller<'_>,
        from: u64,
        limit: Limit,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Error<S::Error>> {
        let read = Read::Records { tree, from, limit };
        self.audited(caller, read, |e, p| e.serve_records(p, sink))
    }
}

/// The audit log's signer: the tenant key under `<origin>/audit`.
pub fn audit_signer<E>(signer: &Signer) -> Result<Signer, Error<E>> {
    let mut name = note::Name::new();
    write!(name, "{}{AUDIT_SUFFIX}", signer.name())
        .map_err(|_| Error::InvalidArgument("origin too long for its audit ledger"))?;
    signer.renamed(&name).map_err(|_| Error::InvalidArgument("invalid origin"))
}

impl<S: TileStore, B: Buffer, C: Clock> Ledger for Engine<S, B, C> {
    type Error = Error<S::Error>;

    fn size(&self) -> u64 {
        self.log.size()
    }

    fn append_batch<'e, I>(&mut self, records: I) -> Result<Range<u64>, Self::Error>
    where
        I: IntoIterator<Item = &'e [u8]>,
        I::IntoIter: Clone,
    {
        let records = records.into_iter();
        let mut n = 0u64;
        for r in records.clone() {
            self.log.check_entry(r)?;
            n += 1;
        }
        if n == 0 {
            return Err(Error::NoEntries);
        }
        self.commit_checked(records, n)
    }

    fn read_since(
        &mut self,
        caller: &Caller<'_>,
        from: u64,
        limit: Limit,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Self::Error> {
        self.read(Tree::Log, caller, from, limit, sink)
    }

    fn checkpoint(&mut self) -> Result<&[u8], Self::Error> {
        self.log.commit()?;
        Ok(self.log.checkpoint())
    }

    fn prove_inclusion(
        &mut self,
        caller: &Caller<'_>,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, Self::Error> {
        let read = Read::Inclusion { index, tree_size };
        self.audited(caller, read, |e, p| e.serve_inclusion(p))
    }

    fn prove_consistency(
        &mut self,
        caller: &Caller<'_>,
        old_size: u64,
        tree_size: u64,
    ) -> Result<ConsistencyProof, Self::Error> {
        let read = Read::Consistency { old_size, tree_size };
        self.audited(caller, read, |e, p| e.serve_consistency(p))
    }

    fn audit_size(&self) -> u64 {
        self.audit.size()
    }

    fn read_audit_since(
        &mut self,
        caller: &Caller<'_>,
        from: u64,
        limit: Limit,
        sink: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<ReadSummary, Self::Error> {
        self.read(Tree::Audit, caller, from, limit, sink)
    }

    fn audit_checkpoint(&mut self) -> Result<&[u8], Self::Error> {
        self.audit.commit()?;
        Ok(self.audit.checkpoint())
    }
}
