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

    /// Where object `t` is in memory: (offset, length).
    pub fn find(&self, t: &Tile) -> Option<(usize, usize)> {
        match self.probe(t) {
            (i, true) => {
                let (_, _, off, len) = self.slot_at(i);
                Some((off, len))
            }
            _ => None,
        }
    }

    /// The bytes of the object at `(offset, length)`.
    pub fn bytes(&self, loc: (usize, usize)) -> &[u8] {
        &self.mem[loc.0..loc.0 + loc.1]
    }

    /// Stores a new object of `len` bytes that `fill` writes, write-once:
    /// an existing object must be identical (`same` compares it).
    pub fn put_with(
        &mut self,
        t: &Tile,
        len: usize,
        same: impl FnOnce(&[u8]) -> bool,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<()> {
        let (slot, found) = self.probe(t);
        if found {
            let (_, _, off, olen) = self.slot_at(slot);
            return if olen == len && same(&self.mem[off..off + len]) {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            };
        }
        // Keep the index at most half full, so probes stay short.
        if (self.object_count() as usize + 1) * 2 > self.slots {
            return Err(StoreError::Full);
        }
        let start = self.arena_start() + self.arena_used();
        if start.checked_add(len).is_none_or(|end| end > self.mem.len()) || len > u32::MAX as usize
        {
            return Err(StoreError::Full);
        }
        if !fill(&mut self.mem[start..start + len]) {
            return Err(StoreError::TooSmall { needed: len });
        }
        self.set_slot(slot, tag(t), t.index, start, len);
        put_u64(self.mem, 16, self.object_count() + 1);
        put_u64(self.mem, 24, (self.arena_used() + len) as u64);
        Ok(())
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
        self.put_with(
            tile,
            data.len(),
            |old| old == data,
            |new| {
                new.copy_from_slice(data);
                true
            },
        )
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
        let beyond = self.entries().filter(|(t, _, _)| !t.within(size)).count();
        if beyond == 0 {
            return Ok(rec);
        }
        // Remove them and re-insert every other entry in place: walking from
        // just after an empty slot (so no probe chain wraps past the start),
        // each entry moves back toward its hash over the holes left behind.
        let live: u64 = self.entries().filter(|(t, _, _)| t.within(size)).count() as u64;
        let slots = self.slots;
        let empty = (0..slots).find(|&i| self.slot_at(i).0 == 0).unwrap_or(0);
        let mut arena_end = self.arena_start();
        for step in 1..=slots {
            let i = (empty + step) % slots;
            let (tag, index, off, len) = self.slot_at(i);
            let Some(t) = untag(tag, index) else { continue };
            self.set_slot(i, 0, 0, 0, 0);
            if t.within(size) {
                let (j, _) = self.probe(&t);
                self.set_slot(j, tag, index, off, len);
                arena_end = arena_end.max(off + len);
            } else {
                rec.removed(&t);
            }
        }
        put_u64(self.mem, 16, live);
        put_u64(self.mem, 24, (arena_end - self.arena_start()) as u64);
        Ok(rec)
    }
}
