//! Go's tlog and note (an independent implementation) check what fsctl
//! wrote: record hashes, every tile, the tree hash, the checkpoint note and
//! the proofs `fsctl prove` prints, for trees of many sizes.

mod common;

use common::*;

/// Indexes worth proving in a tree of `size`.
fn indexes(size: u64) -> Vec<u64> {
    let mut v: Vec<u64> = [
        0,
        1,
        254,
        255,
        256,
        257,
        size / 2,
        size.saturating_sub(2),
        size.saturating_sub(1),
        65535,
        65536,
    ]
    .into_iter()
    .filter(|&i| i < size)
    .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn go_checks_tiles_checkpoints_and_proofs_written_by_fsctl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    let audit_key =
        note::Verifier::parse(&key).unwrap().renamed("service-fs/acme/audit").unwrap().to_string();
    let proofs_file = dir.join("proofs.jsonl");
    let mut size = 0u64;
    // Sizes from the issue, appended in steps so older partial tiles exist too
    // (where their tile is not full yet);
    // 70,000 ends with partial tiles at three levels.
    for target in [0u64, 1, 255, 256, 257, 1000, 65536, 70000] {
        if target > size {
            ok(dir, &["append", "acme"], &lines(size, target - size));
            size = target;
        }
        let mut proofs = String::new();
        for i in indexes(size) {
            proofs += &ok(dir, &["prove", "acme", "--index", &i.to_string()], b"");
        }
        for old in [1, 2, 255, 256, 257, size / 3, size.saturating_sub(1), size] {
            if old >= 1 && old <= size {
                proofs += &ok(dir, &["prove", "acme", "--old-size", &old.to_string()], b"");
            }
        }
        std::fs::write(&proofs_file, &proofs).unwrap();
        let s = oracle::check(&dir.join("acme/log"), &key, &proofs_file).unwrap();
        assert_eq!((s.size, s.origin.as_str()), (size, "service-fs/acme"));
        assert_eq!(s.proofs, proofs.lines().count() as u64);
        assert!(size == 0 || s.tiles >= size.div_ceil(256), "{s:?}");
        // Older partials of a level's rightmost tile stay (level 1's
        // 000.p/1 from 256 on, at 1000); those of full tiles are deleted,
        // as C2SP allows once the full tile exists.
        if size == 1000 {
            assert!(s.older_partials > 0, "{s:?}");
        }
        for log in ["acme/log", "acme/audit"] {
            let log = dir.join(log);
            for p in snapshot(&log).keys() {
                let t = tlog::Tile::parse(p.to_str().unwrap());
                if let Some(t) = t.filter(|t| !t.is_full()) {
                    let full = log.join(t.full().path().as_str());
                    assert!(!full.exists(), "{size}: {} beside its full tile", p.display());
                }
            }
        }
        // The audit ledger is a tlog-tiles ledger too, signed under <origin>/audit.
        std::fs::write(&proofs_file, "").unwrap();
        oracle::check(&dir.join("acme/audit"), &audit_key, &proofs_file).unwrap();
    }
    // The checkpoint fsctl prints opens with Go's note package as well.
    let cp = ok(dir, &["checkpoint", "acme"], b"");
    assert_eq!(cp.as_bytes(), std::fs::read(dir.join("acme/log/checkpoint")).unwrap());
}
