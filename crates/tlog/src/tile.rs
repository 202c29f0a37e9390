//! Tile coordinates and C2SP tlog-tiles paths.
//!
//! A tile at level `L` and index `N` holds up to 256 consecutive Merkle tree
//! hashes at tree level `8·L`; a full tile is 8,192 bytes. Entry bundles use
//! the same coordinates as level 0. Paths are
//! `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, with `N` written in
//! zero-padded groups of three digits, all but the last prefixed by `x`
//! (`1234067` → `x001/x234/067`).

use core::fmt::{self, Write};

use crate::hash::{HASH_SIZE, Hash, node_hash};

/// Tree levels spanned by one tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes in a full tile.
pub const TILE_BYTES: usize = TILE_WIDTH as usize * HASH_SIZE;
/// Tile levels a tree of up to [`crate::tree::MAX_TREE_SIZE`] leaves can use.
pub const MAX_TILE_LEVELS: usize = 8;
/// Longest path any tile can have (`tile/entries/x018/…/615.p/255` is 52).
pub const MAX_PATH_LEN: usize = 64;

/// A tile path, built without allocation.
pub type TilePath = heapless::String<MAX_PATH_LEN>;

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Merkle tree hashes at tree level `8·level`.
    Hashes {
        /// The tile level (0 holds leaf hashes).
        level: u8,
    },
    /// An entry bundle: the log entries whose leaf hashes form the level-0 tile.
    Entries,
}

/// The coordinates of one tile or entry bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Hashes (at some level) or entries.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes or entries, 1..=256; below 256 the tile is partial.
    pub width: u16,
}

impl Tile {
    /// A hash tile. `level` must be below [`MAX_TILE_LEVELS`]·8 (checked by [`Tile::parse`]).
    pub const fn hashes(level: u8, index: u64, width: u16) -> Tile {
        Tile { kind: TileKind::Hashes { level }, index, width }
    }

    /// An entry bundle.
    pub const fn entries(index: u64, width: u16) -> Tile {
        Tile { kind: TileKind::Entries, index, width }
    }

    /// The tile level; entry bundles share level 0's coordinates.
    pub fn level(&self) -> u8 {
        match self.kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        }
    }

    /// Whether the tile holds all 256 hashes or entries.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The same coordinates at full width.
    pub fn full(&self) -> Tile {
        Tile { width: TILE_WIDTH as u16, ..*self }
    }

    /// The number of hashes at this tile's tree level that a tree of `size`
    /// leaves has: `size / 256^level`.
    pub fn level_count(level: u8, size: u64) -> u64 {
        size.checked_shr(TILE_HEIGHT * u32::from(level)).unwrap_or(0)
    }

    /// The rightmost, partial tile of `kind` in a tree of `size` leaves, if the
    /// tree has one (C2SP: width `floor(size / 256^level) mod 256`, never 0).
    pub fn partial(kind: TileKind, size: u64) -> Option<Tile> {
        let level = match kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        };
        let count = Tile::level_count(level, size);
        let width = (count % TILE_WIDTH) as u16;
        (width > 0).then_some(Tile { kind, index: count / TILE_WIDTH, width })
    }

    /// Whether this tile belongs to the tree of `size` leaves: it is one of
    /// the tree's full tiles, its partial tile, or an older (narrower) partial
    /// tile at the same coordinates. Tiles beyond the tree are not.
    pub fn within(&self, size: u64) -> bool {
        let count = Tile::level_count(self.level(), size);
        self.index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(u64::from(self.width)))
            .is_some_and(|end| end <= count)
    }

    /// The path of this tile.
    pub fn path(&self) -> TilePath {
        let mut p = TilePath::new();
        // MAX_PATH_LEN fits every tile; a failure would only truncate.
        let _ = write!(p, "{self}");
        p
    }

    /// Parses a tile path, accepting exactly the canonical form [`Tile::path`] produces.
    pub fn parse(path: &str) -> Option<Tile> {
        let rest = path.strip_prefix("tile/")?;
        let (first, rest) = rest.split_once('/')?;
        let kind = if first == "entries" {
            TileKind::Entries
        } else {
            let level = parse_decimal(first, 63)?;
            TileKind::Hashes { level: level as u8 }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, w)) => {
                (index_part, parse_decimal(w, TILE_WIDTH - 1).filter(|&w| w > 0)?)
            }
            None => (rest, TILE_WIDTH),
        };
        let tile = Tile { kind, index: parse_index(index_part)?, width: width as u16 };
        // Reject non-canonical spellings (extra groups, leading zeros, …).
        (tile.path().as_str() == path).then_some(tile)
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TileKind::Hashes { level } => write!(f, "tile/{level}/")?,
            TileKind::Entries => f.write_str("tile/entries/")?,
        }
        write_index(f, self.index)?;
        if !self.is_full() {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

fn write_index(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    // u64 has at most 7 groups of three digits.
    let mut groups = [0u16; 7];
    let mut len = 0;
    let mut n = n;
    loop {
        groups[len] = (n % 1000) as u16;
        len += 1;
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups[..len].iter().rev().enumerate() {
        let sep = if i == 0 { "" } else { "/" };
        let x = if i + 1 < len { "x" } else { "" };
        write!(f, "{sep}{x}{g:03}")?;
    }
    Ok(())
}

fn parse_index(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    let mut groups = s.split('/').peekable();
    while let Some(g) = groups.next() {
        let digits = if groups.peek().is_some() { g.strip_prefix('x')? } else { g };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    Some(n)
}

/// Parses a decimal without leading zeros, at most `max`.
fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok().filter(|&v| v <= max)
}

/// The hash of the complete subtree whose bottom row is `hashes`, which must
/// hold a power-of-two number (1..=256) of hashes back to back.
pub fn subtree_hash(hashes: &[u8]) -> Hash {
    debug_assert!(
        hashes.len().is_multiple_of(HASH_SIZE) && (hashes.len() / HASH_SIZE).is_power_of_two()
    );
    if hashes.len() <= HASH_SIZE {
        let mut h = Hash::default();
        h.0.copy_from_slice(&hashes[..HASH_SIZE]);
        return h;
    }
    let (l, r) = hashes.split_at(hashes.len() / 2);
    node_hash(&subtree_hash(l), &subtree_hash(r))
}

/// The `i`-th hash of tile data, if present.
pub fn hash_at(tile_data: &[u8], i: usize) -> Option<Hash> {
    Hash::from_slice(tile_data.get(i * HASH_SIZE..(i + 1) * HASH_SIZE)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn paths_match_the_spec() {
        assert_eq!(Tile::hashes(0, 0, 256).path().as_str(), "tile/0/000");
        assert_eq!(Tile::hashes(1, 1234067, 256).path().as_str(), "tile/1/x001/x234/067");
        assert_eq!(Tile::hashes(2, 5, 17).path().as_str(), "tile/2/005.p/17");
        assert_eq!(Tile::entries(1000, 1).path().as_str(), "tile/entries/x001/000.p/1");
        let max = Tile::entries(u64::MAX, 255).to_string();
        assert_eq!(max, "tile/entries/x018/x446/x744/x073/x709/x551/615.p/255");
        assert!(max.len() <= MAX_PATH_LEN);
    }

    #[test]
    fn parse_rejects_non_canonical() {
        for bad in [
            "tile/0/0",
            "tile/0/0000",
            "tile/00/000",
            "tile/0/x000",
            "tile/0/001/234",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/01",
            "tile/64/000",
            "tile/entries/000.p/",
            "tile/0/x000/001",
            "tile/data/000",
            "checkpoint",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad}");
        }
        assert_eq!(Tile::parse("tile/0/x001/000"), Some(Tile::hashes(0, 1000, 256)));
    }

    #[test]
    fn spec_example_tree_of_70000() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles,
        // one partial level 0 tile of width 112, one full level 1 tile, one
        // partial level 1 tile of width 17, and one partial level 2 tile of width 1."
        let k = |level| TileKind::Hashes { level };
        assert_eq!(Tile::partial(k(0), 70_000), Some(Tile::hashes(0, 273, 112)));
        assert_eq!(Tile::partial(k(1), 70_000), Some(Tile::hashes(1, 1, 17)));
        assert_eq!(Tile::partial(k(2), 70_000), Some(Tile::hashes(2, 0, 1)));
        assert_eq!(Tile::partial(k(3), 70_000), None);
        assert_eq!(Tile::partial(k(1), 256), Some(Tile::hashes(1, 0, 1)));
        assert_eq!(Tile::partial(k(0), 256), None);
    }

    #[test]
    fn within_tree() {
        assert!(Tile::hashes(0, 0, 256).within(256));
        assert!(Tile::hashes(0, 0, 5).within(6));
        assert!(!Tile::hashes(0, 0, 7).within(6));
        assert!(!Tile::hashes(0, 1, 1).within(256));
        assert!(Tile::hashes(1, 0, 1).within(256));
        assert!(!Tile::hashes(1, 0, 2).within(511));
        assert!(!Tile::hashes(0, u64::MAX, 256).within(u64::MAX));
    }
}
