//! Inclusion and consistency proofs (`tlog::proof`), as a client or
//! auditor verifies them from outside bytes. The input builds a tree of up
//! to 300 leaves (its own bytes as entries) and picks an index and an old
//! size: the proofs the tree gives verify, and so does nothing else (the
//! same proof with one bit flipped, for another index, or against another
//! old root). (The tree size is not checked alone: a proof for size n can
//! have the shape of one for n + 1, and only the root, signed with its
//! size in one checkpoint, binds them.) Then
//! the rest of the input, taken as a proof with arbitrary sizes, never
//! makes verification panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlog::proof::{prove_consistency, prove_inclusion, verify_consistency, verify_inclusion};
use tlog::tree::{NodeReader, tree_hash};
use tlog::{Hash, leaf_hash, node_hash};

/// Complete-subtree hashes computed from the leaves.
struct Leaves(Vec<Hash>);

impl NodeReader for Leaves {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        let lo = usize::try_from(index << level).map_err(|_| ())?;
        let n = 1usize << level;
        let leaves = self.0.get(lo..lo + n).ok_or(())?;
        let mut row = leaves.to_vec();
        while row.len() > 1 {
            row = row.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        Ok(row[0])
    }
}

fn word(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in data.iter().skip(at).take(8).enumerate() {
        b[i] = *x;
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let size = u64::from(u16::from_le_bytes([data[0], data[1]])) % 300 + 1;
    let (pick, flip) = (data[2], data[3]);
    let rest = &data[4..];
    // Distinct leaves (an index is proved for its own leaf only).
    let leaves: Vec<Hash> = (0..size)
        .map(|i| {
            let [lo, hi] = (i as u16).to_le_bytes();
            leaf_hash(&[rest.get(i as usize).copied().unwrap_or(0), lo, hi])
        })
        .collect();
    let mut r = Leaves(leaves);
    let root = tree_hash(size, &mut r).unwrap();
    let index = u64::from(pick) % size;
    let leaf = r.0[index as usize];

    let p = prove_inclusion(size, index, &mut r).unwrap();
    assert_eq!(verify_inclusion(&p, size, &root, index, &leaf), Ok(()));
    if !p.is_empty() {
        let mut bad = p.clone();
        let h = usize::from(flip) % bad.len();
        bad[h].0[usize::from(flip) % 32] ^= 1 << (flip % 8);
        assert!(verify_inclusion(&bad, size, &root, index, &leaf).is_err());
    }
    if size > 1 {
        let other = (index + 1) % size;
        assert!(verify_inclusion(&p, size, &root, other, &leaf).is_err());
    }

    let old = index + 1;
    let old_root = tree_hash(old, &mut r).unwrap();
    let c = prove_consistency(size, old, &mut r).unwrap();
    assert_eq!(verify_consistency(&c, size, &root, old, &old_root), Ok(()));
    if !c.is_empty() {
        let mut bad = c.clone();
        let h = usize::from(flip) % bad.len();
        bad[h].0[usize::from(flip) % 32] ^= 1 << (flip % 8);
        assert!(verify_consistency(&bad, size, &root, old, &old_root).is_err());
    }
    if old < size {
        let wrong = tree_hash(old + 1, &mut r).unwrap();
        assert!(verify_consistency(&c, size, &root, old, &wrong).is_err());
    }

    // Arbitrary proofs and sizes: an answer, never a panic.
    let (a, b) = (word(rest, 0), word(rest, 8));
    let hashes: Vec<Hash> = rest
        .get(16..)
        .unwrap_or(&[])
        .chunks_exact(32)
        .map(|c| Hash::from_slice(c).unwrap())
        .collect();
    let _ = verify_inclusion(&hashes, a, &root, b, &leaf);
    let _ = verify_consistency(&hashes, a, &root, b, &old_root);
    let _ = verify_inclusion(&hashes, a.max(b), &root, a.min(b), &leaf);
    let _ = verify_consistency(&hashes, a.max(b), &root, a.min(b).max(1), &old_root);
});
