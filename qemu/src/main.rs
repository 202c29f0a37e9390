//! `qemu-runner`: boots a service-fs seL4 image under QEMU and judges it.
//!
//! - `qemu-runner boot`: QEMU on this terminal (`make qemu`).
//! - `qemu-runner test`: headless; collects the serial log, judges the
//!   test PD's markers, verifies the printed checkpoints, and exits 1 on
//!   any failure, fault, hang or timeout (`make test-qemu`).
//! - `qemu-runner judge LOG`: the same judgement of a log captured
//!   elsewhere (a board's serial port, an earlier run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use qemu_runner::board::Board;
use qemu_runner::console::{Console, Outcome};
use qemu_runner::run::{self, Ended, Limits};
use qemu_runner::{checkpoints, disks, workload};
use sysgen::Described;

/// Boot the service-fs seL4 image under QEMU, and judge its serial log.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot interactively: the terminal is the serial console (Ctrl-a x quits).
    Boot {
        #[command(flatten)]
        image: Image,
    },
    /// Boot headless, judge the log, verify the printed checkpoints.
    Test {
        #[command(flatten)]
        image: Image,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// A hang: this many seconds without a console line.
        #[arg(long, default_value_t = 120)]
        idle: u64,
        /// Count instructions (QEMU -icount): guest time is instructions.
        #[arg(long)]
        icount: bool,
        /// Where the console log goes.
        #[arg(long, default_value = "build/qemu/console.log")]
        log: PathBuf,
        /// Do not echo the console while it runs.
        #[arg(long)]
        quiet: bool,
        /// Start from a blank disk (the one `--disk` names is replaced).
        #[arg(long, requires = "disk")]
        new_disk: bool,
        /// Then boot the same disk again: the harness must find exactly the
        /// checkpoints it printed last, and pass again.
        #[arg(long, requires = "disk")]
        reboot: bool,
        /// Then export the disk with this `fsctl` and verify every tenant
        /// (`fsctl verify`, Go's tlog/note, `fsctl disk verify`).
        #[arg(long, requires = "disk")]
        fsctl: Option<PathBuf>,
        /// Then boot on a blank disk attached as a device that cannot flush
        /// its cache: the driver must refuse it in one line, psdb serve
        /// nothing, and the disk stay blank.
        #[arg(long)]
        flush_refusal: bool,
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// Crash test: boot a crash-workload image (`bench.elf` appending until
    /// killed), SIGKILL QEMU at a random moment after the first
    /// acknowledged append, check the disk (every acknowledged record
    /// present, every ledger verifying), and again.
    Crash {
        #[command(flatten)]
        image: Image,
        /// First build the crash image (scripts/image.sh) into build/crash,
        /// with this board's description and the crash workload; the disk
        /// defaults to build/qemu/crash-disk.img.
        #[arg(long)]
        build: bool,
        /// How many kills.
        #[arg(long, default_value_t = 200)]
        kills: u64,
        /// The longest wait after the first acknowledged append, in ms.
        #[arg(long, default_value_t = 3000)]
        max_delay: u64,
        /// The workload's record size (as its image was built with).
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        /// Seed of the kill times.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where the tenants' signing key seeds were provisioned.
        #[arg(long, default_value = "build/keys")]
        keys: PathBuf,
        /// Verifies the disk with this `fsctl` at the end.
        #[arg(long)]
        fsctl: PathBuf,
    },
    /// Judge a console log captured elsewhere.
    Judge {
        /// The log.
        log: PathBuf,
        /// The description of the system that printed it.
        #[arg(long, default_value = "build/system.xml")]
        system: PathBuf,
        #[command(flatten)]
        judge: JudgeOpts,
    },
}

#[derive(Args)]
struct Image {
    /// The Microkit board (a directory under --boards).
    #[arg(long, env = "MICROKIT_BOARD", default_value = "qemu_virt_aarch64")]
    board: String,
    /// Where the boards are described.
    #[arg(long, default_value = "board")]
    boards: PathBuf,
    /// The loader image.
    #[arg(long, default_value = "build/loader.img")]
    image: PathBuf,
    /// psdb's disk image, attached as the board says (created blank at the
    /// size the system needs when missing, kept afterwards).
    #[arg(long)]
    disk: Option<PathBuf>,
}

impl Image {
    /// What the system the image was built from says (`make image` leaves
    /// its description beside the image).
    fn system(&self) -> Result<Described> {
        let dir = self.image.parent().unwrap_or(Path::new("."));
        sysgen::describe(&dir.join("system.xml"))
    }
}

#[derive(Args)]
struct JudgeOpts {
    /// A test PD whose `<pd>: PASS|FAIL|DONE` lines are judged (repeat);
    /// the harness, when the system has one, is judged as well.
    #[arg(long = "pd", value_name = "PD")]
    pds: Vec<String>,
    /// A scenario the `--pd` PDs must each report passed (repeat); the
    /// harness must pass every one of its own.
    #[arg(long = "expect", value_name = "SCENARIO")]
    expect: Vec<String>,
    /// Verify the checkpoints printed, and require one of each kind for
    /// every tenant the harness covers (default: when there is a harness).
    #[arg(long)]
    checkpoints: Option<bool>,
    /// Where the tenants' signing key seeds were provisioned.
    #[arg(long, default_value = "build/keys")]
    keys: PathBuf,
    /// Where verified checkpoints and their verifier keys are written.
    #[arg(long, default_value = "build/qemu")]
    out: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("qemu-runner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Cmd::Boot { image } => {
            let (program, args) = command_line(&image, &image.system()?, false)?;
            run::interactive(&program, &args)?;
            Ok(true)
        }
        Cmd::Test {
            image,
            timeout,
            idle,
            icount,
            log,
            quiet,
            new_disk,
            reboot,
            fsctl,
            flush_refusal,
            judge,
        } => {
            let system = image.system()?;
            if let (true, Some(d)) = (new_disk, &image.disk) {
                let bytes = disk_bytes(&system, &image)?;
                disks::fresh(d, bytes)?;
                say(&format!("a blank disk: {} ({bytes} bytes)", d.display()));
            }
            let limits = Limits {
                until: judged(&judge, &system)?.iter().map(|pd| format!("{pd}: DONE")).collect(),
                timeout: Duration::from_secs(timeout),
                idle: Duration::from_secs(idle),
                linger: Duration::ZERO,
            };
            let boot = |log: &Path| test_boot(&image, &system, icount, &limits, log, quiet, &judge);
            let (mut passed, first) = boot(&log)?;
            if reboot {
                say("booting the same disk again: everything acknowledged must be there");
                let (ok, second) = boot(&log.with_extension("reboot.log"))?;
                let disk = image.disk.as_deref().unwrap_or(Path::new(""));
                let (lines, kept) = disks::kept(disk, &first.checkpoints, &second.recovered);
                lines.iter().for_each(|l| say(l));
                passed &= ok && kept;
            }
            if let (Some(fsctl), Some(d)) = (&fsctl, &image.disk) {
                match disks::verify_disk(fsctl, d, &system, &judge.keys, &judge.out) {
                    Ok(lines) => lines.iter().for_each(|l| say(l)),
                    Err(e) => {
                        say(&format!("FAILURE: the disk: {e:#}"));
                        passed = false;
                    }
                }
            }
            if flush_refusal {
                let log = log.with_extension("no-flush.log");
                passed &= refuses_without_flush(&image, &system, &log)?;
            }
            say(if passed { "PASSED" } else { "FAILED" });
            Ok(passed)
        }
        Cmd::Judge { log, system, judge } => {
            let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
            judge_console(&String::from_utf8_lossy(&text), &judge, &sysgen::describe(&system)?)
        }
        Cmd::Crash { mut image, build, kills, max_delay, record_size, seed, mut keys, fsctl } => {
            if build {
                let dir = Path::new("build/crash");
                build_crash_image(&image.board, dir, record_size)?;
                image.image = dir.join("loader.img");
                keys = dir.join("build/keys");
            }
            image.disk.get_or_insert_with(|| PathBuf::from("build/qemu/crash-disk.img"));
            crash(&image, kills, max_delay, record_size, seed, &keys, &fsctl)
        }
    }
}

/// The PDs judged: those `--pd` names, and the harness if the system has one.
fn judged(judge: &JudgeOpts, system: &Described) -> Result<Vec<String>> {
    let mut pds = judge.pds.clone();
    if let Some(pd) = pds.iter().find(|p| !system.pds.is_empty() && !system.pds.contains(p)) {
        anyhow::bail!("--pd {pd}: the system has no such PD (it has {})", system.pds.join(", "));
    }
    if (!system.harness.is_empty() || pds.is_empty()) && !pds.iter().any(|p| p == "harness") {
        pds.push("harness".into());
    }
    Ok(pds)
}

/// Bytes the system's disk needs.
fn disk_bytes(system: &Described, image: &Image) -> Result<u64> {
    system.disk_bytes.with_context(|| {
        format!("the system beside {} has no disk (no block driver)", image.image.display())
    })
}

/// One headless boot, judged: whether it passed, and the harness's console.
fn test_boot(
    image: &Image,
    system: &Described,
    icount: bool,
    limits: &Limits,
    log: &Path,
    quiet: bool,
    judge: &JudgeOpts,
) -> Result<(bool, Console)> {
    let (program, args) = command_line(image, system, icount)?;
    say(&format!("{program} {}", args.join(" ")));
    let r = run::run(&program, &args, limits, |l| {
        if !quiet {
            println!("{l}");
        }
    })?;
    run::save(&r, log)?;
    let first = judged(judge, system)?.remove(0);
    let ready = r.first(&format!("{first}: "));
    say(&format!(
        "console in {}; {} after {:.1} s{}",
        log.display(),
        describe(&r.ended, limits),
        r.elapsed.as_secs_f64(),
        ready.map_or(String::new(), |t| format!(
            "; boot to ready ({first} first spoke) {:.1} s",
            t.as_secs_f64()
        ))
    ));
    let text = r.console();
    let passed = judge_console(&text, judge, system)?;
    Ok((passed && r.ended == Ended::Finished, Console::parse(&text, "harness")))
}

fn describe(ended: &Ended, limits: &Limits) -> String {
    match ended {
        Ended::Finished => "finished".to_string(),
        Ended::TimedOut => format!("timed out ({} s)", limits.timeout.as_secs()),
        Ended::Hung => format!("hung (no output for {} s)", limits.idle.as_secs()),
        Ended::Exited(code) => format!("QEMU exited ({code:?})"),
    }
}

/// Boots on a blank disk attached as a device without a cache flush: the
/// driver refuses it in one line, psdb says it serves nothing, the disk
/// stays blank.
fn refuses_without_flush(image: &Image, system: &Described, log: &Path) -> Result<bool> {
    let (_, board) = Board::named(&image.boards, &image.board)?;
    let qemu = board.qemu.as_ref().context("no QEMU model")?;
    let disk = log.with_extension("img");
    disks::fresh(&disk, disk_bytes(system, image)?)?;
    let (program, args) = qemu.command_line_without_flush(&image.image, &disk);
    say(&format!("{program} {}", args.join(" ")));
    let limits = Limits {
        until: vec!["harness: DONE".into()],
        timeout: Duration::from_secs(120),
        idle: Duration::from_secs(30),
        linger: Duration::ZERO,
    };
    let r = run::run(&program, &args, &limits, |_| {})?;
    run::save(&r, log)?;
    let console = r.console();
    let refused =
        console.lines().filter(|l| l.starts_with("blk: no VIRTIO_BLK_F_FLUSH")).count() == 1;
    let stopped = console.contains("psdb: the block driver serves no durable disk");
    let blank = std::fs::read(&disk)?.iter().all(|&b| b == 0);
    for (ok, what) in [
        (refused, "the driver refused the device in one line"),
        (stopped, "psdb serves nothing"),
        (blank, "the disk is still blank"),
    ] {
        say(&format!(
            "{} a device without a cache flush: {what}",
            if ok { "ok" } else { "FAILURE:" }
        ));
    }
    Ok(refused && stopped && blank)
}

/// Builds the crash image into `dir`: `board`'s description with the
/// bench program in the harness's place, running the crash workload.
fn build_crash_image(board: &str, dir: &Path, record_size: usize) -> Result<()> {
    let g = sysgen::generate_harness_only(Path::new("."), board, None)?;
    let system = workload::write_system(dir, &g, &workload::crash_cfg(8, record_size as u64, 4))?;
    say(&format!("building the crash image from {}", system.display()));
    let status = std::process::Command::new("scripts/image.sh")
        .arg(&system)
        .arg(dir)
        .status()
        .context("running scripts/image.sh")?;
    anyhow::ensure!(status.success(), "building the crash image failed");
    Ok(())
}

/// The crash test: `kills` boots of the crash image, each killed a random
/// time after its first acknowledged append; after each, the disk holds
/// every acknowledged record and verifies.
fn crash(
    image: &Image,
    kills: u64,
    max_delay: u64,
    size: usize,
    seed: u64,
    keys: &Path,
    fsctl: &Path,
) -> Result<bool> {
    let Some(disk) = &image.disk else { bail!("give --disk") };
    let system = image.system()?;
    let bytes = disk_bytes(&system, image)?;
    disks::fresh(disk, bytes)?;
    let started = std::time::Instant::now();
    let mut rng = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut acked: Vec<workload::Acked> = Vec::new();
    for k in 0..kills {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let linger = Duration::from_millis(rng % max_delay.max(1));
        // The workload's first line: an acknowledged append, or `FULL`
        // when the last run was killed just before the ledger filled up.
        let limits = Limits {
            until: vec!["bench: ".into()],
            timeout: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            linger,
        };
        let (program, args) = command_line(image, &system, false)?;
        let r = run::run(&program, &args, &limits, |_| {})?;
        let console = r.console();
        run::save(&r, Path::new("build/qemu/crash-last.log"))?;
        if r.ended != Ended::Finished {
            run::save(&r, Path::new("build/qemu/crash-failed.log"))?;
            say(&format!(
                "FAILURE: kill {k}: the workload never got going ({})",
                describe(&r.ended, &limits)
            ));
            return Ok(false);
        }
        let mut trouble = Console::parse(&console, "bench").trouble;
        trouble.extend(console.lines().filter(|l| l.contains("bench: FAILED")).map(String::from));
        if let Some(t) = trouble.first() {
            run::save(&r, Path::new("build/qemu/crash-failed.log"))?;
            say(&format!("FAILURE: kill {k}: {t}"));
            return Ok(false);
        }
        let (ranges, full) = workload::acked(&console);
        acked.extend(ranges);
        let records = match workload::check_crash_disk(disk, &system, keys, &acked, size) {
            Ok(n) => n,
            Err(e) => {
                run::save(&r, Path::new("build/qemu/crash-failed.log"))?;
                say(&format!("FAILURE: after kill {k}: {e:#}"));
                return Ok(false);
            }
        };
        if k % 20 == 0 || k + 1 == kills {
            say(&format!(
                "kill {}/{kills} after {:.2} s of appends: {} appends acknowledged so far, all there; the disk holds {records} records",
                k + 1,
                linger.as_secs_f64(),
                acked.len()
            ));
        }
        // The last disk stays for the final verification.
        if full && k + 1 < kills {
            say(&format!(
                "kill {}: the ledger filled up at {records} records: starting again on a blank disk",
                k + 1
            ));
            disks::fresh(disk, bytes)?;
            acked.clear();
        }
    }
    for l in disks::verify_disk(fsctl, disk, &system, keys, Path::new("build/qemu/crash"))? {
        say(&l);
    }
    say(&format!("PASSED: {kills} kills in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(true)
}

fn say(s: &str) {
    eprintln!("qemu-runner: {s}");
}

fn command_line(image: &Image, system: &Described, icount: bool) -> Result<(String, Vec<String>)> {
    let (dir, board) = Board::named(&image.boards, &image.board)?;
    let Some(qemu) = &board.qemu else {
        bail!("board {} has no QEMU model ({} has no [qemu])", image.board, dir.display());
    };
    if !image.image.exists() {
        bail!("no image at {}: run `make image` first", image.image.display());
    }
    if !run::available(&qemu.command) {
        bail!("{} is not installed (make test-qemu installs it)", qemu.command);
    }
    if let Some(d) = &image.disk {
        let bytes = disk_bytes(system, image)?;
        if disks::ensure(d, bytes)? {
            say(&format!("a blank disk: {} ({bytes} bytes)", d.display()));
        }
    }
    if image.disk.is_some() && board.disk.is_none() {
        bail!("board {} has no disk: psdb keeps its store in memory there", image.board);
    }
    Ok(qemu.command_line(Path::new(&image.image), image.disk.as_deref(), icount))
}

/// Judges a console: prints the outcome of each scenario and checkpoint,
/// and whether the whole passed.
fn judge_console(text: &str, judge: &JudgeOpts, system: &Described) -> Result<bool> {
    let mut failures = Vec::new();
    let mut reported = 0;
    let mut expected_n = 0;
    let pds = judged(judge, system)?;
    for pd in &pds {
        let expected: Vec<String> = if pd == "harness" {
            scenarios::SCENARIOS.iter().map(|s| s.to_string()).collect()
        } else {
            judge.expect.clone()
        };
        let console = Console::parse(text, pd);
        for (name, outcome) in &console.scenarios {
            match outcome {
                Outcome::Pass => say(&format!("{pd}: PASS {name}")),
                Outcome::Fail(why) => say(&format!("{pd}: FAIL {name}: {why}")),
            }
        }
        reported += console.scenarios.len();
        expected_n += expected.len();
        failures.extend(console.failures(&expected).into_iter().map(|f| format!("{pd}: {f}")));
    }
    let harness = Console::parse(text, "harness");
    if judge.checkpoints.unwrap_or(pds.iter().any(|p| p == "harness")) {
        let (ok, bad) = checkpoints::verify_all(
            &harness.checkpoints,
            &harness.verifier_keys,
            system,
            &harness.covers,
            &judge.keys,
            &judge.out,
        );
        for v in &ok {
            say(&format!(
                "checkpoint {} {}: size {}, verified (Rust note, Go note.Open) with {}; {}",
                v.tenant,
                v.kind,
                v.size,
                v.key,
                v.file.display()
            ));
        }
        if harness.covers.is_empty() {
            failures.push("the harness never said which tenants it covers (COVERS)".into());
        }
        failures.extend(bad);
    }
    for f in &failures {
        say(&format!("FAILURE: {f}"));
    }
    let verdict = if failures.is_empty() { "PASSED" } else { "FAILED" };
    say(&format!(
        "{verdict}: {reported} checks reported by {} PD(s), {expected_n} of them required by name, {} failures",
        pds.len(),
        failures.len()
    ));
    Ok(failures.is_empty())
}
