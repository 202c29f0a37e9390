//! A second independent oracle beside Go's: Cloudflare's `tlog_tiles` (a
//! Rust port of `golang.org/x/mod/sumdb/tlog`) and `signed_note` check a
//! ledger written by the engine over the POSIX store. The checkpoints must
//! verify with the tenant's key, every hash tile must equal the tile the
//! peer computes from the records alone, and the peer's inclusion and
//! consistency proofs, built from the stored tiles it authenticates
//! against the checkpoint, must equal the engine's and check.

mod common;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};

use ledger::audit::Caller;
use ledger::{Ledger, Limit};
use signed_note::{Note, StandardVerifier, VerifierList};
use tenant::Root;
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::tile::{Tile, TileHashReader, TileReader};
use tlog_tiles::tlog::{self, Hash, HashReader};

const CALLER: Caller<'static> = Caller { module: "test", credential: "uid:0", request: None };

/// Tiles read from a tlog-tiles directory, as a client would fetch them.
/// (`tlog_tiles` names tiles as `x/mod` does, with the height:
/// `tile/8/0/000` is C2SP's `tile/0/000`.)
struct DirTiles(PathBuf);

/// A tile's C2SP path.
fn c2sp(t: &Tile) -> String {
    t.path().replacen("tile/8/", "tile/", 1)
}

impl TileReader for DirTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog::Error> {
        tiles
            .iter()
            .map(|t| fs::read(self.0.join(c2sp(t))).map_err(|_| tlog::Error::InvalidTile))
            .collect()
    }

    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

/// Every stored hash, computed by the peer from the records alone.
#[derive(Default)]
struct Memory(RefCell<Vec<Hash>>);

impl HashReader for Memory {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        let m = self.0.borrow();
        indexes
            .iter()
            .map(|&i| m.get(i as usize).copied().ok_or(tlog::Error::IndexesNotInTree))
            .collect()
    }
}

/// The checkpoint at `path`, verified with `vkey` by `signed_note`, parsed
/// by `tlog_tiles`.
fn open_checkpoint(path: &Path, vkey: &str) -> Checkpoint {
    let note = Note::from_bytes(&fs::read(path).unwrap()).unwrap();
    let verifier = StandardVerifier::new(vkey).unwrap();
    let (verified, _) = note.verify(&VerifierList::new(vec![Box::new(verifier)])).unwrap();
    assert_eq!(verified.len(), 1);
    Checkpoint::from_bytes(note.text()).unwrap()
}

/// Every full or partial hash tile under `dir/tile/<level>/`, as paths.
fn hash_tiles(dir: &Path) -> Vec<String> {
    let tiles = common::files(&dir.join("tile")).into_iter();
    let mut out: Vec<String> = tiles
        .map(|p| Path::new("tile").join(p).to_str().unwrap().to_string())
        .filter(|rel| !rel.starts_with("tile/entries/"))
        .collect();
    out.sort();
    out
}

fn check(batches: &[u64]) {
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path());
    let vkey = root.init("acme", None).unwrap();
    let mut t = root.open("acme").unwrap();
    let mut records = Vec::new();
    for &b in batches {
        let batch: Vec<Vec<u8>> = (0..b)
            .map(|i| format!("record {} of {b}", records.len() as u64 + i).into_bytes())
            .collect();
        t.engine.append_batch(batch.iter().map(Vec::as_slice)).unwrap();
        records.extend(batch);
    }
    let n = records.len() as u64;
    let log = root.tenant_dir("acme").join("log");

    // The checkpoint, verified and parsed by the peer.
    let cp = open_checkpoint(&log.join("checkpoint"), &vkey.to_string());
    assert_eq!(cp.origin(), "service-fs/acme");
    assert_eq!(cp.size(), n);

    // The tree from the records alone; every stored tile equals the peer's.
    let memory = Memory::default();
    for (i, r) in records.iter().enumerate() {
        let new = tlog::stored_hashes(i as u64, r, &memory).unwrap();
        memory.0.borrow_mut().extend(new);
    }
    assert_eq!(tlog::tree_hash(n, &memory).unwrap(), *cp.hash(), "root");
    let tiles = hash_tiles(&log);
    assert!(!tiles.is_empty());
    for path in &tiles {
        let tile = Tile::from_path(&path.replacen("tile/", "tile/8/", 1)).unwrap();
        assert_eq!(&c2sp(&tile), path);
        assert_eq!(fs::read(log.join(path)).unwrap(), tile.read_data(&memory).unwrap(), "{path}");
    }

    // Proofs from the stored tiles, authenticated against the checkpoint.
    let dir = DirTiles(log.clone());
    let reader = TileHashReader::new(n, *cp.hash(), &dir);
    let step = (n / 37).max(1);
    for index in (0..n).step_by(step as usize).chain([n - 1]) {
        let peer = tlog::prove_record(n, index, &reader).unwrap();
        tlog::check_record(
            &peer,
            n,
            *cp.hash(),
            index,
            tlog::record_hash(&records[index as usize]),
        )
        .unwrap();
        let ours = t.engine.prove_inclusion(&CALLER, index, n).unwrap();
        let ours: Vec<[u8; 32]> = ours.proof.iter().map(|h| h.0).collect();
        let peer: Vec<[u8; 32]> = peer.iter().map(|h| h.0).collect();
        assert_eq!(ours, peer, "inclusion proof of {index} in {n}");
    }
    for old in (1..=n).step_by(step as usize).chain([n]) {
        let peer = tlog::prove_tree(n, old, &reader).unwrap();
        let old_root = tlog::tree_hash(old, &memory).unwrap();
        tlog::check_tree(&peer, n, *cp.hash(), old, old_root).unwrap();
        let ours = t.engine.prove_consistency(&CALLER, old, n).unwrap();
        assert_eq!(ours.old_root.0, old_root.0);
        let ours: Vec<[u8; 32]> = ours.proof.iter().map(|h| h.0).collect();
        let peer: Vec<[u8; 32]> = peer.iter().map(|h| h.0).collect();
        assert_eq!(ours, peer, "consistency proof of {old} in {n}");
    }

    // The audit ledger: its checkpoint verifies under the `/audit` name of
    // the same key, and its tiles authenticate against it.
    let mut audited = 0;
    t.engine.read_since(&CALLER, 0, Limit::entries(1), &mut |_, _| audited += 1).unwrap();
    assert_eq!(audited, 1);
    let audit = root.tenant_dir("acme").join("audit");
    let avkey = vkey.renamed("service-fs/acme/audit").unwrap().to_string();
    let acp = open_checkpoint(&audit.join("checkpoint"), &avkey);
    let adir = DirTiles(audit);
    let areader = TileHashReader::new(acp.size(), *acp.hash(), &adir);
    assert_eq!(tlog::tree_hash(acp.size(), &areader).unwrap(), *acp.hash());
}

#[test]
fn single_records_and_uneven_batches_across_tile_edges() {
    check(&[1, 1, 1, 300, 1, 7, 255, 1, 2]);
}

#[test]
fn a_level_one_tile_and_beyond() {
    // 65,536 records fill a level-1 tile; the rest make partials above it.
    check(&[4096; 16].into_iter().chain([1, 999]).collect::<Vec<_>>());
}
