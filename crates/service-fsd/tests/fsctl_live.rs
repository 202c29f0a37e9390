//! `fsctl verify` and `fsctl prove` on a live daemon's root, while it
//! appends: they work, and neither blocks the daemon.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;

/// fsctl, built beside the daemon (`cargo test --workspace` builds it; alone, build it).
fn fsctl() -> PathBuf {
    let bin = PathBuf::from(BIN).with_file_name("fsctl");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "--locked", "-p", "fsctl"]).status().unwrap();
        assert!(ok.success(), "building fsctl");
    }
    bin
}

#[test]
fn read_only_fsctl_works_beside_a_live_daemon_without_blocking_it() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let w = l.token("acme.identity").to_string();
    for n in [1usize, 1, 300, 1, 7] {
        let recs: Vec<Vec<u8>> = (0..n).map(|i| format!("r{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
        assert_eq!(append(&d, "acme", &w, &refs, None).status, 201);
    }
    let audit_before = std::fs::read(l.root.join("acme/audit/checkpoint")).unwrap();
    // Appends keep going while fsctl runs.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let writer = {
        let (url, w, stop, done) = (d.url.clone(), w.clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            let d = Daemon { child: None, url };
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(append(&d, "acme", &w, &[b"more"], None).status, 201);
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let key = l.keys["acme"].to_string();
    let root = l.root.to_str().unwrap();
    for _ in 0..8 {
        let out = Command::new(fsctl())
            .args(["--dir", root, "verify", "acme", "--key", &key])
            .output()
            .unwrap();
        assert!(out.status.success(), "verify: {}", String::from_utf8_lossy(&out.stderr));
        for args in [["--index", "5"], ["--index", "301"], ["--old-size", "10"]] {
            let out = Command::new(fsctl())
                .args(["--dir", root, "--wait", "30", "prove", "acme"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "prove {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("not recorded in its audit ledger")
            );
            let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let hash =
                |v: &serde_json::Value| tlog::Hash::from_base64(v.as_str().unwrap()).unwrap();
            let proof: tlog::Proof = p["proof"].as_array().unwrap().iter().map(hash).collect();
            let size = p["tree_size"].as_u64().unwrap();
            let root_hash = hash(&p["root_hash"]);
            // The proof is for the checkpoint it carries.
            let opened =
                note::open(p["checkpoint"].as_str().unwrap().as_bytes(), &[&l.keys["acme"]])
                    .unwrap();
            let cp = note::Checkpoint::parse(opened.text).unwrap();
            assert_eq!((cp.size, cp.root), (size, root_hash));
            if let Some(i) = p["index"].as_u64() {
                tlog::proof::verify_inclusion(&proof, size, &root_hash, i, &hash(&p["leaf_hash"]))
                    .unwrap();
                // Records 2..302 are the batch of 300: index 5 is "r3", 301 is "r299".
                let want = format!("r{}", i - 2);
                assert_eq!(hash(&p["leaf_hash"]), tlog::leaf_hash(want.as_bytes()));
            } else {
                tlog::proof::verify_consistency(
                    &proof,
                    size,
                    &root_hash,
                    10,
                    &hash(&p["old_root"]),
                )
                .unwrap();
            }
        }
    }
    let during = done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(during > 0, "the daemon kept appending while fsctl ran");
    assert_eq!(
        std::fs::read(l.root.join("acme/audit/checkpoint")).unwrap(),
        audit_before,
        "fsctl's proofs are not audited"
    );
}
