//! Witnesses (C2SP tlog-witness, tlog-cosignature): a tenant's checkpoints
//! are cosigned before a command reports success; a directory rolled back
//! whole (which looks sound from inside) is stopped by the witness before
//! anything is signed, and caught by `verify --trusted` with a checkpoint
//! kept from earlier; `verify --witness` requires the cosignatures, which
//! Go's `note.Open` checks too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use witness::Witness;

/// A witness for `dir`'s tenant acme (trusting its record and audit keys),
/// served in-process on a free port until the returned server is dropped;
/// and its key.
fn start_witness(tmp: &Path, dir: &Path) -> (fs_witness::Running, String) {
    let state = tmp.join("witness-state");
    let wkey = Witness::create(&state, "witness.test/w1").unwrap().to_string();
    for extra in [&[][..], &["--audit"]] {
        let key = ok(dir, &[&["key", "acme"][..], extra].concat(), b"");
        Witness::trust(&state, key.trim()).unwrap();
    }
    (fs_witness::spawn(Witness::open(&state).unwrap()).unwrap(), wkey)
}

/// A ledger root under `tmp` with tenant acme; its directory and key.
fn ledger_root(tmp: &Path) -> (PathBuf, String) {
    let dir = tmp.join("root");
    std::fs::create_dir(&dir).unwrap();
    let key = init(&dir);
    (dir, key)
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let st = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success());
}

#[test]
fn checkpoints_are_cosigned_before_they_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = ledger_root(tmp.path());
    let dir = &dir;
    ok(dir, &["append", "acme"], &lines(0, 5));
    let (server, wkey) = start_witness(tmp.path(), dir);
    let url = server.url.clone();
    // Not cosigned yet: verify --witness says so.
    let err = fails(dir, &["verify", "acme", "--key", &key, "--witness", &wkey], b"");
    assert!(err.contains("not cosigned by witness witness.test/w1"), "{err}");
    let out = ok(dir, &["witness", "add", "acme", &wkey, &url], b"");
    assert!(out.contains("cosigned"), "{out}");
    assert!(ok(dir, &["witness", "list", "acme"], b"").contains(&url));
    ok(dir, &["verify", "acme", "--key", &key, "--witness", &wkey], b"");
    let err = fails(dir, &["witness", "add", "acme", &wkey, &url], b"");
    assert!(err.contains("configured already"), "{err}");
    assert_eq!(ok(dir, &["append", "acme"], &lines(5, 300)), "5 304\n");
    ok(dir, &["read", "acme", "--from", "0", "--max", "2"], b"");
    let printed = ok(dir, &["checkpoint", "acme"], b"");
    let checked = ok(dir, &["witness", "check", "acme"], b"");
    assert!(checked.contains("witness.test/w1 log 305 cosigned at "), "{checked}");
    ok(dir, &["verify", "acme", "--key", &key, "--witness", &wkey], b"");
    // The printed checkpoint is the cosigned one; Go opens it and checks
    // the cosignature with a verifier written from the specification.
    let file = tmp.path().join("cp");
    std::fs::write(&file, &printed).unwrap();
    let go = oracle::cosigned(&key, &wkey, &file).unwrap();
    assert_eq!((go.origin.as_str(), go.size), ("service-fs/acme", 305));
    assert_eq!(oracle::open(&key, &file).unwrap().size, 305, "Go ignores the cosignature line");
    let audit = dir.join("acme/audit/checkpoint");
    let audit_key = ok(dir, &["key", "acme", "--audit"], b"");
    oracle::cosigned(audit_key.trim(), &wkey, &audit).unwrap();
    // Only one line per witness, however many checkpoints it cosigned.
    let text = String::from_utf8(printed.into_bytes()).unwrap();
    assert_eq!(text.matches("witness.test/w1").count(), 1, "{text}");
    // Another witness's key is not satisfied by this one's cosignature.
    let other = Witness::create(&tmp.path().join("other"), "witness.test/w2").unwrap();
    let err = fails(dir, &["verify", "acme", "--key", &key, "--witness", &other.to_string()], b"");
    assert!(err.contains("not cosigned by witness witness.test/w2"), "{err}");
}

#[test]
fn a_directory_rolled_back_whole_is_stopped_before_anything_is_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = ledger_root(tmp.path());
    let dir = &dir;
    let (server, wkey) = start_witness(tmp.path(), dir);
    let url = server.url.clone();
    ok(dir, &["witness", "add", "acme", &wkey, &url], b"");
    ok(dir, &["append", "acme"], &lines(0, 300));
    let backup = tmp.path().join("backup");
    copy_dir(&dir.join("acme"), &backup);
    let kept = tmp.path().join("kept");
    std::fs::copy(dir.join("acme/log/checkpoint"), &kept).unwrap();
    assert_eq!(ok(dir, &["append", "acme"], &lines(300, 400)), "300 699\n");
    let kept_new = tmp.path().join("kept-new");
    std::fs::copy(dir.join("acme/log/checkpoint"), &kept_new).unwrap();
    // An insider puts the whole directory back as it was at size 300.
    copy_dir(&backup, &dir.join("acme"));
    let before = snapshot(dir);
    // From inside, nothing is wrong: it verifies, even with the witness's
    // (old) cosignature on it.
    ok(dir, &["verify", "acme", "--key", &key, "--witness", &wkey], b"");
    for args in [&["append", "acme"][..], &["read", "acme", "--from", "0"], &["checkpoint", "acme"]]
    {
        let err = fails(dir, args, b"forked\n");
        assert!(err.contains("rolled back or forked"), "{args:?}: {err}");
    }
    let err = fails(dir, &["witness", "check", "acme"], b"");
    assert!(err.contains("rolled back or forked"), "{err}");
    assert_eq!(snapshot(dir), before, "nothing was written or signed");
    // Anyone who kept a checkpoint catches it offline, without the witness.
    let kept_new = kept_new.to_str().unwrap();
    let err = fails(dir, &["verify", "acme", "--key", &key, "--trusted", kept_new], b"");
    assert!(err.contains("it was rolled back"), "{err}");
    ok(dir, &["verify", "acme", "--key", &key, "--trusted", kept.to_str().unwrap()], b"");
}

#[test]
fn a_forked_copy_fails_trusted_verification() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = ledger_root(tmp.path());
    let dir = &dir;
    ok(dir, &["append", "acme"], &lines(0, 10));
    let fork_root = tmp.path().join("fork");
    std::fs::create_dir(&fork_root).unwrap();
    copy_dir(&dir.join("acme"), &fork_root.join("acme"));
    ok(dir, &["append", "acme"], b"the true record\n");
    ok(&fork_root, &["append", "acme"], b"another record\n");
    ok(&fork_root, &["append", "acme"], b"and one more\n");
    // Both verify alone; each kept checkpoint of one shows the other forked.
    ok(dir, &["verify", "acme", "--key", &key], b"");
    ok(&fork_root, &["verify", "acme", "--key", &key], b"");
    let theirs = fork_root.join("acme/log/checkpoint");
    let err =
        fails(dir, &["verify", "acme", "--key", &key, "--trusted", theirs.to_str().unwrap()], b"");
    assert!(err.contains("rolled back"), "{err}");
    let ours = tmp.path().join("ours");
    std::fs::copy(dir.join("acme/log/checkpoint"), &ours).unwrap();
    let err = fails(
        &fork_root,
        &["verify", "acme", "--key", &key, "--trusted", ours.to_str().unwrap()],
        b"",
    );
    assert!(err.contains("not a prefix") && err.contains("fork"), "{err}");
    // A kept audit checkpoint is checked against the audit ledger.
    let audit = tmp.path().join("audit-kept");
    ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
    std::fs::copy(dir.join("acme/audit/checkpoint"), &audit).unwrap();
    ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
    ok(dir, &["verify", "acme", "--key", &key, "--trusted", audit.to_str().unwrap()], b"");
    // Something that is not this ledger's checkpoint at all.
    std::fs::write(tmp.path().join("junk"), b"not a note\n").unwrap();
    let junk = tmp.path().join("junk");
    let err =
        fails(dir, &["verify", "acme", "--key", &key, "--trusted", junk.to_str().unwrap()], b"");
    assert!(err.contains("not a checkpoint of this ledger"), "{err}");
}

#[test]
fn an_unreachable_or_unknowing_witness_stops_writes_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = ledger_root(tmp.path());
    let dir = &dir;
    // A witness that was never told about this ledger: not added.
    let state = tmp.path().join("stranger");
    let wkey = Witness::create(&state, "witness.test/stranger").unwrap().to_string();
    let stranger = fs_witness::spawn(Witness::open(&state).unwrap()).unwrap();
    let err = fails(dir, &["witness", "add", "acme", &wkey, &stranger.url], b"");
    assert!(err.contains("does not know this ledger"), "{err}");
    assert_eq!(ok(dir, &["witness", "list", "acme"], b""), "");
    // A witness that is gone: nothing is written, the command says why.
    let (server, wkey) = start_witness(tmp.path(), dir);
    let url = server.url.clone();
    ok(dir, &["witness", "add", "acme", &wkey, &url], b"");
    let dead = "http://127.0.0.1:9";
    let file = dir.join("acme/witnesses");
    let text = std::fs::read_to_string(&file).unwrap().replace(&url, dead);
    std::fs::write(&file, text).unwrap();
    let before = snapshot(dir);
    let err = fails(dir, &["append", "acme"], b"x\n");
    assert!(err.contains("unreachable"), "{err}");
    assert_eq!(snapshot(dir), before);
    // Removing it is an explicit operator action, which needs no witness.
    ok(dir, &["witness", "remove", "acme", &wkey], b"");
    assert_eq!(ok(dir, &["append", "acme"], b"x\n"), "0 0\n");
    // Bad configuration is named.
    let err = fails(dir, &["witness", "add", "acme", "not-a-key", &url], b"");
    assert!(err.contains("witness key"), "{err}");
    let err = fails(dir, &["witness", "add", "acme", &wkey, "ftp://x"], b"");
    assert!(err.contains("http"), "{err}");
}

#[test]
fn a_tenant_has_at_most_eight_witnesses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let key = |i: u8| {
        note::Cosigner::from_seed(&format!("witness.test/w{i}"), [i + 1; 32]).unwrap().verifier()
    };
    let list: String = (0..8).map(|i| format!("{} http://127.0.0.1:9/{i}\n", key(i))).collect();
    std::fs::write(dir.join("acme/witnesses"), list).unwrap();
    assert_eq!(ok(dir, &["witness", "list", "acme"], b"").lines().count(), 8);
    let err = fails(dir, &["witness", "add", "acme", &key(8).to_string(), "http://x"], b"");
    assert!(err.contains("at most 8 witnesses"), "{err}");
    // A damaged list is named with its line.
    std::fs::write(dir.join("acme/witnesses"), "garbage\n").unwrap();
    let err = fails(dir, &["append", "acme"], b"x\n");
    assert!(err.contains("witnesses:1"), "{err}");
}

/// The gap `never_fork.rs` counts: a checkpoint signed by a command killed
/// before the witness cosigned it never counts. The witness does not know
/// it, so a directory put back from before it is accepted, and a different
/// tree of the same size is signed and cosigned: the two disagree, but
/// only the cosigned one counts (`verify --witness`), and the one that
/// never counted, kept, shows the fork (`verify --trusted`).
#[test]
fn a_checkpoint_killed_before_it_is_cosigned_never_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = ledger_root(tmp.path());
    let dir = &dir;
    let (server, wkey_s) = start_witness(tmp.path(), dir);
    let wkey = note::CosignatureVerifier::parse(&wkey_s).unwrap();
    ok(dir, &["witness", "add", "acme", &wkey_s, &server.url], b"");
    ok(dir, &["append", "acme"], &lines(0, 5));
    let backup = tmp.path().join("backup");
    copy_dir(&dir.join("acme"), &backup);
    // The append is killed when it connects to the witness to have its new
    // checkpoint cosigned (the first connection asked about the current ones).
    let log = tmp.path().join("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o"]).arg(&log);
    cmd.args(["-e", "trace=connect", "-e", "inject=connect:signal=KILL:when=2"]);
    let out = run_with_input(cmd.arg(FSCTL), dir, &["append", "acme"], b"the first record 5\n");
    assert!(!out.status.success(), "{}", std::fs::read_to_string(&log).unwrap());
    assert!(std::fs::read_to_string(&log).unwrap().contains("+++ killed by SIGKILL"));
    let signed = std::fs::read(dir.join("acme/log/checkpoint")).unwrap();
    assert_eq!(note::Checkpoint::peek_size(&signed), Some(6));
    assert_eq!(note::cosigned_at(&signed, &wkey).unwrap(), None, "never cosigned");
    let kept = tmp.path().join("never-cosigned");
    std::fs::write(&kept, &signed).unwrap();
    let killed = tmp.path().join("killed");
    copy_dir(&dir.join("acme"), &killed);
    // Put back from before it: the witness, which cosigned size 5, accepts.
    copy_dir(&backup, &dir.join("acme"));
    assert_eq!(ok(dir, &["append", "acme"], b"another record 5\n"), "5 5\n");
    let now = std::fs::read(dir.join("acme/log/checkpoint")).unwrap();
    assert_eq!(note::Checkpoint::peek_size(&now), Some(6));
    assert_ne!(signed, now, "two trees of size 6 were signed");
    ok(dir, &["verify", "acme", "--key", &key, "--witness", &wkey_s], b"");
    let err =
        fails(dir, &["verify", "acme", "--key", &key, "--trusted", kept.to_str().unwrap()], b"");
    assert!(err.contains("not a prefix") && err.contains("fork"), "{err}");
    // The one that never counted cannot count now: its directory put back
    // is sound from inside, and the witness refuses it.
    copy_dir(&killed, &dir.join("acme"));
    ok(dir, &["verify", "acme", "--key", &key], b"");
    let err = fails(dir, &["read", "acme", "--from", "0"], b"");
    assert!(err.contains("rolled back or forked"), "{err}");
}

/// An older checkpoint put back with a forged intent from its size would
/// make recovery take the newer objects for an interrupted commit's and
/// remove them: with a witness, the witness is asked first, and nothing is
/// removed.
#[test]
fn a_forged_intent_removes_nothing_when_a_witness_knows_better() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, key) = ledger_root(tmp.path());
    let dir = &dir;
    let (server, wkey) = start_witness(tmp.path(), dir);
    let url = server.url.clone();
    ok(dir, &["witness", "add", "acme", &wkey, &url], b"");
    ok(dir, &["append", "acme"], &lines(0, 10));
    let old = std::fs::read(dir.join("acme/log/checkpoint")).unwrap();
    ok(dir, &["append", "acme"], &lines(10, 300));
    let newest = std::fs::read(dir.join("acme/log/checkpoint")).unwrap();
    std::fs::write(dir.join("acme/log/checkpoint"), &old).unwrap();
    std::fs::write(dir.join("acme/log.intent"), "service-fs commit intent\nfrom 10\n").unwrap();
    let before = snapshot(dir);
    for args in [&["append", "acme"][..], &["read", "acme", "--from", "0"]] {
        let err = fails(dir, args, b"x\n");
        assert!(err.contains("rolled back or forked"), "{args:?}: {err}");
    }
    assert_eq!(snapshot(dir), before, "recovery removed objects before the witness was asked");
    // So the newest checkpoint can still be put back.
    let file = tmp.path().join("newest");
    std::fs::write(&file, &newest).unwrap();
    ok(dir, &["restore", "acme", "--checkpoint", file.to_str().unwrap()], b"");
    ok(dir, &["verify", "acme", "--key", &key, "--witness", &wkey], b"");
    assert_eq!(ok(dir, &["append", "acme"], b"next\n"), "310 310\n");
}
