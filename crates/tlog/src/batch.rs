//! Many independent hashes at once: an append hashes its records' leaves
//! together, a tile's interior nodes are hashed a row at a time, and a
//! bundle is checked against its tile a run of entries at a time.
//!
//! One SHA-256 is a chain of dependent rounds; independent messages are
//! not. With the `std` feature, on the host, the hashes go through
//! `tape-sha256`, which runs one message per SIMD lane (16 with AVX-512)
//! or interleaves the SHA extensions' rounds of several messages, picking
//! what the running CPU does best. Without it (the `no_std` PDs) they are
//! the `sha2` crate, one after the other. Both give the same hashes: the
//! tests compare them.

use crate::hash::{HASH_SIZE, Hash};

/// Messages handed to the hasher at once: two waves of 16 AVX-512 lanes,
/// and small enough for a stack array in a PD.
pub const CHUNK: usize = 32;

/// `out[i] = leaf_hash(entries[i])`, for as many as both slices hold.
pub fn leaf_hashes(entries: &[&[u8]], out: &mut [Hash]) {
    for (entries, out) in entries.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
        hash_chunk(0, entries, out);
    }
}

/// The parents of a row of nodes: `children` holds 2n hashes side by side
/// and `out` gets n, `out[i] = node_hash(children[2i], children[2i + 1])`
/// (as many as both hold).
pub fn parents(children: &[u8], out: &mut [u8]) {
    let mut bodies: [&[u8]; CHUNK] = [&[]; CHUNK];
    let mut hashes = [Hash::default(); CHUNK];
    let pairs = children.chunks_exact(2 * HASH_SIZE);
    let outs = out.chunks_exact_mut(HASH_SIZE);
    let mut run = pairs.zip(outs).peekable();
    while run.peek().is_some() {
        let mut n = 0;
        let mut slots: [Option<&mut [u8]>; CHUNK] = Default::default();
        for ((pair, o), (body, slot)) in
            run.by_ref().take(CHUNK).zip(bodies.iter_mut().zip(&mut slots))
        {
            *body = pair;
            *slot = Some(o);
            n += 1;
        }
        hash_chunk(1, &bodies[..n], &mut hashes[..n]);
        for (slot, h) in slots.iter_mut().zip(&hashes).take(n) {
            if let Some(o) = slot {
                o.copy_from_slice(&h.0);
            }
        }
    }
}

/// The root of the subtree over `leaves`: a power of two of hashes, at
/// most [`CHUNK`], side by side; hashed a row at a time.
pub fn subtree(leaves: &[u8]) -> Hash {
    let mut row = [0u8; CHUNK * HASH_SIZE];
    let mut up = [0u8; CHUNK / 2 * HASH_SIZE];
    let mut width = leaves.len().min(row.len());
    row[..width].copy_from_slice(&leaves[..width]);
    while width > HASH_SIZE {
        parents(&row[..width], &mut up);
        width /= 2;
        row[..width].copy_from_slice(&up[..width]);
    }
    Hash::from_slice(&row[..HASH_SIZE]).unwrap_or_default()
}

/// `out[i] = SHA-256(prefix || bodies[i])` for at most [`CHUNK`] bodies.
#[cfg(feature = "std")]
fn hash_chunk(prefix: u8, bodies: &[&[u8]], out: &mut [Hash]) {
    let n = bodies.len().min(out.len());
    let mut digests = [[0u8; HASH_SIZE]; CHUNK];
    tape_sha256::hash_many_prefixed(&[prefix], &bodies[..n], &mut digests[..n]);
    for (o, d) in out.iter_mut().zip(digests) {
        *o = Hash(d);
    }
}

/// `out[i] = SHA-256(prefix || bodies[i])`, one after the other.
#[cfg(not(feature = "std"))]
fn hash_chunk(prefix: u8, bodies: &[&[u8]], out: &mut [Hash]) {
    for (o, b) in out.iter_mut().zip(bodies) {
        *o = one(prefix, b);
    }
}

/// SHA-256(prefix || body) with `sha2`: the reference the batches equal.
#[cfg(any(test, not(feature = "std")))]
fn one(prefix: u8, body: &[u8]) -> Hash {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update([prefix]);
    h.update(body);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::hash::{leaf_hash, node_hash};
    use proptest::prelude::*;

    /// Every length across the block and padding edges, in one batch with
    /// lengths that differ lane to lane.
    #[test]
    fn leaves_equal_one_at_a_time_at_every_length() {
        let data: [u8; 1100] = core::array::from_fn(|i| (i * 7 + 3) as u8);
        for start in [0usize, 1, 100, 250] {
            let entries: [&[u8]; 300] = core::array::from_fn(|i| &data[start..start + i]);
            let mut out = [Hash::default(); 300];
            leaf_hashes(&entries, &mut out);
            for (e, h) in entries.iter().zip(&out) {
                assert_eq!(*h, leaf_hash(e), "length {}", e.len());
                assert_eq!(*h, one(0, e));
            }
        }
    }

    #[test]
    fn shorter_output_takes_what_fits() {
        let entries: [&[u8]; 40] = [b"x"; 40];
        let mut out = [Hash::default(); 35];
        leaf_hashes(&entries, &mut out);
        assert!(out.iter().all(|h| *h == leaf_hash(b"x")));
    }

    #[test]
    fn subtree_equals_the_recursive_root() {
        for k in 0..=5 {
            let leaves: std::vec::Vec<u8> =
                (0..(1usize << k) * HASH_SIZE).map(|i| i as u8).collect();
            assert_eq!(subtree(&leaves), crate::tile::subtree_hash(&leaves), "2^{k} leaves");
        }
    }

    proptest! {
        #[test]
        fn batches_equal_one_at_a_time(
            entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1100), 0..80),
            nodes in prop::collection::vec(any::<[u8; 32]>(), 0..140),
        ) {
            let slices: std::vec::Vec<&[u8]> = entries.iter().map(|e| e.as_slice()).collect();
            let mut out = std::vec![Hash::default(); entries.len()];
            leaf_hashes(&slices, &mut out);
            for (e, h) in entries.iter().zip(&out) {
                prop_assert_eq!(*h, leaf_hash(e));
            }
            let children: std::vec::Vec<u8> = nodes.iter().flatten().copied().collect();
            let mut up = std::vec![0u8; nodes.len() / 2 * HASH_SIZE];
            parents(&children, &mut up);
            for (i, p) in up.chunks(HASH_SIZE).enumerate() {
                let want = node_hash(&Hash(nodes[2 * i]), &Hash(nodes[2 * i + 1]));
                prop_assert_eq!(p, &want.0[..]);
            }
        }
    }
}
