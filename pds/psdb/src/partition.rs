//! One namespace's objects in a block of memory: a header, the checkpoint,
//! an open-addressing index and an append-only arena. Everything is in the
//! block, so the layout can move to a block device unchanged.
//!
//! ```text
//! 0      header: magic, slots, objects, arena start, arena used, checkpoint length
//! 64     checkpoint (up to 2048 bytes)
//! 2112   index: `slots` entries of 24 bytes (tag, width, index, offset, length)
//! ...    arena: object bytes, back to back
//! ```

use core::convert::Infallible;

use ledger::store::{
    Recovery, StoreError, TileStore, check_checkpoint_replace, check_recover_size,
};
use tlog::{Tile, TileKind};

const MAGIC: &[u8; 8] = b"PSDBNS01";
const HEADER: usize = 64;
/// Largest checkpoint stored.
pub const CHECKPOINT_MAX: usize = 2048;
const INDEX: usize = HEADER + CHECKPOINT_MAX;
const SLOT: usize = 24;
/// Bytes of memory per index slot: the index takes 1/`BYTES_PER_SLOT` of a partition.
const BYTES_PER_SLOT: usize = 512;

type Result<T> = core::result::Result<T, StoreError<Infallible>>;

/// A namespace's store.
pub struct Partition<'a> {
    mem: &'a mut [u8],
    slots: usize,
}

fn get_u64(mem: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(mem[at..at + 8].try_into().unwrap_or([0; 8]))
}

fn put_u64(mem: &mut [u8], at: usize, v: u64) {
    mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// The slot tag of a tile: 1 + level for hash tiles, 65 for bundles; the
/// width in the next 16 bits. Zero marks an empty slot.
fn tag(t: &Tile) -> u64 {
    let kind = match t.kind {
        TileKind::Hashes { level } => 1 + u64::from(level),
        TileKind::Entries => 65,
    };
    kind | u64::from(t.width) << 8
}

fn untag(tag: u64, index: u64) -> Option<Tile> {
    let width = (tag >> 8) as u16;
    let kind = match tag & 0xFF {
        65 => TileKind::Entries,
        k @ 1..=64 => TileKind::Hashes { level: (k - 1) as u8 },
        _ => return None,
    };
    Some(Tile { kind, index, width })
}

fn hash(tag: u64, index: u64) -> u64 {
    // FNV-1a over the key.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.to_le_bytes().into_iter().chain(index.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<'a> Partition<'a> {
    /// Opens the partition in `mem`, formatting it if it holds none.
    /// `None` if `mem` is too small to be useful.
    pub fn open(mem: &'a mut [u8]) -> Option<Partition<'a>> {
        let slots = (mem.len() / BYTES_PER_SLOT).checked_next_power_of_two()? / 2;
        if slots < 16 || INDEX + slots * SLOT >= mem.len() {
            return None;
        }
        let p = Partition { mem, slots };
        let formatted = &p.mem[..8] == MAGIC && get_u64(p.mem, 8) == slots as u64;
        if !formatted {
            p.mem[..INDEX + slots * SLOT].fill(0);
            p.mem[..8].copy_from_slice(MAGIC);
            put_u64(p.mem, 8, slots as u64);
        }
        Some(p)
    }

    /// Gives the memory back (to reopen it).
    pub fn into_memory(self) -> &'a mut [u8] {
        self.mem
    }

    fn object_count(&self) -> u64 {
        get_u64(self.mem, 16)
    }

    fn arena_start(&self) -> usize {
        INDEX + self.slots * SLOT
    }

    fn arena_used(&self) -> usize {
        get_u64(self.mem, 24) as usize
    }

    fn checkpoint_len(&self) -> usize {
        get_u64(self.mem, 32) as usize
    }

    /// Bytes of object data stored.
    pub fn used(&self) -> usize {
        self.arena_used()
    }

    fn slot_at(&self, i: usize) -> (u64, u64, usize, usize) {
        let at = INDEX + i * SLOT;
        let tag = get_u64(self.mem, at);
        let index = get_u64(self.mem, at + 8);
        let loc = get_u64(self.mem, at + 16);
        (tag, index, (loc >> 32) as usize, (loc & 0xFFFF_FFFF) as usize)
    }

    fn set_slot(&mut self, i: usize, tag: u64, index: u64, offset: usize, len: usize) {
        let at = INDEX + i * SLOT;
        put_u64(self.mem, at, tag);
        put_u64(self.mem, at + 8, index);
        put_u64(self.mem, at + 16, (offset as u64) << 32 | len as u64);
    }

    /// The slot holding `t`, or the empty slot where it would go.
    fn probe(&self, t: &Tile) -> (usize, bool) {
        let (tag, mask) = (tag(t), self.slots - 1);
        let mut i = hash(tag, t.index) as usize & mask;
        loop {
            let (st, si, _, _) = self.slot_at(i);
            if st == 0 {
                return (i, false);
            }
            if st == tag && si == t.index {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    /// Where object `t` is in memory: (offset, length). A partial tile or
    /// bundle that a wider one superseded is served as the start of the
    /// wider one: partial objects are prefixes of their successors (`put`
    /// enforces it), so the bytes are the same.
    pub fn find(&self, t: &Tile) -> Option<(usize, usize)> {
        if let (i, true) = self.probe(t) {
            let (_, _, off, len) = self.slot_at(i);
            return Some((off, len));
        }
        let wider = (t.width + 1..=256).find_map(|w| self.exact(&Tile { width: w, ..*t }))?;
        Some((wider.0, self.prefix_len(t, wider)?))
    }

    fn exact(&self, t: &Tile) -> Option<(usize, usize)> {
        match self.probe(t) {
            (i, true) => {
                let (_, _, off, len) = self.slot_at(i);
                Some((off, len))
            }
            _ => None,
        }
    }

    /// Bytes of the first `t.width` hashes or entries of the object at `loc`.
    fn prefix_len(&self, t: &Tile, loc: (usize, usize)) -> Option<usize> {
        let bytes = self.bytes(loc);
        let n = match t.kind {
            TileKind::Hashes { .. } => usize::from(t.width) * tlog::HASH_SIZE,
            TileKind::Entries => tlog::bundle::entries(bytes)
                .take(t.width.into())
                .try_fold(0, |n, e| e.ok().map(|e| n + tlog::bundle::encoded_len(e.len())))?,
        };
        (n <= bytes.len()).then_some(n)
    }

    /// The bytes of the object at `(offset, length)`.
    pub fn bytes(&self, loc: (usize, usize)) -> &[u8] {
        &self.mem[loc.0..loc.0 + loc.1]
    }

    /// Whether `new` (the bytes of `t`) agrees with every stored object at
    /// the same coordinates: equal to the same tile, a prefix of wider
    /// ones, starting with narrower ones. The stored ones already agree with
    /// each other (every `put` checked), so comparing with the nearest
    /// narrower and the nearest wider is enough: the cost of a put stays
    /// flat however many superseded partials wait for compaction.
    fn agrees(&self, t: &Tile, new: (usize, usize)) -> bool {
        let new_bytes = self.bytes(new);
        let at = |w: u16| self.exact(&Tile { width: w, ..*t }).map(|loc| self.bytes(loc));
        if let Some(old) = at(t.width) {
            return old == new_bytes;
        }
        let narrower = (1..t.width).rev().find_map(at);
        let wider = (t.width + 1..=256).find_map(at);
        narrower.is_none_or(|old| new_bytes.starts_with(old))
            && wider.is_none_or(|old| old.starts_with(new_bytes))
    }

    /// Stores object `t` of `len` bytes, which `fill` writes, write-once:
    /// the same object again must be identical, and partial objects must be
    /// prefixes of their wider successors. When space or index slots run
    /// out, superseded partial objects are compacted away first.
    pub fn put_with(
        &mut self,
        t: &Tile,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<()> {
        let room = |p: &Self| {
            let start = p.arena_start() + p.arena_used();
            (p.object_count() as usize + 1) * 2 <= p.slots
                && start
                    .checked_add(len)
                    .is_some_and(|end| end <= p.mem.len() && end <= u32::MAX as usize)
        };
        if !room(self) {
            self.compact();
            if !room(self) {
                return Err(StoreError::Full);
            }
        }
        // Write it where it would go, then decide; a refusal takes no space.
        let start = self.arena_start() + self.arena_used();
        if !fill(&mut self.mem[start..start + len]) {
            return Err(StoreError::TooSmall { needed: len });
        }
        if !self.agrees(t, (start, len)) {
            return Err(StoreError::Conflict);
        }
        let (slot, found) = self.probe(t);
        if found {
            return Ok(()); // identical to the stored one
        }
        self.set_slot(slot, tag(t), t.index, start, len);
        put_u64(self.mem, 16, self.object_count() + 1);
        put_u64(self.mem, 24, (self.arena_used() + len) as u64);
        Ok(())
    }

    /// The tree size of the stored checkpoint (0 without one).
    fn committed(&self) -> u64 {
        self.checkpoint().and_then(note::Checkpoint::peek_size).unwrap_or(0)
    }

    /// Drops the partial objects the committed tree has superseded (all but
    /// its own partial tile at each level; uncommitted objects stay) and
    /// slides the rest down the arena.
    pub fn compact(&mut self) -> u64 {
        let size = self.committed();
        let dropped = self.drop_where(|t| {
            !t.is_full() && t.within(size) && Tile::partial(t.kind, size) != Some(*t)
        });
        self.slide();
        dropped
    }

    /// Removes every entry `pred` selects, keeping the index's probe chains
    /// whole; returns how many it removed (and calls `removed` for each).
    fn drop_where(&mut self, pred: impl Fn(&Tile) -> bool) -> u64 {
        self.drop_with(pred, |_| {})
    }

    fn drop_with(&mut self, pred: impl Fn(&Tile) -> bool, mut removed: impl FnMut(&Tile)) -> u64 {
        // Walk from just after an empty slot (so no probe chain wraps past
        // the start), removing entries and re-inserting the others: each
        // moves back toward its hash over the holes left behind.
        let slots = self.slots;
        let empty = (0..slots).find(|&i| self.slot_at(i).0 == 0).unwrap_or(0);
        let mut count = 0;
        for step in 1..=slots {
            let i = (empty + step) % slots;
            let (tag, index, off, len) = self.slot_at(i);
            let Some(t) = untag(tag, index) else { continue };
            self.set_slot(i, 0, 0, 0, 0);
            if pred(&t) {
                removed(&t);
                count += 1;
            } else {
                let (j, _) = self.probe(&t);
                self.set_slot(j, tag, index, off, len);
            }
        }
        put_u64(self.mem, 16, self.object_count() - count);
        count
    }

    /// Moves the objects down the arena over the space of removed ones,
    /// in offset order, and updates their index entries.
    fn slide(&mut self) {
        let mut cursor = self.arena_start();
        let mut last: Option<usize> = None;
        loop {
            // The next object by original offset (moved ones now sit at or
            // below `last`, so they are not found again).
            let next = (0..self.slots)
                .filter_map(|i| {
                    let (tag, _, off, len) = self.slot_at(i);
                    (tag != 0 && last.is_none_or(|l| off > l)).then_some((off, len, i))
                })
                .min();
            let Some((off, len, i)) = next else { break };
            last = Some(off);
            if off != cursor {
                self.mem.copy_within(off..off + len, cursor);
                let (tag, index, _, _) = self.slot_at(i);
                self.set_slot(i, tag, index, cursor, len);
            }
            cursor += len;
        }
        put_u64(self.mem, 24, (cursor - self.arena_start()) as u64);
    }

    /// The stored checkpoint, if any.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        let len = self.checkpoint_len();
        (len > 0).then(|| &self.mem[HEADER..HEADER + len])
    }

    /// Every stored object and its bytes (for inspection and export).
    pub fn objects(&self) -> impl Iterator<Item = (Tile, &[u8])> + '_ {
        self.entries().map(|(t, off, len)| (t, &self.mem[off..off + len]))
    }

    /// Every stored object, as (tile, offset, length).
    fn entries(&self) -> impl Iterator<Item = (Tile, usize, usize)> + '_ {
        (0..self.slots).filter_map(|i| {
            let (tag, index, off, len) = self.slot_at(i);
            untag(tag, index).map(|t| (t, off, len))
        })
    }
}

impl TileStore for Partition<'_> {
    type Error = Infallible;

    fn get(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some(loc) = self.find(tile) else { return Ok(None) };
        let dst = buf.get_mut(..loc.1).ok_or(StoreError::TooSmall { needed: loc.1 })?;
        dst.copy_from_slice(self.bytes(loc));
        Ok(Some(loc.1))
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<()> {
        self.put_with(tile, data.len(), |new| {
            new.copy_from_slice(data);
            true
        })
    }

    fn sync(&mut self) -> Result<()> {
        Ok(()) // memory: every put is as durable as it gets
    }

    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let Some(cp) = self.checkpoint() else { return Ok(None) };
        let dst = buf.get_mut(..cp.len()).ok_or(StoreError::TooSmall { needed: cp.len() })?;
        dst.copy_from_slice(cp);
        Ok(Some(cp.len()))
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<()> {
        check_checkpoint_replace(self.checkpoint(), expected, new)?;
        if new.len() > CHECKPOINT_MAX {
            return Err(StoreError::BadCheckpoint);
        }
        self.mem[HEADER..HEADER + new.len()].copy_from_slice(new);
        put_u64(self.mem, 32, new.len() as u64);
        Ok(())
    }

    fn recover(&mut self, size: u64) -> Result<Recovery> {
        check_recover_size(self.checkpoint(), size)?;
        if self.checkpoint().is_none() && self.object_count() > 0 {
            return Err(StoreError::NoCheckpoint);
        }
        let mut rec = Recovery { size, ..Recovery::default() };
        self.drop_with(|t| !t.within(size), |t| rec.removed(t));
        self.slide();
        Ok(rec)
    }
}
