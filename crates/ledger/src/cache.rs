//! Verified full hash tiles, each with every interior node it implies,
//! direct-mapped into one buffer: a node of a cached tile is a lookup, not
//! up to 127 hashes, and a tile is read and checked once while it stays.
//!
//! The buffer holds a tag per slot (which tile it holds, if any) and then
//! the slots. Tags are cleared when the cache is made, so a reused buffer
//! never answers for another tree; slot data is written only when a tile is
//! loaded, so a large host buffer costs memory only as tiles fill it.

use tlog::tile::{TILE_BYTES, TILE_HEIGHT};
use tlog::{HASH_SIZE, Hash, TILE_WIDTH};

/// Hashes a slot holds: the tile's 256 and its 255 interior nodes.
const NODES: usize = 2 * TILE_WIDTH as usize - 1;
/// Bytes of one slot's nodes.
const SLOT_NODES: usize = NODES * HASH_SIZE;
/// Bytes of a tag: level + 1 (0: empty), then the tile index, little-endian.
const TAG: usize = 16;

/// Bytes one cached tile costs.
pub const SLOT_BYTES: usize = TAG + SLOT_NODES;

/// Where row `k` (0: the tile's own hashes, 8: its root) starts in a slot,
/// in hashes: rows shrink by half, so row `k` follows `512 - 512 >> k`.
const fn row_start(k: u32) -> usize {
    2 * TILE_WIDTH as usize - ((2 * TILE_WIDTH as usize) >> k)
}

/// A direct-mapped cache of verified full hash tiles over a buffer.
pub struct TileCache<B> {
    mem: B,
    slots: usize,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> TileCache<B> {
    /// A cache of as many tiles as fit `mem`, empty; `None` if not one does.
    pub fn new(mut mem: B) -> Result<Self, B> {
        let slots = mem.as_ref().len() / SLOT_BYTES;
        if slots == 0 {
            return Err(mem);
        }
        mem.as_mut()[..slots * TAG].fill(0);
        Ok(TileCache { mem, slots })
    }

    /// How many tiles it holds at most.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> B {
        self.mem
    }

    fn slot_of(&self, level: u8, index: u64) -> usize {
        // Consecutive tiles of a level take consecutive slots; levels are
        // spread apart so that a tile and its parent rarely share one.
        let spread = u64::from(level).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((index ^ spread) % self.slots as u64) as usize
    }

    fn tag(level: u8, index: u64) -> [u8; TAG] {
        let mut tag = [0; TAG];
        tag[..8].copy_from_slice(&(u64::from(level) + 1).to_le_bytes());
        tag[8..].copy_from_slice(&index.to_le_bytes());
        tag
    }

    fn nodes(&self, slot: usize) -> &[u8] {
        let at = self.slots * TAG + slot * SLOT_NODES;
        &self.mem.as_ref()[at..at + SLOT_NODES]
    }

    /// The slot holding tile (`level`, `index`), if one does.
    fn find(&self, level: u8, index: u64) -> Option<usize> {
        let slot = self.slot_of(level, index);
        let tag = &self.mem.as_ref()[slot * TAG..(slot + 1) * TAG];
        (tag == Self::tag(level, index)).then_some(slot)
    }

    /// Whether tile (`level`, `index`) is held.
    pub fn holds(&self, level: u8, index: u64) -> bool {
        self.find(level, index).is_some()
    }

    /// The tile's own 256 hashes, as stored.
    pub fn tile(&self, level: u8, index: u64) -> Option<&[u8]> {
        self.find(level, index).map(|s| &self.nodes(s)[..TILE_BYTES])
    }

    /// Node `pos` of row `k` (`k` levels above the tile's hashes) of the tile.
    pub fn node(&self, level: u8, index: u64, k: u32, pos: usize) -> Option<Hash> {
        if k > TILE_HEIGHT || pos >= TILE_WIDTH as usize >> k {
            return None;
        }
        let at = (row_start(k) + pos) * HASH_SIZE;
        Hash::from_slice(&self.find(level, index).map(|s| self.nodes(s))?[at..at + HASH_SIZE])
    }

    /// Frees the slot of tile (`level`, `index`) and gives its first
    /// [`TILE_BYTES`], for the caller to read the tile into; then
    /// [`TileCache::expand`] and, once its root is checked,
    /// [`TileCache::admit`].
    pub fn load(&mut self, level: u8, index: u64) -> &mut [u8] {
        let slot = self.slot_of(level, index);
        self.mem.as_mut()[slot * TAG..(slot + 1) * TAG].fill(0);
        let at = self.slots * TAG + slot * SLOT_NODES;
        &mut self.mem.as_mut()[at..at + TILE_BYTES]
    }

    /// Computes every interior node of the tile just loaded into the slot of
    /// (`level`, `index`); returns its root.
    pub fn expand(&mut self, level: u8, index: u64) -> Hash {
        let slot = self.slot_of(level, index);
        let at = self.slots * TAG + slot * SLOT_NODES;
        let nodes = &mut self.mem.as_mut()[at..at + SLOT_NODES];
        for k in 0..TILE_HEIGHT {
            let (below, above) = nodes.split_at_mut(row_start(k + 1) * HASH_SIZE);
            tlog::batch::parents(&below[row_start(k) * HASH_SIZE..], above);
        }
        hash(&nodes[row_start(TILE_HEIGHT) * HASH_SIZE..])
    }

    /// Marks the slot of (`level`, `index`) as holding that tile.
    pub fn admit(&mut self, level: u8, index: u64) {
        let slot = self.slot_of(level, index);
        self.mem.as_mut()[slot * TAG..(slot + 1) * TAG].copy_from_slice(&Self::tag(level, index));
    }
}

fn hash(bytes: &[u8]) -> Hash {
    Hash::from_slice(&bytes[..HASH_SIZE]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog::tile::subtree_hash;

    fn tile(seed: u8) -> [u8; TILE_BYTES] {
        core::array::from_fn(|i| (i as u8).wrapping_mul(31) ^ seed)
    }

    #[test]
    fn nodes_equal_subtree_hashes() {
        let mut c = TileCache::new(vec![0u8; 3 * SLOT_BYTES]).unwrap();
        let t = tile(5);
        c.load(1, 7).copy_from_slice(&t);
        let root = c.expand(1, 7);
        assert_eq!(root, subtree_hash(&t));
        assert!(!c.holds(1, 7), "held only once admitted");
        c.admit(1, 7);
        for k in 0..=TILE_HEIGHT {
            let w = HASH_SIZE << k;
            for pos in 0..TILE_WIDTH as usize >> k {
                let want = subtree_hash(&t[pos * w..(pos + 1) * w]);
                assert_eq!(c.node(1, 7, k, pos), Some(want), "row {k} node {pos}");
            }
            assert_eq!(c.node(1, 7, k, TILE_WIDTH as usize >> k), None);
        }
        assert_eq!(c.tile(1, 7), Some(&t[..]));
        assert_eq!(c.node(0, 7, 0, 0), None, "another level");
        assert_eq!(c.node(1, 10, 0, 0), None, "another tile in the same slot");
    }

    #[test]
    fn a_reused_buffer_holds_nothing_and_a_load_evicts() {
        let mut c = TileCache::new(vec![0u8; SLOT_BYTES]).unwrap();
        c.load(0, 3).copy_from_slice(&tile(1));
        c.expand(0, 3);
        c.admit(0, 3);
        let c = TileCache::new(c.into_inner()).unwrap();
        assert!(!c.holds(0, 3));
        let mut c = c;
        c.load(0, 3).copy_from_slice(&tile(1));
        c.admit(0, 3);
        c.load(0, 4);
        assert!(!c.holds(0, 3) && !c.holds(0, 4), "one slot: loading another frees it");
        assert!(TileCache::new(vec![0u8; SLOT_BYTES - 1]).is_err());
    }
}
