//! Crashes of the simulated machine while it writes: a workload appends
//! (and reads, audited) until it is killed at a random moment — the whole
//! machine, with or without a volatile disk cache that a power cut empties,
//! or the `blk` driver's process alone — and the machine boots again on the
//! same disk. After each kill, the disk holds every record whose append was
//! acknowledged, exactly as written, and every ledger verifies.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use qemu_runner::workload::{acked, check_crash_disk, crash_cfg, write_system};

const SIM: &str = env!("CARGO_BIN_EXE_simulator");
const KILLS: u64 = 120;
const RECORD: usize = 100;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How a run ends.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// The whole machine, its disk writing through.
    Machine,
    /// The whole machine, its disk's unflushed writes lost or torn.
    PowerCut(u64),
    /// The block driver's process (then the machine, which waits for it).
    Driver,
}

struct Run {
    child: Child,
    lines: mpsc::Receiver<String>,
    console: String,
}

fn start(dir: &Path, kill: Kill) -> Run {
    let mut cmd = Command::new(SIM);
    cmd.current_dir(dir).args(["boot", "system.xml", "--disk", "disk.img", "--show-pids"]);
    if let Kill::PowerCut(seed) = kill {
        cmd.args(["--power-loss", &seed.to_string()]);
    }
    // Its own process group: killing it kills every PD at once.
    let mut child =
        cmd.process_group(0).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    Run { child, lines, console: String::new() }
}

impl Run {
    /// Reads the console until `f` holds for a line or `within` passes.
    fn until(&mut self, within: Duration, f: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + within;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = f(&l);
                    self.console.push_str(&l);
                    self.console.push('\n');
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    fn pid_of(&self, pd: &str) -> Option<i32> {
        let prefix = format!("[kernel] PD {pd} is process ");
        self.console.lines().find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
    }

    /// SIGKILL to the whole machine; then the rest of its console.
    fn kill_machine(&mut self) {
        let pg = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process_group(pg, rustix::process::Signal::KILL);
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.console.push_str(&l);
            self.console.push('\n');
        }
    }
}

#[test]
fn every_acknowledged_record_survives_kills_at_random_moments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let g = sysgen::generate_harness_only(&root(), sysgen::DEFAULT_BOARD, None).unwrap();
    write_system(dir, &g, &crash_cfg(8, RECORD as u64, 4)).unwrap();
    let system = sysgen::describe(&dir.join("system.xml")).unwrap();
    assert!(
        Command::new(SIM).current_dir(dir).args(["keys", "system.xml"]).status().unwrap().success()
    );
    let mut rng = 0x5EED_1234_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let started = Instant::now();
    let (mut acknowledged, mut most, mut fulls) = (Vec::new(), 0u64, 0);
    for k in 0..KILLS {
        let kill = match k % 3 {
            0 => Kill::Machine,
            1 => Kill::PowerCut(next()),
            _ => Kill::Driver,
        };
        let mut run = start(dir, kill);
        // A run killed just before the ledger filled up leaves a disk on
        // which the next run's first append is refused as full.
        let going = run.until(Duration::from_secs(60), |l| {
            l.contains("bench: ACK ") || l.trim_end().ends_with("bench: FULL")
        });
        assert!(
            going,
            "kill {k} ({kill:?}): the workload neither acknowledged an append nor filled up:\n{}",
            run.console
        );
        run.until(Duration::from_millis(next() % 300), |_| false);
        if let Kill::Driver = kill {
            let pid = run.pid_of("blk").expect("the kernel said the driver's pid");
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
            run.until(Duration::from_millis(50), |_| false);
        }
        run.kill_machine();
        for bad in ["DAMAGE", "cannot open", "panicked", "FAILED"] {
            assert!(!run.console.contains(bad), "kill {k} ({kill:?}): {bad}:\n{}", run.console);
        }
        let (ranges, full) = acked(&run.console);
        acknowledged.extend(ranges);
        let keys = dir.join("build/keys");
        let on_disk =
            check_crash_disk(&dir.join("disk.img"), &system, &keys, &acknowledged, RECORD)
                .unwrap_or_else(|e| panic!("after kill {k} ({kill:?}): {e:#}\n{}", run.console));
        most = most.max(on_disk);
        if full {
            fulls += 1;
            std::fs::remove_file(dir.join("disk.img")).unwrap();
            acknowledged.clear();
        }
    }
    // The last boot's recovery is reported, and a final clean boot finds it all.
    let mut run = start(dir, Kill::Machine);
    let going = run.until(Duration::from_secs(60), |l| {
        l.contains("bench: ACK ") || l.trim_end().ends_with("bench: FULL")
    });
    assert!(going, "{}", run.console);
    run.kill_machine();
    assert!(run.console.contains("[psdb] psdb: acme/log: "), "{}", run.console);
    eprintln!(
        "{KILLS} kills in {:.0} s; up to {most} records on the disk; {fulls} times full",
        started.elapsed().as_secs_f64()
    );
    assert!(most > 100, "the workload wrote too little to test anything: {most}");
}
