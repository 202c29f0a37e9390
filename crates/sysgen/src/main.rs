//! `sysgen`: regenerates `system.xml`, its PDs' configurations (`system/`)
//! and the seL4 glue's symbol list from `tenants.toml`, and the image's
//! program crate from the program list (`make system`), or
//! with `--check` says whether they are up to date. With `--board B --xml
//! OUT` it writes the description for another board (its disk device, or
//! none) to OUT, its configurations beside it; `--tenants FILE` reads
//! another tenants file (a test system, `test-systems/`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Generate the Microkit system description from tenants.toml.
#[derive(Parser)]
struct Args {
    /// The repository root (holding tenants.toml).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Another tenants file (a test system) instead of `<root>/tenants.toml`;
    /// with --board and --xml.
    #[arg(long, requires = "xml")]
    tenants: Option<PathBuf>,
    /// Only check that the committed files are up to date.
    #[arg(long)]
    check: bool,
    /// Describe this board (a directory under board/) …
    #[arg(long, requires = "xml")]
    board: Option<String>,
    /// … into this file, instead of regenerating the committed files.
    #[arg(long, requires = "board")]
    xml: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if let (Some(board), Some(out)) = (&args.board, &args.xml) {
        sysgen::generate_file(&args.root, args.tenants.as_deref(), board)
            .and_then(|g| sysgen::write_generated(out, &g))
            .map(|()| true)
    } else if args.check {
        sysgen::stale(&args.root).map(|stale| {
            for f in &stale {
                eprintln!("sysgen: {f} is stale: run `make system`");
            }
            stale.is_empty()
        })
    } else {
        sysgen::write(&args.root).map(|()| true)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sysgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
