//! `fs-anchor-emitter --daemon`: the checkpoint and tiles read from a live
//! daemon (each read recorded in the audit ledger, as every read is), the
//! receipt written beside the daemon's files while it runs.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use fake_rekor::{Options, Server};

/// A binary built beside the daemon (`cargo test --workspace` builds it;
/// alone, build it).
fn beside(name: &str) -> PathBuf {
    let bin = PathBuf::from(BIN).with_file_name(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo).args(["build", "--locked", "-p", name]).status().unwrap();
        assert!(ok.success(), "building {name}");
    }
    bin
}

#[test]
fn anchors_from_a_live_daemon() {
    let l = Ledgers::new();
    let d = l.start(&[]);
    let w = l.token("acme.identity").to_string();
    let recs: Vec<Vec<u8>> = (0..300).map(|i| format!("r{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = recs.iter().map(Vec::as_slice).collect();
    assert_eq!(append(&d, "acme", &w, &refs, None).status, 201);
    let rekor = Server::start(Options::default()).unwrap();
    let token = l.tmp.path().join("reports.token");
    std::fs::write(&token, l.token("acme.reports")).unwrap();
    let audit_before = std::fs::read(l.root.join("acme/audit/checkpoint")).unwrap();
    let run = |month: &str| {
        Command::new(beside("fs-anchor-emitter"))
            .arg("--dir")
            .arg(&l.root)
            .args(["--tenant", "acme", "--month", month, "--daemon", &d.url])
            .arg("--token-file")
            .arg(&token)
            .args(["--rekor-url", rekor.url(), "--rekor-key", &rekor.log_key()])
            .output()
            .unwrap()
    };
    let out = run("2026-10");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("acme: anchored 2026-10 at size 300"), "{stdout}");
    assert_eq!(append(&d, "acme", &w, &[b"one more"], None).status, 201);
    let out = run("2026-11");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The emitter's reads (checkpoint, tiles for the consistency proof) are
    // in the audit ledger.
    assert_ne!(std::fs::read(l.root.join("acme/audit/checkpoint")).unwrap(), audit_before);
    // The daemon's reader without its token is refused, and nothing is anchored.
    let out = Command::new(beside("fs-anchor-emitter"))
        .arg("--dir")
        .arg(&l.root)
        .args(["--tenant", "acme", "--month", "2026-12", "--daemon", &d.url])
        .args(["--rekor-url", rekor.url(), "--rekor-key", &rekor.log_key()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("HTTP 401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The chain verifies offline, up to the ledger the daemon still writes.
    let out = Command::new(beside("fsctl"))
        .arg("--dir")
        .arg(&l.root)
        .args(["anchors", "verify", "acme", "--rekor-key", &rekor.log_key()])
        .arg("--key")
        .arg(l.keys["acme"].to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 anchor receipts (2026-10 to 2026-11) verified"), "{stdout}");
}
