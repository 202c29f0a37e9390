//! The emitter as a user runs it: against a Rekor-compatible log on
//! loopback, every tenant of a root, once a month.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_rekor::{Fault, Options, Server};
use ledger::Ledger;
use tenant::Root;

fn emitter(dir: &Path, rekor: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fs-anchor-emitter"))
        .arg("--dir")
        .arg(dir)
        .args(["--rekor-url", rekor.url(), "--rekor-key", &rekor.log_key()])
        .args(["--timeout", "2", "--attempts", "3", "--backoff", "0.01"])
        .args(args)
        .env_remove("SERVICE_FS_DIR")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn root_with(tenants: &[&str]) -> (tempfile::TempDir, Root) {
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path().join("ledgers"));
    for t in tenants {
        root.init(t, None).unwrap();
        let mut open = root.open(t).unwrap();
        open.engine.append(format!("first record of {t}").as_bytes()).unwrap();
    }
    (tmp, root)
}

#[test]
fn anchors_every_tenant_once_a_month() {
    let (_tmp, root) = root_with(&["acme", "globex"]);
    let rekor = Server::start(Options::default()).unwrap();
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("acme: anchored 2026-12 at size 1 as Rekor v2 entry"), "{stdout}");
    assert!(stdout.contains("globex: anchored 2026-12"), "{stdout}");
    let posts = rekor.posts();
    let again = emitter(root.dir(), &rekor, &["--month", "2026-12", "--tenant", "acme"]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("acme: 2026-12 is anchored already"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(rekor.posts(), posts);
}

#[test]
fn unreachable_rekor_is_one_clear_error_and_changes_nothing() {
    let (_tmp, root) = root_with(&["acme"]);
    let rekor = Server::start(Options::default()).unwrap();
    rekor.set_fault(Fault::Pushback);
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("fs-anchor-emitter: acme: "), "{stderr}");
    assert!(stderr.contains(rekor.url()), "{stderr}");
    assert!(out.stdout.is_empty());
    // Nothing half-written: the next run anchors the month normally.
    rekor.clear_fault();
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("anchored 2026-12"));
}

#[test]
fn a_run_killed_while_rekor_answers_is_finished_by_the_next() {
    let (_tmp, root) = root_with(&["acme"]);
    let rekor = Server::start(Options::default()).unwrap();
    rekor.set_fault(Fault::Delay(Duration::from_secs(30)));
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-anchor-emitter"))
        .arg("--dir")
        .arg(root.dir())
        .args(["--rekor-url", rekor.url(), "--rekor-key", &rekor.log_key(), "--month", "2026-12"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while rekor.posts() == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    rekor.clear_fault();
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("anchored 2026-12"), "{}", text(&out.stdout));
}

#[test]
fn one_failing_tenant_does_not_stop_the_others() {
    let (_tmp, root) = root_with(&["acme", "globex"]);
    // acme's signing key is readable by others: refused, as fsctl does.
    let key = root.tenant_dir("acme").join(tenant::KEY_FILE);
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let rekor = Server::start(Options::default()).unwrap();
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("acme: ") && text(&out.stderr).contains("too open"));
    assert!(text(&out.stdout).contains("globex: anchored 2026-12"));
}

#[test]
fn bad_arguments_are_refused_before_anything_runs() {
    let (_tmp, root) = root_with(&["acme"]);
    let rekor = Server::start(Options::default()).unwrap();
    for (args, want) in [
        (&["--month", "2026-13"][..], "invalid month"),
        (&["--month", "9999-12"][..], "9999-12 has not begun"),
        (&["--tenant", "../x"][..], "invalid tenant name"),
        (&["--tenant", "nobody"][..], "no tenant"),
    ] {
        let out = emitter(root.dir(), &rekor, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(want), "{args:?}: {}", text(&out.stderr));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_fs-anchor-emitter"))
        .arg("--dir")
        .arg(root.dir())
        .args(["--rekor-url", rekor.url(), "--rekor-key", "not a key"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a Rekor key"), "{}", text(&out.stderr));
    assert_eq!(rekor.posts(), 0);
}

#[test]
fn a_closed_standard_output_is_reported_not_a_panic() {
    let (_tmp, root) = root_with(&["acme"]);
    let rekor = Server::start(Options::default()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fs-anchor-emitter"))
        .arg("--dir")
        .arg(root.dir())
        .args(["--rekor-url", rekor.url(), "--rekor-key", &rekor.log_key(), "--month", "2026-12"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("acme: anchored 2026-12") && stderr.contains("standard output failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // It was anchored: the next run says so.
    let again = emitter(root.dir(), &rekor, &["--month", "2026-12"]);
    assert!(text(&again.stdout).contains("anchored already"), "{}", text(&again.stdout));
}

#[test]
fn an_rfc3161_authority_stamps_each_anchor() {
    let (tmp, root) = root_with(&["acme"]);
    let rekor = Server::start(Options::default()).unwrap();
    let tsa = fake_rekor::tsa::TsaServer::start().unwrap();
    let cert = tmp.path().join("tsa.pem");
    std::fs::write(&cert, tsa.root_pem()).unwrap();
    let cert = cert.to_str().unwrap();
    let out = emitter(
        root.dir(),
        &rekor,
        &["--month", "2026-12", "--tsa-url", &tsa.url(), "--tsa-cert", cert],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(tsa.requests(), 1);
    let receipts =
        anchor::chain::read_receipts(&root.anchors_dir("acme"), &root.verifier("acme").unwrap())
            .unwrap();
    assert_eq!(receipts[0].time.rfc3161.as_ref().unwrap().url, tsa.url());
    // The URL without the certificates is a usage error.
    let out = emitter(root.dir(), &rekor, &["--month", "2026-12", "--tsa-url", &tsa.url()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
