//! Property tests: tree hashes do not depend on how appends are split,
//! every proof verifies and no proof survives a flipped bit, and tile paths
//! round-trip.

use proptest::prelude::*;
use tlog::proof::{prove_consistency, prove_inclusion, verify_consistency, verify_inclusion};
use tlog::tree::{Builder, NodeReader, stored_hash_index, stored_hashes, tree_hash};
use tlog::{Hash, Tile, TileKind, leaf_hash};

/// All stored hashes of a tree, in Go's order: an independent NodeReader.
struct Stored(Vec<Hash>);

impl NodeReader for Stored {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        self.0.get(stored_hash_index(level, index) as usize).copied().ok_or(())
    }
}

fn stored(n: u64) -> Stored {
    let mut s = Stored(Vec::new());
    for i in 0..n {
        let hs = stored_hashes(i, leaf(i), &mut s).unwrap();
        s.0.extend_from_slice(&hs);
    }
    s
}

fn leaf(i: u64) -> Hash {
    leaf_hash(&i.to_be_bytes())
}

/// A builder restored from the partial tiles of `from`, the way a ledger
/// reopens.
fn reopen(from: &Builder) -> Builder {
    Builder::restore([0; tlog::tree::EDGE_BYTES], from.size(), |t, buf: &mut [u8]| {
        let (bt, data) = from.tile(t.level()).ok_or(())?;
        assert_eq!(bt, t);
        buf.copy_from_slice(data);
        Ok::<_, ()>(())
    })
    .unwrap()
}

fn flip(p: &[Hash], bit: usize) -> Vec<Hash> {
    let mut p = p.to_vec();
    let n = p.len();
    p[(bit / 256) % n].0[(bit % 256) / 8] ^= 1 << (bit % 8);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn root_independent_of_append_splits(splits in prop::collection::vec(0u64..700, 1..6)) {
        let total: u64 = splits.iter().sum();
        let mut s = stored(total);
        let mut b = Builder::new();
        let mut i = 0;
        for chunk in &splits {
            for _ in 0..*chunk {
                b.push(leaf(i)).unwrap();
                i += 1;
            }
            // Each batch ends in a reopen, as a ledger commit and restart would.
            b = reopen(&b);
            prop_assert_eq!(b.root(), tree_hash(i, &mut s).unwrap());
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_flips_fail(size in 1u64..2000, index_seed: u64, bit: usize) {
        let mut s = stored(size);
        let index = index_seed % size;
        let root = tree_hash(size, &mut s).unwrap();
        let p = prove_inclusion(size, index, &mut s).unwrap();
        prop_assert!(verify_inclusion(&p, size, &root, index, &leaf(index)).is_ok());
        if !p.is_empty() {
            prop_assert!(verify_inclusion(&flip(&p, bit), size, &root, index, &leaf(index)).is_err());
        }
        let mut bad_root = root;
        bad_root.0[bit % 32] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(&p, size, &bad_root, index, &leaf(index)).is_err());
        prop_assert!(verify_inclusion(&p, size, &root, index, &leaf(index + 1)).is_err());
        if size > 1 {
            let other = (index + 1) % size;
            prop_assert!(verify_inclusion(&p, size, &root, other, &leaf(index)).is_err());
        }
    }

    #[test]
    fn consistency_proofs_verify_and_flips_fail(size in 1u64..2000, old_seed: u64, bit: usize) {
        let mut s = stored(size);
        let old = old_seed % size + 1;
        let root = tree_hash(size, &mut s).unwrap();
        let old_root = tree_hash(old, &mut s).unwrap();
        let p = prove_consistency(size, old, &mut s).unwrap();
        prop_assert!(verify_consistency(&p, size, &root, old, &old_root).is_ok());
        if !p.is_empty() {
            prop_assert!(verify_consistency(&flip(&p, bit), size, &root, old, &old_root).is_err());
        }
        let mut bad = old_root;
        bad.0[bit % 32] ^= 1 << (bit % 8);
        prop_assert!(verify_consistency(&p, size, &root, old, &bad).is_err());
        if old < size {
            let older = tree_hash(old, &mut s).unwrap();
            prop_assert!(verify_consistency(&p, size, &root, old + 1, &older).is_err());
        }
    }

    #[test]
    fn tile_paths_round_trip(level in 0u8..64, index: u64, width in 1u16..=256, entries: bool) {
        let t = if entries { Tile::entries(index, width) } else { Tile::hashes(level, index, width) };
        let path = t.path();
        prop_assert_eq!(Tile::parse(&path), Some(t));
    }

    #[test]
    fn tile_parse_never_panics(path in "tile/[0-9a-z./x]{0,40}") {
        if let Some(t) = Tile::parse(&path) {
            let canonical = t.path();
            prop_assert_eq!(canonical.as_str(), path.as_str());
        }
    }

    #[test]
    fn partial_tiles_follow_the_spec(size: u64, level in 0u8..8) {
        let kind = TileKind::Hashes { level };
        let want = (size >> (8 * u32::from(level))) % 256;
        match Tile::partial(kind, size) {
            Some(t) => {
                prop_assert_eq!(u64::from(t.width), want);
                prop_assert!(t.within(size));
                let wider = Tile { width: t.width + 1, ..t };
                prop_assert!(!wider.within(size));
            }
            None => prop_assert_eq!(want, 0),
        }
    }
}
