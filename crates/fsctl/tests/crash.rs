//! Crash safety of the real binary: `fsctl append` is killed (SIGKILL, by
//! strace's syscall fault injection) at every write point, one at a time:
//! before each file creation, write (the commit intent is rewritten in
//! place: pwrite64), fsync, fdatasync, link, unlink, rename and mkdir.
//! After each kill the ledger verifies, reopening recovers it, every record
//! whose index was printed is there, the batch is all-or-nothing, and the
//! ledger keeps working. Recovery itself is then killed at each of its
//! write points, and must still converge.
//!
//! A killed process keeps what reached the page cache; losing unsynced
//! writes on power failure is modelled in the ledger crate's tests.
//!
//! strace counts calls per thread, and the store fsyncs a batch's files from
//! several threads: for a call made by several threads, run `n` kills the
//! first thread to reach its `n`-th call, and a run may also finish.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The system calls that change files or make them durable.
const WRITE_POINTS: &[&str] = &[
    "openat",
    "write",
    "pwrite64",
    "fsync",
    "fdatasync",
    "linkat",
    "unlink",
    "renameat2",
    "mkdir",
];

fn strace() -> &'static str {
    let ok = Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success());
    assert!(ok, "this test needs strace (make setup installs it; or apt-get install strace)");
    "strace"
}

/// What one traced run did.
struct Run {
    stdout: String,
    killed: bool,
    /// Most calls of the syscall made by one thread.
    calls: usize,
    /// Threads that made the call.
    threads: usize,
}

/// Runs fsctl under strace, killing it at the `n`-th call of `syscall` in
/// any thread (`n == 0`: only count).
fn run_killed(dir: &Path, args: &[&str], stdin: &[u8], syscall: &str, n: usize) -> Run {
    let log = dir.with_extension("strace");
    let mut cmd = Command::new(strace());
    cmd.args(["-f", "-qq", "-o"]).arg(&log).args(["-e", &format!("trace={syscall}")]);
    if n > 0 {
        cmd.args(["-e", &format!("inject={syscall}:signal=KILL:when={n}")]);
    }
    let out = run_with_input(cmd.arg(FSCTL), dir, args, stdin);
    let trace = std::fs::read_to_string(&log).unwrap_or_default();
    let mut per_thread = std::collections::BTreeMap::<&str, usize>::new();
    for line in trace.lines().filter(|l| l.contains(&format!(" {syscall}("))) {
        *per_thread.entry(line.split_whitespace().next().unwrap_or("")).or_default() += 1;
    }
    let killed = trace.contains("+++ killed by SIGKILL");
    assert!(
        killed || out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        stdout: String::from_utf8(out.stdout).unwrap(),
        killed,
        calls: per_thread.values().copied().max().unwrap_or(0),
        threads: per_thread.len(),
    }
}

fn records(dir: &Path) -> Vec<String> {
    ok(dir, &["read", "acme", "--from", "0"], b"").lines().map(String::from).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success());
}

/// Checks a ledger after a crash: it verifies as it is, recovers on open,
/// holds `want` or `want + batch` (all or nothing), and accepts more.
fn check_recovers(dir: &Path, key: &str, base: u64, batch: u64, acknowledged: bool) {
    ok(dir, &["verify", "acme", "--key", key], b"");
    let got = records(dir);
    let committed = got.len() as u64 == base + batch;
    assert!(committed || got.len() as u64 == base, "partial batch visible: {} records", got.len());
    assert!(committed || !acknowledged, "acknowledged records lost");
    let want: Vec<String> =
        String::from_utf8(lines(0, got.len() as u64)).unwrap().lines().map(String::from).collect();
    assert_eq!(got, want);
    // Recovery left nothing behind: no warnings about leftovers.
    let out = fsctl(dir, &["verify", "acme", "--key", key], b"");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = got.len() as u64;
    assert_eq!(ok(dir, &["append", "acme"], &lines(size, 10)), format!("{size} {}\n", size + 9));
    assert_eq!(records(dir).len() as u64, size + 10);
    ok(dir, &["verify", "acme", "--key", key], b"");
}

#[test]
fn killed_at_every_write_point_of_an_append() {
    let tmp = tempfile::tempdir().unwrap();
    let base_dir = tmp.path().join("base");
    std::fs::create_dir(&base_dir).unwrap();
    let key = init(&base_dir);
    let (base, batch) = (200u64, 300u64);
    ok(&base_dir, &["append", "acme"], &lines(0, base));
    let input = lines(base, batch);
    let work = tmp.path().join("work");
    let mut points = 0;
    for syscall in WRITE_POINTS {
        copy_dir(&base_dir, &work);
        let count = run_killed(&work, &["append", "acme"], &input, syscall, 0);
        assert!(count.calls > 0, "append makes no {syscall} calls");
        let mut kills = 0;
        for n in 1..=count.calls {
            copy_dir(&base_dir, &work);
            let run = run_killed(&work, &["append", "acme"], &input, syscall, n);
            assert!(run.killed || count.threads > 1, "{syscall} #{n}: not killed");
            check_recovers(&work, &key, base, batch, !run.stdout.is_empty());
            kills += usize::from(run.killed);
        }
        assert!(kills > 0, "no run was killed at {syscall}");
        points += kills;
    }
    assert!(points > 40, "only {points} write points");
}

#[test]
fn killed_during_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let crashed = tmp.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    let key = init(&crashed);
    ok(&crashed, &["append", "acme"], &lines(0, 200));
    // Kill the append just before it swaps in the checkpoint (its only
    // rename, an exchange: the first append created the intent, which later
    // ones rewrite in place): every tile and bundle of the batch is on disk,
    // uncommitted.
    let run = run_killed(&crashed, &["append", "acme"], &lines(200, 300), "renameat2", 1);
    assert!(run.killed);
    let work = tmp.path().join("work");
    copy_dir(&crashed, &work);
    // Recovery deletes the interrupted commit's objects and temp files
    // (unlink) and puts an idle intent record in the intent's place (its
    // one rename); it makes no directory.
    let mut points = 0;
    for syscall in ["mkdir", "rename", "unlink"] {
        let calls = run_killed(&work, &["checkpoint", "acme"], b"", syscall, 0).calls;
        for n in 1..=calls {
            copy_dir(&crashed, &work);
            assert!(run_killed(&work, &["checkpoint", "acme"], b"", syscall, n).killed);
            check_recovers(&work, &key, 200, 300, false);
            points += 1;
        }
        copy_dir(&crashed, &work);
    }
    assert!(points >= 5, "recovery has {points} write points");
}

#[test]
fn directories_a_killed_writer_made_are_synced_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    let key = init(&dir);
    ok(&dir, &["append", "acme"], &lines(0, 200));
    // Killed before its checkpoint (its only rename, an exchange; its
    // intent is rewritten in place): it made tile/1/ and tile/1/000.p/, unsynced.
    assert!(run_killed(&dir, &["append", "acme"], &lines(200, 300), "renameat2", 1).killed);
    assert!(dir.join("acme/log/tile/1/000.p").is_dir());
    // The next writer finds them existing, and must still fsync them.
    let log = dir.with_extension("strace");
    let mut strace = Command::new(strace());
    strace.args(["-f", "-y", "-qq", "-e", "trace=fsync", "-o"]).arg(&log).arg(FSCTL);
    let out = run_with_input(&mut strace, &dir, &["append", "acme"], &lines(200, 300));
    assert!(out.status.success());
    let trace = std::fs::read_to_string(&log).unwrap();
    for d in ["log/tile", "log/tile/1", "log/tile/1/000.p", "log"] {
        let suffix = format!("/acme/{d}>");
        assert!(trace.lines().any(|l| l.contains(&suffix)), "{d} not fsynced:\n{trace}");
    }
    check_recovers(&dir, &key, 500, 0, true);
}
