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
use qemu_runner::checkpoints;
use qemu_runner::console::{Console, Outcome};
use qemu_runner::run::{self, Ended, Limits};

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
        #[command(flatten)]
        judge: JudgeOpts,
    },
    /// Judge a console log captured elsewhere.
    Judge {
        /// The log.
        log: PathBuf,
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
}

#[derive(Args)]
struct JudgeOpts {
    /// The test PD whose `<pd>: PASS|FAIL|DONE` lines are judged.
    #[arg(long, default_value = "harness")]
    pd: String,
    /// A scenario that must pass (repeat; default with `--pd harness`:
    /// every harness scenario).
    #[arg(long = "expect", value_name = "SCENARIO")]
    expect: Vec<String>,
    /// Also require and verify each tenant's printed checkpoints (default
    /// with `--pd harness`).
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
            let (program, args) = command_line(&image, false)?;
            run::interactive(&program, &args)?;
            Ok(true)
        }
        Cmd::Test { image, timeout, idle, icount, log, quiet, judge } => {
            let (program, args) = command_line(&image, icount)?;
            let limits = Limits {
                until: format!("{}: DONE", judge.pd),
                timeout: Duration::from_secs(timeout),
                idle: Duration::from_secs(idle),
            };
            say(&format!("{program} {}", args.join(" ")));
            let r = run::run(&program, &args, &limits, |l| {
                if !quiet {
                    println!("{l}");
                }
            })?;
            run::save(&r, &log)?;
            let ready = r.first(&format!("{}: ", judge.pd));
            say(&format!(
                "console in {}; {} after {:.1} s{}",
                log.display(),
                match &r.ended {
                    Ended::Finished => "finished".to_string(),
                    Ended::TimedOut => format!("timed out ({timeout} s)"),
                    Ended::Hung => format!("hung (no output for {idle} s)"),
                    Ended::Exited(code) => format!("QEMU exited ({code:?}): {}", r.stderr.trim()),
                },
                r.elapsed.as_secs_f64(),
                ready.map_or(String::new(), |t| format!(
                    "; boot to ready ({} first spoke) {:.1} s",
                    judge.pd,
                    t.as_secs_f64()
                ))
            ));
            let passed = judge_console(&r.console(), &judge)?;
            Ok(passed && r.ended == Ended::Finished)
        }
        Cmd::Judge { log, judge } => {
            let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
            judge_console(&String::from_utf8_lossy(&text), &judge)
        }
    }
}

fn say(s: &str) {
    eprintln!("qemu-runner: {s}");
}

fn command_line(image: &Image, icount: bool) -> Result<(String, Vec<String>)> {
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
    Ok(qemu.command_line(Path::new(&image.image), icount))
}

/// Judges a console: prints the outcome of each scenario and checkpoint,
/// and whether the whole passed.
fn judge_console(text: &str, judge: &JudgeOpts) -> Result<bool> {
    let harness = judge.pd == "harness";
    let expected: Vec<String> = if judge.expect.is_empty() && harness {
        harness::SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        judge.expect.clone()
    };
    let console = Console::parse(text, &judge.pd);
    for (name, outcome) in &console.scenarios {
        match outcome {
            Outcome::Pass => say(&format!("PASS {name}")),
            Outcome::Fail(why) => say(&format!("FAIL {name}: {why}")),
        }
    }
    let mut failures = console.failures(&expected);
    if judge.checkpoints.unwrap_or(harness) {
        let (ok, bad) = checkpoints::verify_all(
            &console.checkpoints,
            &console.verifier_keys,
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
        failures.extend(bad);
    }
    for f in &failures {
        say(&format!("FAILURE: {f}"));
    }
    let verdict = if failures.is_empty() { "PASSED" } else { "FAILED" };
    say(&format!(
        "{verdict}: {} scenarios reported, {} expected, {} failures",
        console.scenarios.len(),
        expected.len(),
        failures.len()
    ));
    Ok(failures.is_empty())
}
