//! `simulator`: boots a Microkit system description on the host.
//!
//! ```text
//! simulator boot system.xml [--until-idle] [--timeout SECS] [--dump DIR]
//!                           [--disk IMAGE [--power-loss SEED]]
//! simulator check system.xml
//! simulator keys system.xml
//! ```

mod disk;
mod kernel;
mod programs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// Run a Microkit system on the host, one process per protection domain.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check and boot a system description.
    Boot {
        /// The system description.
        system: PathBuf,
        /// Stop once every PD is idle and nothing is pending.
        #[arg(long)]
        until_idle: bool,
        /// Fail if the system is not idle within this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
        /// Write every region's final contents into this directory.
        #[arg(long)]
        dump: Option<PathBuf>,
        /// Count the protected calls between PDs and print them at the end.
        #[arg(long)]
        stats: bool,
        /// The disk image the `blk` PD serves (created at the size the
        /// system needs when missing; kept afterwards). Without it, a
        /// temporary disk.
        #[arg(long)]
        disk: Option<PathBuf>,
        /// Give the disk a volatile write cache: writes reach the image only
        /// at a flush, and a machine stopped before loses or tears them at
        /// the next boot, as chosen by this seed.
        #[arg(long, requires = "disk")]
        power_loss: Option<u64>,
        /// Say each PD's host process id (crash tests kill one).
        #[arg(long, hide = true)]
        show_pids: bool,
        /// Where programs that are not the simulator's own are found, as
        /// host executables (default: build/sim/programs beside the
        /// description).
        #[arg(long = "search-path", value_name = "DIR")]
        search_path: Vec<PathBuf>,
    },
    /// Check a system description (file, line and reason for each error)
    /// and that every program it names can be run.
    Check {
        /// The system description.
        system: PathBuf,
        /// As for `boot`.
        #[arg(long = "search-path", value_name = "DIR")]
        search_path: Vec<PathBuf>,
    },
    /// Create the signing-key seeds its key regions are filled from, where missing.
    Keys {
        /// The system description.
        system: PathBuf,
    },
    /// Run as a PD process (the kernel starts these).
    #[command(hide = true)]
    Pd,
}

/// A line on standard output; a reader that went away (`| head`) does not
/// stop the simulator.
fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn load(path: &Path) -> Result<sdf::System> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let system = sdf::parse(&path.display().to_string(), &text)?;
    for w in system.validate()? {
        eprintln!("simulator: warning: {w}");
    }
    // Isolation, from the PDs' configurations beside the description.
    let configs = sysgen::isolation::configs(&system, &dir_of(path))?;
    sysgen::isolation::check(&system, &configs)?;
    Ok(system)
}

/// Where the programs of `system` (read from `path`) come from: the
/// simulator's own, or a host executable of that name in `search` (the
/// integrators' programs built for the host).
fn programs(path: &Path, system: &sdf::System, search: &[PathBuf]) -> Result<kernel::Programs> {
    let mut out = kernel::Programs::new();
    for pd in system.all_pds() {
        let image = programs::name(&pd.program_image);
        if programs::PROGRAMS.iter().any(|(n, _)| *n == image) {
            // The simulator's own program runs, never a file of that name.
            if let Some(f) = search.iter().map(|d| d.join(image)).find(|f| f.is_file()) {
                eprintln!(
                    "simulator: warning: PD '{}' runs the simulator's own {image}, not {} (name your program otherwise)",
                    pd.name,
                    f.display()
                );
            }
            continue;
        }
        match search.iter().map(|d| d.join(image)).find(|f| f.is_file()) {
            Some(file) => {
                out.insert(pd.name.clone(), std::path::absolute(&file)?);
            }
            None => anyhow::bail!(
                "{}:{}:{}: PD '{}': no program {:?}: not one of the simulator's ({}) and not in {} (build your programs for the host with `make programs`)",
                path.display(),
                pd.pos.line,
                pd.pos.col,
                pd.name,
                image,
                programs::PROGRAMS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
                search.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(out)
}

/// The directories searched for programs: those given, else the host
/// builds of `make programs` beside the description.
fn search_path(system: &Path, given: Vec<PathBuf>) -> Vec<PathBuf> {
    if given.is_empty() { vec![dir_of(system).join(DEFAULT_PROGRAMS)] } else { given }
}

/// Where `make programs` puts the host builds of integrators' programs.
const DEFAULT_PROGRAMS: &str = "build/sim/programs";

fn dir_of(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
}

/// Creates missing key seeds (32 random bytes, mode 0600) for regions whose
/// prefill files live under `build/keys/`.
fn keys(path: &Path, system: &sdf::System) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    for mr in &system.memory_regions {
        let Some(file) = mr.prefill_path.as_deref().filter(|p| p.starts_with("build/keys/")) else {
            continue;
        };
        let file = dir_of(path).join(file);
        if file.exists() {
            continue;
        }
        std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file)?;
        std::io::Write::write_all(&mut f, &seed)?;
        say(format_args!("simulator: new signing key seed {}", file.display()));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pd => sim_pd::run(programs::start),
        Command::Check { system, search_path: search } => load(&system).and_then(|s| {
            programs(&system, &s, &search_path(&system, search))?;
            say(format_args!("{}: ok", system.display()));
            Ok(())
        }),
        Command::Keys { system } => load(&system).and_then(|s| keys(&system, &s)),
        Command::Boot {
            system,
            until_idle,
            timeout,
            dump,
            stats,
            disk,
            power_loss,
            show_pids,
            search_path: search,
        } => load(&system).and_then(|s| {
            let programs = programs(&system, &s, &search_path(&system, search))?;
            let timeout = timeout.map(Duration::from_secs);
            let disk = disk.map(|d| std::path::absolute(&d)).transpose()?;
            let opts = kernel::Options {
                until_idle,
                timeout,
                dump,
                stats,
                disk,
                power_loss,
                show_pids,
                programs,
            };
            let report = kernel::run(&s, &dir_of(&system), &opts)?;
            if !report.stopped.is_empty() {
                say(format_args!(
                    "[kernel] {} PD(s) stopped: {}",
                    report.stopped.len(),
                    report.stopped.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ));
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}
