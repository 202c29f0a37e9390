//! The Merkle log behind the server: entries, every stored hash (for proofs
//! and tiles), the leaf-hash index for duplicates, and the latest signed
//! checkpoint.

use std::collections::HashMap;

use note::Signer;
use sha2::{Digest, Sha256};
use tlog::tree::{NodeReader, stored_hash_index, stored_hashes, tree_hash};
use tlog::{Hash, Proof, Tile, TileKind};

/// An in-memory RFC 6962 log in the C2SP tlog-tiles layout.
pub struct Log {
    signer: Signer,
    entries: Vec<Vec<u8>>,
    /// Every node hash, in Go's stored-hash order.
    stored: Vec<Hash>,
    by_leaf: HashMap<Hash, u64>,
    checkpoint: String,
}

/// Reads complete-subtree hashes from the stored hashes.
struct Stored<'a>(&'a [Hash]);

impl NodeReader for Stored<'_> {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        let at = usize::try_from(stored_hash_index(level, index)).map_err(|_| ())?;
        self.0.get(at).copied().ok_or(())
    }
}

impl Log {
    /// An empty log whose checkpoints `signer` signs (its name is the origin).
    pub fn new(signer: Signer) -> Log {
        let checkpoint = sign_checkpoint(&signer, 0, &tlog::EMPTY_ROOT);
        Log { signer, entries: Vec::new(), stored: Vec::new(), by_leaf: HashMap::new(), checkpoint }
    }

    /// The checkpoint signing key.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    /// The index of the entry with leaf hash `leaf`, if logged.
    pub fn find(&self, leaf: &Hash) -> Option<u64> {
        self.by_leaf.get(leaf).copied()
    }

    /// Appends `entry` (whose leaf hash is not yet in the log) and signs a
    /// new checkpoint; returns its index.
    pub fn append(&mut self, entry: Vec<u8>) -> u64 {
        let index = self.size();
        let leaf = tlog::leaf_hash(&entry);
        // Every left sibling stored_hashes reads is stored already.
        let new = stored_hashes(index, leaf, &mut Stored(&self.stored))
            .expect("left siblings are stored");
        self.stored.extend_from_slice(&new);
        self.entries.push(entry);
        self.by_leaf.insert(leaf, index);
        self.checkpoint = sign_checkpoint(&self.signer, self.size(), &self.root());
        index
    }

    /// The root hash of the whole log.
    pub fn root(&self) -> Hash {
        tree_hash(self.size(), &mut Stored(&self.stored)).expect("complete subtrees are stored")
    }

    /// The inclusion proof of entry `index` in the whole log.
    pub fn inclusion(&self, index: u64) -> Proof {
        tlog::proof::prove_inclusion(self.size(), index, &mut Stored(&self.stored))
            .expect("index is in the log and its subtrees are stored")
    }

    /// The latest signed checkpoint note.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// The bytes of `tile` (hashes, or an entry bundle), when it belongs to
    /// the current tree: full tiles, the partial ones, and narrower older
    /// partial tiles at the same coordinates.
    pub fn tile(&self, tile: Tile) -> Option<Vec<u8>> {
        if !tile.within(self.size()) {
            return None;
        }
        let first = tile.index * tlog::TILE_WIDTH;
        let range = first..first + u64::from(tile.width);
        let mut out = Vec::new();
        match tile.kind {
            TileKind::Hashes { level } => {
                let mut r = Stored(&self.stored);
                for i in range {
                    out.extend_from_slice(&r.node(level.checked_mul(8)?, i).ok()?.0);
                }
            }
            TileKind::Entries => {
                for i in range {
                    let e = self.entries.get(usize::try_from(i).ok()?)?;
                    let len = u16::try_from(e.len()).ok()?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(e);
                }
            }
        }
        Some(out)
    }
}

/// A C2SP checkpoint `origin\nsize\nbase64(root)\n` signed by `signer`,
/// whose name is the origin.
pub fn sign_checkpoint(signer: &Signer, size: u64, root: &Hash) -> String {
    let text = format!("{}\n{size}\n{root}\n", signer.name());
    let mut buf = vec![0u8; text.len() + 256 + note::MAX_NAME_LEN];
    let n = note::sign(&text, &[signer], &mut buf).expect("a checkpoint text is a valid note");
    buf.truncate(n);
    String::from_utf8(buf).expect("a signed note is UTF-8")
}

/// The full C2SP key hash of an Ed25519 note key,
/// `SHA-256(name || 0x0A || 0x01 || public key)`: Rekor's `logId.keyId`.
pub fn key_hash(name: &str, public_key: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', note::ALG_ED25519]);
    h.update(public_key);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_and_tiles_match_the_root() {
        let mut log = Log::new(Signer::from_seed("rekor.test", [3; 32]).unwrap());
        for i in 0..300u32 {
            log.append(i.to_be_bytes().to_vec());
            let root = log.root();
            for j in [0, u64::from(i) / 2, u64::from(i)] {
                let leaf = tlog::leaf_hash(&(j as u32).to_be_bytes());
                let p = log.inclusion(j);
                assert_eq!(tlog::proof::verify_inclusion(&p, log.size(), &root, j, &leaf), Ok(()));
            }
        }
        let t0 = log.tile(Tile::hashes(0, 0, 256)).unwrap();
        let t1 = log.tile(Tile::hashes(1, 0, 1)).unwrap();
        assert_eq!(tlog::tile::subtree_hash(&t0).0.as_slice(), t1.as_slice());
        assert_eq!(log.tile(Tile::hashes(0, 1, 44)).map(|t| t.len()), Some(44 * 32));
        assert_eq!(log.tile(Tile::hashes(0, 1, 40)).map(|t| t.len()), Some(40 * 32));
        assert_eq!(log.tile(Tile::hashes(0, 1, 45)), None);
        assert_eq!(log.tile(Tile::hashes(0, 1, 256)), None);
        assert_eq!(log.tile(Tile::entries(1, 2)).unwrap(), [0, 4, 0, 0, 1, 0, 0, 4, 0, 0, 1, 1]);
        assert_eq!(log.find(&tlog::leaf_hash(&7u32.to_be_bytes())), Some(7));
        assert_eq!(log.find(&tlog::leaf_hash(b"no")), None);
    }

    #[test]
    fn checkpoint_is_signed_by_the_log_key() {
        let s = Signer::from_seed("rekor.test", [3; 32]).unwrap();
        let mut log = Log::new(s.clone());
        log.append(b"e".to_vec());
        let v = s.verifier();
        let opened = note::open(log.checkpoint().as_bytes(), &[&v]).unwrap();
        let cp = note::Checkpoint::parse(opened.text).unwrap();
        assert_eq!((cp.origin, cp.size, cp.root), ("rekor.test", 1, tlog::leaf_hash(b"e")));
        let id = key_hash("rekor.test", v.public_key());
        assert_eq!(u32::from_be_bytes([id[0], id[1], id[2], id[3]]), v.id());
    }
}
