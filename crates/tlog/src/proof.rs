//! Inclusion and consistency proofs.
//!
//! Proofs are built with the recursive definitions of RFC 6962 §2.1.1–2.1.2
//! (so they list hashes from the leaf level up, exactly as Go's `tlog`
//! produces them) and verified with the iterative algorithms of RFC 9162
//! §2.1.3.2 and §2.1.4.2.

use crate::hash::{Hash, node_hash};
use crate::tree::{MAX_TREE_SIZE, NodeReader, range_hash};

/// The longest proof for any tree up to [`MAX_TREE_SIZE`].
pub const MAX_PROOF_LEN: usize = 64;

/// An inclusion or consistency proof.
pub type Proof = heapless::Vec<Hash, MAX_PROOF_LEN>;

/// Why a proof could not be built or did not verify.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError<E = core::convert::Infallible> {
    /// Index or sizes out of range (index ≥ size, old size 0 or above the new size, …).
    InvalidInput,
    /// The proof does not lead to the expected root(s).
    Mismatch,
    /// Reading a subtree hash failed.
    Read(E),
}

impl<E: core::fmt::Display> core::fmt::Display for ProofError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ProofError::InvalidInput => f.write_str("index or tree size out of range"),
            ProofError::Mismatch => f.write_str("proof does not match the root hash"),
            ProofError::Read(e) => write!(f, "reading tree hashes: {e}"),
        }
    }
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Proves that leaf `index` is in the tree of `size` leaves (RFC 6962 `PATH`).
pub fn prove_inclusion<R: NodeReader>(
    size: u64,
    index: u64,
    r: &mut R,
) -> Result<Proof, ProofError<R::Error>> {
    if index >= size || size > MAX_TREE_SIZE {
        return Err(ProofError::InvalidInput);
    }
    let mut proof = Proof::new();
    path(index, 0, size, r, &mut proof)?;
    Ok(proof)
}

fn path<R: NodeReader>(
    m: u64,
    lo: u64,
    hi: u64,
    r: &mut R,
    out: &mut Proof,
) -> Result<(), ProofError<R::Error>> {
    if hi - lo == 1 {
        return Ok(());
    }
    let k = split(hi - lo);
    let sibling = if m < lo + k {
        path(m, lo, lo + k, r, out)?;
        range_hash(lo + k, hi, r)
    } else {
        path(m, lo + k, hi, r, out)?;
        range_hash(lo, lo + k, r)
    };
    push(out, sibling.map_err(ProofError::Read)?)
}

fn push<E>(out: &mut Proof, h: Hash) -> Result<(), ProofError<E>> {
    // Depth is bounded by MAX_PROOF_LEN for trees up to MAX_TREE_SIZE.
    out.push(h).map_err(|_| ProofError::InvalidInput)
}

/// Proves that the tree of `old` leaves is a prefix of the tree of `size`
/// leaves (RFC 6962 `PROOF`). Requires `1 <= old <= size`, like Go's `tlog`.
pub fn prove_consistency<R: NodeReader>(
    size: u64,
    old: u64,
    r: &mut R,
) -> Result<Proof, ProofError<R::Error>> {
    if old == 0 || old > size || size > MAX_TREE_SIZE {
        return Err(ProofError::InvalidInput);
    }
    let mut proof = Proof::new();
    subproof(old, 0, size, true, r, &mut proof)?;
    Ok(proof)
}

fn subproof<R: NodeReader>(
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    r: &mut R,
    out: &mut Proof,
) -> Result<(), ProofError<R::Error>> {
    if lo + m == hi {
        if whole {
            return Ok(());
        }
        return push(out, range_hash(lo, hi, r).map_err(ProofError::Read)?);
    }
    let k = split(hi - lo);
    let sibling = if m <= k {
        subproof(m, lo, lo + k, whole, r, out)?;
        range_hash(lo + k, hi, r)
    } else {
        subproof(m - k, lo + k, hi, false, r, out)?;
        range_hash(lo, lo + k, r)
    };
    push(out, sibling.map_err(ProofError::Read)?)
}

/// Checks that `proof` shows leaf `index` with hash `leaf` is in the tree of
/// `size` leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    proof: &[Hash],
    size: u64,
    root: &Hash,
    index: u64,
    leaf: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::InvalidInput);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::Mismatch);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == *root { Ok(()) } else { Err(ProofError::Mismatch) }
}

/// Checks that `proof` shows the tree of `old` leaves with root `old_root` is
/// a prefix of the tree of `size` leaves with root `root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    proof: &[Hash],
    size: u64,
    root: &Hash,
    old: u64,
    old_root: &Hash,
) -> Result<(), ProofError> {
    if old == 0 || old > size {
        return Err(ProofError::InvalidInput);
    }
    if old == size {
        return if proof.is_empty() && root == old_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    // When the old tree is a complete subtree its root starts the path.
    let (first, rest) = if old.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or(ProofError::Mismatch)?
    };
    let (mut f, mut s) = (old - 1, size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::Mismatch);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr == *old_root && sr == *root && s == 0 { Ok(()) } else { Err(ProofError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::tests::{rfc6962_leaves, stored};
    use crate::tree::tree_hash;
    extern crate std;
    use std::vec::Vec;

    fn entries(n: u64) -> Vec<Vec<u8>> {
        (0..n).map(|i| i.to_le_bytes().to_vec()).collect()
    }

    #[test]
    fn every_proof_in_small_trees_verifies() {
        let mut s = stored(entries(70));
        for size in 1..=70u64 {
            let root = tree_hash(size, &mut s).unwrap();
            for i in 0..size {
                let p = prove_inclusion(size, i, &mut s).unwrap();
                let leaf = leaf_hash(&i.to_le_bytes());
                assert_eq!(verify_inclusion(&p, size, &root, i, &leaf), Ok(()), "{i} in {size}");
            }
            for old in 1..=size {
                let old_root = tree_hash(old, &mut s).unwrap();
                let p = prove_consistency(size, old, &mut s).unwrap();
                assert_eq!(verify_consistency(&p, size, &root, old, &old_root), Ok(()));
            }
        }
    }

    #[test]
    fn rfc6962_reference_proof_shape() {
        // The audit path for leaf 0 in the 8-leaf reference tree has 3 hashes,
        // for leaf 6 in the 7-leaf tree 2 (its sibling subtree is empty).
        let mut s = stored(rfc6962_leaves());
        assert_eq!(prove_inclusion(8, 0, &mut s).unwrap().len(), 3);
        assert_eq!(prove_inclusion(7, 6, &mut s).unwrap().len(), 2);
        assert_eq!(prove_consistency(8, 8, &mut s).unwrap().len(), 0);
        assert_eq!(prove_consistency(8, 4, &mut s).unwrap().len(), 1);
        assert_eq!(prove_consistency(7, 3, &mut s).unwrap().len(), 4);
    }

    #[test]
    fn bad_inputs() {
        let mut s = stored(entries(8));
        assert_eq!(prove_inclusion(8, 8, &mut s), Err(ProofError::InvalidInput));
        assert_eq!(prove_inclusion(0, 0, &mut s), Err(ProofError::InvalidInput));
        assert_eq!(prove_consistency(8, 0, &mut s), Err(ProofError::InvalidInput));
        assert_eq!(prove_consistency(4, 8, &mut s), Err(ProofError::InvalidInput));
        let root = tree_hash(8, &mut s).unwrap();
        let p = prove_inclusion(8, 3, &mut s).unwrap();
        let leaf = leaf_hash(&3u64.to_le_bytes());
        assert_eq!(verify_inclusion(&p, 8, &root, 8, &leaf), Err(ProofError::InvalidInput));
        assert_eq!(verify_inclusion(&p, 8, &root, 2, &leaf), Err(ProofError::Mismatch));
        assert_eq!(verify_inclusion(&p[..2], 8, &root, 3, &leaf), Err(ProofError::Mismatch));
        let mut long = p.clone();
        long.push(root).unwrap();
        assert_eq!(verify_inclusion(&long, 8, &root, 3, &leaf), Err(ProofError::Mismatch));
        assert_eq!(verify_consistency(&[], 8, &root, 3, &root), Err(ProofError::Mismatch));
    }
}
