//! Proofs from a tenant's files while another process (a live
//! `service-fsd`) holds its writer lock: read-only, after verifying the
//! whole log against the tenant's key, and not audited: reading the files
//! directly is not the daemon's to record.

use std::io;

use anchor::tiles::{DirTiles, Tree};
use anyhow::{Result, anyhow};
use tlog::{Hash, tree::NodeReader};
use verify::Source;

/// The tree of a verified checkpoint, read from its files.
pub struct Files {
    /// The verified size.
    pub size: u64,
    /// The verified root.
    pub root: Hash,
    /// The checkpoint verified.
    pub checkpoint: Vec<u8>,
    tree: Tree<DirTiles>,
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
        let tree = Tree::new(DirTiles(dir.0), report.size);
        Ok(Files { size: report.size, root: report.root, checkpoint, tree })
    }
}

impl NodeReader for Files {
    type Error = io::Error;

    fn node(&mut self, level: u8, index: u64) -> io::Result<Hash> {
        self.tree.node(level, index)
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
