//! A small real ledger, made with the project's own code, for the targets
//! that start from one and damage it.
#![allow(dead_code)]

use note::Signer;
use tlog::{Builder, Tile, bundle, leaf_hash};

/// The ledger's key (its name is the log's origin).
pub fn signer() -> Signer {
    Signer::from_seed("fuzz.example/t", [7; 32]).unwrap()
}

/// The files of a ledger of `n` (1..=256) entries: its entry bundle and
/// level-0 tile by their tlog-tiles paths, and the signed checkpoint.
pub fn ledger(n: usize) -> (Vec<(Tile, Vec<u8>)>, Vec<u8>) {
    let mut b = Builder::new();
    let mut data = vec![0u8; n * 16];
    let mut at = 0;
    for i in 0..n {
        let e = format!("entry {i}");
        at = bundle::put(&mut data, at, e.as_bytes()).unwrap();
        b.push(leaf_hash(e.as_bytes())).unwrap();
    }
    data.truncate(at);
    let (tile, hashes) = b.tile(0).unwrap();
    let objects = vec![(Tile::entries(0, n as u16), data), (tile, hashes.to_vec())];
    let s = signer();
    let text =
        note::Checkpoint { origin: s.name(), size: n as u64, root: b.root(), extensions: "" }
            .to_string();
    let mut buf = [0u8; 1024];
    let len = note::sign(&text, &[&s], &mut buf).unwrap();
    (objects, buf[..len].to_vec())
}

/// The two keys `note_open` knows.
pub fn note_keys() -> [Signer; 2] {
    [
        Signer::from_seed("fuzz.example/a", [1; 32]).unwrap(),
        Signer::from_seed("fuzz.example/b", [2; 32]).unwrap(),
    ]
}

/// The witness key `cosignature` and `witness_request` know.
pub fn cosigner() -> note::Cosigner {
    note::Cosigner::from_seed("fuzz.example/witness", [3; 32]).unwrap()
}
