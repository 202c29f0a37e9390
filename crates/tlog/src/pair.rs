//! Two independent hashes at once ([`sha256x2`]): appends hash records two
//! at a time, and tiles and bundles are checked two hashes at a time.

use crate::hash::{HASH_SIZE, Hash};

/// The leaf hashes of two entries: `[leaf_hash(a), leaf_hash(b)]`.
pub fn leaf_hashes(a: &[u8], b: &[u8]) -> [Hash; 2] {
    sha256x2::pair([&[0], a], [&[0], b]).map(Hash)
}

/// The hashes of two interior nodes, each given as (left, right).
pub fn node_hashes(a: (&Hash, &Hash), b: (&Hash, &Hash)) -> [Hash; 2] {
    let (a, b) = (children(a), children(b));
    sha256x2::pair([&[1], &a], [&[1], &b]).map(Hash)
}

fn children((l, r): (&Hash, &Hash)) -> [u8; 2 * HASH_SIZE] {
    let mut c = [0; 2 * HASH_SIZE];
    c[..HASH_SIZE].copy_from_slice(&l.0);
    c[HASH_SIZE..].copy_from_slice(&r.0);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{leaf_hash, node_hash};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pairs_equal_one_at_a_time(
            a in prop::collection::vec(any::<u8>(), 0..1100),
            b in prop::collection::vec(any::<u8>(), 0..1100),
            l in any::<[u8; 32]>(), r in any::<[u8; 32]>(),
        ) {
            prop_assert_eq!(leaf_hashes(&a, &b), [leaf_hash(&a), leaf_hash(&b)]);
            let (l, r) = (Hash(l), Hash(r));
            prop_assert_eq!(node_hashes((&l, &r), (&r, &l)), [node_hash(&l, &r), node_hash(&r, &l)]);
        }
    }
}
