//! `fs-witness`: a transparency-log witness (C2SP tlog-witness) with its
//! own key and state, meant to run as another user or on another host than
//! the ledgers it witnesses. It serves `POST <prefix>/add-checkpoint` and
//! cosigns (C2SP tlog-cosignature v1) a checkpoint only when a consistency
//! proof shows it extends the last one it cosigned for that log.
//!
//! ```text
//! fs-witness init  --state DIR --name witness.example.com/w1   # prints its verifier key
//! fs-witness trust --state DIR LOG_VKEY                         # a log to witness
//! fs-witness key   --state DIR
//! fs-witness serve --state DIR --listen 127.0.0.1:7380 [--prefix /]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use witness::Witness;

#[derive(Parser)]
#[command(
    version,
    about = "A C2SP tlog-witness: cosigns checkpoints that extend the last one it cosigned"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a witness directory with a new key; prints its verifier key.
    Init {
        /// The witness's directory (key, logs, state), private to it.
        #[arg(long)]
        state: PathBuf,
        /// Its name, a schema-less URL (e.g. witness.example.com/w1).
        #[arg(long)]
        name: String,
    },
    /// Adds a log to witness, by its verifier key (its origin is the key's name).
    Trust {
        #[arg(long)]
        state: PathBuf,
        /// The log's verifier key, as `fsctl key` prints it.
        vkey: String,
    },
    /// Prints the witness's verifier key.
    Key {
        #[arg(long)]
        state: PathBuf,
    },
    /// Serves the witness protocol over HTTP.
    Serve {
        #[arg(long)]
        state: PathBuf,
        /// Address to listen on (port 0: any free port, printed at start).
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: SocketAddr,
        /// The submission prefix the paths start with.
        #[arg(long, default_value = "")]
        prefix: String,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FS_WITNESS_LOG")
                .unwrap_or_else(|_| "fs_witness=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("fs-witness: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init { state, name } => say(Witness::create(&state, &name)?)?,
        Command::Trust { state, vkey } => {
            say(format_args!("trusted {}", Witness::trust(&state, &vkey)?))?
        }
        Command::Key { state } => say(Witness::open(&state)?.verifier())?,
        Command::Serve { state, listen, prefix } => serve(&state, listen, &prefix)?,
    }
    Ok(())
}

fn serve(state: &std::path::Path, listen: SocketAddr, prefix: &str) -> Result<()> {
    let w = Witness::open(state)?;
    let origins: Vec<String> = w.logs().iter().map(|l| l.name().to_string()).collect();
    let key = w.verifier();
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    // The first line on standard output: where it listens (port 0 picks one).
    say(format_args!("fs-witness: listening on http://{addr}{prefix} as {key}"))?;
    tracing::info!(logs = ?origins, "witnessing");
    fs_witness::serve(listener, w, prefix)
}

/// A line on standard output; a closed one is an error, not a panic.
fn say(text: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|()| out.flush()).context("writing to standard output")
}
