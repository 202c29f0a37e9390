//! Booting QEMU headless and collecting its console until the system has
//! said what it has to say, or has clearly stopped saying anything.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// When to stop.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Stop (successfully) once a line starting with each of these has
    /// arrived.
    pub until: Vec<String>,
    /// Give up after this long in all.
    pub timeout: Duration,
    /// Give up after this long without a new line: a hang.
    pub idle: Duration,
    /// Keep running this long after the last `until` line (then kill QEMU,
    /// as a crash test does).
    pub linger: Duration,
}

/// Why the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The `until` lines arrived.
    Finished,
    /// The overall timeout passed.
    TimedOut,
    /// No output for the idle limit.
    Hung,
    /// QEMU exited by itself, with this status.
    Exited(Option<i32>),
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    /// Every console line, in order, with when it arrived.
    pub lines: Vec<(Duration, String)>,
    /// Why it ended.
    pub ended: Ended,
    /// How long it ran.
    pub elapsed: Duration,
    /// What QEMU wrote to standard error.
    pub stderr: String,
}

impl Run {
    /// The console as text.
    pub fn console(&self) -> String {
        self.lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When the first line starting with `prefix` arrived.
    pub fn first(&self, prefix: &str) -> Option<Duration> {
        self.lines.iter().find(|(_, l)| l.starts_with(prefix)).map(|(t, _)| *t)
    }
}

/// Runs `program args` with no input, echoing each console line through
/// `echo`, until `limits` say stop; QEMU is killed then.
pub fn run(
    program: &str,
    args: &[String],
    limits: &Limits,
    mut echo: impl FnMut(&str),
) -> Result<Run> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let start = Instant::now();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().context("QEMU's stdout")?;
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        // Serial output is bytes: keep lines whole, whatever their encoding.
        while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
            if tx.send(line).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let mut stderr = child.stderr.take().context("QEMU's stderr")?;
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        let _ = err_tx.send(s);
    });
    let mut lines = Vec::new();
    let mut stop_at: Option<Instant> = None;
    let mut waiting: Vec<&str> = limits.until.iter().map(String::as_str).collect();
    let ended = loop {
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            break Ended::Finished;
        }
        let left = limits.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break Ended::TimedOut;
        }
        let wait =
            stop_at.map_or(left.min(limits.idle), |t| t.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(line) => {
                echo(&line);
                let before = waiting.len();
                waiting.retain(|u| !line.starts_with(u));
                let done = stop_at.is_none() && waiting.is_empty() && before > 0;
                lines.push((start.elapsed(), line));
                if done {
                    stop_at = Some(Instant::now() + limits.linger);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if stop_at.is_some() => break Ended::Finished,
            Err(mpsc::RecvTimeoutError::Timeout) if left > limits.idle => break Ended::Hung,
            Err(mpsc::RecvTimeoutError::Timeout) => break Ended::TimedOut,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Ended::Exited(child.wait().ok().and_then(|s| s.code()));
            }
        }
    };
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    // A grandchild may hold stderr open after QEMU is gone: do not wait long.
    let stderr = err_rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    Ok(Run { lines, ended, elapsed, stderr })
}

/// Runs QEMU interactively: the terminal is its console.
pub fn interactive(program: &str, args: &[String]) -> Result<()> {
    let status =
        Command::new(program).args(args).status().with_context(|| format!("starting {program}"))?;
    anyhow::ensure!(status.success(), "{program} exited with {status}");
    Ok(())
}

/// Whether `program` can be run (QEMU installed).
pub fn available(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Writes the console to `path`.
pub fn save(run: &Run, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, run.console()).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: &Limits) -> Run {
        run("sh", &["-c".into(), script.into()], limits, |_| {}).unwrap()
    }

    fn limits(timeout: u64, idle: u64) -> Limits {
        Limits {
            until: vec!["DONE".into()],
            timeout: Duration::from_millis(timeout),
            idle: Duration::from_millis(idle),
            linger: Duration::ZERO,
        }
    }

    #[test]
    fn a_run_stops_at_the_marker_and_kills_the_emulator() {
        let r = sh("printf 'a\\r\\nDONE 1\\n'; exec sleep 30", &limits(20_000, 10_000));
        assert_eq!(r.ended, Ended::Finished);
        assert_eq!(r.console(), "a\nDONE 1\n");
        assert!(r.elapsed < Duration::from_secs(10));
    }

    #[test]
    fn a_run_waits_for_every_marker() {
        let l = Limits { until: vec!["A DONE".into(), "B DONE".into()], ..limits(20_000, 10_000) };
        let r = sh("echo 'B DONE'; sleep 0.1; echo x; echo 'A DONE'; exec sleep 30", &l);
        assert_eq!(r.ended, Ended::Finished);
        assert_eq!(r.console(), "B DONE\nx\nA DONE\n");
    }

    #[test]
    fn a_run_can_go_on_a_while_after_the_marker() {
        let l = Limits { linger: Duration::from_millis(400), ..limits(20_000, 10_000) };
        let r = sh("echo DONE; sleep 0.1; echo more; exec sleep 30", &l);
        assert_eq!(r.ended, Ended::Finished);
        assert_eq!(r.console(), "DONE\nmore\n");
        assert!(r.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn silence_is_a_hang_and_the_overall_limit_holds() {
        let r = sh("echo a; exec sleep 30", &limits(20_000, 300));
        assert_eq!(r.ended, Ended::Hung);
        let r = sh("while true; do echo x; sleep 0.05; done", &limits(500, 300));
        assert_eq!(r.ended, Ended::TimedOut);
        let r = sh("echo a; echo oops >&2; exit 3", &limits(20_000, 10_000));
        assert_eq!(r.ended, Ended::Exited(Some(3)));
        assert_eq!(r.stderr, "oops\n");
    }
}
