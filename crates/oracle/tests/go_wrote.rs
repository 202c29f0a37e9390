//! Our tlog and note crates check notes, roots and proofs that Go's
//! golang.org/x/mod/sumdb packages produced, and build the same proofs.

use base64ct::{Base64, Encoding};
use note::{Checkpoint, NoteError, Signer, Verifier, open};
use tlog::proof::{prove_consistency, prove_inclusion, verify_consistency, verify_inclusion};
use tlog::tree::{NodeReader, stored_hash_index, stored_hashes};
use tlog::{Builder, Hash, leaf_hash};

struct Stored(Vec<Hash>);

impl NodeReader for Stored {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        self.0.get(stored_hash_index(level, index) as usize).copied().ok_or(())
    }
}

fn hashes(p: &[String]) -> Vec<Hash> {
    p.iter().map(|h| Hash::from_base64(h).unwrap()).collect()
}

#[test]
fn go_notes_roots_and_proofs_check_out() {
    let g = oracle::generate(600).unwrap();
    let (v1, v2) = (Verifier::parse(&g.vkey).unwrap(), Verifier::parse(&g.vkey2).unwrap());
    // Two signatures: each key alone verifies, the other is ignored as unknown.
    let o = open(g.note.as_bytes(), &[&v1]).unwrap();
    assert_eq!((o.text, o.verified_by, o.unknown), (g.text.as_str(), 1, 1));
    assert_eq!(open(g.note.as_bytes(), &[&v2, &v1]).unwrap().verified_by, 0b11);
    let stranger = Signer::from_seed("oracle.example/log", [5; 32]).unwrap().verifier();
    assert_eq!(open(g.note.as_bytes(), &[&stranger]), Err(NoteError::Unverified));

    // Go's private key signs identically in Rust (Ed25519 is deterministic).
    let s = Signer::parse(&g.skey).unwrap();
    let mut buf = [0u8; 1024];
    let n = note::sign(&g.text, &[&s], &mut buf).unwrap();
    let first_sig_line = g.note.lines().find(|l| l.starts_with('\u{2014}')).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), format!("{}\n{first_sig_line}\n", g.text));

    // Roots of every size, from the records.
    let records: Vec<Vec<u8>> = g.records.iter().map(|r| Base64::decode_vec(r).unwrap()).collect();
    let mut b = Builder::new();
    let mut stored = Stored(Vec::new());
    for (i, r) in records.iter().enumerate() {
        b.push(leaf_hash(r)).unwrap();
        let hs = stored_hashes(i as u64, leaf_hash(r), &mut stored).unwrap();
        stored.0.extend_from_slice(&hs);
        assert_eq!(b.root().to_string(), g.roots[&(i as u64 + 1)], "root of {}", i + 1);
    }
    let cp = Checkpoint::parse(o.text).unwrap();
    assert_eq!((cp.size, cp.root), (600, b.root()));

    let root = |t: u64| Hash::from_base64(&g.roots[&t]).unwrap();
    assert!(g.inclusion.len() > 100 && g.consistency.len() > 100);
    for p in &g.inclusion {
        let leaf = leaf_hash(&records[p.index as usize]);
        let proof = hashes(&p.proof);
        verify_inclusion(&proof, p.tree_size, &root(p.tree_size), p.index, &leaf).unwrap();
        let mine = prove_inclusion(p.tree_size, p.index, &mut stored).unwrap();
        assert_eq!(mine.as_slice(), proof.as_slice(), "inclusion {} in {}", p.index, p.tree_size);
    }
    for p in &g.consistency {
        let proof = hashes(&p.proof);
        verify_consistency(&proof, p.tree_size, &root(p.tree_size), p.old_size, &root(p.old_size))
            .unwrap();
        let mine = prove_consistency(p.tree_size, p.old_size, &mut stored).unwrap();
        assert_eq!(
            mine.as_slice(),
            proof.as_slice(),
            "consistency {} to {}",
            p.old_size,
            p.tree_size
        );
    }
}
