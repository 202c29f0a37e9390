//! Tree hashes, the stored-hash append algorithm, and the incremental
//! [`Builder`] that produces tile contents as entries are appended.

use core::convert::Infallible;

use crate::hash::{EMPTY_ROOT, HASH_SIZE, Hash, node_hash};
use crate::tile::{
    MAX_TILE_LEVELS, TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, Tile, TileKind, subtree_hash,
};

/// The largest tree this crate handles (Go's `tlog` uses `int64` sizes).
pub const MAX_TREE_SIZE: u64 = (1 << 63) - 1;

/// Source of the hashes of complete subtrees.
///
/// `node(level, index)` is the hash of the complete subtree of `2^level`
/// leaves starting at leaf `index << level`.
pub trait NodeReader {
    /// Why a hash could not be read.
    type Error;
    /// Reads one complete-subtree hash.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

impl<R: NodeReader + ?Sized> NodeReader for &mut R {
    type Error = R::Error;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, R::Error> {
        (**self).node(level, index)
    }
}

/// `MTH(D[lo:hi])` for a range reached by the RFC 6962 recursion from
/// `[0, n)`, where `lo` is a multiple of the largest power of two not above
/// `hi - lo`. Such a range is a run of complete subtrees, largest first.
pub(crate) fn range_hash<R: NodeReader>(lo: u64, hi: u64, r: &mut R) -> Result<Hash, R::Error> {
    debug_assert!(lo < hi);
    let mut parts = [Hash::default(); 64];
    let mut count = 0;
    let mut at = lo;
    while at < hi {
        let level = (hi - at).ilog2();
        debug_assert!(at.trailing_zeros() >= level || at == 0, "unaligned range");
        parts[count] = r.node(level as u8, at >> level)?;
        count += 1;
        at += 1 << level;
    }
    let mut h = parts[count - 1];
    for p in parts[..count - 1].iter().rev() {
        h = node_hash(p, &h);
    }
    Ok(h)
}

/// The root hash of the tree of `size` leaves (`SHA-256("")` when empty).
pub fn tree_hash<R: NodeReader>(size: u64, r: &mut R) -> Result<Hash, R::Error> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    range_hash(0, size, r)
}

/// Go `tlog`'s dense ordering of every stored hash (Crosby–Wallach §3.3):
/// the position of `(level, n)` when hashes are stored in the order appends
/// produce them.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut i = 0;
    while n > 0 {
        i += n;
        n >>= 1;
    }
    i + u64::from(level)
}

/// The inverse of [`stored_hash_index`].
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    // stored_hash_index(0, n) < 2n, so the record is in [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        // Record n stores 1 + trailing_ones(n) hashes.
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u8;
    (level, n >> level)
}

/// The number of hashes stored for a tree of `size` leaves.
pub fn stored_hash_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    stored_hash_index(0, size - 1) + 1 + u64::from((size - 1).trailing_ones())
}

/// The hashes to store when appending leaf `n` with hash `leaf`, in stored
/// order: the leaf, then each subtree it completes. Reads the left siblings
/// (one per trailing one bit of `n`) from `r`.
pub fn stored_hashes<R: NodeReader>(
    n: u64,
    leaf: Hash,
    r: &mut R,
) -> Result<heapless::Vec<Hash, 64>, R::Error> {
    let mut out = heapless::Vec::new();
    let mut h = leaf;
    let _ = out.push(h);
    let mut level = 0u8;
    while (n >> level) & 1 == 1 {
        h = node_hash(&r.node(level, (n >> level) - 1)?, &h);
        level += 1;
        // At most 63 trailing ones below MAX_TREE_SIZE, so this never overflows 64.
        let _ = out.push(h);
    }
    Ok(out)
}

/// Bytes of memory a [`Builder`] needs: one tile per level.
pub const EDGE_BYTES: usize = TILE_BYTES * MAX_TILE_LEVELS;

/// Leaves in a run [`Builder::push_run`] appends: one batch of hashes.
pub const RUN: usize = crate::batch::CHUNK;
const _: () = assert!(RUN.is_power_of_two() && RUN <= TILE_WIDTH as usize);

/// The growing right edge of a tree: enough state to append leaves, to
/// compute the root, and to produce every tile the tree needs.
///
/// It keeps the rightmost tile of every level in `T` ([`EDGE_BYTES`] bytes:
/// an array, a boxed slice, or static memory in a protection domain) and the
/// roots of the complete subtrees along the right edge. Full tiles must be
/// taken with [`Builder::tile`] right after the [`Builder::push`] that
/// completed them.
#[derive(Clone)]
pub struct Builder<T = [u8; EDGE_BYTES]> {
    size: u64,
    /// `frontier[l]` is the subtree of `2^l` leaves ending the left part of
    /// the tree; valid when bit `l` of `size` is set.
    frontier: [Hash; 64],
    /// The rightmost tile of each level, as stored, back to back.
    tiles: T,
    /// Whether level `l`'s rightmost tile is full and held (true only when a
    /// push completed it; a restored builder holds partial tiles only).
    full: [bool; MAX_TILE_LEVELS],
}

/// Why a builder could not be restored or extended.
#[derive(Debug, PartialEq, Eq)]
pub enum BuilderError<E> {
    /// The tree would exceed [`MAX_TREE_SIZE`].
    TooLarge,
    /// The memory given is shorter than [`EDGE_BYTES`].
    NoMemory,
    /// Reading a partial tile failed.
    Read(E),
    /// [`Builder::push_run`] at a size that is not a multiple of [`RUN`].
    Unaligned,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// An empty tree, with its memory inline.
    pub fn new() -> Builder {
        Builder {
            size: 0,
            frontier: [Hash::default(); 64],
            tiles: [0; EDGE_BYTES],
            full: [false; MAX_TILE_LEVELS],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Builder<T> {
    /// An empty tree using `tiles` (at least [`EDGE_BYTES`] long) as its
    /// memory; gives `tiles` back when it is too short.
    pub fn with_memory(tiles: T) -> Result<Builder<T>, T> {
        if tiles.as_ref().len() < EDGE_BYTES {
            return Err(tiles);
        }
        Ok(Builder {
            size: 0,
            frontier: [Hash::default(); 64],
            tiles,
            full: [false; MAX_TILE_LEVELS],
        })
    }

    /// Gives the memory back.
    pub fn into_memory(self) -> T {
        self.tiles
    }

    fn level_tile(&self, level: usize) -> &[u8] {
        &self.tiles.as_ref()[level * TILE_BYTES..(level + 1) * TILE_BYTES]
    }

    /// Rebuilds the right edge of a tree of `size` leaves from its partial
    /// tiles, which `read` fills (it gets the tile and a buffer of exactly
    /// the tile's length). Only the partial tiles are needed: every subtree
    /// on the right edge lies in one.
    pub fn restore<E>(
        tiles: T,
        size: u64,
        read: impl FnMut(Tile, &mut [u8]) -> Result<(), E>,
    ) -> Result<Builder<T>, BuilderError<E>> {
        let mut b = Builder::with_memory(tiles).map_err(|_| BuilderError::NoMemory)?;
        b.reload(size, read)?;
        Ok(b)
    }

    /// [`Builder::restore`] in place. On error the builder is empty.
    pub fn reload<E>(
        &mut self,
        size: u64,
        mut read: impl FnMut(Tile, &mut [u8]) -> Result<(), E>,
    ) -> Result<(), BuilderError<E>> {
        self.size = 0;
        self.full = [false; MAX_TILE_LEVELS];
        if size > MAX_TREE_SIZE {
            return Err(BuilderError::TooLarge);
        }
        for level in 0..MAX_TILE_LEVELS as u8 {
            if let Some(t) = Tile::partial(TileKind::Hashes { level }, size) {
                let at = usize::from(level) * TILE_BYTES;
                let len = usize::from(t.width) * HASH_SIZE;
                read(t, &mut self.tiles.as_mut()[at..at + len]).map_err(BuilderError::Read)?;
            }
        }
        self.size = size;
        for l in 0..64u32 {
            if size >> l & 1 == 1 {
                self.frontier[l as usize] = self.edge_subtree(l);
            }
        }
        Ok(())
    }

    /// The right-edge subtree at tree level `l`, computed from the partial
    /// tile at level `l / 8`, where its bottom row lies.
    fn edge_subtree(&self, l: u32) -> Hash {
        let level = l / TILE_HEIGHT;
        let k = l % TILE_HEIGHT;
        let count = self.size >> (level * TILE_HEIGHT);
        let start = (count & !((2u64 << k) - 1)) % TILE_WIDTH;
        let data = self.level_tile(level as usize);
        let from = start as usize * HASH_SIZE;
        subtree_hash(&data[from..from + (HASH_SIZE << k)])
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash. Returns how many tile levels it completed: tiles
    /// at levels `0..n` are now full, and must be written before the next push.
    pub fn push(&mut self, leaf: Hash) -> Result<u8, BuilderError<core::convert::Infallible>> {
        let n = self.size;
        if n >= MAX_TREE_SIZE {
            return Err(BuilderError::TooLarge);
        }
        self.set_tile_hash(0, n, &leaf);
        self.join(n, leaf, 0);
        self.size = n + 1;
        Ok(self.mark_full())
    }

    /// Appends [`RUN`] leaf hashes to a tree whose size is a multiple of
    /// [`RUN`]: their subtree's nodes are hashed a row at a time
    /// ([`crate::batch`]) rather than one chain per leaf. Returns the tile
    /// levels completed, as [`Builder::push`] does; a run never straddles a
    /// tile, so nothing completes inside it.
    pub fn push_run(&mut self, leaves: &[Hash; RUN]) -> Result<u8, BuilderError<Infallible>> {
        let n = self.size;
        if !n.is_multiple_of(RUN as u64) {
            return Err(BuilderError::Unaligned);
        }
        if n + RUN as u64 > MAX_TREE_SIZE {
            return Err(BuilderError::TooLarge);
        }
        for (i, leaf) in (n..).zip(leaves) {
            self.set_tile_hash(0, i, leaf);
        }
        let at = (n % TILE_WIDTH) as usize * HASH_SIZE;
        let h = crate::batch::subtree(&self.level_tile(0)[at..at + RUN * HASH_SIZE]);
        self.join(n, h, RUN.trailing_zeros());
        self.size = n + RUN as u64;
        Ok(self.mark_full())
    }

    /// Joins the new complete subtree `h` of `2^level` leaves, the first of
    /// them leaf `n`, to the right edge: merged with each frontier subtree
    /// it completes (the nodes at tile levels stored in their tiles), then
    /// the frontier's entry at the level it reaches.
    fn join(&mut self, n: u64, mut h: Hash, mut level: u32) {
        while (n >> level) & 1 == 1 {
            h = node_hash(&self.frontier[level as usize], &h);
            level += 1;
            if level.is_multiple_of(TILE_HEIGHT) {
                self.set_tile_hash(level / TILE_HEIGHT, n >> level, &h);
            }
        }
        self.frontier[level as usize] = h;
    }

    /// Marks the tiles the last append completed; returns how many.
    fn mark_full(&mut self) -> u8 {
        let completed = (self.size.trailing_zeros() / TILE_HEIGHT).min(MAX_TILE_LEVELS as u32);
        for (l, full) in self.full.iter_mut().enumerate() {
            *full = (l as u32) < completed;
        }
        completed as u8
    }

    fn set_tile_hash(&mut self, level: u32, index: u64, h: &Hash) {
        let at = level as usize * TILE_BYTES + (index % TILE_WIDTH) as usize * HASH_SIZE;
        self.tiles.as_mut()[at..at + HASH_SIZE].copy_from_slice(&h.0);
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        let mut root: Option<Hash> = None;
        for l in 0..64 {
            if self.size >> l & 1 == 1 {
                let left = &self.frontier[l];
                root = Some(root.map_or(*left, |r| node_hash(left, &r)));
            }
        }
        root.unwrap_or(EMPTY_ROOT)
    }

    /// The rightmost tile at `level` and its data: the partial tile, or the
    /// full tile that the last push completed. `None` when the level is empty
    /// or its rightmost tile is full but was not completed by the last push.
    pub fn tile(&self, level: u8) -> Option<(Tile, &[u8])> {
        let count = Tile::level_count(level, self.size);
        if count == 0 || usize::from(level) >= MAX_TILE_LEVELS {
            return None;
        }
        let width = (count - 1) % TILE_WIDTH + 1;
        if width == TILE_WIDTH && !self.full[usize::from(level)] {
            return None;
        }
        let tile = Tile::hashes(level, (count - 1) / TILE_WIDTH, width as u16);
        Some((tile, &self.level_tile(usize::from(level))[..width as usize * HASH_SIZE]))
    }

    /// Reads complete subtrees inside the rightmost tiles, the only ones the
    /// builder holds; other nodes are `None`.
    pub fn node(&self, level: u8, index: u64) -> Option<Hash> {
        let l = u32::from(level);
        let tile_level = l / TILE_HEIGHT;
        let k = l % TILE_HEIGHT;
        let (tile, data) = self.tile(tile_level as u8)?;
        let first = index.checked_mul(1 << k)?;
        let start = first.checked_sub(tile.index * TILE_WIDTH)?;
        let end = start + (1 << k);
        if end > u64::from(tile.width) {
            return None;
        }
        Some(subtree_hash(&data[start as usize * HASH_SIZE..end as usize * HASH_SIZE]))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    extern crate std;
    use std::vec::Vec;

    /// Every stored hash of a tree, in Go's stored-hash order.
    pub(crate) struct Stored(pub Vec<Hash>);

    impl NodeReader for Stored {
        type Error = ();
        fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
            self.0.get(stored_hash_index(level, index) as usize).copied().ok_or(())
        }
    }

    pub(crate) fn stored(entries: impl IntoIterator<Item = Vec<u8>>) -> Stored {
        let mut s = Stored(Vec::new());
        for (n, e) in entries.into_iter().enumerate() {
            let hs = stored_hashes(n as u64, leaf_hash(&e), &mut s).unwrap();
            s.0.extend_from_slice(&hs);
        }
        s
    }

    const RFC6962_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    pub(crate) fn rfc6962_leaves() -> Vec<Vec<u8>> {
        std::vec![
            std::vec![],
            std::vec![0x00],
            std::vec![0x10],
            std::vec![0x20, 0x21],
            std::vec![0x30, 0x31],
            std::vec![0x40, 0x41, 0x42, 0x43],
            (0x50..0x58).collect(),
            (0x60..0x70).collect(),
        ]
    }

    #[test]
    fn rfc6962_reference_roots() {
        let leaves = rfc6962_leaves();
        let mut s = stored(leaves.clone());
        let mut b = Builder::new();
        for (i, want) in RFC6962_ROOTS.iter().enumerate() {
            let got = tree_hash(i as u64 + 1, &mut s).unwrap();
            assert_eq!(std::format!("{got:?}"), *want, "size {}", i + 1);
            b.push(leaf_hash(&leaves[i])).unwrap();
            assert_eq!(b.root(), got);
        }
        assert_eq!(tree_hash(0, &mut s).unwrap(), EMPTY_ROOT);
    }

    #[test]
    fn stored_hash_index_matches_go() {
        // Values from Go's tlog_test.go ordering: (level, n) → index.
        let cases = [(0, 0, 0), (0, 1, 1), (1, 0, 2), (0, 2, 3), (0, 3, 4), (1, 1, 5), (2, 0, 6)];
        for (level, n, index) in cases {
            assert_eq!(stored_hash_index(level, n), index);
            assert_eq!(split_stored_hash_index(index), (level, n));
        }
        for index in 0..10_000 {
            let (l, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(l, n), index);
        }
        let mut s = Stored(Vec::new());
        for size in 0..1000u64 {
            assert_eq!(stored_hash_count(size), s.0.len() as u64);
            let hs = stored_hashes(size, leaf_hash(&size.to_be_bytes()), &mut s).unwrap();
            s.0.extend_from_slice(&hs);
        }
    }

    /// Runs of leaves give the tree, tiles and completions of single pushes,
    /// and are refused off a multiple of [`RUN`].
    #[test]
    fn runs_equal_single_pushes() {
        let (mut one, mut runs) = (Builder::new(), Builder::new());
        let leaf = |i: u64| leaf_hash(&i.to_be_bytes());
        let mut i = 0u64;
        while i < 70_000 {
            // Runs where aligned, except now and then, so both paths mix.
            if i.is_multiple_of(RUN as u64) && i % 7 != 3 {
                let leaves: [Hash; RUN] = core::array::from_fn(|k| leaf(i + k as u64));
                let mut completed = 0;
                for (k, l) in leaves.iter().enumerate() {
                    completed = one.push(*l).unwrap();
                    assert!(completed == 0 || k == RUN - 1, "a tile completed inside a run");
                }
                assert_eq!(runs.push_run(&leaves).unwrap(), completed);
                for level in 0..completed {
                    assert_eq!(runs.tile(level).map(|t| t.1), one.tile(level).map(|t| t.1));
                }
                i += RUN as u64;
            } else {
                assert_eq!(runs.push(leaf(i)).unwrap(), one.push(leaf(i)).unwrap());
                if !runs.size().is_multiple_of(RUN as u64) {
                    let leaves = [leaf(0); RUN];
                    assert!(matches!(runs.push_run(&leaves), Err(BuilderError::Unaligned)));
                }
                i += 1;
            }
            assert_eq!(runs.size(), one.size());
            assert_eq!(runs.root(), one.root(), "size {i}");
        }
    }

    fn vec_entries(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| i.to_be_bytes().to_vec()).collect()
    }

    #[test]
    fn builder_tiles_and_restore() {
        let n = 70_000u64;
        let mut s = stored(vec_entries(n));
        let mut b = Builder::new();
        for i in 0..n {
            let done = b.push(leaf_hash(&i.to_be_bytes())).unwrap();
            for level in 0..done {
                let (t, data) = b.tile(level).unwrap();
                assert!(t.is_full());
                check_tile(&mut s, t, data);
            }
        }
        assert_eq!(b.root(), tree_hash(n, &mut s).unwrap());
        for level in 0..3 {
            let (t, data) = b.tile(level).unwrap();
            check_tile(&mut s, t, data);
        }
        // Restore from the partial tiles alone and keep appending.
        let restored = Builder::restore([0; EDGE_BYTES], n, |t, buf: &mut [u8]| {
            let (bt, data) = b.tile(t.level()).unwrap();
            assert_eq!(bt, t);
            buf.copy_from_slice(data);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(restored.root(), b.root());
        let mut r2 = restored.clone();
        let mut b2 = b.clone();
        for i in n..n + 600 {
            r2.push(leaf_hash(&i.to_be_bytes())).unwrap();
            b2.push(leaf_hash(&i.to_be_bytes())).unwrap();
            assert_eq!(r2.root(), b2.root());
        }
    }

    fn check_tile(s: &mut Stored, t: Tile, data: &[u8]) {
        let level = t.level() * 8;
        for i in 0..usize::from(t.width) {
            let want = s.node(level, t.index * 256 + i as u64).unwrap();
            assert_eq!(&data[i * 32..i * 32 + 32], &want.0, "{t} hash {i}");
        }
    }

    #[test]
    fn builder_node_reads_edge_tiles() {
        let n = 1000u64;
        let mut s = stored(vec_entries(n));
        let mut b = Builder::new();
        for i in 0..n {
            b.push(leaf_hash(&i.to_be_bytes())).unwrap();
        }
        // Level 0 nodes 768..1000 and level 3 node 96 live in the partial tile.
        assert_eq!(b.node(0, 999), s.node(0, 999).ok());
        assert_eq!(b.node(3, 96), s.node(3, 96).ok());
        assert_eq!(b.node(0, 767), None);
        assert_eq!(b.node(0, 1000), None);
        assert_eq!(b.node(8, 3), None);
        assert_eq!(b.node(8, 2), s.node(8, 2).ok());
    }
}
