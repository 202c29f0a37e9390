//! `fsctl anchors`: the offline check of a tenant's anchor chain, after
//! anchoring in a Rekor-compatible log on loopback (a real Merkle log with
//! real signatures), with a witness whose cosigned times the receipts keep.

mod common;

use std::path::Path;
use std::time::Duration;

use anchor::tiles::DirTiles;
use anchor::{Job, Outcome, RekorKey, RekorLog};
use common::*;
use fake_rekor::{Options, Server};
use tenant::Root;
use witness::Witness;

fn anchor(dir: &Path, rekor: &Server, month: &str) -> Outcome {
    let root = Root::new(dir);
    let signer = root.signer("acme").unwrap();
    let witnesses: Vec<_> = witness::client::load(&root.tenant_dir("acme"))
        .unwrap()
        .into_iter()
        .map(|w| w.key)
        .collect();
    let src = DirTiles(root.log_dir("acme"));
    let job = Job {
        signer: &signer,
        anchors: &root.anchors_dir("acme"),
        source: &src,
        witnesses: &witnesses,
        month: month.parse().unwrap(),
        wait: Duration::from_secs(5),
        now: 1_800_000_000,
        tsa: None,
    };
    let key = RekorKey::parse(&rekor.log_key()).unwrap();
    anchor::anchor(&job, &RekorLog::new(rekor.url(), key, rekor::Policy::default())).unwrap()
}

#[test]
fn the_chain_verifies_offline_with_witness_times() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    std::fs::create_dir(&dir).unwrap();
    let key = init(&dir);
    let dir = &dir;
    ok(dir, &["append", "acme"], &lines(0, 5));
    let state = tmp.path().join("witness-state");
    let wkey = Witness::create(&state, "witness.test/w1").unwrap().to_string();
    for extra in [&[][..], &["--audit"]] {
        Witness::trust(&state, ok(dir, &[&["key", "acme"][..], extra].concat(), b"").trim())
            .unwrap();
    }
    let server = fs_witness::spawn(Witness::open(&state).unwrap()).unwrap();
    ok(dir, &["witness", "add", "acme", &wkey, &server.url], b"");
    let rekor = Server::start(Options::default()).unwrap();
    let rkey = rekor.log_key();
    assert!(matches!(anchor(dir, &rekor, "2026-11"), Outcome::Anchored(0, _)));
    ok(dir, &["anchors", "verify", "acme", "--rekor-key", &rkey, "--witness", &wkey], b"");
    ok(dir, &["append", "acme"], &lines(5, 395));
    assert!(matches!(anchor(dir, &rekor, "2026-12"), Outcome::Anchored(1, _)));
    ok(dir, &["append", "acme"], &lines(400, 10));
    let out = ok(
        dir,
        &["anchors", "verify", "acme", "--rekor-key", &rkey, "--key", &key, "--witness", &wkey],
        b"",
    );
    assert!(out.contains("acme: 2 anchor receipts (2026-11 to 2026-12) verified"), "{out}");
    assert!(out.contains("2 witness times checked"), "{out}");
    assert!(
        out.contains("the ledger now (size 410) extends the last anchored (size 400)"),
        "{out}"
    );
    // The tenant key derived from the root, and the key in a file.
    let file = tmp.path().join("rekor.pub");
    std::fs::write(&file, format!("{rkey}\n")).unwrap();
    ok(dir, &["anchors", "verify", "acme", "--rekor-key", file.to_str().unwrap()], b"");
    let list = ok(dir, &["anchors", "list", "acme"], b"");
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.starts_with("0 2026-11 size 5 ") && list.contains("witnessed"), "{list}");
}

#[test]
fn verification_fails_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    std::fs::create_dir(&dir).unwrap();
    let key = init(&dir);
    let dir = &dir;
    let rekor = Server::start(Options::default()).unwrap();
    let rkey = rekor.log_key();
    let err = fails(dir, &["anchors", "verify", "acme", "--rekor-key", &rkey], b"");
    assert!(err.contains("has no anchor ledger"), "{err}");
    ok(dir, &["append", "acme"], &lines(0, 3));
    let old = tmp.path().join("old-log");
    copy(&dir.join("acme/log"), &old);
    ok(dir, &["append", "acme"], &lines(3, 3));
    anchor(dir, &rekor, "2026-12");
    ok(dir, &["anchors", "verify", "acme", "--rekor-key", &rkey, "--key", &key], b"");
    // Another Rekor log's key (another origin): no key for the receipt's log.
    let other =
        Server::start(Options { origin: "other.test".into(), ..Options::default() }).unwrap();
    let err = fails(dir, &["anchors", "verify", "acme", "--rekor-key", &other.log_key()], b"");
    assert!(err.contains("no --rekor-key given is that log's"), "{err}");
    // The same origin with another key: Rekor's checkpoint does not verify.
    let forged = Server::start(Options { seed: Some([9; 32]), ..Options::default() }).unwrap();
    let err = fails(dir, &["anchors", "verify", "acme", "--rekor-key", &forged.log_key()], b"");
    assert!(err.starts_with("fsctl: verification failed: anchor receipt 0 (2026-12)"), "{err}");
    // Not a key at all; no key (a usage error).
    let err = fails(dir, &["anchors", "verify", "acme", "--rekor-key", "nonsense"], b"");
    assert!(err.contains("not a Rekor key"), "{err}");
    assert_eq!(fsctl(dir, &["anchors", "verify", "acme"], b"").status.code(), Some(2));
    // Another tenant's key.
    let err = fails(
        dir,
        &["anchors", "verify", "acme", "--rekor-key", &rkey, "--key", &init_other(dir)],
        b"",
    );
    assert!(err.contains("verification failed"), "{err}");
    // The ledger rolled back to before the last anchor.
    std::fs::remove_dir_all(dir.join("acme/log")).unwrap();
    copy(&old, &dir.join("acme/log"));
    let err = fails(dir, &["anchors", "verify", "acme", "--rekor-key", &rkey, "--key", &key], b"");
    assert!(err.contains("rolled back"), "{err}");
}

fn init_other(dir: &Path) -> String {
    ok(dir, &["init", "globex"], b"").trim().to_owned()
}

fn copy(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success());
}

#[test]
fn rfc3161_timestamps_are_required_when_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    std::fs::create_dir(&dir).unwrap();
    init(&dir);
    let dir = &dir;
    ok(dir, &["append", "acme"], &lines(0, 3));
    let rekor = Server::start(Options::default()).unwrap();
    let tsa_server = fake_rekor::tsa::TsaServer::start().unwrap();
    let pem = tsa_server.root_pem();
    let tsa = anchor::Tsa {
        url: tsa_server.url(),
        authority: rekor::tsa::Authority::from_pem_chain(&pem).unwrap(),
        policy: rekor::Policy::default(),
    };
    let root = Root::new(dir);
    let signer = root.signer("acme").unwrap();
    let src = DirTiles(root.log_dir("acme"));
    let job = Job {
        signer: &signer,
        anchors: &root.anchors_dir("acme"),
        source: &src,
        witnesses: &[],
        month: "2026-12".parse().unwrap(),
        wait: Duration::from_secs(5),
        now: 1_800_000_000,
        tsa: Some(&tsa),
    };
    let key = RekorKey::parse(&rekor.log_key()).unwrap();
    anchor::anchor(&job, &RekorLog::new(rekor.url(), key, rekor::Policy::default())).unwrap();
    let cert = tmp.path().join("tsa.pem");
    std::fs::write(&cert, &pem).unwrap();
    let (rkey, cert) = (rekor.log_key(), cert.to_str().unwrap().to_owned());
    let out =
        ok(dir, &["anchors", "verify", "acme", "--rekor-key", &rkey, "--tsa-cert", &cert], b"");
    assert!(out.contains("1 RFC 3161 timestamps checked"), "{out}");
    assert!(ok(dir, &["anchors", "list", "acme"], b"").contains("timestamped"));
    let other = tmp.path().join("other.pem");
    std::fs::write(&other, fake_rekor::tsa::TsaServer::start().unwrap().root_pem()).unwrap();
    let err = fails(
        dir,
        &["anchors", "verify", "acme", "--rekor-key", &rkey, "--tsa-cert", other.to_str().unwrap()],
        b"",
    );
    assert!(err.contains("RFC 3161 timestamp does not verify"), "{err}");
}
