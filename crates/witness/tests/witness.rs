//! The witness cosigns a log's checkpoints only while they extend the last
//! one it cosigned, answering every other request as C2SP tlog-witness says.

use note::{Signer, cosigned_at};
use tlog::proof::prove_consistency;
use tlog::{Hash, NodeReader, leaf_hash, node_hash};
use witness::protocol::add_checkpoint_body;
use witness::{Refusal, Witness};

/// A log in memory: its leaves, and checkpoints signed by its key.
struct Log {
    key: Signer,
    leaves: Vec<Hash>,
}

impl NodeReader for Log {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        Ok(subtree(&self.leaves[(index << level) as usize..((index + 1) << level) as usize]))
    }
}

fn subtree(l: &[Hash]) -> Hash {
    if l.len() == 1 {
        return l[0];
    }
    let k = l.len().next_power_of_two() / 2;
    node_hash(&subtree(&l[..k]), &subtree(&l[k..]))
}

impl Log {
    fn new(origin: &str, seed: u8) -> Log {
        Log { key: Signer::from_seed(origin, [seed; 32]).unwrap(), leaves: Vec::new() }
    }

    fn grow(&mut self, n: usize, tag: &str) {
        for i in 0..n {
            let e = format!("{tag} {}", self.leaves.len() + i);
            self.leaves.push(leaf_hash(e.as_bytes()));
        }
    }

    fn checkpoint(&self, size: usize) -> Vec<u8> {
        let root = subtree(&self.leaves[..size]);
        let mut b64 = [0u8; 44];
        let text = format!("{}\n{size}\n{}\n", self.key.name(), root.to_base64(&mut b64));
        let mut out = [0u8; 1024];
        let n = note::sign(&text, &[&self.key], &mut out).unwrap();
        out[..n].to_vec()
    }

    fn request(&mut self, old: usize, size: usize) -> Vec<u8> {
        let proof = if old == 0 || old >= size {
            Vec::new()
        } else {
            prove_consistency(size as u64, old as u64, self).unwrap().to_vec()
        };
        add_checkpoint_body(old as u64, &proof, &self.checkpoint(size))
    }
}

fn witness(log: &Log) -> (tempfile::TempDir, Witness) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    Witness::create(&dir, "witness.test/w1").unwrap();
    Witness::trust(&dir, &log.key.verifier().to_string()).unwrap();
    (tmp, Witness::open(&dir).unwrap())
}

#[test]
fn cosigns_a_growing_log_and_nothing_else() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(10, "a");
    let (_tmp, mut w) = witness(&log);
    let sig = w.add_checkpoint(&log.request(0, 3), 1000).unwrap();
    let mut cosigned = log.checkpoint(3);
    cosigned.extend_from_slice(&sig);
    assert_eq!(cosigned_at(&cosigned, &w.verifier()), Ok(Some(1000)));
    // It extends: cosigned. The same again: cosigned again.
    assert!(w.add_checkpoint(&log.request(3, 10), 1001).is_ok());
    assert!(w.add_checkpoint(&log.request(10, 10), 1002).is_ok());
    assert_eq!(w.latest("service-fs/acme").unwrap().unwrap().0, 10);
    // A stale old size: 409 with the size it cosigned last.
    let stale = w.add_checkpoint(&log.request(3, 10), 1003).unwrap_err();
    assert_eq!((stale.status(), stale.body()), (409, "10\n".to_string()));
    // A rollback: the log offers an older checkpoint.
    let back = w.add_checkpoint(&log.request(3, 3), 1004).unwrap_err();
    assert_eq!(back, Refusal::Conflict(10));
    let back = w.add_checkpoint(&log.request(10, 3), 1004).unwrap_err();
    assert_eq!(back.status(), 400);
}

#[test]
fn a_fork_is_never_cosigned() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(8, "a");
    let (_tmp, mut w) = witness(&log);
    w.add_checkpoint(&log.request(0, 5), 1).unwrap();
    // Another history from record 5 on, with a proof built over it.
    let mut fork = Log { key: log.key.clone(), leaves: log.leaves[..4].to_vec() };
    fork.grow(6, "b");
    let r = w.add_checkpoint(&fork.request(5, 9), 2).unwrap_err();
    assert_eq!(r.status(), 422, "{r:?}");
    // The same size with another root.
    let r = w.add_checkpoint(&fork.request(5, 5), 2).unwrap_err();
    assert_eq!(r, Refusal::Conflict(5));
    // The true log goes on.
    w.add_checkpoint(&log.request(5, 8), 3).unwrap();
}

#[test]
fn unknown_logs_bad_signatures_and_bad_bodies_are_refused() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(4, "a");
    let (_tmp, mut w) = witness(&log);
    let mut stranger = Log::new("service-fs/globex", 2);
    stranger.grow(4, "a");
    assert_eq!(w.add_checkpoint(&stranger.request(0, 4), 1).unwrap_err().status(), 404);
    // The right origin, signed by another key.
    let mut impostor = Log::new("service-fs/acme", 3);
    impostor.grow(4, "a");
    assert_eq!(w.add_checkpoint(&impostor.request(0, 4), 1).unwrap_err().status(), 403);
    // A proof from size 0.
    let mut body = log.request(0, 4);
    let at = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    body.splice(at..at, b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".iter().copied());
    assert_eq!(w.add_checkpoint(&body, 1).unwrap_err().status(), 400);
    for junk in [b"".as_slice(), b"old 0\n\nnot a note", b"old x\n\n"] {
        assert_eq!(w.add_checkpoint(junk, 1).unwrap_err().status(), 400, "{junk:?}");
    }
    // Nothing was kept from any of it.
    assert_eq!(w.latest("service-fs/acme").unwrap(), None);
    assert_eq!(w.latest("service-fs/globex").unwrap(), None);
}

#[test]
fn the_state_survives_a_restart_and_one_process_holds_it() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(6, "a");
    let (tmp, mut w) = witness(&log);
    let dir = tmp.path().join("w");
    w.add_checkpoint(&log.request(0, 6), 1).unwrap();
    assert!(Witness::open(&dir).is_err(), "a second witness process on one state");
    let key = w.verifier();
    drop(w);
    let mut w = Witness::open(&dir).unwrap();
    assert_eq!(w.verifier(), key);
    assert_eq!(w.add_checkpoint(&log.request(0, 6), 2).unwrap_err(), Refusal::Conflict(6));
    // The key and state are private to the witness.
    use std::os::unix::fs::PermissionsExt;
    for f in ["key", "."] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
    assert!(Witness::create(&dir, "witness.test/w1").is_err(), "a key is never replaced");
    // A second key for a known origin is refused.
    let other = Log::new("service-fs/acme", 9);
    assert!(Witness::trust(&dir, &other.key.verifier().to_string()).is_err());
}

#[test]
fn a_log_trusted_while_it_runs_is_known_at_once() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(3, "a");
    let (tmp, mut w) = witness(&log);
    let mut late = Log::new("service-fs/initech", 4);
    late.grow(2, "a");
    assert_eq!(w.add_checkpoint(&late.request(0, 2), 1).unwrap_err().status(), 404);
    Witness::trust(&tmp.path().join("w"), &late.key.verifier().to_string()).unwrap();
    w.add_checkpoint(&late.request(0, 2), 2).unwrap();
}

#[test]
fn a_checkpoint_too_long_to_cosign_is_refused_and_kept_nowhere() {
    let mut log = Log::new("service-fs/acme", 1);
    log.grow(2, "a");
    let (_tmp, mut w) = witness(&log);
    let root = subtree(&log.leaves);
    let mut b64 = [0u8; 44];
    let ext = "x".repeat(1100);
    let text = format!("service-fs/acme\n2\n{}\n{ext}\n", root.to_base64(&mut b64));
    let mut out = [0u8; 4096];
    let n = note::sign(&text, &[&log.key], &mut out).unwrap();
    let r = w.add_checkpoint(&add_checkpoint_body(0, &[], &out[..n]), 1).unwrap_err();
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(w.latest("service-fs/acme").unwrap(), None);
}
