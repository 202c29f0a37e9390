//! `fake-rekor`: a Rekor v2-compatible log on loopback for demos and manual
//! tests of the anchoring tools (see the library's documentation for what
//! it reproduces). Not a production Rekor: everything is in memory.
//!
//! ```text
//! fake-rekor [--listen 127.0.0.1:3000] [--origin rekor.test] [--seed-file FILE] [--no-tiles]
//! ```
//!
//! Prints its URL and log key, then serves until SIGTERM or ctrl-c.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use fake_rekor::{Options, Server};

#[derive(Parser)]
#[command(
    version,
    about = "A Rekor v2-compatible transparency log for tests and demos (in memory)"
)]
struct Cli {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The log's origin (checkpoint first line, log key name).
    #[arg(long, default_value = "rekor.test")]
    origin: String,
    /// File with the log key's 32-byte Ed25519 seed (raw, or 64 hex digits);
    /// created with a fresh random seed when missing. Without it the key is
    /// new on every start.
    #[arg(long, visible_alias = "key-file")]
    seed_file: Option<PathBuf>,
    /// Answer 501 to checkpoint and tile reads, as rekor-server itself does.
    #[arg(long)]
    no_tiles: bool,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAKE_REKOR_LOG")
                .unwrap_or_else(|_| "fake_rekor=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("fake-rekor: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let seed = cli.seed_file.as_deref().map(seed).transpose()?;
    let options =
        Options { origin: cli.origin, seed, serve_tiles: !cli.no_tiles, listen: cli.listen };
    let server = Server::start(options).map_err(|e| format!("starting on {}: {e}", cli.listen))?;
    // The first line on standard output says where it listens (port 0 picks one).
    let mut out = std::io::stdout().lock();
    writeln!(out, "fake-rekor: listening on {}", server.url())
        .and_then(|()| writeln!(out, "log key: {}", server.log_key()))
        .and_then(|()| write!(out, "{}", server.log_spki_pem()))
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing to standard output: {e}"))?;
    drop(out);
    wait_for_stop().map_err(|e| format!("waiting for a signal: {e}"))?;
    drop(server);
    Ok(())
}

/// Reads the seed file, or creates it with a random seed.
fn seed(path: &Path) -> Result<[u8; 32], String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut s = [0u8; 32];
            getrandom::fill(&mut s).map_err(|e| format!("random seed: {e}"))?;
            let hex: String = s.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(path, format!("{hex}\n"))
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            return Ok(s);
        }
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(raw);
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    let mut s = [0u8; 32];
    let ok = text.len() == 64
        && s.iter_mut().enumerate().all(|(i, b)| {
            u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
                .map(|v| *b = v)
                .is_ok()
        });
    if ok {
        Ok(s)
    } else {
        Err(format!("{}: not a 32-byte seed (raw or 64 hex digits)", path.display()))
    }
}

/// Blocks until SIGTERM or SIGINT.
fn wait_for_stop() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => Ok(()),
            r = tokio::signal::ctrl_c() => r,
        }
    })
}
