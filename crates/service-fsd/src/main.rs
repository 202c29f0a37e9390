//! `service-fsd --config service-fs.toml`, or `service-fsd --dir DIR --listen ADDR`
//! (and `--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]` for HTTPS).

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use service_fsd::config::{Config, Tls};
use service_fsd::{Daemon, shutdown_signal};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The service-fs daemon: tenants' ledgers over HTTP (docs/http.md).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The configuration file (service-fs.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The ledger root (overrides the file's `dir`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Address to listen on (overrides the file's `listen`).
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// The tenants file (overrides the file's `tenants`).
    #[arg(long)]
    tenants: Option<PathBuf>,
    /// The credentials file (overrides the file's `credentials`).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain, PEM (overrides `tls.cert`).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM (overrides `tls.key`).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Accept client certificates these CAs issued, PEM (overrides `tls.client_ca`).
    #[arg(long)]
    tls_client_ca: Option<PathBuf>,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = match (&args.config, &args.dir) {
        (Some(path), _) => Config::load(path)?,
        (None, Some(dir)) => Config::from_dir(dir.clone()),
        (None, None) => bail!("give --config FILE or --dir DIR"),
    };
    if let Some(d) = args.dir {
        cfg.dir = d;
    }
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(t) = args.tenants {
        cfg.tenants = t;
    }
    if let Some(c) = args.credentials {
        cfg.credentials = c;
    }
    if args.tls_cert.is_some() || args.tls_key.is_some() || args.tls_client_ca.is_some() {
        let tls = match (cfg.tls.take(), args.tls_cert, args.tls_key) {
            (Some(t), cert, key) => {
                Tls { cert: cert.unwrap_or(t.cert), key: key.unwrap_or(t.key), ..t }
            }
            (None, Some(cert), Some(key)) => Tls { cert, key, client_ca: None },
            (None, _, _) => bail!("TLS needs both --tls-cert and --tls-key (or [tls] in --config)"),
        };
        cfg.tls = Some(Tls { client_ca: args.tls_client_ca.or(tls.client_ca), ..tls });
    }
    cfg.check()?;
    let daemon = Daemon::open(&cfg)?;
    let listener =
        TcpListener::bind(cfg.listen).with_context(|| format!("listening on {}", cfg.listen))?;
    // One line a supervisor or test can wait for.
    println!("service-fsd listening on {}://{}", daemon.scheme(), listener.local_addr()?);
    tracing::info!(dir = %cfg.dir.display(), "serving");
    daemon.serve(listener, shutdown_signal())
}
