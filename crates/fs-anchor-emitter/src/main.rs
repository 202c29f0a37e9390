//! `fs-anchor-emitter`: for each tenant, its latest signed checkpoint into a
//! Sigstore Rekor log, once a month (a systemd timer runs it; see
//! packaging/), and the verified receipt into the tenant's anchor
//! sub-ledger. Running it twice in a month changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anchor::tiles::{DirTiles, HttpTiles, Tiles};
use anchor::{Job, Month, Outcome, RekorKey, RekorLog, Tsa};
use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use note::{CosignatureVerifier, Signer};
use tenant::{LOG_DIR, Root, valid_tenant};

/// Anchor each tenant's latest signed checkpoint in Rekor for this month.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The ledger root: `DIR/<tenant>/` holds each tenant's key and gets its
    /// anchor sub-ledger (`anchors/`); its records are read from `log/`
    /// there unless --daemon is given. A directory `fsctl disk export`
    /// wrote is one too, with --seeds for the keys.
    #[arg(long, env = "SERVICE_FS_DIR", value_name = "DIR")]
    dir: PathBuf,
    /// Anchor only these tenants (repeatable) [default: every tenant in DIR].
    #[arg(long, value_name = "TENANT")]
    tenant: Vec<String>,
    /// The Rekor log's URL, e.g. https://log2025-1.rekor.sigstore.dev (v2)
    /// or https://rekor.sigstore.dev (v1).
    #[arg(long, env = "REKOR_URL")]
    rekor_url: String,
    /// The Rekor log's public key: a v2 log's `origin+hexid+base64` key, or
    /// a v1 log's PEM (inline or a file). Which API is used follows from it.
    /// Every answer is checked against it before anything is kept.
    #[arg(long, env = "REKOR_KEY", value_name = "KEY")]
    rekor_key: String,
    /// The month to anchor, YYYY-MM [default: this month, UTC].
    #[arg(long)]
    month: Option<String>,
    /// Read checkpoints and tiles from a running service-fsd at this URL
    /// (its /<tenant>/checkpoint and /<tenant>/tile/…) instead of DIR.
    #[arg(long, value_name = "URL")]
    daemon: Option<String>,
    /// A file holding the bearer token for --daemon.
    #[arg(long, value_name = "FILE", requires = "daemon")]
    token_file: Option<PathBuf>,
    /// Tenants' key seeds (`<tenant>.seed`, 32 bytes, as `make image`
    /// provisions them) for a tenant directory without `signing.key`.
    #[arg(long, value_name = "DIR")]
    seeds: Option<PathBuf>,
    /// Also have this RFC 3161 timestamp authority stamp each checkpoint
    /// (Rekor v2 states no time), e.g.
    /// https://timestamp.sigstore.dev/api/v1/timestamp.
    #[arg(long, env = "TSA_URL", value_name = "URL", requires = "tsa_cert")]
    tsa_url: Option<String>,
    /// The authority's certificates (PEM; its root will do): its answers
    /// must verify under them before anything is kept.
    #[arg(long, env = "TSA_CERT", value_name = "FILE", requires = "tsa_url")]
    tsa_cert: Option<PathBuf>,
    /// Seconds to wait for each Rekor answer (a v2 write can take 20 s).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Attempts per request before giving up (with backoff between).
    #[arg(long, default_value_t = 5)]
    attempts: u32,
    /// Seconds before the first retry; doubled for each next one.
    #[arg(long, default_value_t = 2.0)]
    backoff: f64,
    /// Seconds to wait for another emitter anchoring the same tenant.
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fs-anchor-emitter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Anchors every tenant; `false` when any failed (the others still ran).
fn run(cli: &Cli) -> Result<bool> {
    let now = Month::now();
    let month = match &cli.month {
        Some(m) => m.parse::<Month>().map_err(|e| anyhow!(e))?,
        None => now,
    };
    // Months are anchored in order: one anchored early would block every
    // month before it.
    if month > now {
        bail!("{month} has not begun (it is {now}, UTC)");
    }
    let key = RekorKey::parse(&cli.rekor_key)?;
    let policy = rekor::Policy {
        timeout: secs(cli.timeout, "--timeout")?,
        attempts: cli.attempts.max(1),
        backoff: secs(cli.backoff, "--backoff")?,
        ..rekor::Policy::default()
    };
    let tsa = match (&cli.tsa_url, &cli.tsa_cert) {
        (Some(url), Some(cert)) => {
            let pem = std::fs::read_to_string(cert)
                .with_context(|| format!("reading {}", cert.display()))?;
            let authority = rekor::tsa::Authority::from_pem_chain(&pem)
                .map_err(|e| anyhow!("{}: {e}", cert.display()))?;
            Some(Tsa { url: url.clone(), authority, policy: policy.clone() })
        }
        _ => None,
    };
    let rekor = RekorLog::new(&cli.rekor_url, key, policy);
    let token = match &cli.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading {}", f.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let tenants = tenants(cli)?;
    let mut ok = true;
    for t in &tenants {
        match anchor_tenant(cli, t, month, &rekor, tsa.as_ref(), token.clone()) {
            // What was done stays done (a second run finds it): a closed
            // standard output is only reported, never a panic.
            Ok(line) => {
                if let Err(e) = writeln!(std::io::stdout(), "{t}: {line}") {
                    eprintln!("fs-anchor-emitter: {t}: {line}, but standard output failed: {e}");
                    ok = false;
                }
            }
            Err(e) => {
                eprintln!("fs-anchor-emitter: {t}: {e:#}");
                ok = false;
            }
        }
    }
    Ok(ok)
}

fn anchor_tenant(
    cli: &Cli,
    tenant: &str,
    month: Month,
    rekor: &RekorLog,
    tsa: Option<&Tsa>,
    token: Option<String>,
) -> Result<String> {
    let root = Root::new(&cli.dir);
    let dir = root.tenant_dir(tenant);
    let source: Box<dyn Tiles> = match &cli.daemon {
        Some(url) => {
            Box::new(HttpTiles::new(&format!("{}/{tenant}", url.trim_end_matches('/')), token))
        }
        None => Box::new(DirTiles(dir.join(LOG_DIR))),
    };
    let signer = signer(&root, tenant, cli.seeds.as_deref(), source.as_ref())?;
    let witnesses: Vec<CosignatureVerifier> =
        witness::client::load(&dir)?.into_iter().map(|w| w.key).collect();
    let job = Job {
        signer: &signer,
        anchors: &root.anchors_dir(tenant),
        source: source.as_ref(),
        witnesses: &witnesses,
        month,
        wait: secs(cli.wait, "--wait")?,
        now: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        tsa,
    };
    Ok(match anchor::anchor(&job, rekor)? {
        Outcome::Anchored(i, r) => format!(
            "anchored {} at size {} as Rekor {} entry {} of {} (receipt {i})",
            r.month, r.size, r.rekor.api, r.rekor.log_index, r.rekor.log
        ),
        Outcome::Already(i, r) => format!(
            "{} is anchored already, at size {} (Rekor entry {} of {}, receipt {i})",
            r.month, r.size, r.rekor.log_index, r.rekor.log
        ),
    })
}

/// The tenant's signing key: `signing.key` in its directory, else its seed
/// in `seeds` under the origin its checkpoint names (which the checkpoint's
/// signature then confirms).
fn signer(root: &Root, tenant: &str, seeds: Option<&Path>, source: &dyn Tiles) -> Result<Signer> {
    if root.tenant_dir(tenant).join(tenant::KEY_FILE).exists() || seeds.is_none() {
        return Ok(root.signer(tenant)?);
    }
    let path = seeds.unwrap_or(Path::new(".")).join(format!("{tenant}.seed"));
    let seed: [u8; 32] = std::fs::read(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .try_into()
        .map_err(|_| anyhow!("{}: a seed is 32 bytes", path.display()))?;
    let note = source
        .read("checkpoint")?
        .ok_or_else(|| anyhow!("{}: no checkpoint", source.describe()))?;
    let origin = std::str::from_utf8(&note)
        .ok()
        .and_then(|t| t.lines().next())
        .ok_or_else(|| anyhow!("{}: the checkpoint has no origin line", source.describe()))?;
    Signer::from_seed(origin, seed)
        .map_err(|e| anyhow!("{}: origin {origin:?}: {e}", path.display()))
}

/// The tenants to anchor: those asked for, or every tenant directory with a
/// record log.
fn tenants(cli: &Cli) -> Result<Vec<String>> {
    if !cli.tenant.is_empty() {
        if let Some(bad) = cli.tenant.iter().find(|t| !valid_tenant(t)) {
            bail!("invalid tenant name {bad:?}");
        }
        return Ok(cli.tenant.clone());
    }
    let entries =
        std::fs::read_dir(&cli.dir).with_context(|| format!("reading {}", cli.dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_tenant(n) && cli.dir.join(n).join(LOG_DIR).is_dir())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no tenants in {}", cli.dir.display());
    }
    Ok(names)
}

fn secs(s: f64, flag: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow!("{flag} {s}: not a number of seconds"))
}
