//! L1: the tile store contract.

use core::fmt;

use tlog::Tile;

/// A write-once blob store keyed by tile coordinates, plus one replaceable
/// object: the checkpoint, which only a larger tree may replace.
///
/// The engine writes tiles and entry bundles with [`put`](TileStore::put),
/// makes them durable with [`sync`](TileStore::sync), and only then commits
/// them by replacing the checkpoint. Objects beyond the checkpoint's tree are
/// uncommitted: [`recover`](TileStore::recover) removes them.
pub trait TileStore {
    /// Backend failure (I/O, transport, …).
    type Error: fmt::Debug + fmt::Display;

    /// Reads a tile or bundle into `buf`: `Ok(None)` when absent,
    /// [`StoreError::TooSmall`] when `buf` cannot hold it.
    fn get(
        &mut self,
        tile: &Tile,
        buf: &mut [u8],
    ) -> Result<Option<usize>, StoreError<Self::Error>>;

    /// Stores a tile or bundle. Write-once: writing an existing object again
    /// succeeds only with identical bytes, otherwise [`StoreError::Conflict`].
    /// Durable only after [`sync`](TileStore::sync).
    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<(), StoreError<Self::Error>>;

    /// Makes every earlier `put` durable, at the latest as the next
    /// `replace_checkpoint` takes effect: a store whose checkpoint swap
    /// writes the puts first (psdb's) has nothing to do here.
    fn sync(&mut self) -> Result<(), StoreError<Self::Error>>;

    /// Reads the checkpoint into `buf`: `Ok(None)` when there is none yet.
    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>, StoreError<Self::Error>>;

    /// Durably replaces the checkpoint with `new` if the stored one is still
    /// `expected` (empty: no checkpoint yet) and `new` is for a larger tree
    /// (rewriting identical bytes is allowed). This compare-and-swap is what
    /// stops two writers from forking a ledger silently.
    fn replace_checkpoint(
        &mut self,
        expected: &[u8],
        new: &[u8],
    ) -> Result<(), StoreError<Self::Error>>;

    /// Brings the store back to the tree of `size` entries, the size of its
    /// checkpoint, which the caller has verified (never recover to a size
    /// read from an unverified checkpoint): removes objects beyond that tree
    /// and half-written data. `size` 0 with no checkpoint: the store must
    /// hold no objects ([`StoreError::NoCheckpoint`] otherwise). A stored
    /// checkpoint of another size is [`StoreError::CheckpointChanged`].
    fn recover(&mut self, size: u64) -> Result<Recovery, StoreError<Self::Error>>;
}

/// What [`TileStore::recover`] found and removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Tree size of the checkpoint recovered to.
    pub size: u64,
    /// Uncommitted tiles and bundles removed.
    pub removed_objects: u64,
    /// Half-written temporary files removed.
    pub removed_partial_writes: u64,
    /// Largest tree size a removed object belonged to (entries
    /// `size..orphan_extent` were written but never committed).
    pub orphan_extent: u64,
}

impl Recovery {
    /// Whether anything had to be repaired.
    pub fn repaired(&self) -> bool {
        self.removed_objects > 0 || self.removed_partial_writes > 0
    }

    /// Notes that `tile` was removed as uncommitted.
    pub fn removed(&mut self, tile: &Tile) {
        self.removed_objects += 1;
        let count =
            tile.index.saturating_mul(tlog::TILE_WIDTH).saturating_add(u64::from(tile.width));
        let extent = count.saturating_mul(1u64 << (8 * u32::from(tile.level()).min(7)));
        self.orphan_extent = self.orphan_extent.max(extent);
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.repaired() {
            return write!(f, "consistent at tree size {}", self.size);
        }
        write!(
            f,
            "recovered to tree size {}: removed {} uncommitted object(s)",
            self.size, self.removed_objects
        )?;
        if self.orphan_extent > self.size {
            write!(f, " (entries {}..{} were never acknowledged)", self.size, self.orphan_extent)?;
        }
        write!(f, " and {} partial write(s)", self.removed_partial_writes)
    }
}

/// Why a store operation failed.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreError<E> {
    /// A different object already exists at that path (write-once).
    Conflict,
    /// The stored checkpoint is not the one the writer expected: another
    /// writer committed, or the store was changed underneath.
    CheckpointChanged,
    /// The new checkpoint is not for a larger tree than the stored one.
    NotLarger {
        /// Tree size of the stored checkpoint.
        stored: u64,
        /// Tree size offered.
        offered: u64,
    },
    /// The checkpoint offered has no readable tree size.
    BadCheckpoint,
    /// The store is out of space.
    Full,
    /// The buffer cannot hold the object.
    TooSmall {
        /// Size of the object.
        needed: usize,
    },
    /// The store holds objects but no checkpoint: refusing to guess.
    NoCheckpoint,
    /// The store found the object damaged (it failed the store's own
    /// checksum): it is not served.
    Corrupt,
    /// Objects lie beyond the checkpoint while no commit was in progress:
    /// the checkpoint was replaced by an older one, or objects were added.
    /// Recovery refuses to discard them (they may hold acknowledged data).
    Unexplained {
        /// Tree size of the stored checkpoint.
        checkpoint: u64,
        /// Largest tree size an object beyond it belongs to.
        extent: u64,
    },
    /// Backend failure.
    Backend(E),
}

impl<E> StoreError<E> {
    /// The same error with the backend's error converted by `f`.
    pub fn map_backend<F>(self, f: impl FnOnce(E) -> F) -> StoreError<F> {
        match self {
            StoreError::Conflict => StoreError::Conflict,
            StoreError::CheckpointChanged => StoreError::CheckpointChanged,
            StoreError::NotLarger { stored, offered } => StoreError::NotLarger { stored, offered },
            StoreError::BadCheckpoint => StoreError::BadCheckpoint,
            StoreError::Full => StoreError::Full,
            StoreError::TooSmall { needed } => StoreError::TooSmall { needed },
            StoreError::NoCheckpoint => StoreError::NoCheckpoint,
            StoreError::Corrupt => StoreError::Corrupt,
            StoreError::Unexplained { checkpoint, extent } => {
                StoreError::Unexplained { checkpoint, extent }
            }
            StoreError::Backend(e) => StoreError::Backend(f(e)),
        }
    }
}

impl<E: fmt::Display> fmt::Display for StoreError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Conflict => f.write_str("a different object already exists (write-once)"),
            StoreError::CheckpointChanged => {
                f.write_str("the stored checkpoint changed underneath (another writer?)")
            }
            StoreError::NotLarger { stored, offered } => write!(
                f,
                "checkpoint for tree size {offered} does not extend the stored size {stored}"
            ),
            StoreError::BadCheckpoint => f.write_str("checkpoint has no valid tree size"),
            StoreError::Full => f.write_str("store is full"),
            StoreError::TooSmall { needed } => write!(f, "object of {needed} bytes does not fit"),
            StoreError::NoCheckpoint => {
                f.write_str("store holds tiles but no checkpoint; refusing to recover")
            }
            StoreError::Corrupt => f.write_str("the store found the object damaged"),
            StoreError::Unexplained { checkpoint, extent } => write!(
                f,
                "objects of a tree of up to {extent} entries lie beyond the checkpoint of size {checkpoint} and no commit was in progress: the checkpoint was replaced by an older one, or objects were added; nothing is written until that is resolved"
            ),
            StoreError::Backend(e) => write!(f, "{e}"),
        }
    }
}

/// A signed note's text: everything before its signature block.
fn note_text(note: &[u8]) -> Option<&[u8]> {
    let end = note.windows(2).rposition(|w| w == b"\n\n")?;
    Some(&note[..=end])
}

/// The check every store makes before recovering: `size` is the size of
/// the stored checkpoint (or 0 with none).
pub fn check_recover_size<E>(stored: Option<&[u8]>, size: u64) -> Result<(), StoreError<E>> {
    let stored_size = match stored {
        Some(cp) => note::Checkpoint::peek_size(cp).ok_or(StoreError::BadCheckpoint)?,
        None => 0,
    };
    if stored_size == size { Ok(()) } else { Err(StoreError::CheckpointChanged) }
}

/// The checks every store makes before replacing a checkpoint: the stored
/// bytes are the expected ones, and `new` is for a larger tree or has the
/// same note text (the same checkpoint with other signatures: witnesses'
/// cosignatures added).
pub fn check_checkpoint_replace<E>(
    stored: Option<&[u8]>,
    expected: &[u8],
    new: &[u8],
) -> Result<(), StoreError<E>> {
    let offered = note::Checkpoint::peek_size(new).ok_or(StoreError::BadCheckpoint)?;
    let Some(stored) = stored else {
        return if expected.is_empty() { Ok(()) } else { Err(StoreError::CheckpointChanged) };
    };
    if stored != expected {
        return Err(StoreError::CheckpointChanged);
    }
    let stored_size = note::Checkpoint::peek_size(stored).ok_or(StoreError::BadCheckpoint)?;
    if offered > stored_size || note_text(stored) == note_text(new) {
        Ok(())
    } else {
        Err(StoreError::NotLarger { stored: stored_size, offered })
    }
}
