//! Where a tenant's checkpoint and tiles are read from: its tlog-tiles
//! directory (a POSIX ledger root, or a disk image exported with `fsctl disk
//! export`), or a running daemon's tlog-tiles endpoints. Nothing read here is
//! trusted: checkpoints are opened with the tenant's key, and proofs built
//! from the tiles are verified against signed roots.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tlog::tile::subtree_hash;
use tlog::tree::NodeReader;
use tlog::{HASH_SIZE, Hash, TILE_WIDTH, Tile, TileKind};
use verify::Source;

/// A tlog-tiles tree to read from.
pub trait Tiles {
    /// The file at a tlog-tiles path (`checkpoint`, `tile/0/000`, …), or
    /// `None` when there is none.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
}

/// A tlog-tiles directory.
pub struct DirTiles(pub PathBuf);

impl Tiles for DirTiles {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        verify::Dir(self.0.clone())
            .read(path)
            .with_context(|| format!("{}/{path}", self.0.display()))
    }

    fn describe(&self) -> String {
        self.0.display().to_string()
    }
}

/// A tenant's tlog-tiles tree served over HTTP (service-fsd's
/// `/<tenant>/checkpoint` and `/<tenant>/tile/…`).
pub struct HttpTiles {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl HttpTiles {
    /// The tree under `base` (ending in `/<tenant>`), with a bearer token
    /// if the daemon asks for one.
    pub fn new(base: &str, token: Option<String>) -> HttpTiles {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build();
        HttpTiles { base: base.trim_end_matches('/').into(), token, agent: config.into() }
    }
}

impl Tiles for HttpTiles {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}/{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().with_context(|| format!("GET {url}"))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            s => bail!("GET {url}: HTTP {s}"),
        }
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec();
        Ok(Some(body.with_context(|| format!("GET {url}"))?))
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

impl<T: Tiles + ?Sized> Tiles for &T {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        (**self).read(path)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// The hashes of the tree of `size` leaves, read from its tiles on demand.
pub struct Tree<S> {
    src: S,
    size: u64,
    tiles: HashMap<(u8, u64), Vec<u8>>,
}

impl<S: Tiles> Tree<S> {
    /// The tree of `size` leaves in `src`.
    pub fn new(src: S, size: u64) -> Tree<S> {
        Tree { src, size, tiles: HashMap::new() }
    }

    /// Hash tile (`level`, `index`) as wide as this tree has it; a partial
    /// tile that is gone (a writer prunes them once the full tile exists) is
    /// cut from the full one.
    fn tile(&mut self, level: u8, index: u64) -> io::Result<&[u8]> {
        if !self.tiles.contains_key(&(level, index)) {
            let count = Tile::level_count(level, self.size);
            let width = count.saturating_sub(index * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let want = Tile { kind: TileKind::Hashes { level }, index, width };
            let read = |t: &Tile| self.src.read(t.path().as_str()).map_err(io::Error::other);
            let bytes = match read(&want)? {
                Some(b) => b,
                None => read(&want.full())?
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

impl<S: Tiles> NodeReader for Tree<S> {
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

/// The proof that the tree of `old` leaves with root `old_root` is a prefix
/// of the one of `size` leaves with root `root`, built from `src`'s tiles and
/// verified against both roots (so forged tiles cannot make it pass).
pub fn consistency(
    src: &dyn Tiles,
    old: u64,
    old_root: &Hash,
    size: u64,
    root: &Hash,
) -> Result<Vec<Hash>> {
    if old == size {
        if old_root != root {
            bail!("the ledger has two different signed roots at size {size}: it was forked");
        }
        return Ok(Vec::new());
    }
    if old > size {
        bail!(
            "the ledger is at size {size}, smaller than the {old} anchored before: it was rolled back"
        );
    }
    if old == 0 {
        return Ok(Vec::new());
    }
    let proof = tlog::proof::prove_consistency(size, old, &mut Tree::new(src, size))
        .map_err(|e| anyhow!("reading {}: {e}", src.describe()))?;
    tlog::proof::verify_consistency(&proof, size, root, old, old_root).map_err(|_| {
        anyhow!(
            "the ledger at size {size} is not an extension of the one anchored at size {old}: \
             its history was changed (or its tiles in {} are corrupt)",
            src.describe()
        )
    })?;
    Ok(proof.to_vec())
}
