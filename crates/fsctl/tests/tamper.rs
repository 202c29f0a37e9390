//! `fsctl verify` fails, naming the file, when any byte of any tile, entry
//! bundle or checkpoint (of the records or the audit ledger) is flipped.

mod common;

use common::*;

#[test]
fn a_flipped_byte_anywhere_fails_verify_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    let mut size = 0;
    for n in [3u64, 250, 40, 300] {
        ok(dir, &["append", "acme"], &lines(size, n));
        size += n;
        ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
    }
    ok(dir, &["verify", "acme", "--key", &key], b"");
    let files: Vec<_> = ["acme/log", "acme/audit"]
        .iter()
        .flat_map(|sub| snapshot(&dir.join(sub)).into_keys().map(move |p| dir.join(sub).join(p)))
        // The store's spare holds the previous checkpoint: not the ledger's.
        .filter(|p| !p.ends_with(".checkpoint.spare"))
        .collect();
    assert!(files.len() > 15, "{files:?}");
    for path in files {
        let orig = std::fs::read(&path).unwrap();
        for at in [0, orig.len() / 3, orig.len() - 1] {
            let mut bad = orig.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            let err = fails(dir, &["verify", "acme", "--key", &key], b"");
            assert!(
                err.contains(&format!("{}:", path.display())),
                "{} byte {at}: {err}",
                path.display()
            );
        }
        std::fs::write(&path, &orig).unwrap();
    }
    ok(dir, &["verify", "acme", "--key", &key], b"");
}

/// B1 and B2: a checkpoint replaced by an older one the ledger itself
/// signed is a rollback, never a crash to recover from: `verify` fails
/// naming it, every command refuses, nothing is moved or signed, and
/// `fsctl restore` with the newest checkpoint (audited) is all it takes.
#[test]
fn a_rolled_back_checkpoint_is_refused_never_recovered() {
    for which in ["log", "audit"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let key = init(dir);
        assert_eq!(ok(dir, &["append", "acme"], &lines(0, 300)), "0 299\n");
        for _ in 0..3 {
            ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
        }
        let cp = dir.join("acme").join(which).join("checkpoint");
        let old = std::fs::read(&cp).unwrap();
        assert_eq!(ok(dir, &["append", "acme"], &lines(300, 400)), "300 699\n");
        for _ in 0..300 {
            ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
        }
        let newest = std::fs::read(&cp).unwrap();
        std::fs::write(&cp, &old).unwrap();
        let before = snapshot(dir);
        let err = fails(dir, &["verify", "acme", "--key", &key], b"");
        assert!(
            err.contains("beyond the checkpoint of size")
                && err.contains("replaced by an older one"),
            "{which}: {err}"
        );
        for args in [
            &["append", "acme"][..],
            &["read", "acme", "--from", "0"],
            &["checkpoint", "acme"],
            &["prove", "acme", "--index", "0"],
        ] {
            let err = fails(dir, args, b"forked\n");
            assert!(err.contains("replaced by an older one"), "{which} {args:?}: {err}");
        }
        assert_eq!(snapshot(dir), before, "{which}: the rollback was acted on");
        // The operator puts the newest back, explicitly and audited; the
        // old one, or anything not signed by the tenant, is refused.
        let audit = if which == "audit" { vec!["--audit"] } else { vec![] };
        let notes = tempfile::tempdir().unwrap();
        let restore = |note: &[u8]| {
            let f = notes.path().join("offered.note");
            std::fs::write(&f, note).unwrap();
            let mut args = vec!["restore", "acme", "--checkpoint", f.to_str().unwrap()];
            args.extend(&audit);
            fsctl(dir, &args, b"")
        };
        let err = String::from_utf8_lossy(&restore(&old).stderr).into_owned();
        assert!(err.contains("lies beyond it too: not the newest checkpoint"), "{err}");
        let forged = String::from_utf8(newest.clone()).unwrap().replacen("\n", "\nx", 1);
        assert!(!restore(forged.as_bytes()).status.success());
        assert_eq!(snapshot(dir), before);
        let out = restore(&newest);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("restored the ") && said.contains(" of acme from size "), "{said}");
        let audited = ok(dir, &["read", "acme", "--audit", "--from", "0"], b"");
        assert!(audited.contains("\"op\":\"restore_checkpoint\""), "not audited");
        assert!(audited.contains("\"module\":\"fsctl restore\""), "{audited}");
        ok(dir, &["verify", "acme", "--key", &key], b"");
        assert_eq!(ok(dir, &["append", "acme"], b"next\n"), "700 700\n");
        let _ = &newest;
    }
}

/// A symbolic link planted at a temporary name the tool writes (the commit
/// intents beside the logs, the restored checkpoint's) is removed, never
/// written through: the file it points to, outside the ledger, is untouched
/// (found by the `never_fork` property test: a read wrote its audit intent
/// into it). Links inside a log are refused by recovery before any write.
#[test]
fn a_link_at_a_temporary_name_is_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledgers");
    std::fs::create_dir(&dir).unwrap();
    let key = init(&dir);
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"not the ledger's\n").unwrap();
    let plant = |names: &[&str]| {
        for name in names {
            let at = dir.join("acme").join(name);
            let _ = std::fs::remove_file(&at);
            std::os::unix::fs::symlink(&victim, at).unwrap();
        }
    };
    let untouched = || assert_eq!(std::fs::read(&victim).unwrap(), b"not the ledger's\n");
    let intents = [".log.intent.tmp", ".audit.intent.tmp"];
    plant(&intents);
    assert_eq!(ok(&dir, &["append", "acme"], &lines(0, 3)), "0 2\n");
    untouched();
    plant(&intents);
    ok(&dir, &["read", "acme", "--from", "0"], b"");
    untouched();
    let note = tmp.path().join("newest.note");
    std::fs::copy(dir.join("acme/log/checkpoint"), &note).unwrap();
    plant(&["log/.checkpoint.restore.tmp"]);
    let _ = fsctl(&dir, &["restore", "acme", "--checkpoint", note.to_str().unwrap()], b"");
    untouched();
    let _ = std::fs::remove_file(dir.join("acme/log/.checkpoint.restore.tmp"));
    ok(&dir, &["verify", "acme", "--key", &key], b"");
    assert_eq!(ok(&dir, &["append", "acme"], b"next\n"), "3 3\n");
}
