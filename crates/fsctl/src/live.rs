//! Proofs from a tenant's files while another process (a live
//! `service-fsd`) holds its writer lock: read-only, after verifying the
//! whole log against the tenant's key, and not audited: reading the files
//! directly is not the daemon's to record.

use std::collections::HashMap;
use std::io;

use anyhow::{Result, anyhow};
use tlog::tile::subtree_hash;
use tlog::{HASH_SIZE, Hash, TILE_WIDTH, Tile, TileKind, tree::NodeReader};
use verify::Source;

/// The tree of a verified checkpoint, read from its files.
pub struct Files {
    dir: verify::Dir,
    /// The verified size.
    pub size: u64,
    /// The verified root.
    pub root: Hash,
    /// The checkpoint verified.
    pub checkpoint: Vec<u8>,
    tiles: HashMap<(u8, u64), Vec<u8>>,
}

impl Files {
    /// Verifies the log in `dir` with `key` and opens it for proofs at its
    /// checkpoint's size.
    pub fn open(dir: std::path::PathBuf, key: &note::Verifier) -> Result<Files> {
        let dir = verify::Dir(dir);
        // The checkpoint first: a writer may replace it while we verify, but
        // everything of the tree it names stays (write-once; a pruned partial
        // is the prefix of a tile that stays).
        let checkpoint = dir.read("checkpoint")?.ok_or_else(|| anyhow!("no checkpoint"))?;
        let report = verify::verify(&Pinned { dir: &dir, checkpoint: &checkpoint }, key)
            .map_err(|d| anyhow!("verification failed: {}/{d}", dir.0.display()))?;
        Ok(Files { dir, size: report.size, root: report.root, checkpoint, tiles: HashMap::new() })
    }

    /// Hash tile (`level`, `index`) of this tree: the width the tree has,
    /// or (pruned) cut from the full tile.
    fn tile(&mut self, level: u8, index: u64) -> io::Result<&[u8]> {
        if !self.tiles.contains_key(&(level, index)) {
            let count = Tile::level_count(level, self.size);
            let width = count.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let want = Tile { kind: TileKind::Hashes { level }, index, width };
            let bytes = match self.dir.read(want.path().as_str())? {
                Some(b) => b,
                None => self
                    .dir
                    .read(want.full().path().as_str())?
                    .ok_or_else(|| io::Error::other(format!("{want} is missing")))?,
            };
            let len = usize::from(width) * HASH_SIZE;
            let data =
                bytes.get(..len).ok_or_else(|| io::Error::other(format!("{want} is short")))?;
            self.tiles.insert((level, index), data.to_vec());
        }
        Ok(&self.tiles[&(level, index)])
    }
}

impl NodeReader for Files {
    type Error = io::Error;

    fn node(&mut self, level: u8, index: u64) -> io::Result<Hash> {
        let (tile_level, k) = (level / 8, u32::from(level % 8));
        let first = index << k;
        let data = self.tile(tile_level, first / TILE_WIDTH)?;
        let start = (first % TILE_WIDTH) as usize * HASH_SIZE;
        data.get(start..start + (HASH_SIZE << k))
            .map(subtree_hash)
            .ok_or_else(|| io::Error::other(format!("node {level}/{index} is beyond the tree")))
    }
}

/// A directory read with `checkpoint` pinned to the one already read.
struct Pinned<'a> {
    dir: &'a verify::Dir,
    checkpoint: &'a [u8],
}

impl Source for Pinned<'_> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        match path {
            "checkpoint" => Ok(Some(self.checkpoint.to_vec())),
            p => self.dir.read(p),
        }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.dir.list()
    }
}
