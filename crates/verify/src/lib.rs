//! Verifies a C2SP tlog-tiles ledger from its files alone, as an auditor
//! would years later: it needs the directory (or any [`Source`]) and the
//! verifier key, nothing else, and changes nothing.
//!
//! It opens the signed checkpoint, recomputes every leaf hash from the entry
//! bundles, rebuilds every tile and the root, and compares each stored file
//! with its recomputed content, including older partial tiles and bundles.
//! The first discrepancy is attributed to the file at fault: when the entry
//! bundles reproduce the signed root, a differing tile is wrong; when they do
//! not, the bundle whose entry disagrees with the (signed) tiles is.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use note::{Checkpoint, Verifier};
use tlog::bundle;
use tlog::tile::{TILE_WIDTH, hash_at, subtree_hash};
use tlog::tree::{Builder, EDGE_BYTES};
use tlog::{HASH_SIZE, Hash, Tile, TileKind, leaf_hash};

/// Where the ledger's files come from.
pub trait Source {
    /// Reads a file by its tlog-tiles path (`checkpoint`, `tile/0/000`, …).
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>>;
    /// Lists every file, as tlog-tiles paths.
    fn list(&self) -> io::Result<Vec<String>>;
}

/// A tlog-tiles directory.
pub struct Dir(pub PathBuf);

/// What `store-posix` keeps beside the checkpoint to swap the next one in.
const SPARE: &str = ".checkpoint.spare";

impl Source for Dir {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        no_symlink(&self.0, Path::new(path))?;
        match std::fs::read(self.0.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        no_symlink(&self.0, Path::new(""))?;
        list_dir(&self.0, std::fs::read_dir(&self.0)?, &mut out)?;
        // The POSIX store's spare for its next checkpoint (the previous one):
        // not part of the tree, and not left by an interrupted write.
        out.retain(|p| p != SPARE);
        out.sort();
        Ok(out)
    }
}

/// Refuses a symbolic link anywhere from `root` down to `root/rel`: a
/// ledger's files are its own, never somewhere a link points to. (The
/// POSIX store makes the same check before it writes.)
pub fn no_symlink(root: &Path, rel: &Path) -> io::Result<()> {
    let mut at = root.to_path_buf();
    for part in std::iter::once(None).chain(rel.components().map(Some)) {
        if let Some(part) = part {
            at.push(part);
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Err(symlink_error(&at)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn symlink_error(at: &Path) -> io::Error {
    io::Error::other(format!("{} is a symbolic link, which a ledger never follows", at.display()))
}

/// Lists the files under `root` that `entries` (a directory's) leads to.
/// A directory or file that vanishes while it is listed is left out: a
/// live writer deletes superseded partial tiles, which the listing may or
/// may not see.
fn list_dir(root: &Path, entries: std::fs::ReadDir, out: &mut Vec<String>) -> io::Result<()> {
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let path = entry.path();
        let kind = match entry.file_type() {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if kind.is_symlink() {
            return Err(symlink_error(&path));
        }
        if kind.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(sub) => list_dir(root, sub, out)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        } else if let Some(rel) = path.strip_prefix(root).ok().and_then(Path::to_str) {
            out.push(rel.replace(std::path::MAIN_SEPARATOR, "/"));
        }
    }
    Ok(())
}

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    /// The file at fault.
    pub path: String,
    /// The entry index or hash position concerned, if any (see `what`).
    pub index: Option<u64>,
    /// What is wrong.
    pub what: String,
    /// What the signed tree requires, if it is a value.
    pub expected: Option<String>,
    /// What the file has.
    pub found: Option<String>,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.what)?;
        if let (Some(e), Some(x)) = (&self.expected, &self.found) {
            write!(f, ": expected {e}, found {x}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Discrepancy {}

/// What a successful verification covered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The checkpoint's origin.
    pub origin: String,
    /// Entries.
    pub size: u64,
    /// The signed root hash.
    pub root: Hash,
    /// Entry bundles checked.
    pub bundles: u64,
    /// Hash tiles checked.
    pub tiles: u64,
    /// Older partial tiles and bundles checked against their successors.
    pub older_partials: u64,
    /// Files that are not part of the signed tree (left over or foreign).
    pub warnings: Vec<String>,
    /// Tiles and bundles of a larger tree than the checkpoint's: a commit
    /// under way or interrupted, or a checkpoint rolled back (the caller
    /// tells which).
    pub beyond: Vec<String>,
    /// The root hash of the tree at each size [`verify_with_roots`] was
    /// asked for (sizes above the checkpoint's are left out).
    pub roots: Vec<(u64, Hash)>,
}

fn fail(path: impl Into<String>, what: impl Into<String>) -> Discrepancy {
    Discrepancy { path: path.into(), index: None, what: what.into(), expected: None, found: None }
}

fn mismatch(path: &str, index: u64, what: String, expected: String, found: String) -> Discrepancy {
    Discrepancy {
        path: path.into(),
        index: Some(index),
        what,
        expected: Some(expected),
        found: Some(found),
    }
}

fn read(src: &impl Source, path: &str) -> Result<Option<Vec<u8>>, Discrepancy> {
    src.read(path).map_err(|e| fail(path, format!("cannot read: {e}")))
}

fn read_required(src: &impl Source, path: &str) -> Result<Vec<u8>, Discrepancy> {
    read(src, path)?.ok_or_else(|| fail(path, "missing"))
}

/// Reads tile or bundle `t` of the tree; a partial one that is gone is read
/// from its full tile, as C2SP has clients do: a writer deletes partials
/// once the full tile exists, so a tree larger than the checkpoint was
/// committed since it was read (a live writer), or the checkpoint was
/// rolled back. The full tile must then hold `t` as its prefix.
pub fn read_tile(src: &impl Source, t: &Tile) -> Result<Option<Vec<u8>>, Discrepancy> {
    if let Some(data) = read(src, &t.path())? {
        return Ok(Some(data));
    }
    if t.is_full() {
        return Ok(None);
    }
    let Some(full) = read(src, &t.full().path())? else { return Ok(None) };
    let len = match t.kind {
        TileKind::Entries => prefix_len(&full, usize::from(t.width)),
        TileKind::Hashes { .. } => Some(usize::from(t.width) * HASH_SIZE),
    };
    Ok(len.and_then(|n| full.get(..n)).map(<[u8]>::to_vec))
}

/// Verifies the ledger in `src` against the verifier key. The checkpoint's
/// origin must be the key's name.
pub fn verify(src: &impl Source, key: &Verifier) -> Result<Report, Discrepancy> {
    verify_with_roots(src, key, &[])
}

/// [`verify`], also reporting the root hash of the tree at each of `sizes`
/// (recomputed from the entries, as the signed root is): to check that
/// checkpoints kept from earlier are prefixes of this ledger.
pub fn verify_with_roots(
    src: &impl Source,
    key: &Verifier,
    sizes: &[u64],
) -> Result<Report, Discrepancy> {
    let note = read_required(src, "checkpoint")?;
    let opened = note::open(&note, &[key])
        .map_err(|e| fail("checkpoint", format!("does not verify with key {}: {e}", key.name())))?;
    let cp = Checkpoint::parse(opened.text).map_err(|e| fail("checkpoint", e.to_string()))?;
    if cp.origin != key.name() {
        return Err(fail(
            "checkpoint",
            format!("origin {:?} is not the key name {:?}", cp.origin, key.name()),
        ));
    }
    let mut report =
        Report { origin: cp.origin.into(), size: cp.size, root: cp.root, ..Report::default() };
    let older = classify_files(src, cp.size, &mut report)?;
    let mut pass = Recompute::new(src, cp.size, older);
    pass.wanted = sizes.iter().copied().filter(|&n| n <= cp.size).collect();
    if pass.wanted.remove(&0) {
        report.roots.push((0, tlog::EMPTY_ROOT));
    }
    pass.run(&mut report)?;
    let recomputed = pass.tree.root();
    if recomputed == cp.root {
        return match pass.first_tile_error {
            Some(d) => Err(d),
            None => Ok(report),
        };
    }
    // The entries do not reproduce the signed tree: blame the first entry that
    // disagrees with a stored level-0 tile that itself matches the signature.
    let trusted = pass.leaf_errors.iter().position(|d| {
        stored_tile_matches_root(src, cp.size, &cp.root, d.index.unwrap_or(0) / TILE_WIDTH)
    });
    match (trusted, pass.leaf_errors.first()) {
        (Some(i), _) => {
            let mut d = pass.leaf_errors.swap_remove(i);
            d.what.push_str(", which matches the signed checkpoint");
            Err(d)
        }
        (None, Some(d)) => Err(d.clone()),
        (None, None) => Err(Discrepancy {
            path: "checkpoint".into(),
            index: None,
            what: "the entries and tiles do not hash to the signed root".into(),
            expected: Some(cp.root.to_string()),
            found: Some(recomputed.to_string()),
        }),
    }
}

/// Older partial objects by (kind, index): their widths.
type Older = BTreeMap<(TileKind, u64), Vec<u16>>;

/// Sorts the listing into the tree's older partial objects and warnings.
fn classify_files(src: &impl Source, size: u64, report: &mut Report) -> Result<Older, Discrepancy> {
    let files = src.list().map_err(|e| fail(".", format!("cannot list: {e}")))?;
    let mut older = Older::new();
    for path in files {
        let name = path.rsplit('/').next().unwrap_or(&path);
        if path == "checkpoint" {
            continue;
        }
        if name.starts_with('.') {
            report.warnings.push(format!("{path}: temporary file left by an interrupted write"));
            continue;
        }
        match Tile::parse(&path) {
            None => report.warnings.push(format!("{path}: not part of a tlog-tiles ledger")),
            Some(t) if !t.within(size) => report.beyond.push(path),
            Some(t) if !t.is_full() && Tile::partial(t.kind, size) != Some(t) => {
                older.entry((t.kind, t.index)).or_default().push(t.width);
            }
            Some(_) => {}
        }
    }
    Ok(older)
}

/// The bottom-up pass: rebuilds the tree from the entry bundles and compares
/// every stored tile with it.
struct Recompute<'a, S> {
    src: &'a S,
    size: u64,
    older: Older,
    tree: Builder<Vec<u8>>,
    /// The first stored hash tile (or older partial) that differs.
    first_tile_error: Option<Discrepancy>,
    /// The first entry of each bundle whose leaf hash differs from the
    /// stored level-0 tile.
    leaf_errors: Vec<Discrepancy>,
    /// Tree sizes whose root hash is wanted.
    wanted: std::collections::BTreeSet<u64>,
}

impl<'a, S: Source> Recompute<'a, S> {
    fn new(src: &'a S, size: u64, older: Older) -> Self {
        let tree = Builder::with_memory(vec![0; EDGE_BYTES]).unwrap_or_else(|_| unreachable!());
        Recompute {
            src,
            size,
            older,
            tree,
            first_tile_error: None,
            leaf_errors: Vec::new(),
            wanted: Default::default(),
        }
    }

    fn run(&mut self, report: &mut Report) -> Result<(), Discrepancy> {
        let bundles = self.size.div_ceil(TILE_WIDTH);
        for k in 0..bundles {
            let width = (self.size - k * TILE_WIDTH).min(TILE_WIDTH) as u16;
            let t = Tile::entries(k, width);
            let data =
                read_tile(self.src, &t)?.ok_or_else(|| fail(t.path().as_str(), "missing"))?;
            let leaves = parse_bundle(&t, &data)?;
            report.older_partials += self.check_older_bundles(&t, &data)?;
            report.bundles += 1;
            let stored0 = read_tile(self.src, &Tile::hashes(0, k, width))?;
            for (i, leaf) in leaves.iter().enumerate() {
                self.note_leaf(&t, i, leaf, stored0.as_deref());
                let completed =
                    self.tree.push(*leaf).map_err(|_| fail(t.path().as_str(), "tree too large"))?;
                for level in 0..completed {
                    self.check_tile(level, report)?;
                }
                if self.wanted.remove(&self.tree.size()) {
                    report.roots.push((self.tree.size(), self.tree.root()));
                }
            }
        }
        for level in 0..tlog::tile::MAX_TILE_LEVELS as u8 {
            if Tile::partial(TileKind::Hashes { level }, self.size).is_some() {
                self.check_tile(level, report)?;
            }
        }
        Ok(())
    }

    /// Remembers the first entry of a bundle whose leaf hash is not in the
    /// stored tile.
    fn note_leaf(&mut self, bundle: &Tile, i: usize, leaf: &Hash, stored0: Option<&[u8]>) {
        let stored = stored0.and_then(|d| hash_at(d, i));
        let index = bundle.index * TILE_WIDTH + i as u64;
        let seen = self
            .leaf_errors
            .last()
            .is_some_and(|d| d.index.unwrap_or(0) / TILE_WIDTH == bundle.index);
        if seen || stored == Some(*leaf) {
            return;
        }
        let tile0 = Tile::hashes(0, bundle.index, bundle.width).path();
        self.leaf_errors.push(mismatch(
            bundle.path().as_str(),
            index,
            format!("entry {index} does not hash to its leaf in {tile0}"),
            stored.map_or("(no stored hash)".into(), |h| h.to_string()),
            leaf.to_string(),
        ));
    }

    /// Compares the builder's rightmost tile at `level` (and its older
    /// partials) with the stored files.
    fn check_tile(&mut self, level: u8, report: &mut Report) -> Result<(), Discrepancy> {
        let Some((t, data)) = self.tree.tile(level) else { return Ok(()) };
        let data = data.to_vec();
        report.tiles += 1;
        let stored = read_tile(self.src, &t)?;
        self.compare(&t, &data, stored.as_deref());
        for w in self.older.remove(&(t.kind, t.index)).unwrap_or_default() {
            let old = Tile { width: w, ..t };
            // Gone since it was listed: a live writer deleted it, superseded.
            let Some(stored) = read(self.src, &old.path())? else { continue };
            self.compare(&old, &data[..usize::from(w) * HASH_SIZE], Some(&stored));
            report.older_partials += 1;
        }
        Ok(())
    }

    fn compare(&mut self, t: &Tile, want: &[u8], stored: Option<&[u8]>) {
        if self.first_tile_error.is_some() {
            return;
        }
        let path = t.path();
        let Some(stored) = stored else {
            self.first_tile_error = Some(fail(path.as_str(), "missing"));
            return;
        };
        if stored.len() != want.len() {
            self.first_tile_error = Some(mismatch(
                path.as_str(),
                0,
                "wrong length".into(),
                format!("{} bytes", want.len()),
                format!("{} bytes", stored.len()),
            ));
            return;
        }
        if let Some(i) = (0..usize::from(t.width)).find(|&i| hash_at(want, i) != hash_at(stored, i))
        {
            let show = |d: &[u8]| hash_at(d, i).map_or(String::new(), |h| h.to_string());
            self.first_tile_error = Some(mismatch(
                path.as_str(),
                i as u64,
                format!("hash {i} differs from the one recomputed from the entries"),
                show(want),
                show(stored),
            ));
        }
    }

    /// Older partial bundles must hold the first entries of `full`, byte for
    /// byte (those still there: a live writer deletes superseded ones).
    fn check_older_bundles(&mut self, t: &Tile, full: &[u8]) -> Result<u64, Discrepancy> {
        let widths = self.older.remove(&(TileKind::Entries, t.index)).unwrap_or_default();
        let mut checked = 0;
        for &w in &widths {
            let old = Tile { width: w, ..*t };
            let path = old.path();
            let Some(data) = read(self.src, &path)? else { continue };
            checked += 1;
            let prefix = prefix_len(full, usize::from(w));
            if self.first_tile_error.is_none()
                && Some(data.as_slice()) != prefix.map(|n| &full[..n])
            {
                let bad = first_differing_entry(&data, full);
                self.first_tile_error = Some(Discrepancy {
                    path: path.to_string(),
                    index: Some(t.index * TILE_WIDTH + bad),
                    what: format!("entry {} differs from {}", t.index * TILE_WIDTH + bad, t.path()),
                    expected: None,
                    found: None,
                });
            }
        }
        Ok(checked)
    }
}

/// Leaf hashes of a bundle that must hold exactly `t.width` entries.
fn parse_bundle(t: &Tile, data: &[u8]) -> Result<Vec<Hash>, Discrepancy> {
    let path = t.path();
    let mut leaves = Vec::with_capacity(usize::from(t.width));
    for e in bundle::entries(data) {
        let index = t.index * TILE_WIDTH + leaves.len() as u64;
        let e = e.map_err(|_| Discrepancy {
            index: Some(index),
            ..fail(path.as_str(), format!("entry {index} is truncated"))
        })?;
        leaves.push(leaf_hash(e));
    }
    if leaves.len() != usize::from(t.width) {
        return Err(mismatch(
            path.as_str(),
            t.index * TILE_WIDTH,
            "wrong number of entries".into(),
            t.width.to_string(),
            leaves.len().to_string(),
        ));
    }
    Ok(leaves)
}

/// Bytes taken by the first `n` entries of a bundle.
fn prefix_len(bundle: &[u8], n: usize) -> Option<usize> {
    let mut at = 0;
    for e in bundle::entries(bundle).take(n) {
        at += bundle::encoded_len(e.ok()?.len());
    }
    Some(at)
}

fn first_differing_entry(a: &[u8], b: &[u8]) -> u64 {
    let mut i = 0;
    for (x, y) in bundle::entries(a).zip(bundle::entries(b)) {
        if x != y {
            break;
        }
        i += 1;
    }
    i
}

/// Whether the stored level-0 tile `k` is consistent with the signed root:
/// the stored partial tiles reproduce the root, and each full tile on the
/// way up hashes to its entry in the tile above.
fn stored_tile_matches_root(src: &impl Source, size: u64, root: &Hash, k: u64) -> bool {
    let read_tile = |t: Tile| read_tile(src, &t).ok().flatten();
    let restored = Builder::restore(vec![0; EDGE_BYTES], size, |t, buf: &mut [u8]| {
        let data = read_tile(t).filter(|d| d.len() == buf.len()).ok_or(())?;
        buf.copy_from_slice(&data);
        Ok::<(), ()>(())
    });
    let Ok(edge) = restored else { return false };
    if edge.root() != *root {
        return false;
    }
    let (mut level, mut index) = (0u8, k);
    loop {
        if edge.tile(level).is_some_and(|(t, _)| t.index == index) {
            // A partial tile the root was recomputed from.
            return true;
        }
        let Some(data) = read_tile(Tile::hashes(level, index, TILE_WIDTH as u16)) else {
            return false;
        };
        if data.len() != TILE_WIDTH as usize * HASH_SIZE {
            return false;
        }
        let h = subtree_hash(&data);
        let (up, pos) = (index / TILE_WIDTH, (index % TILE_WIDTH) as usize);
        let above = match edge.tile(level + 1) {
            Some((t, d)) if t.index == up => Some(d.to_vec()),
            _ => read_tile(Tile::hashes(level + 1, up, TILE_WIDTH as u16)),
        };
        if above.as_deref().and_then(|d| hash_at(d, pos)) != Some(h) {
            return false;
        }
        if edge.tile(level + 1).is_some_and(|(t, _)| t.index == up) {
            return true;
        }
        level += 1;
        index = up;
    }
}
