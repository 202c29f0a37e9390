//! A namespace's index in memory, rebuilt from its log at every open: one
//! entry per record, in log order (entry `i` is the record of sequence
//! number `i + 1`), and two open-addressing hash tables over them: by tile
//! (kind, level, index, width) and by coordinates (kind, level, index),
//! which leads to the widest object stored there.

use tlog::{Tile, TileKind};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `kind` of an entry bundle in an [`Entry`] (hash tiles store their level).
pub const ENTRIES: u8 = 0xFF;

/// The record's payload failed its CRC when the log was scanned.
pub const FLAG_CORRUPT: u8 = 1;
/// The record could not be read at all (its header was damaged); a
/// placeholder that keeps entry numbers equal to sequence numbers.
pub const FLAG_LOST: u8 = 2;

/// What the index knows of one record (40 bytes).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Entry {
    /// Extent offset of the record's header.
    pub offset: u64,
    /// Tile index.
    pub index: u64,
    /// Payload bytes.
    pub length: u32,
    /// Bytes of the whole object.
    pub object_len: u32,
    /// CRC-32C of the whole object.
    pub object_crc: u32,
    /// Entry number of the record this extends, plus one (0: none).
    pub base: u32,
    /// Zero.
    pub reserved: u32,
    /// Tile width.
    pub width: u16,
    /// Hash tile level, or [`ENTRIES`].
    pub kind: u8,
    /// [`FLAG_CORRUPT`], [`FLAG_LOST`].
    pub flags: u8,
}

impl Entry {
    /// The tile this record holds.
    pub fn tile(&self) -> Tile {
        let kind = match self.kind {
            ENTRIES => TileKind::Entries,
            level => TileKind::Hashes { level },
        };
        Tile { kind, index: self.index, width: self.width }
    }

    /// The index's kind byte of `t`.
    pub fn kind_of(t: &Tile) -> u8 {
        match t.kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => ENTRIES,
        }
    }

    /// Whether the record can be read.
    pub fn readable(&self) -> bool {
        self.flags & (FLAG_CORRUPT | FLAG_LOST) == 0
    }
}

/// Bytes of memory per entry, tables included (two slots per entry in each
/// of two tables).
pub const BYTES_PER_ENTRY: usize = size_of::<Entry>() + 2 * 2 * size_of::<u32>();

/// The index: entries and the two tables, in memory the caller lends.
pub struct Index<'m> {
    entries: &'m mut [Entry],
    len: usize,
    exact: &'m mut [u32],
    coords: &'m mut [u32],
}

fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

fn key_hash(kind: u8, index: u64, width: u16) -> u64 {
    mix(mix(u64::from(kind) << 16 | u64::from(width), index), 0x5EED)
}

impl<'m> Index<'m> {
    /// An empty index in `mem` (8-byte aligned), as large as fits.
    pub fn new(mem: &'m mut [u8]) -> Option<Index<'m>> {
        // Tables of `slots` (a power of two) for `slots / 2` entries.
        let fit = mem.len() / BYTES_PER_ENTRY * 2;
        let slots = 1usize << fit.checked_ilog2()?;
        let cap = slots / 2;
        if cap < 16 {
            return None;
        }
        let (entries, rest) = <[Entry]>::mut_from_prefix_with_elems(mem, cap).ok()?;
        let (exact, rest) = <[u32]>::mut_from_prefix_with_elems(rest, slots).ok()?;
        let (coords, _) = <[u32]>::mut_from_prefix_with_elems(rest, slots).ok()?;
        exact.fill(0);
        coords.fill(0);
        Some(Index { entries, len: 0, exact, coords })
    }

    /// Entries the index can hold.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.entries[..self.len].get(i)
    }

    /// Every entry, in log order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries[..self.len].iter()
    }

    /// The entry of exactly `t`.
    pub fn exact(&self, t: &Tile) -> Option<usize> {
        let kind = Entry::kind_of(t);
        self.probe(&*self.exact, key_hash(kind, t.index, t.width), |e| {
            e.kind == kind && e.index == t.index && e.width == t.width
        })
    }

    /// The widest entry at `t`'s coordinates (any width).
    pub fn widest(&self, t: &Tile) -> Option<usize> {
        let kind = Entry::kind_of(t);
        self.probe(&*self.coords, key_hash(kind, t.index, 0), |e| {
            e.kind == kind && e.index == t.index
        })
    }

    fn probe(&self, table: &[u32], h: u64, hit: impl Fn(&Entry) -> bool) -> Option<usize> {
        let mask = table.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let v = table[i] as usize;
            if v == 0 {
                return None;
            }
            if self.entries.get(v - 1).is_some_and(&hit) {
                return Some(v - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Appends `e`; `None` when the index is full. Lost placeholders are
    /// kept out of the tables.
    pub fn push(&mut self, e: Entry) -> Option<usize> {
        if self.len == self.entries.len() {
            return None;
        }
        let i = self.len;
        self.entries[i] = e;
        self.len += 1;
        if e.flags & FLAG_LOST == 0 {
            self.insert(i);
        }
        Some(i)
    }

    fn insert(&mut self, i: usize) {
        let e = self.entries[i];
        let v = i as u32 + 1;
        let mask = self.exact.len() - 1;
        // Exact: a tile is stored once; a later record of the same tile
        // (only after a torn tail was rewritten) takes its place.
        let mut s = key_hash(e.kind, e.index, e.width) as usize & mask;
        loop {
            let cur = self.exact[s] as usize;
            let same = cur != 0 && {
                let c = &self.entries[cur - 1];
                c.kind == e.kind && c.index == e.index && c.width == e.width
            };
            if cur == 0 || same {
                self.exact[s] = v;
                break;
            }
            s = (s + 1) & mask;
        }
        // Coordinates: the widest object wins.
        let mut s = key_hash(e.kind, e.index, 0) as usize & mask;
        loop {
            let cur = self.coords[s] as usize;
            if cur == 0 {
                self.coords[s] = v;
                return;
            }
            let c = self.entries[cur - 1];
            if c.kind == e.kind && c.index == e.index {
                if e.width >= c.width {
                    self.coords[s] = v;
                }
                return;
            }
            s = (s + 1) & mask;
        }
    }

    /// Keeps the first `len` entries and forgets the rest.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        self.len = len;
        self.exact.fill(0);
        self.coords.fill(0);
        for i in 0..len {
            if self.entries[i].flags & FLAG_LOST == 0 {
                self.insert(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: Tile, offset: u64) -> Entry {
        Entry {
            offset,
            index: t.index,
            width: t.width,
            kind: Entry::kind_of(&t),
            length: 32 * u32::from(t.width),
            object_len: 32 * u32::from(t.width),
            ..Entry::default()
        }
    }

    #[test]
    fn finds_exact_and_widest_and_forgets_truncated() {
        let mut mem = vec![0u64; 4096];
        let mut ix = Index::new(mem.as_mut_bytes()).unwrap();
        let a = Tile::hashes(0, 7, 3);
        let b = Tile::hashes(0, 7, 9);
        let c = Tile::entries(7, 9);
        ix.push(entry(a, 100)).unwrap();
        ix.push(entry(c, 200)).unwrap();
        ix.push(entry(b, 300)).unwrap();
        assert_eq!(ix.exact(&a), Some(0));
        assert_eq!(ix.exact(&b), Some(2));
        assert_eq!(ix.exact(&Tile::hashes(0, 7, 4)), None);
        assert_eq!(ix.widest(&Tile::hashes(0, 7, 1)), Some(2));
        assert_eq!(ix.widest(&Tile::entries(7, 1)), Some(1));
        assert_eq!(ix.widest(&Tile::hashes(1, 7, 1)), None);
        ix.truncate(2);
        assert_eq!(ix.exact(&b), None);
        assert_eq!(ix.widest(&a), Some(0));
    }

    #[test]
    fn fills_up_and_says_so() {
        let mut mem = vec![0u64; 512];
        let mut ix = Index::new(mem.as_mut_bytes()).unwrap();
        let cap = ix.capacity();
        for i in 0..cap {
            assert!(ix.push(entry(Tile::hashes(0, i as u64, 256), 0)).is_some());
        }
        assert!(ix.push(entry(Tile::hashes(0, 1 << 40, 256), 0)).is_none());
        for i in 0..cap {
            assert_eq!(ix.exact(&Tile::hashes(0, i as u64, 256)), Some(i));
        }
    }
}
