//! The `fsctl` command forms integrators script, their output, and their errors.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn init_prints_the_verifier_key_and_protects_the_signing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = init(tmp.path());
    let v = note::Verifier::parse(&key).unwrap();
    assert_eq!(v.name(), "service-fs/acme");
    let mode = std::fs::metadata(tmp.path().join("acme/signing.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // The key lives outside the served tile tree.
    assert!(
        !snapshot(&tmp.path().join("acme/log")).keys().any(|p| p.to_string_lossy().contains("key"))
    );
    let err = fails(tmp.path(), &["init", "acme"], b"");
    assert!(err.contains("already exists"), "{err}");
    let key2 = ok(tmp.path(), &["init", "beta", "--origin", "example.com/beta"], b"");
    assert!(key2.starts_with("example.com/beta+"), "{key2}");
}

#[test]
fn append_read_checkpoint_prove_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    assert_eq!(ok(dir, &["append", "acme"], b"alpha\nbeta\ngamma\n"), "0 2\n");
    // A last line without a newline is a record too.
    assert_eq!(ok(dir, &["append", "acme"], b"delta\nepsilon"), "3 4\n");
    std::fs::write(dir.join("f1"), b"file one\nwith a newline").unwrap();
    std::fs::write(dir.join("f2"), [0u8, 1, 2, 255]).unwrap();
    let f1 = dir.join("f1");
    let f2 = dir.join("f2");
    assert_eq!(
        ok(dir, &["append", "acme", f1.to_str().unwrap(), f2.to_str().unwrap()], b""),
        "5 6\n"
    );

    assert_eq!(ok(dir, &["read", "acme", "--from", "1", "--max", "2"], b""), "beta\ngamma\n");
    assert_eq!(ok(dir, &["read", "acme", "--from", "6", "--format", "hex"], b""), "6 000102ff\n");
    let json = ok(dir, &["read", "acme", "--from", "5", "--format", "json"], b"");
    let rows: Vec<serde_json::Value> =
        json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows[0]["index"], 5);
    assert_eq!(rows[0]["text"], "file one\nwith a newline");
    assert_eq!(rows[1]["base64"], "AAEC/w==");
    assert!(rows[1].get("text").is_none());
    assert_eq!(ok(dir, &["read", "acme", "--from", "7"], b""), "", "reading at the end is empty");

    let cp = ok(dir, &["checkpoint", "acme"], b"");
    let v = note::Verifier::parse(&key).unwrap();
    let opened = note::open(cp.as_bytes(), &[&v]).unwrap();
    assert!(opened.text.starts_with("service-fs/acme\n7\n"));
    assert_eq!(ok(dir, &["checkpoint", "acme"], b""), cp, "no new records: the same checkpoint");

    let p: serde_json::Value =
        serde_json::from_str(&ok(dir, &["prove", "acme", "--index", "3"], b"")).unwrap();
    assert_eq!(
        (p["type"].as_str(), p["index"].as_u64(), p["tree_size"].as_u64()),
        (Some("inclusion"), Some(3), Some(7))
    );
    assert_eq!(p["checkpoint"].as_str(), Some(cp.as_str()));
    let p: serde_json::Value =
        serde_json::from_str(&ok(dir, &["prove", "acme", "--old-size", "2"], b"")).unwrap();
    assert_eq!((p["type"].as_str(), p["old_size"].as_u64()), (Some("consistency"), Some(2)));

    let out = ok(dir, &["verify", "acme", "--key", &key], b"");
    assert!(out.starts_with("ok service-fs/acme size 7 "), "{out}");
    assert!(out.contains("ok service-fs/acme/audit size 6 "), "{out}");
}

#[test]
fn every_read_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    ok(dir, &["append", "acme"], &lines(0, 10));
    ok(dir, &["read", "acme", "--from", "2", "--max", "3"], b"");
    ok(dir, &["prove", "acme", "--index", "9"], b"");
    fails(dir, &["read", "acme", "--from", "11"], b"");
    let audit = std::fs::read(dir.join("acme/audit/tile/entries/000.p/2")).unwrap();
    let records: Vec<&[u8]> = tlog::bundle::entries(&audit).map(Result::unwrap).collect();
    let rec: serde_json::Value = serde_json::from_slice(records[0]).unwrap();
    assert_eq!(rec["op"], "read_since");
    assert_eq!(rec["module"], "fsctl");
    assert_eq!(rec["credential"], format!("uid:{}", rustix::process::getuid().as_raw()));
    assert_eq!(
        (rec["from"].as_u64(), rec["count"].as_u64(), rec["tree_size"].as_u64()),
        (Some(2), Some(3), Some(10))
    );
    assert_eq!(rec["time_source"], "host-realtime");
    assert!(rec["time_ms"].as_u64().unwrap() > 1_700_000_000_000);
    let rec: serde_json::Value = serde_json::from_slice(records[1]).unwrap();
    assert_eq!((rec["op"].as_str(), rec["from"].as_u64()), (Some("prove_inclusion"), Some(9)));
    assert!(
        !String::from_utf8_lossy(&audit).contains("record 2"),
        "audit records carry no payloads"
    );
}

#[test]
fn failed_commands_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    ok(dir, &["append", "acme"], &lines(0, 300));
    let before = snapshot(dir);
    let big = vec![b'x'; 65536];
    std::fs::write(dir.join("big"), &big).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    let before_files = snapshot(dir);
    let cases: Vec<(Vec<&str>, Vec<u8>, &str)> = vec![
        (vec!["append", "acme"], b"a\n\nb\n".to_vec(), "line 2: empty record"),
        (vec!["append", "acme"], b"".to_vec(), "no records"),
        (
            vec!["append", "acme"],
            [b"ok\n".as_slice(), &big].concat(),
            "line 2: record of more than 65535 bytes",
        ),
        (vec!["append", "acme", "empty"], vec![], "empty record"),
        (vec!["append", "acme", "big"], vec![], "big: record of more than 65535 bytes"),
        (vec!["append", "acme", "missing-file"], vec![], "reading missing-file"),
        (vec!["append", "nobody"], b"x\n".to_vec(), "no tenant \"nobody\""),
        (vec!["append", "../etc"], b"x\n".to_vec(), "invalid tenant name"),
        (
            vec!["read", "acme", "--from", "301"],
            vec![],
            "index 301 is out of range (ledger size 300)",
        ),
        (vec!["prove", "acme", "--index", "300"], vec![], "out of range"),
        (vec!["prove", "acme", "--old-size", "0"], vec![], "old tree size must be between 1"),
        (vec!["prove", "acme", "--old-size", "301"], vec![], "out of range"),
        (vec!["verify", "acme", "--key", "not-a-key"], vec![], "invalid verifier key"),
        (vec!["verify", "nobody", "--key", &key], vec![], "no tenant"),
        (vec!["checkpoint", "nobody"], vec![], "no tenant"),
    ];
    for (args, stdin, want) in cases {
        let err = fails(dir, &args, &stdin);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(snapshot(dir), before_files, "{args:?} changed something");
    }
    assert_eq!(before.len() + 2, before_files.len());
    // Usage errors exit with 2.
    let out = fsctl(dir, &["prove", "acme"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = fsctl(dir, &["read", "acme", "--from", "1", "--format", "xml"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn read_output_survives_a_closed_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    ok(dir, &["append", "acme"], &lines(0, 5000));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{FSCTL} --dir {} read acme --from 0 | head -n 1", dir.display()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "record 0\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn verify_note_checks_a_copied_checkpoint_without_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    ok(dir, &["append", "acme"], b"one\ntwo\n");
    let cp = ok(dir, &["checkpoint", "acme"], b"");
    let file = dir.join("copied.note");
    std::fs::write(&file, &cp).unwrap();
    let f = file.to_str().unwrap();
    // No ledger directory is needed, nor read.
    let bare = std::process::Command::new(env!("CARGO_BIN_EXE_fsctl"))
        .args(["verify-note", "--key", &key, f])
        .env_remove("SERVICE_FS_DIR")
        .output()
        .unwrap();
    assert!(bare.status.success(), "{}", String::from_utf8_lossy(&bare.stderr));
    let out = String::from_utf8(bare.stdout).unwrap();
    assert!(out.starts_with("origin service-fs/acme\nsize 2\nroot "), "{out}");
    assert_eq!(ok(dir, &["verify-note", "--key", &key, "-"], cp.as_bytes()), out);

    let forged = cp.replacen("\n2\n", "\n3\n", 1);
    let err = fails(dir, &["verify-note", "--key", &key, "-"], forged.as_bytes());
    assert!(err.contains("signature"), "{err}");
    let other = ok(dir, &["init", "beta"], b"");
    let err = fails(dir, &["verify-note", "--key", &other, f], b"");
    assert!(err.starts_with("fsctl: "), "{err}");
    let err = fails(dir, &["verify-note", "--key", "not-a-key", f], b"");
    assert!(err.contains("verifier key"), "{err}");
}

#[test]
fn nothing_is_changed_whose_result_could_not_be_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // No tenant is created whose verifier key nobody saw.
    let out = closed_stdout(dir, &["init", "acme"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "fsctl: standard output is closed: nothing was created, as the result could not be reported\n"
    );
    assert!(snapshot(dir).is_empty());
    let key = init(dir);
    ok(dir, &["append", "acme"], b"one\ntwo\n");
    let before = snapshot(dir);
    for (args, what) in [
        (&["append", "acme"][..], "appended"),
        (&["checkpoint", "acme"], "signed"),
        (&["read", "acme", "--from", "0"], "read"),
        (&["prove", "acme", "--index", "0"], "proved"),
    ] {
        let out = closed_stdout(dir, args, b"three\n");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&format!("nothing was {what}")) && err.lines().count() == 1, "{err}");
        assert_eq!(snapshot(dir), before, "{args:?} changed the ledger");
    }
    // Read-only commands end quietly, without a panic.
    let cp = dir.join("cp.note");
    std::fs::write(&cp, ok(dir, &["checkpoint", "acme"], b"")).unwrap();
    for args in [
        &["verify", "acme", "--key", &key][..],
        &["verify-note", "--key", &key, cp.to_str().unwrap()],
    ] {
        let out = closed_stdout(dir, args, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn usage_errors_are_one_line_with_the_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for args in [
        &[][..],
        &["append"],
        &["bogus"],
        &["read", "acme", "--from", "x"],
        &["prove", "acme"],
        &["disk"],
        &["verify", "acme"],
        &["read", "acme", "--from", "1", "--format", "xml"],
    ] {
        let out = fsctl(dir, args, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("fsctl: ") && !err.contains("error:"), "{err}");
    }
    let help = fsctl(dir, &["--help"], b"");
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage:"));
}

#[test]
fn nothing_in_a_ledger_is_more_open_than_0640_or_0750_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("root");
    let run = |args: &str| {
        let script =
            format!("umask 000; printf 'a\\nb\\n' | {FSCTL} --dir {} {args}", dir.display());
        let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
        assert!(out.status.success(), "{args}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run("init acme");
    for _ in 0..300 {
        run("append acme");
    }
    run("checkpoint acme");
    run("read acme --from 0 --max 1");
    let mut stack = vec![dir.clone()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                assert_eq!(mode & !0o750, 0, "{} is {mode:o}", p.display());
                stack.push(p);
            } else {
                assert_eq!(mode & !0o640, 0, "{} is {mode:o}", p.display());
            }
            seen += 1;
        }
    }
    assert!(seen > 10, "{seen}");
}

#[test]
fn every_command_refuses_a_tenant_name_that_leaves_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, elsewhere) = (tmp.path().join("root"), tmp.path().join("elsewhere"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let key = init(&elsewhere);
    ok(&elsewhere, &["append", "acme"], b"x\n");
    let victim = elsewhere.join("acme");
    let absolute = victim.to_str().unwrap();
    for name in ["../elsewhere/acme", absolute, ".", "..", "a/b"] {
        for args in [
            &["verify", name, "--key", &key][..],
            &["append", name],
            &["read", name, "--from", "0"],
            &["checkpoint", name],
            &["prove", name, "--index", "0"],
            &["init", name],
        ] {
            let err = fails(&root, args, b"y\n");
            assert!(err.contains("invalid tenant name"), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_writer_that_never_lets_go_makes_others_give_up_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    ok(dir, &["append", "acme"], b"one\n");
    // A stopped writer: it holds the lock and said who it is.
    let lock = std::fs::OpenOptions::new().write(true).open(dir.join("acme/lock")).unwrap();
    lock.lock().unwrap();
    std::fs::write(dir.join("acme/lock"), "pid 4242 (fsctl append acme)").unwrap();
    let before = snapshot(&dir.join("acme/log"));
    for args in [
        &["--wait", "0.3", "append", "acme"][..],
        &["--wait", "0.3", "read", "acme", "--from", "0"],
    ] {
        let start = std::time::Instant::now();
        let err = fails(dir, args, b"two\n");
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{args:?} waited too long");
        assert!(err.contains("in use by pid 4242 (fsctl append acme)"), "{err}");
        assert!(err.contains("--wait SECS"), "{err}");
    }
    assert_eq!(snapshot(&dir.join("acme/log")), before);
    drop(lock);
    assert_eq!(ok(dir, &["append", "acme"], b"two\n"), "1 1\n");
    let holder = std::fs::read_to_string(dir.join("acme/lock")).unwrap();
    assert!(holder.starts_with("pid ") && holder.contains("append"), "{holder}");
    let out = fsctl(dir, &["--wait=-1", "append", "acme"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("number of seconds"));
}

#[test]
fn a_full_disk_leaves_no_half_written_file_and_names_where_space_ran_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    let before = snapshot(dir);
    // The first full entry bundle cannot be written: ENOSPC, as on a full disk.
    let temp = dir.join("acme/log/tile/entries/.000.tmp");
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-o", "/dev/null", "-P", temp.to_str().unwrap()]).args([
        "-e",
        "trace=write",
        "-e",
        "inject=write:error=ENOSPC",
        FSCTL,
    ]);
    let out = run_with_input(&mut cmd, dir, &["append", "acme"], &lines(0, 300));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "no space left on the file system holding {}",
            dir.join("acme").display()
        )),
        "{err}"
    );
    assert!(err.contains("nothing was committed"), "{err}");
    assert_eq!(snapshot(dir), before, "a failed append left something behind");
    assert_eq!(ok(dir, &["append", "acme"], &lines(0, 300)), "0 299\n");
}

#[test]
fn a_killed_inits_leftovers_are_removed_and_a_key_can_be_printed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    assert_eq!(ok(dir, &["key", "acme"], b"").trim(), key);
    // What a killed init leaves: a staging directory holding a key.
    let dead = dir.join(".init-beta-999999999");
    let running = dir.join(format!(".init-gamma-{}", std::process::id()));
    for d in [&dead, &running] {
        std::fs::create_dir_all(d.join("log")).unwrap();
        std::fs::write(d.join("signing.key"), "secret").unwrap();
    }
    let out = fsctl(dir, &["init", "delta"], b"");
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("removed {}, left by an init that was killed", dead.display())),
        "{err}"
    );
    assert!(!dead.exists());
    assert!(running.exists(), "an init still running keeps its staging directory");
    let err = fails(dir, &["key", "nobody"], b"");
    assert!(err.contains("no tenant"), "{err}");
    let err = fails(dir, &["key", "../x"], b"");
    assert!(err.contains("invalid tenant name"), "{err}");
}

#[test]
fn endless_input_is_refused_within_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    let before = snapshot(dir);
    // 1 GiB of address space: reading /dev/zero whole would need more.
    let run = |args: &str| {
        let script = format!("ulimit -v 1048576; {FSCTL} --dir {} {args}", dir.display());
        std::process::Command::new("sh").arg("-c").arg(script).output().unwrap()
    };
    for (args, why) in [
        ("append acme /dev/zero", "/dev/zero: record of more than 65535 bytes"),
        ("append acme < /dev/zero", "line 1: record of more than 65535 bytes"),
        (&format!("verify-note --key '{key}' /dev/zero"), "/dev/zero: larger than 65536 bytes"),
        (&format!("verify-note --key '{key}' - < /dev/zero"), "-: larger than 65536 bytes"),
    ] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args}: {err}");
        assert!(err.contains(why), "{args}: {err}");
    }
    assert_eq!(snapshot(dir), before);
    // A long stream is appended whole, one record at a time.
    let out = fsctl(dir, &["append", "acme"], &lines(0, 200_000));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0 199999\n");
}

#[test]
fn no_symbolic_link_is_followed_inside_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = init(&dir);
    ok(&dir, &["append", "acme"], &lines(0, 300));
    let cases: [(&str, &str); 3] =
        [("acme/log/tile", "tile"), ("acme/log/checkpoint", "checkpoint"), ("acme", "acme")];
    for (inside, name) in cases {
        // The real thing moves outside the root; a link to it takes its place.
        let (link, target) = (dir.join(inside), outside.join(name));
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::rename(&link, &target).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let before = snapshot(&outside);
        for args in [
            &["verify", "acme", "--key", &key][..],
            &["read", "acme", "--from", "0", "--max", "1"],
            &["append", "acme"],
            &["checkpoint", "acme"],
        ] {
            let err = fails(&dir, args, b"more\n");
            assert!(err.contains("symbolic link"), "{inside}: {args:?}: {err}");
        }
        assert_eq!(snapshot(&outside), before, "{inside}: something outside was written");
        std::fs::remove_file(&link).unwrap();
        std::fs::rename(&target, &link).unwrap();
    }
    ok(&dir, &["verify", "acme", "--key", &key], b"");
}

#[test]
fn an_emptied_ledger_is_never_recreated() {
    for emptied in [&["log", "audit"][..], &["audit"], &["log"]] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let key = init(dir);
        ok(dir, &["append", "acme"], &lines(0, 300));
        ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
        for sub in emptied {
            let d = dir.join("acme").join(sub);
            std::fs::remove_dir_all(&d).unwrap();
            std::fs::create_dir(&d).unwrap();
        }
        let before = snapshot(dir);
        let which = if emptied.contains(&"log") { "record" } else { "audit" };
        for args in [
            &["read", "acme", "--from", "0"][..],
            &["read", "acme", "--from", "0", "--audit"],
            &["append", "acme"],
            &["checkpoint", "acme"],
            &["prove", "acme", "--index", "0"],
        ] {
            let err = fails(dir, args, b"x\n");
            assert!(
                err.contains(&format!("the {which} ledger has no checkpoint")),
                "{emptied:?} {args:?}: {err}"
            );
            assert!(err.contains("only init creates a ledger"), "{err}");
        }
        let err = fails(dir, &["verify", "acme", "--key", &key], b"");
        assert!(err.contains("checkpoint"), "{emptied:?} verify: {err}");
        assert_eq!(snapshot(dir), before, "{emptied:?}: a ledger was re-created");
    }
}

/// Runs fsctl under strace, tracing `calls`; returns the trace.
fn traced(dir: &std::path::Path, calls: &str, args: &[&str], stdin: &[u8]) -> String {
    let log = dir.with_extension("strace");
    let mut cmd = std::process::Command::new("strace");
    cmd.args(["-f", "-qq", "-y", "-e", &format!("trace={calls}"), "-o"]).arg(&log).arg(FSCTL);
    let out = run_with_input(&mut cmd, dir, args, stdin);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&log).unwrap()
}

/// What a single-record `fsctl append` costs in fsync and fdatasync calls,
/// pinned so it cannot creep back: opening an idle tenant syncs nothing;
/// the commit makes its intent durable (one fdatasync, rewritten in place),
/// then the new bundle and tile files and the two `.p/` directories that
/// gained them (one parallel round of 4: every other directory is known
/// durable), then the checkpoint's spare (written and exchanged with the
/// checkpoint) and its directory: 7 calls in 4 serial rounds (it was 16 in 10).
#[test]
fn a_single_record_append_costs_seven_syncs_in_four_rounds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir);
    // The first append makes the tile directories; the second is like
    // every later one.
    ok(dir, &["append", "acme"], b"first\n");
    let trace = traced(dir, "fsync,fdatasync", &["append", "acme"], b"second\n");
    let calls: Vec<&str> =
        trace.lines().filter(|l| l.contains(" fsync(") || l.contains(" fdatasync(")).collect();
    let main = calls[0].split_whitespace().next().unwrap();
    let (serial, parallel): (Vec<&str>, Vec<&str>) =
        calls.iter().partition(|l| l.split_whitespace().next() == Some(main));
    let names = |ls: &[&str]| -> Vec<String> {
        ls.iter().map(|l| l.split('<').nth(1).unwrap().split('>').next().unwrap().into()).collect()
    };
    let acme = dir.join("acme").display().to_string();
    let serial = names(&serial);
    assert_eq!(
        serial,
        [
            format!("{acme}/log.intent"),
            format!("{acme}/log/.checkpoint.spare"),
            format!("{acme}/log")
        ],
        "{trace}"
    );
    assert!(calls[0].contains(" fdatasync("), "{trace}");
    let mut parallel = names(&parallel);
    parallel.sort();
    let want: Vec<String> =
        ["tile/0/000.p", "tile/0/000.p/2", "tile/entries/000.p", "tile/entries/000.p/2"]
            .iter()
            .map(|p| format!("{acme}/log/{p}"))
            .collect();
    assert_eq!(parallel, want, "{trace}");
    // Commands that only read open without a sync.
    let trace = traced(dir, "fsync,fdatasync", &["checkpoint", "acme"], b"");
    assert!(!trace.contains("sync("), "{trace}");
}

/// Opening lists the directories along the right edge of each tree, not
/// the tree: as many `getdents64` calls for 30,000 records as for 300.
#[test]
fn opening_lists_the_same_directories_however_many_records() {
    let mut counts = Vec::new();
    for n in [300u64, 3_000, 30_000] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        init(dir);
        for k in 0..3 {
            ok(dir, &["append", "acme"], &lines(k * n / 3, n / 3));
        }
        let trace = traced(dir, "getdents64", &["checkpoint", "acme"], b"");
        counts.push(trace.lines().filter(|l| l.contains("getdents64(")).count());
    }
    assert_eq!(counts[0], counts[1], "{counts:?}");
    assert_eq!(counts[1], counts[2], "{counts:?}");
}

#[test]
fn token_add_prints_a_token_once_and_stores_only_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let tenants = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tenants.toml");
    let run = |args: &[&str]| {
        std::process::Command::new(FSCTL)
            .current_dir(tmp.path())
            .args(args)
            .arg("--tenants")
            .arg(&tenants)
            .output()
            .unwrap()
    };
    // The default file, a bare name in the current directory.
    let out = run(&["token", "add", "acme", "identity"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    assert!(token.starts_with("sfs_"), "{token}");
    let file = std::fs::read_to_string(tmp.path().join("credentials.toml")).unwrap();
    assert!(!file.contains(&token[4..]), "the token itself is not stored");
    let mode = std::fs::metadata(tmp.path().join("credentials.toml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for (args, why) in [
        (&["token", "add", "acme", "nobody"][..], "has no module"),
        (&["token", "add", "nobody", "identity"], "no tenant"),
    ] {
        let out = run(args);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains(why), "{args:?}");
    }
    assert_eq!(std::fs::read_to_string(tmp.path().join("credentials.toml")).unwrap(), file);
}
