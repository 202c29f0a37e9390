//! Proofs and reads through the verified-tile cache, whatever its size:
//! equal to proofs over every node hash held in memory, checked against the
//! signed roots, and still refusing a forged tile.

use ledger::cache::SLOT_BYTES;
use ledger::{Error, Log, LogBuffers};
use note::Signer;
use proptest::prelude::*;
use store_mem::MemStore;
use tlog::proof::{prove_consistency, prove_inclusion, verify_consistency, verify_inclusion};
use tlog::{Hash, NodeReader, Tile, leaf_hash, node_hash};

/// Past one full level-1 tile (65,536 records), so that proofs cross
/// cached tiles of two levels and the in-memory edge of a third.
const SIZE: u64 = 66_000;

fn signer() -> Signer {
    Signer::from_seed("service-fs/proofs", [9; 32]).unwrap()
}

fn record(i: u64) -> Vec<u8> {
    format!("r{i}").into_bytes()
}

/// Every node hash of a tree, level by level: the independent oracle.
struct AllNodes(Vec<Vec<Hash>>);

impl AllNodes {
    fn new(n: u64) -> AllNodes {
        let mut levels = vec![(0..n).map(|i| leaf_hash(&record(i))).collect::<Vec<_>>()];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let up = below.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(up);
        }
        AllNodes(levels)
    }
}

impl NodeReader for AllNodes {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        self.0.get(usize::from(level)).and_then(|l| l.get(index as usize)).copied().ok_or(())
    }
}

fn buffers(slots: usize) -> LogBuffers<Vec<u8>> {
    LogBuffers { cache: vec![0; slots * SLOT_BYTES], ..LogBuffers::default() }
}

/// The stored log of `SIZE` records, written once.
fn stored() -> &'static MemStore {
    static STORE: std::sync::OnceLock<MemStore> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        let (mut log, _) = Log::open(MemStore::new(), signer(), buffers(4), 64).unwrap();
        for i in 0..SIZE {
            log.append(&record(i)).unwrap();
            if i % 10_000 == 0 {
                log.commit().unwrap();
            }
        }
        log.commit().unwrap();
        log.into_store()
    })
}

fn oracle() -> &'static std::sync::Mutex<AllNodes> {
    static NODES: std::sync::OnceLock<std::sync::Mutex<AllNodes>> = std::sync::OnceLock::new();
    NODES.get_or_init(|| std::sync::Mutex::new(AllNodes::new(SIZE)))
}

fn open(store: MemStore, slots: usize) -> Log<MemStore, Vec<u8>> {
    Log::open(store, signer(), buffers(slots), 64).unwrap().0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A cache of 1, 4 (a PD's) or 300 tiles gives the oracle's proofs, and
    /// they check against the roots it gives.
    #[test]
    fn proofs_equal_the_oracle_at_any_cache_size(
        size in 1..=SIZE, at in any::<u64>(), old in any::<u64>(), slots in prop::sample::select(vec![1usize, 4, 300]),
    ) {
        let (index, old) = (at % size, old % size + 1);
        let mut log = open(stored().clone(), slots);
        let mut nodes = oracle().lock().unwrap();
        let want = prove_inclusion(size, index, &mut *nodes).unwrap();
        let root = log.root_at(size).unwrap();
        prop_assert_eq!(root, tlog::tree::tree_hash(size, &mut *nodes).unwrap());
        for _ in 0..2 {
            // The second time from the cache and the edge's memo.
            let got = log.prove_inclusion(size, index).unwrap();
            prop_assert_eq!(&got, &want);
            verify_inclusion(&got, size, &root, index, &leaf_hash(&record(index))).unwrap();
            let got = log.prove_consistency(size, old).unwrap();
            prop_assert_eq!(&got, &prove_consistency(size, old, &mut *nodes).unwrap());
            let old_root = log.root_at(old).unwrap();
            verify_consistency(&got, size, &root, old, &old_root).unwrap();
        }
    }
}

#[test]
fn proofs_after_a_commit_check_against_the_new_root() {
    let mut log = open(stored().clone(), 4);
    let before = log.prove_inclusion(SIZE, 65_999).unwrap();
    log.append(b"one more").unwrap();
    log.commit().unwrap();
    let root = log.root();
    let after = log.prove_inclusion(SIZE + 1, 65_999).unwrap();
    assert_ne!(before, after);
    verify_inclusion(&after, SIZE + 1, &root, 65_999, &leaf_hash(&record(65_999))).unwrap();
    let p = log.prove_inclusion(SIZE + 1, SIZE).unwrap();
    verify_inclusion(&p, SIZE + 1, &root, SIZE, &leaf_hash(b"one more")).unwrap();
}

#[test]
fn a_forged_upper_tile_is_refused_even_with_its_children_unread() {
    let mut store = stored().clone();
    let upper = Tile::hashes(1, 0, 256);
    assert!(store.tamper(&upper, |d| d[40] ^= 1));
    for slots in [1, 4, 300] {
        let mut log = open(store.clone(), slots);
        let err = log.prove_inclusion(SIZE, 1234).unwrap_err();
        assert_eq!(
            err,
            Error::Corrupt { tile: Some(upper), what: "tile does not hash to the tree" }
        );
        // Reads need the same tile to check a bundle's leaf hashes.
        let err = log.walk(0, 1, &mut |_, _| panic!("served unchecked data")).unwrap_err();
        assert_eq!(
            err,
            Error::Corrupt { tile: Some(upper), what: "tile does not hash to the tree" }
        );
        // Nodes under the edge of the tree need no stored tile.
        log.prove_inclusion(SIZE, 65_900).unwrap();
    }
}

#[test]
fn a_forged_bundle_is_counted_but_never_served() {
    let mut store = stored().clone();
    let b = Tile::entries(3, 256);
    assert!(store.tamper(&b, |d| d[5] ^= 1));
    let mut log = open(store, 4);
    // Counting reads framing alone; serving checks it.
    let fit = log.fit(3 * 256, 10, 10 * 6).unwrap();
    assert_eq!(fit.count, 10, "r768..r777 take 6 bytes each, framed");
    assert_eq!(log.fit(3 * 256, 10, 10 * 6 - 1).unwrap().count, 9);
    assert_eq!(log.fit(3 * 256, 10, 5).unwrap(), ledger::log::Fit { count: 0, needed: 6 });
    let err =
        log.walk(3 * 256, 3 * 256 + 10, &mut |_, _| panic!("served forged data")).unwrap_err();
    assert_eq!(err, Error::Corrupt { tile: Some(b), what: "entry does not match its leaf hash" });
    let mut n = 0;
    log.walk(0, 3 * 256, &mut |_, _| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 3 * 256, "the bundles before it still read");
}

/// A store that keeps saying a buffer is too small, though it is not.
struct Liar(MemStore);

impl ledger::TileStore for Liar {
    type Error = store_mem::Never;
    fn get(
        &mut self,
        t: &Tile,
        b: &mut [u8],
    ) -> Result<Option<usize>, ledger::StoreError<Self::Error>> {
        match t.kind {
            tlog::TileKind::Entries if t.is_full() => {
                Err(ledger::StoreError::TooSmall { needed: 16 })
            }
            _ => self.0.get(t, b),
        }
    }
    fn put(&mut self, t: &Tile, d: &[u8]) -> Result<(), ledger::StoreError<Self::Error>> {
        self.0.put(t, d)
    }
    fn sync(&mut self) -> Result<(), ledger::StoreError<Self::Error>> {
        self.0.sync()
    }
    fn get_checkpoint(
        &mut self,
        b: &mut [u8],
    ) -> Result<Option<usize>, ledger::StoreError<Self::Error>> {
        self.0.get_checkpoint(b)
    }
    fn replace_checkpoint(
        &mut self,
        o: &[u8],
        n: &[u8],
    ) -> Result<(), ledger::StoreError<Self::Error>> {
        self.0.replace_checkpoint(o, n)
    }
    fn recover(&mut self, size: u64) -> Result<ledger::Recovery, ledger::StoreError<Self::Error>> {
        self.0.recover(size)
    }
}

#[test]
fn a_store_misreporting_lengths_is_an_error_not_a_hang() {
    let (mut log, _) = Log::open(Liar(stored().clone()), signer(), buffers(4), 64).unwrap();
    let err = log.walk(0, 1, &mut |_, _| panic!("served")).unwrap_err();
    assert_eq!(
        err,
        Error::Corrupt {
            tile: Some(Tile::entries(0, 256)),
            what: "the store misreports its length"
        }
    );
}
