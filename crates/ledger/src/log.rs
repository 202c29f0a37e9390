//! One tlog-tiles log over a [`TileStore`]: appends, commits, verified reads
//! and proofs. The engine runs two of these per tenant (records and audit).

use core::fmt::Write;

use note::{Checkpoint, MAX_CHECKPOINT_TEXT, Signer};
use tlog::batch::CHUNK;
use tlog::bundle::{self, MAX_ENTRY_SIZE};
use tlog::tile::{MAX_TILE_LEVELS, hash_at};
use tlog::tree::RUN;
use tlog::tree::{Builder, BuilderError, EDGE_BYTES, NodeReader, tree_hash};
use tlog::{HASH_SIZE, Hash, Proof, ProofError, TILE_WIDTH, Tile, TileKind, leaf_hash};

use crate::buffer::Buffer;
use crate::cache::TileCache;
use crate::error::Error;
use crate::store::{Recovery, StoreError, TileStore};

/// Room for a signed checkpoint.
pub const MAX_NOTE: usize = 2048;

/// The largest entry bundle the format allows (256 entries of 65,535 bytes).
pub const MAX_BUNDLE: usize = TILE_WIDTH as usize * bundle::encoded_len(MAX_ENTRY_SIZE);

/// Bytes a bundle of entries up to `max_entry` bytes can need.
pub const fn bundle_capacity(max_entry: usize) -> usize {
    TILE_WIDTH as usize * bundle::encoded_len(max_entry)
}

type Result<T, S> = core::result::Result<T, Error<<S as TileStore>::Error>>;

/// The memory a log works in. On a host these are growable vectors; in a
/// protection domain, fixed regions: `edge` and `cache` need
/// [`EDGE_BYTES`] each, `bundle` and `scratch` [`bundle_capacity`] of the
/// largest record. A larger `cache` holds more verified tiles
/// ([`crate::cache::SLOT_BYTES`] each): as many as it is long when the log
/// opens.
#[derive(Default)]
pub struct LogBuffers<B> {
    /// Entries of the rightmost, partial bundle.
    pub bundle: B,
    /// A full bundle being read.
    pub scratch: B,
    /// The rightmost tile of each level.
    pub edge: B,
    /// Verified full tiles with their interior nodes.
    pub cache: B,
}

/// Right-edge nodes remembered: enough for those of every tile level a
/// proof touches.
const MEMO: usize = 32;

/// One log: the right edge of its tree in memory, everything else in the store.
///
/// Appends accumulate until [`Log::commit`], which writes the partial tiles,
/// syncs the store, and then replaces the signed checkpoint. Reads and
/// proofs see committed entries only, and check every tile and bundle they
/// load against the signed tree.
pub struct Log<S, B> {
    store: S,
    signer: Signer,
    /// Committed and pending leaves.
    tree: Builder<B>,
    /// Tree size of the stored checkpoint.
    committed: u64,
    /// Entries of the rightmost, partial bundle.
    bundle: B,
    bundle_len: usize,
    /// A full bundle loaded for reading, which one, and whether it is
    /// checked against the tree yet.
    scratch: B,
    scratch_len: usize,
    scratch_holds: Option<(u64, bool)>,
    /// Verified full hash tiles.
    cache: TileCache<B>,
    /// Complete subtrees computed from the right edge's tiles: (level,
    /// index, hash), kept as such a hash never changes.
    memo: [(u8, u64, Hash); MEMO],
    memo_len: usize,
    note: [u8; MAX_NOTE],
    note_len: usize,
    max_entry: usize,
    poisoned: bool,
}

impl<S: TileStore, B: Buffer> Log<S, B> {
    /// Opens the log in `store`: verifies the stored checkpoint against
    /// `signer`'s key and origin, and only then recovers the store to it
    /// (a checkpoint that does not verify changes nothing) and checks it
    /// against the stored partial tiles. An empty store gets a signed
    /// checkpoint of size 0. `signer`'s name is the log's origin.
    pub fn open(
        store: S,
        signer: Signer,
        buffers: LogBuffers<B>,
        max_entry: usize,
    ) -> Result<(Self, Recovery), S> {
        Self::try_open(store, signer, buffers, max_entry).map_err(|f| f.error)
    }

    /// [`Log::open`], giving the store and the memory back when it fails,
    /// to try again later (a store that was unavailable).
    pub fn try_open(
        store: S,
        signer: Signer,
        mut buffers: LogBuffers<B>,
        max_entry: usize,
    ) -> core::result::Result<(Self, Recovery), OpenError<S, B>> {
        if let Err(error) = check_buffers(&mut buffers, max_entry) {
            return Err(OpenError { error, store, buffers });
        }
        let mut log = Self::assemble(store, signer, buffers, max_entry)?;
        match log.load() {
            Ok(recovery) => Ok((log, recovery)),
            Err(error) => {
                let (store, buffers) = log.into_parts();
                Err(OpenError { error, store, buffers })
            }
        }
    }

    /// The log over checked buffers, before anything is read.
    fn assemble(
        store: S,
        signer: Signer,
        buffers: LogBuffers<B>,
        max_entry: usize,
    ) -> core::result::Result<Self, OpenError<S, B>> {
        let error = Error::BufferTooSmall { needed: EDGE_BYTES };
        let LogBuffers { bundle, scratch, edge, cache } = buffers;
        let cache = match TileCache::new(cache) {
            Ok(c) => c,
            Err(cache) => {
                let buffers = LogBuffers { bundle, scratch, edge, cache };
                return Err(OpenError { error, store, buffers });
            }
        };
        let tree = match Builder::with_memory(edge) {
            Ok(t) => t,
            Err(edge) => {
                let buffers = LogBuffers { bundle, scratch, edge, cache: cache.into_inner() };
                return Err(OpenError { error, store, buffers });
            }
        };
        Ok(Log {
            store,
            signer,
            tree,
            committed: 0,
            bundle,
            bundle_len: 0,
            scratch,
            scratch_len: 0,
            scratch_holds: None,
            cache,
            memo: [(0, 0, Hash::default()); MEMO],
            memo_len: 0,
            note: [0; MAX_NOTE],
            note_len: 0,
            max_entry,
            poisoned: false,
        })
    }

    /// Verifies the stored checkpoint, recovers the store to it and loads
    /// the right edge; an empty store gets a signed checkpoint of size 0.
    fn load(&mut self) -> Result<Recovery, S> {
        let mut note = [0u8; MAX_NOTE];
        match self.store.get_checkpoint(&mut note) {
            Ok(None) => {
                let recovery = self.store.recover(0)?;
                self.commit()?;
                Ok(recovery)
            }
            Ok(Some(len)) => {
                let stored = &note[..len];
                let size = self.verify_checkpoint(stored)?.size;
                let recovery = self.store.recover(size)?;
                self.restore(stored)?;
                Ok(recovery)
            }
            Err(StoreError::TooSmall { .. }) => {
                Err(corrupt(None, "checkpoint is larger than any this ledger writes"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a stored checkpoint with this log's key and checks its origin.
    fn verify_checkpoint<'n>(&self, stored: &'n [u8]) -> Result<Checkpoint<'n>, S> {
        let verifier = self.signer.verifier();
        let opened = note::open(stored, &[&verifier])
            .map_err(|_| corrupt(None, "checkpoint is not signed by this ledger's key"))?;
        let cp = Checkpoint::parse(opened.text)
            .map_err(|_| corrupt(None, "checkpoint body is malformed"))?;
        if cp.origin != self.signer.name() {
            return Err(corrupt(None, "checkpoint origin is not this ledger's"));
        }
        Ok(cp)
    }

    fn restore(&mut self, stored: &[u8]) -> Result<(), S> {
        let cp = self.verify_checkpoint(stored)?;
        let store = &mut self.store;
        self.tree.reload(cp.size, |t, buf| read_exact(store, &t, buf)).map_err(|e| match e {
            BuilderError::Read(e) => e,
            _ => corrupt(None, "tree size out of range"),
        })?;
        if self.tree.root() != cp.root {
            return Err(corrupt(None, "stored partial tiles do not hash to the checkpoint root"));
        }
        self.committed = cp.size;
        self.note[..stored.len()].copy_from_slice(stored);
        self.note_len = stored.len();
        if let Some(t) = Tile::partial(TileKind::Entries, cp.size) {
            let len = read_grow(&mut self.store, &t, &mut self.bundle)?;
            let (_, hashes) = self.tree.tile(0).ok_or(corrupt(Some(t), "no level-0 tile"))?;
            check_bundle(&self.bundle.as_ref()[..len], hashes, &t)?;
            self.bundle_len = len;
        }
        Ok(())
    }

    /// The key name and origin.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Committed size.
    pub fn size(&self) -> u64 {
        self.committed
    }

    /// Size including appends not yet committed.
    pub fn pending_size(&self) -> u64 {
        self.tree.size()
    }

    /// The signed checkpoint of the committed tree.
    pub fn checkpoint(&self) -> &[u8] {
        &self.note[..self.note_len]
    }

    /// Replaces the stored checkpoint with `cosigned`: the same checkpoint
    /// (note text) with more signatures, normally witnesses' cosignatures,
    /// which the caller has checked. It must still open with this log's key.
    pub fn add_cosignatures(&mut self, cosigned: &[u8]) -> Result<(), S> {
        self.usable()?;
        if cosigned.len() > MAX_NOTE {
            return Err(Error::InvalidArgument(
                "cosigned checkpoint is larger than a ledger keeps",
            ));
        }
        let cp = self.verify_checkpoint(cosigned)?;
        let current = self.verify_checkpoint(self.checkpoint())?;
        if cp != current {
            return Err(Error::InvalidArgument("not the stored checkpoint"));
        }
        // A failed replace may or may not have taken: reopen to find out.
        let r = self.store.replace_checkpoint(&self.note[..self.note_len], cosigned);
        self.poison_on_err(r.map_err(Error::from))?;
        self.note[..cosigned.len()].copy_from_slice(cosigned);
        self.note_len = cosigned.len();
        Ok(())
    }

    /// Root hash of the committed tree.
    pub fn root(&self) -> Hash {
        debug_assert_eq!(self.committed, self.tree.size());
        self.tree.root()
    }

    /// The store, e.g. to inspect it in tests.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Gives the store and the memory back, to reopen the log after a
    /// failure poisoned it.
    pub fn into_parts(self) -> (S, LogBuffers<B>) {
        let buffers = LogBuffers {
            bundle: self.bundle,
            scratch: self.scratch,
            edge: self.tree.into_memory(),
            cache: self.cache.into_inner(),
        };
        (self.store, buffers)
    }

    /// Whether a failure poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The largest record this log accepts.
    pub fn max_entry(&self) -> usize {
        self.max_entry
    }

    fn usable(&self) -> Result<(), S> {
        if self.poisoned { Err(Error::Poisoned) } else { Ok(()) }
    }

    /// Reads and proofs need the committed state alone in memory: not
    /// poisoned, no appends pending.
    fn readable(&self) -> Result<(), S> {
        self.usable()?;
        if self.tree.size() != self.committed {
            return Err(Error::InvalidArgument("appends are pending: commit before reading"));
        }
        Ok(())
    }

    /// Marks the log unusable: its memory no longer matches its store, so
    /// only reopening (which recovers the store) may use it again.
    pub fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Marks the log unusable when a write failed half-way.
    fn poison_on_err<T>(&mut self, r: Result<T, S>) -> Result<T, S> {
        if r.is_err() {
            self.poison();
        }
        r
    }

    /// Checks a record without appending it.
    pub fn check_entry(&self, entry: &[u8]) -> Result<(), S> {
        match entry.len() {
            0 => Err(Error::EmptyEntry),
            len if len > self.max_entry => Err(Error::EntryTooLarge { len, max: self.max_entry }),
            _ => Ok(()),
        }
    }

    /// Appends a record without committing it; returns its index. Full tiles
    /// and bundles are written as they complete.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, S> {
        self.check_entry(entry)?;
        self.append_hashed(entry, leaf_hash(entry))
    }

    /// Appends records checked already (non-empty, at most
    /// [`Log::max_entry`] bytes), hashed in batches: their leaves a chunk at
    /// a time, and, for each aligned run of [`RUN`], the run's subtree a row
    /// at a time.
    pub(crate) fn append_checked<'e>(
        &mut self,
        mut records: impl Iterator<Item = &'e [u8]>,
    ) -> Result<(), S> {
        let mut chunk: [&[u8]; RUN] = [&[]; RUN];
        let mut leaves = [Hash::default(); RUN];
        loop {
            // Up to the next multiple of RUN, so that later chunks are runs.
            let want = RUN - (self.tree.size() % RUN as u64) as usize;
            let n = chunk[..want].iter_mut().zip(records.by_ref()).map(|(c, r)| *c = r).count();
            tlog::batch::leaf_hashes(&chunk[..n], &mut leaves[..n]);
            if n == RUN {
                self.append_run(&chunk, &leaves)?;
            } else {
                for (entry, leaf) in chunk[..n].iter().zip(&leaves) {
                    self.append_hashed(entry, *leaf)?;
                }
            }
            if n < want {
                return Ok(());
            }
        }
    }

    /// Appends a run of [`RUN`] checked records at a multiple of [`RUN`].
    fn append_run(&mut self, entries: &[&[u8]; RUN], leaves: &[Hash; RUN]) -> Result<(), S> {
        self.usable()?;
        let index = self.tree.size();
        let end =
            self.bundle_len + entries.iter().map(|e| bundle::encoded_len(e.len())).sum::<usize>();
        if !self.bundle.reserve(end) {
            return Err(Error::BufferTooSmall { needed: end });
        }
        let mut at = self.bundle_len;
        for e in entries {
            at = bundle::put(self.bundle.as_mut(), at, e)
                .ok_or(Error::BufferTooSmall { needed: end })?;
        }
        let completed = self.tree.push_run(leaves).map_err(|_| Error::TreeFull)?;
        self.pushed(index, end, completed)?;
        Ok(())
    }

    /// Appends a checked record whose leaf hash is `leaf`.
    fn append_hashed(&mut self, entry: &[u8], leaf: Hash) -> Result<u64, S> {
        self.usable()?;
        let index = self.tree.size();
        let end = self.bundle_len + bundle::encoded_len(entry.len());
        if !self.bundle.reserve(end) {
            return Err(Error::BufferTooSmall { needed: end });
        }
        bundle::put(self.bundle.as_mut(), self.bundle_len, entry)
            .ok_or(Error::BufferTooSmall { needed: end })?;
        let completed = self.tree.push(leaf).map_err(|_| Error::TreeFull)?;
        self.pushed(index, end, completed)?;
        Ok(index)
    }

    /// After leaves from `index` on were pushed and their entries framed up
    /// to `end`: keeps the bundle's new length and writes the tiles the
    /// push completed (a failure poisons the log).
    fn pushed(&mut self, index: u64, end: usize, completed: u8) -> Result<(), S> {
        self.bundle_len = end;
        if completed > 0 {
            let r = self.write_full(index / TILE_WIDTH, completed);
            self.poison_on_err(r)?;
        }
        Ok(())
    }

    fn write_full(&mut self, bundle_index: u64, levels: u8) -> Result<(), S> {
        let b = Tile::entries(bundle_index, TILE_WIDTH as u16);
        self.store.put(&b, &self.bundle.as_ref()[..self.bundle_len])?;
        self.bundle_len = 0;
        for level in 0..levels {
            let (t, data) = self.tree.tile(level).ok_or(Error::TreeFull)?;
            self.store.put(&t, data)?;
        }
        Ok(())
    }

    /// Makes every append durable and signs and stores a checkpoint for them.
    /// Nothing appended is acknowledged before this returns.
    pub fn commit(&mut self) -> Result<(), S> {
        self.usable()?;
        if self.tree.size() == self.committed && self.note_len > 0 {
            return Ok(());
        }
        let r = self.write_commit();
        self.poison_on_err(r)
    }

    fn write_commit(&mut self) -> Result<(), S> {
        let (old, new) = (self.committed, self.tree.size());
        if let Some(t) = changed_partial(TileKind::Entries, old, new) {
            self.store.put(&t, &self.bundle.as_ref()[..self.bundle_len])?;
        }
        for level in 0..MAX_TILE_LEVELS as u8 {
            if let Some(t) = changed_partial(TileKind::Hashes { level }, old, new) {
                let (_, data) = self.tree.tile(level).ok_or(Error::TreeFull)?;
                self.store.put(&t, data)?;
            }
        }
        self.store.sync()?;
        let mut signed = [0u8; MAX_NOTE];
        let len = self.sign(new, &mut signed)?;
        self.store.replace_checkpoint(&self.note[..self.note_len], &signed[..len])?;
        self.note[..len].copy_from_slice(&signed[..len]);
        self.note_len = len;
        self.committed = new;
        Ok(())
    }

    fn sign(&self, size: u64, out: &mut [u8]) -> Result<usize, S> {
        let cp =
            Checkpoint { origin: self.signer.name(), size, root: self.tree.root(), extensions: "" };
        let mut text = heapless::String::<MAX_CHECKPOINT_TEXT>::new();
        write!(text, "{cp}").map_err(|_| Error::InvalidArgument("origin too long"))?;
        note::sign(&text, &[&self.signer], out)
            .map_err(|_| Error::InvalidArgument("checkpoint does not fit"))
    }

    /// Calls `f` with committed entries from `from`, in order, while it
    /// returns `true` and entries remain below `end`. Every bundle is checked
    /// against the signed tree before any of its entries is passed on.
    pub fn walk(
        &mut self,
        from: u64,
        end: u64,
        f: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), S> {
        self.readable()?;
        if end > self.committed || from > end {
            return Err(Error::OutOfRange { index: end.max(from), size: self.committed });
        }
        let mut i = from;
        while i < end {
            let k = i / TILE_WIDTH;
            let bytes = self.bundle_bytes(k)?;
            // Bundles are checked when loaded: they parse and have every entry.
            for e in bundle::entries(bytes).skip((i % TILE_WIDTH) as usize).flatten() {
                if i >= end || !f(i, e) {
                    return Ok(());
                }
                i += 1;
            }
            if i < end && i / TILE_WIDTH == k {
                return Err(corrupt(
                    Some(Tile::entries(k, TILE_WIDTH as u16)),
                    "bundle ended early",
                ));
            }
        }
        Ok(())
    }

    /// Reads tile or bundle `tile` of the committed tree into `buf` as a
    /// tlog-tiles server serves it; returns its length. A narrower partial
    /// that is not stored (never written, as a commit of several records
    /// skips the widths between, or pruned once its full tile was) is cut
    /// from the tile it is a prefix of.
    /// The bytes come from the store as they are; tlog-tiles clients check
    /// them against a checkpoint.
    pub fn read_object(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<usize, S> {
        self.readable()?;
        if !tile.within(self.committed) {
            return Err(Error::OutOfRange { index: tile.index, size: self.committed });
        }
        if let Some(n) = self.store.get(tile, buf)? {
            return Ok(n);
        }
        if tile.is_full() {
            return Err(corrupt(Some(*tile), "missing"));
        }
        // The tile it is a prefix of: the full one, or else the tree's
        // current partial (when this partial's commit wrote a wider one).
        let edge = Tile::partial(tile.kind, self.committed).filter(|e| e.index == tile.index);
        let full = edge.unwrap_or(tile.full());
        let n = match self.store.get(&full, buf)? {
            Some(n) => n,
            None => return Err(corrupt(Some(*tile), "missing")),
        };
        let width = usize::from(tile.width);
        let len = match tile.kind {
            TileKind::Hashes { .. } => width * HASH_SIZE,
            TileKind::Entries => {
                let data = &buf[..n];
                let mut len = 0;
                for e in bundle::entries(data).take(width) {
                    let e = e.map_err(|_| corrupt(Some(full), "not an entry bundle"))?;
                    len += bundle::encoded_len(e.len());
                }
                len
            }
        };
        if len > n {
            return Err(corrupt(Some(full), "shorter than a tile it must hold"));
        }
        Ok(len)
    }

    /// The verified bytes of bundle `k` of the committed tree.
    fn bundle_bytes(&mut self, k: u64) -> Result<&[u8], S> {
        if self.is_edge_bundle(k) {
            return Ok(&self.bundle.as_ref()[..self.bundle_len]);
        }
        self.load_bundle(k)?;
        if self.scratch_holds != Some((k, true)) {
            let t = Tile::entries(k, TILE_WIDTH as u16);
            self.ensure_tile(0, k)?;
            let hashes = self.held_tile(0, k).ok_or(corrupt(Some(t), "no level-0 tile"))?;
            check_bundle(&self.scratch.as_ref()[..self.scratch_len], hashes, &t)?;
            self.scratch_holds = Some((k, true));
        }
        Ok(&self.scratch.as_ref()[..self.scratch_len])
    }

    fn is_edge_bundle(&self, k: u64) -> bool {
        Tile::partial(TileKind::Entries, self.committed).is_some_and(|t| t.index == k)
    }

    /// Reads full bundle `k` into the scratch buffer, unchecked, unless it
    /// is there already.
    fn load_bundle(&mut self, k: u64) -> Result<(), S> {
        if self.scratch_holds.is_some_and(|(held, _)| held == k) {
            return Ok(());
        }
        self.scratch_holds = None;
        let t = Tile::entries(k, TILE_WIDTH as u16);
        self.scratch_len = read_grow(&mut self.store, &t, &mut self.scratch)?;
        self.scratch_holds = Some((k, false));
        Ok(())
    }

    /// How many committed entries from `from`, at most `max` of them, fit
    /// `max_bytes` of bundle encoding; `needed` is what the first takes.
    /// Counted from the stored bundles' framing, which is not checked
    /// against the tree here: [`Log::walk`] checks every bundle before it
    /// passes an entry on, so a damaged bundle fails the read that follows
    /// rather than being hashed twice by every read.
    pub fn fit(&mut self, from: u64, max: u64, max_bytes: usize) -> Result<Fit, S> {
        self.readable()?;
        if from > self.committed {
            return Err(Error::OutOfRange { index: from, size: self.committed });
        }
        let end = from + max.min(self.committed - from);
        // Room for that many of the largest: no need to look.
        let largest = bundle::encoded_len(self.max_entry);
        if usize::try_from(end - from).is_ok_and(|n| n.saturating_mul(largest) <= max_bytes) {
            return Ok(Fit { count: end - from, needed: 0 });
        }
        let (mut fit, mut bytes, mut i) = (Fit { count: 0, needed: 0 }, 0usize, from);
        while i < end {
            let k = i / TILE_WIDTH;
            let t = Tile::entries(k, TILE_WIDTH as u16);
            if !self.is_edge_bundle(k) {
                self.load_bundle(k)?;
            }
            let data = match self.is_edge_bundle(k) {
                true => &self.bundle.as_ref()[..self.bundle_len],
                false => &self.scratch.as_ref()[..self.scratch_len],
            };
            for e in bundle::entries(data).skip((i % TILE_WIDTH) as usize) {
                if i >= end {
                    return Ok(fit);
                }
                let e = e.map_err(|_| corrupt(Some(t), "not an entry bundle"))?;
                let need = bundle::encoded_len(e.len());
                if fit.count == 0 {
                    fit.needed = need;
                }
                if bytes.saturating_add(need) > max_bytes {
                    return Ok(fit);
                }
                bytes += need;
                fit.count += 1;
                i += 1;
            }
            if i < end && i / TILE_WIDTH == k {
                return Err(corrupt(Some(t), "bundle ended early"));
            }
        }
        Ok(fit)
    }

    /// The data of tile (`level`, `index`) if it is in memory: the builder's
    /// rightmost tile or a verified cached one.
    fn held_tile(&self, level: u8, index: u64) -> Option<&[u8]> {
        match self.edge_tile(level, index) {
            Some(data) => Some(data),
            None => self.cache.tile(level, index),
        }
    }

    /// The builder's rightmost tile at `level`, if it is tile `index`.
    fn edge_tile(&self, level: u8, index: u64) -> Option<&[u8]> {
        self.tree.tile(level).filter(|(t, _)| t.index == index).map(|(_, data)| data)
    }

    /// Loads full hash tile (`level`, `index`) into the cache, after
    /// checking its hash against the level above (loaded first, so that
    /// the two may share a slot), up to the in-memory right edge.
    fn ensure_tile(&mut self, level: u8, index: u64) -> Result<(), S> {
        if self.edge_tile(level, index).is_some() || self.cache.holds(level, index) {
            return Ok(());
        }
        let t = Tile::hashes(level, index, TILE_WIDTH as u16);
        if usize::from(level) + 1 >= MAX_TILE_LEVELS {
            return Err(corrupt(Some(t), "tile beyond the tree"));
        }
        let (up, at) = (index / TILE_WIDTH, (index % TILE_WIDTH) as usize);
        self.ensure_tile(level + 1, up)?;
        let want = self.held_tile(level + 1, up).and_then(|d| hash_at(d, at));
        let want = want.ok_or(corrupt(Some(t), "tile beyond the tree"))?;
        read_exact(&mut self.store, &t, self.cache.load(level, index))?;
        if self.cache.expand(level, index) != want {
            return Err(corrupt(Some(t), "tile does not hash to the tree"));
        }
        self.cache.admit(level, index);
        Ok(())
    }

    /// The hash of the complete subtree (`level`, `index`) of the committed tree.
    pub fn node(&mut self, level: u8, index: u64) -> Result<Hash, S> {
        self.readable()?;
        let size = self.committed;
        let out_of_range = || Error::OutOfRange { index, size };
        let end = index.checked_add(1).and_then(|n| n.checked_mul(1u64.checked_shl(level.into())?));
        if end.is_none_or(|end| end > self.committed) {
            return Err(out_of_range());
        }
        // In range, so the node's bottom row lies in one tile of this tree.
        let (tile_level, k) = (level / 8, u32::from(level % 8));
        let first = index << k;
        let t = first / TILE_WIDTH;
        let pos = (first % TILE_WIDTH) as usize;
        self.ensure_held(tile_level, t)?;
        if self.edge_tile(tile_level, t).is_some() {
            return self.edge_node(level, index).ok_or_else(out_of_range);
        }
        self.cache.node(tile_level, t, k, pos >> k).ok_or_else(out_of_range)
    }

    /// A complete subtree inside the builder's rightmost tiles, remembered:
    /// the proofs of one tree size all end in the same few, each up to 127
    /// hashes.
    fn edge_node(&mut self, level: u8, index: u64) -> Option<Hash> {
        let held = &self.memo[..self.memo_len.min(MEMO)];
        if let Some(&(_, _, h)) = held.iter().find(|m| m.0 == level && m.1 == index) {
            return Some(h);
        }
        let h = self.tree.node(level, index)?;
        // Once full, the oldest goes.
        self.memo[self.memo_len % MEMO] = (level, index, h);
        self.memo_len += 1;
        Some(h)
    }

    fn ensure_held(&mut self, level: u8, index: u64) -> Result<(), S> {
        let rightmost = self.tree.tile(level).map(|(t, _)| t.index);
        if rightmost.is_some_and(|r| index > r) {
            return Err(Error::OutOfRange { index, size: self.committed });
        }
        self.ensure_tile(level, index)
    }

    /// The root hash of the tree of `size` ≤ committed entries.
    pub fn root_at(&mut self, size: u64) -> Result<Hash, S> {
        self.readable()?;
        self.check_size(size)?;
        tree_hash(size, &mut Nodes(self))
    }

    /// Proves entry `index` is in the tree of `size` ≤ committed entries.
    pub fn prove_inclusion(&mut self, size: u64, index: u64) -> Result<Proof, S> {
        self.readable()?;
        self.check_size(size)?;
        if index >= size {
            return Err(Error::OutOfRange { index, size });
        }
        tlog::proof::prove_inclusion(size, index, &mut Nodes(self)).map_err(proof_error)
    }

    /// Proves the tree of `old` entries is a prefix of the tree of `size`.
    pub fn prove_consistency(&mut self, size: u64, old: u64) -> Result<Proof, S> {
        self.readable()?;
        self.check_size(size)?;
        if old == 0 || old > size {
            return Err(Error::InvalidArgument(
                "old tree size must be between 1 and the tree size",
            ));
        }
        tlog::proof::prove_consistency(size, old, &mut Nodes(self)).map_err(proof_error)
    }

    fn check_size(&self, size: u64) -> Result<(), S> {
        if size > self.committed {
            return Err(Error::OutOfRange { index: size, size: self.committed });
        }
        Ok(())
    }
}

fn proof_error<E>(e: ProofError<Error<E>>) -> Error<E> {
    match e {
        ProofError::Read(e) => e,
        _ => Error::InvalidArgument("index or tree size out of range"),
    }
}

/// Adapts a log to [`NodeReader`] for the proof algorithms.
struct Nodes<'a, S, B>(&'a mut Log<S, B>);

impl<S: TileStore, B: Buffer> NodeReader for Nodes<'_, S, B> {
    type Error = Error<S::Error>;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, S> {
        self.0.node(level, index)
    }
}

/// A log that did not open: why, and what it was given.
pub struct OpenError<S: TileStore, B> {
    /// Why.
    pub error: Error<S::Error>,
    /// The store, untouched or partly recovered (recovery is idempotent).
    pub store: S,
    /// The memory.
    pub buffers: LogBuffers<B>,
}

/// Makes sure `buffers` can hold a log of records up to `max_entry` bytes.
fn check_buffers<B: Buffer, E>(
    b: &mut LogBuffers<B>,
    max_entry: usize,
) -> core::result::Result<(), Error<E>> {
    if max_entry == 0 || max_entry > MAX_ENTRY_SIZE {
        return Err(Error::InvalidArgument("maximum record size must be 1..=65535"));
    }
    let cache_len = b.cache.as_ref().len().max(EDGE_BYTES);
    if !b.edge.reserve(EDGE_BYTES) || !b.cache.reserve(cache_len) {
        return Err(Error::BufferTooSmall { needed: EDGE_BYTES });
    }
    let bundle_max = bundle_capacity(max_entry);
    if b.bundle.max_len() < bundle_max || b.scratch.max_len() < bundle_max {
        return Err(Error::BufferTooSmall { needed: bundle_max });
    }
    Ok(())
}

/// What [`Log::fit`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Entries that fit.
    pub count: u64,
    /// Bundle bytes the first entry takes, when none fit (else 0 or more).
    pub needed: usize,
}

/// The partial tile of `kind` a tree of `new` entries has that a tree of
/// `old` entries has not.
fn changed_partial(kind: TileKind, old: u64, new: u64) -> Option<Tile> {
    let t = Tile::partial(kind, new)?;
    (Tile::partial(kind, old) != Some(t)).then_some(t)
}

fn corrupt<E>(tile: Option<Tile>, what: &'static str) -> Error<E> {
    Error::Corrupt { tile, what }
}

/// Reads an object that must exist and fill `buf` exactly.
fn read_exact<S: TileStore>(store: &mut S, t: &Tile, buf: &mut [u8]) -> Result<(), S> {
    match store.get(t, buf) {
        Ok(Some(n)) if n == buf.len() => Ok(()),
        Ok(Some(_)) | Err(StoreError::TooSmall { .. }) => Err(corrupt(Some(*t), "wrong length")),
        Ok(None) => Err(corrupt(Some(*t), "missing")),
        Err(StoreError::Corrupt) => Err(corrupt(Some(*t), "damaged in the store")),
        Err(e) => Err(e.into()),
    }
}

/// Reads an object that must exist into a buffer that grows as needed.
fn read_grow<S: TileStore, B: Buffer>(store: &mut S, t: &Tile, buf: &mut B) -> Result<usize, S> {
    loop {
        match store.get(t, buf.as_mut()) {
            Ok(Some(n)) => return Ok(n),
            Ok(None) => return Err(corrupt(Some(*t), "missing")),
            Err(StoreError::Corrupt) => return Err(corrupt(Some(*t), "damaged in the store")),
            Err(StoreError::TooSmall { needed }) if needed > MAX_BUNDLE => {
                return Err(corrupt(Some(*t), "larger than any entry bundle"));
            }
            // A store that asks for room it was given would be asked forever.
            Err(StoreError::TooSmall { needed }) if needed <= buf.as_ref().len() => {
                return Err(corrupt(Some(*t), "the store misreports its length"));
            }
            Err(StoreError::TooSmall { needed }) => {
                if !buf.reserve(needed) {
                    return Err(Error::BufferTooSmall { needed });
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Checks that a bundle holds exactly the entries whose leaf hashes `hashes`
/// lists, hashing them a chunk at a time.
fn check_bundle<E>(bytes: &[u8], hashes: &[u8], t: &Tile) -> core::result::Result<(), Error<E>> {
    let width = usize::from(t.width);
    let mut entries = bundle::entries(bytes)
        .map(|e| e.map_err(|_| corrupt(Some(*t), "entry bundle is truncated")));
    let mut chunk: [&[u8]; CHUNK] = [&[]; CHUNK];
    let mut leaves = [Hash::default(); CHUNK];
    let mut n = 0;
    loop {
        let mut got = 0;
        for slot in chunk.iter_mut() {
            match entries.next().transpose()? {
                Some(e) => *slot = e,
                None => break,
            }
            got += 1;
        }
        if n + got > width {
            return Err(corrupt(Some(*t), "entry bundle has too many entries"));
        }
        tlog::batch::leaf_hashes(&chunk[..got], &mut leaves[..got]);
        for h in &leaves[..got] {
            if hash_at(hashes, n) != Some(*h) {
                return Err(corrupt(Some(*t), "entry does not match its leaf hash"));
            }
            n += 1;
        }
        if got < CHUNK {
            break;
        }
    }
    if n != width {
        return Err(corrupt(Some(*t), "entry bundle has too few entries"));
    }
    Ok(())
}
