//! Helpers for running `fsctl` in tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const FSCTL: &str = env!("CARGO_BIN_EXE_fsctl");

/// Runs `fsctl --dir DIR ARGS…` in `DIR` with `stdin`.
pub fn fsctl(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    run_with_input(Command::new(FSCTL).current_dir(dir), dir, args, stdin)
}

/// Runs `cmd` with `--dir DIR ARGS…` appended, feeding it `stdin`.
pub fn run_with_input(cmd: &mut Command, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = cmd
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // fsctl may exit before reading its input.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Runs fsctl and requires success; returns standard output.
pub fn ok(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = fsctl(dir, args, stdin);
    assert!(
        out.status.success(),
        "fsctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs fsctl and requires failure with exit status 1 and one line on
/// standard error; returns that line.
pub fn fails(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = fsctl(dir, args, stdin);
    assert_eq!(out.status.code(), Some(1), "fsctl {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one line of error: {err:?}");
    assert!(err.starts_with("fsctl: "), "{err}");
    err.trim_end().to_string()
}

/// A new tenant `acme` in `dir`; returns its verifier key.
pub fn init(dir: &Path) -> String {
    ok(dir, &["init", "acme"], b"").trim().to_string()
}

/// Every file under `dir` and its contents, to show that nothing changed
/// (but a tenant's `lock`, which says who last held it).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "lock") {
                // Who last held the tenant's lock: bookkeeping, not ledger state.
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `n` newline-separated records starting at `from`.
pub fn lines(from: u64, n: u64) -> Vec<u8> {
    (from..from + n).map(|i| format!("record {i}\n")).collect::<String>().into_bytes()
}

/// Runs `fsctl --dir DIR ARGS…` with `stdin` and a standard output whose
/// reader has already gone (as `fsctl … | head -0` can leave it).
pub fn closed_stdout(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(FSCTL)
        .current_dir(dir)
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}
