//! `fsctl`: works on a ledger root directory holding one directory per tenant.
//!
//! Errors are one line on standard error and exit status 1 (2 for usage
//! errors); a failed command changes nothing.

mod anchors;
mod disk;
mod live;
mod token;

use std::io::{self, BufRead, BufWriter, Read, Seek, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use ledger::{Caller, ConsistencyProof, InclusionProof, Ledger, Limit};
use note::Verifier;
use serde_json::json;
use tenant::Root;
use tenant::{AUDIT_DIR, LOG_DIR, Tenant};
use tlog::bundle::MAX_ENTRY_SIZE;
use witness::client as witnesses;

/// Manage service-fs tenant ledgers (C2SP tlog-tiles with signed checkpoints).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Ledger root directory: one subdirectory per tenant (every command
    /// but `verify-note`).
    #[arg(long, env = "SERVICE_FS_DIR", value_name = "DIR")]
    dir: Option<PathBuf>,
    /// How long to wait for another process writing the same tenant
    /// before giving up, naming it.
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = wait_secs)]
    wait: f64,
    #[command(subcommand)]
    command: Command,
}

fn wait_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err("a number of seconds from 0 to 86400".into()),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a tenant and print its verifier key.
    Init {
        /// Tenant name (A-Z a-z 0-9 . _ -).
        tenant: String,
        /// Checkpoint origin and key name [default: service-fs/TENANT].
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print a tenant's verifier key again (derived from its signing key).
    Key {
        /// Tenant name.
        tenant: String,
        /// The audit ledger's key instead (the same key under the audit
        /// origin), for witnesses to trust as well.
        #[arg(long)]
        audit: bool,
    },
    /// A tenant's witnesses (C2SP tlog-witness), which cosign every
    /// checkpoint before it counts, and refuse one that does not extend
    /// what they cosigned before.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Module credentials for service-fsd (docs/http.md).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Append records: each FILE is one record; without FILEs, each line of
    /// standard input (without its newline) is one. Prints the first and last index.
    Append {
        /// Tenant name.
        tenant: String,
        /// Files, one record each.
        files: Vec<PathBuf>,
    },
    /// Sign and store a checkpoint of the ledger and print it.
    Checkpoint {
        /// Tenant name.
        tenant: String,
    },
    /// Read records from an index (recorded in the audit ledger first).
    Read {
        /// Tenant name.
        tenant: String,
        /// Read the audit ledger instead (this read is audited too).
        #[arg(long)]
        audit: bool,
        /// First index to read.
        #[arg(long)]
        from: u64,
        /// Most records to read [default: all].
        #[arg(long)]
        max: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Raw)]
        format: Format,
    },
    /// Print an inclusion proof (--index) or consistency proof (--old-size)
    /// against the current checkpoint, as JSON (recorded in the audit ledger).
    Prove {
        /// Tenant name.
        tenant: String,
        /// Prove this record is in the ledger.
        #[arg(long, conflicts_with = "old_size", required_unless_present = "old_size")]
        index: Option<u64>,
        /// Prove the ledger of this size is a prefix of the current one.
        #[arg(long)]
        old_size: Option<u64>,
    },
    /// Recompute the record and audit ledgers from their files and check them
    /// against the signed checkpoints. Exit 1 with the first discrepancy.
    Verify {
        /// Tenant name.
        tenant: String,
        /// The tenant's verifier key (name+id+base64), as `init` printed it.
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: String,
        /// Require both checkpoints to carry a valid cosignature by this
        /// witness (its cosignature verifier key); repeatable.
        #[arg(long, value_name = "WITNESS_KEY")]
        witness: Vec<String>,
        /// A checkpoint of this ledger (or of its audit ledger) kept from
        /// earlier: the ledger must be consistent with it, which catches a
        /// whole directory rolled back or replaced; repeatable.
        #[arg(long, value_name = "FILE")]
        trusted: Vec<PathBuf>,
    },
    /// Put back a newer checkpoint the ledger signed, after a rollback was
    /// refused: it must verify with the tenant's key, be no smaller than the
    /// stored one and match every object in the directory. Recorded in the
    /// audit ledger.
    Restore {
        /// Tenant name.
        tenant: String,
        /// The signed checkpoint (a file, or `-` for standard input).
        #[arg(long, value_name = "FILE")]
        checkpoint: PathBuf,
        /// It is the audit ledger's checkpoint.
        #[arg(long)]
        audit: bool,
    },
    /// A tenant's anchor sub-ledger: the receipts of its checkpoints
    /// anchored in Sigstore Rekor (fs-anchor-emitter writes them).
    Anchors {
        #[command(subcommand)]
        command: AnchorsCommand,
    },
    /// Read a service-fs disk image (psdb's disk): list, export, verify.
    /// Never writes to the image.
    Disk {
        #[command(subcommand)]
        command: DiskCommand,
    },
    /// Verify a signed checkpoint note (a file, or `-` for standard input)
    /// with a verifier key, and print its origin, size and root hash.
    /// Needs no ledger directory: for checkpoints copied from elsewhere,
    /// e.g. the seL4 image's console.
    VerifyNote {
        /// The verifier key (name+id+base64) the note must be signed with.
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: String,
        /// The note.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum AnchorsCommand {
    /// Check the whole anchor chain offline: every anchored checkpoint
    /// signed by the tenant, consistent with the previous anchor and with
    /// the current ledger, and included in Rekor under Rekor's signed
    /// checkpoint. Exit 1 with the first failure.
    Verify {
        /// Tenant name.
        tenant: String,
        /// A Rekor log's public key: a v2 log's origin+hexid+base64 key or a
        /// v1 log's PEM, inline or a file; repeatable (one per log the chain
        /// used).
        #[arg(long, value_name = "KEY", required = true)]
        rekor_key: Vec<String>,
        /// The tenant's verifier key [default: derived from its signing key
        /// in DIR; an auditor gives the key they were given].
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: Option<String>,
        /// Require every anchored checkpoint to carry this witness's
        /// cosignature, at the time its receipt states; repeatable.
        #[arg(long, value_name = "WITNESS_KEY")]
        witness: Vec<String>,
        /// Require every receipt to carry an RFC 3161 timestamp that
        /// chains to these certificates (PEM).
        #[arg(long, value_name = "FILE")]
        tsa_cert: Option<PathBuf>,
    },
    /// List the receipts: month, size, root, Rekor entry, times.
    List {
        /// Tenant name.
        tenant: String,
        /// The tenant's verifier key [default: derived from its signing key].
        #[arg(long, value_name = "VERIFIER_KEY")]
        key: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a bearer token for a module of tenants.toml and print it (once:
    /// only its hash is stored).
    Add {
        /// Tenant name.
        tenant: String,
        /// Module name, as tenants.toml has it.
        module: String,
        /// The credentials file the daemon reads.
        #[arg(long, env = "SERVICE_FS_CREDENTIALS", default_value = "credentials.toml")]
        credentials: PathBuf,
        /// The tenants file the daemon reads.
        #[arg(long, default_value = "tenants.toml")]
        tenants: PathBuf,
    },
    /// Register a TLS client certificate (the first in a PEM file) as a
    /// module's credential; prints its SHA-256 fingerprint.
    AddCert {
        /// Tenant name.
        tenant: String,
        /// Module name, as tenants.toml has it.
        module: String,
        /// The certificate, PEM.
        cert: PathBuf,
        /// The credentials file the daemon reads.
        #[arg(long, env = "SERVICE_FS_CREDENTIALS", default_value = "credentials.toml")]
        credentials: PathBuf,
        /// The tenants file the daemon reads.
        #[arg(long, default_value = "tenants.toml")]
        tenants: PathBuf,
    },
    /// List the credentials: module and the start of each hash.
    List {
        /// The credentials file.
        #[arg(long, env = "SERVICE_FS_CREDENTIALS", default_value = "credentials.toml")]
        credentials: PathBuf,
    },
    /// Remove a credential, named by the start of its hash (as `list` shows).
    Remove {
        /// At least 8 hex digits of its hash.
        hash: String,
        /// The credentials file.
        #[arg(long, env = "SERVICE_FS_CREDENTIALS", default_value = "credentials.toml")]
        credentials: PathBuf,
    },
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Add a witness: it cosigns the current checkpoints at once (so its
    /// operator must have trusted both keys `fsctl key` prints), then every
    /// new one.
    Add {
        /// Tenant name.
        tenant: String,
        /// The witness's cosignature verifier key (name+id+base64, type 0x04).
        key: String,
        /// Its submission URL prefix (`…/add-checkpoint` is appended).
        url: String,
    },
    /// Remove a witness (no witness is asked: for one that is gone).
    Remove {
        /// Tenant name.
        tenant: String,
        /// The witness's verifier key.
        key: String,
    },
    /// List a tenant's witnesses.
    List {
        /// Tenant name.
        tenant: String,
    },
    /// Ask every witness now whether the current checkpoints are the
    /// latest it cosigned (a cosignature in the files only says the
    /// witness saw them once), and keep the fresh cosignatures.
    Check {
        /// Tenant name.
        tenant: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Each record's bytes followed by a newline.
    Raw,
    /// `INDEX HEX` per line.
    Hex,
    /// One JSON object per line: index, size, base64 data, and text when UTF-8.
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fsctl: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Prints `text` and a newline on standard output, reporting a failure
/// (a closed pipe) as an error rather than panicking.
pub(crate) fn say(text: impl std::fmt::Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Refuses to change a ledger when the result could not be reported:
/// standard output is a pipe whose reader has gone.
pub(crate) fn reportable(what: &str) -> Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
    let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
    if poll(&mut fds, Some(&zero)).is_ok()
        && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL)
    {
        bail!("standard output is closed: nothing was {what}, as the result could not be reported");
    }
    Ok(())
}

/// A result that was committed but could not be printed: an error of its
/// own (not a quiet closed pipe), saying what was done.
fn unreported(done: String, e: io::Error) -> anyhow::Error {
    anyhow::anyhow!("{done}, but could not print it: {e}")
}

/// `--help` and `--version` as clap prints them; any other misuse in one
/// line on standard error, exit status 2.
fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    // clap's first paragraph (the error, with what it lists), then its usage line.
    let what: Vec<&str> =
        text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
    let what = what.join(" ");
    let what = what.strip_prefix("error: ").unwrap_or(&what);
    let what = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is required"
    } else {
        what
    };
    match text.lines().find_map(|l| l.strip_prefix("Usage: ")) {
        Some(usage) => eprintln!("fsctl: {what} (usage: {usage})"),
        None => eprintln!("fsctl: {what} (fsctl --help says more)"),
    }
    ExitCode::from(2)
}

fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// `fsctl disk …`.
#[derive(Subcommand)]
enum DiskCommand {
    /// Namespaces, their sizes and use, and each ledger's checkpoint size.
    Ls {
        /// The disk image.
        image: PathBuf,
    },
    /// Write every tenant's ledgers as DIR/<tenant>/log and
    /// DIR/<tenant>/audit, laid out as `fsctl` keeps them (tlog-tiles).
    Export {
        /// The disk image.
        image: PathBuf,
        /// Where the tenants' directories go (created if missing).
        dir: PathBuf,
    },
    /// Everything `verify` checks, straight from the image.
    Verify {
        /// The disk image.
        image: PathBuf,
        /// TENANT=VERIFIER_KEY, once for each tenant to verify.
        #[arg(long = "key", value_name = "TENANT=VERIFIER_KEY", required = true)]
        keys: Vec<String>,
    },
}

fn run(cli: Cli) -> Result<()> {
    if let Command::VerifyNote { key, file } = &cli.command {
        return verify_note(key, file);
    }
    if let Command::Token { command } = &cli.command {
        return match command {
            TokenCommand::Add { tenant, module, credentials, tenants } => {
                token::add(credentials, tenants, tenant, module)
            }
            TokenCommand::AddCert { tenant, module, cert, credentials, tenants } => {
                token::add_cert(credentials, tenants, tenant, module, cert)
            }
            TokenCommand::List { credentials } => token::list(credentials),
            TokenCommand::Remove { hash, credentials } => token::remove(credentials, hash),
        };
    }
    if let Command::Disk { command } = &cli.command {
        return match command {
            DiskCommand::Ls { image } => disk::ls(image),
            DiskCommand::Export { image, dir } => disk::export(image, dir),
            DiskCommand::Verify { image, keys } => disk::verify(image, keys),
        };
    }
    let Some(dir) = &cli.dir else {
        bail!("no ledger directory: give --dir DIR or set SERVICE_FS_DIR");
    };
    let root = Root::new(dir).waiting(std::time::Duration::from_secs_f64(cli.wait));
    match cli.command {
        Command::Init { tenant, origin } => {
            reportable("created")?;
            for d in root.clean_staging()? {
                eprintln!("fsctl: removed {}, left by an init that was killed", d.display());
            }
            let key = root.init(&tenant, origin.as_deref())?;
            say(&key)
                .map_err(|e| unreported(format!("created tenant {tenant} (verifier key {key})"), e))
        }
        Command::Key { tenant, audit: false } => Ok(say(root.verifier(&tenant)?)?),
        Command::Key { tenant, audit: true } => Ok(say(audit_key(&root.verifier(&tenant)?)?)?),
        Command::Witness { command } => witness(&root, command),
        Command::Append { tenant, files } => append(&root, &tenant, &files),
        Command::Checkpoint { tenant } => {
            reportable("signed")?;
            let mut t = open(&root, &tenant)?;
            t.engine.checkpoint().map_err(ledger_err_in(&root.tenant_dir(&tenant)))?;
            cosigned(&root, &tenant, &mut t)?;
            let note = t.engine.log().checkpoint().to_vec();
            let mut out = io::stdout().lock();
            out.write_all(&note)
                .and_then(|()| out.flush())
                .map_err(|e| unreported(format!("signed a checkpoint of {tenant}"), e))
        }
        Command::Read { tenant, audit, from, max, format } => {
            read(&root, &tenant, audit, from, max, format)
        }
        Command::Prove { tenant, index, old_size } => prove(&root, &tenant, index, old_size),
        Command::Verify { tenant, key, witness, trusted } => {
            verify(&root, &tenant, &key, &witness, &trusted)
        }
        Command::Restore { tenant, checkpoint, audit } => {
            restore(&root, &tenant, &checkpoint, audit)
        }
        Command::Anchors {
            command: AnchorsCommand::Verify { tenant, rekor_key, key, witness, tsa_cert },
        } => anchors::verify(
            &root,
            &tenant,
            key.as_deref(),
            &rekor_key,
            &witness,
            tsa_cert.as_deref(),
        ),
        Command::Anchors { command: AnchorsCommand::List { tenant, key } } => {
            anchors::list(&root, &tenant, key.as_deref())
        }
        Command::VerifyNote { .. } | Command::Disk { .. } | Command::Token { .. } => {
            unreachable!("handled above")
        }
    }
}

/// A directory with another checkpoint in place of its own.
struct WithCheckpoint<'a> {
    dir: verify::Dir,
    note: &'a [u8],
}

impl verify::Source for WithCheckpoint<'_> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        if path == "checkpoint" { Ok(Some(self.note.to_vec())) } else { self.dir.read(path) }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.dir.list()
    }
}

fn restore(root: &Root, tenant: &str, file: &std::path::Path, audit: bool) -> Result<()> {
    reportable("restored")?;
    let lock = root.lock(tenant)?;
    let mut key = root.verifier(tenant)?;
    let dir = if audit { root.audit_dir(tenant) } else { root.log_dir(tenant) };
    if audit {
        key = audit_key(&key)?;
    }
    let note = read_note(file)?;
    let opened =
        note::open(&note, &[&key]).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let cp = note::Checkpoint::parse(opened.text)
        .map_err(|e| anyhow::anyhow!("{}: checkpoint body: {e}", file.display()))?;
    let stored = dir.join("checkpoint");
    let found =
        std::fs::read(&stored).ok().and_then(|b| note::Checkpoint::peek_size(&b)).unwrap_or(0);
    if cp.size < found {
        bail!(
            "{}: size {} is older than the stored checkpoint's {found}: restoring it would roll the ledger back",
            file.display(),
            cp.size
        );
    }
    let report =
        verify::verify(&WithCheckpoint { dir: verify::Dir(dir.clone()), note: &note }, &key)
            .map_err(|d| {
                anyhow::anyhow!("{}: does not match {}: {d}", file.display(), dir.display())
            })?;
    if let Some(first) = report.beyond.first() {
        bail!("{}: {first} lies beyond it too: not the newest checkpoint", file.display());
    }
    store_posix::install_checkpoint(&dir, &note)?;
    drop(lock);
    // The record of what the operator did, in the audit ledger.
    let mut t = open(root, tenant)?;
    let credential = caller_credential();
    let caller = Caller { module: "fsctl restore", credential: &credential, request: None };
    let seq = t.engine.record_restore(&caller, found, cp.size).map_err(ledger_err)?;
    cosigned(root, tenant, &mut t)?;
    let which = if audit { "audit checkpoint" } else { "checkpoint" };
    let what = format!("restored the {which} of {tenant} from size {found} to {}", cp.size);
    let line = format!("{what} (audit record {seq})");
    say(&line).map_err(|e| unreported(what, e))
}

/// The largest note `verify-note` reads: a checkpoint is a few hundred
/// bytes, with many cosignatures a few KiB.
const MAX_NOTE: usize = 1 << 16;

/// A signed note from `file` (`-`: standard input), at most [`MAX_NOTE`] bytes.
fn read_note(file: &std::path::Path) -> Result<Vec<u8>> {
    let mut msg = Vec::new();
    let read = if file.as_os_str() == "-" {
        io::stdin().lock().take(MAX_NOTE as u64 + 1).read_to_end(&mut msg)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_NOTE as u64 + 1).read_to_end(&mut msg))
    };
    read.with_context(|| format!("reading {}", file.display()))?;
    if msg.len() > MAX_NOTE {
        bail!("{}: larger than {MAX_NOTE} bytes: not a signed checkpoint", file.display());
    }
    Ok(msg)
}

/// Opens a signed checkpoint with `key` and prints its body.
fn verify_note(key: &str, file: &std::path::Path) -> Result<()> {
    let key = Verifier::parse(key).map_err(|e| anyhow::anyhow!("verifier key: {e}"))?;
    let msg = read_note(file)?;
    let opened =
        note::open(&msg, &[&key]).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let cp = note::Checkpoint::parse(opened.text)
        .map_err(|e| anyhow::anyhow!("{}: checkpoint body: {e}", file.display()))?;
    if cp.origin != key.name() {
        bail!("{}: origin {:?} is not the key's name {:?}", file.display(), cp.origin, key.name());
    }
    say(format_args!("origin {}\nsize {}\nroot {}", cp.origin, cp.size, cp.root))?;
    Ok(())
}

fn ledger_err(e: ledger::Error<store_posix::IoError>) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// As [`ledger_err`], naming where the space ran out.
fn ledger_err_in(
    dir: &std::path::Path,
) -> impl Fn(ledger::Error<store_posix::IoError>) -> anyhow::Error + '_ {
    move |e| match e {
        ledger::Error::Store(ledger::store::StoreError::Full) => anyhow::anyhow!(
            "no space left on the file system holding {}: nothing was committed",
            dir.display()
        ),
        e => ledger_err(e),
    }
}

/// Opens a tenant, reporting on standard error what recovery repaired
/// (the never-acknowledged objects of a commit that was interrupted).
/// Opens a tenant to use it: with witnesses configured, each must first
/// cosign its current checkpoints, which one that has cosigned a larger
/// tree refuses (the directory was rolled back): nothing is written then.
fn open(root: &Root, tenant: &str) -> Result<Tenant> {
    let (mut t, ws) = witnesses::open(root, tenant)?;
    for (name, rec) in [(LOG_DIR, t.recovered.log), (AUDIT_DIR, t.recovered.audit)] {
        if rec.repaired() {
            eprintln!("fsctl: {tenant}/{name}: {rec}");
        }
    }
    witnesses::cosign(&mut t.engine, &ws)?;
    Ok(t)
}

/// Has the tenant's witnesses cosign the checkpoints a command signed,
/// before it reports success: only then do they count.
fn cosigned(root: &Root, tenant: &str, t: &mut Tenant) -> Result<()> {
    let ws = witnesses::load(&root.tenant_dir(tenant))?;
    witnesses::cosign(&mut t.engine, &ws).context("the new checkpoint is not cosigned")
}

/// The verifier key of a tenant's audit ledger: its key under the audit origin.
fn audit_key(key: &Verifier) -> Result<Verifier> {
    key.renamed(&format!("{}{}", key.name(), ledger::engine::AUDIT_SUFFIX))
        .map_err(|e| anyhow::anyhow!("verifier key: {e}"))
}

fn witness(root: &Root, command: WitnessCommand) -> Result<()> {
    match command {
        WitnessCommand::Add { tenant, key, url } => {
            reportable("added")?;
            root.verifier(&tenant)?;
            let dir = root.tenant_dir(&tenant);
            let w = witnesses::admit(&dir, &key, &url)?;
            let mut t = open(root, &tenant)?;
            witnesses::cosign(&mut t.engine, std::slice::from_ref(&w))?;
            witnesses::add(&dir, &w)?;
            say(format_args!(
                "witness {} at {} cosigned {tenant}'s checkpoints",
                w.key.name(),
                w.url
            ))
            .map_err(|e| unreported(format!("added witness {} to {tenant}", w.key.name()), e))
        }
        WitnessCommand::Remove { tenant, key } => {
            let _lock = root.lock(&tenant)?;
            witnesses::remove(&root.tenant_dir(&tenant), &key)
        }
        WitnessCommand::Check { tenant } => {
            reportable("checked")?;
            let mut t = open(root, &tenant)?;
            let ws = witnesses::load(&root.tenant_dir(&tenant))?;
            witnesses::check(&mut t.engine, &ws)?;
            for w in ws {
                for (name, note) in
                    [("log", t.engine.log().checkpoint()), ("audit", t.engine.audit().checkpoint())]
                {
                    let size = note::Checkpoint::peek_size(note).unwrap_or(0);
                    let at = note::cosigned_at(note, &w.key).ok().flatten().unwrap_or(0);
                    say(format_args!("{} {name} {size} cosigned at {at}", w.key.name()))?;
                }
            }
            Ok(())
        }
        WitnessCommand::List { tenant } => {
            root.verifier(&tenant)?;
            for w in witnesses::load(&root.tenant_dir(&tenant))? {
                say(format_args!("{} {}", w.key, w.url))?;
            }
            Ok(())
        }
    }
}

/// The caller as the audit ledger records it: this tool and the OS user.
fn caller_credential() -> String {
    format!("uid:{}", rustix::process::getuid().as_raw())
}

/// The records to append, checked and spooled to a temporary file (framed
/// as in an entry bundle) so that no input, however large, is held in
/// memory: at most one record at a time.
struct Spool {
    file: std::fs::File,
    count: u64,
}

/// Reads and checks the records to append, naming the bad one: each FILE
/// is one record; without FILEs, each line of standard input.
fn records(files: &[PathBuf]) -> Result<Spool> {
    let mut spool =
        Spool { file: tempfile::tempfile().context("creating a spool file")?, count: 0 };
    let mut out = BufWriter::new(&spool.file);
    let mut record = Vec::with_capacity(MAX_ENTRY_SIZE + 1);
    let mut put = |r: &[u8], what: &dyn Fn() -> String| -> Result<()> {
        check_record(r, what)?;
        out.write_all(&(r.len() as u16).to_be_bytes())?;
        out.write_all(r)?;
        spool.count += 1;
        Ok(())
    };
    if files.is_empty() {
        let mut input = io::BufReader::new(io::stdin().lock());
        for n in 1.. {
            record.clear();
            let limit = MAX_ENTRY_SIZE as u64 + 1;
            let got = (&mut input).take(limit).read_until(b'\n', &mut record);
            if got.context("reading standard input")? == 0 {
                break;
            }
            let line = record.strip_suffix(b"\n").unwrap_or(&record);
            if line.len() > MAX_ENTRY_SIZE {
                bail!("line {n}: record of more than {MAX_ENTRY_SIZE} bytes, the maximum");
            }
            put(line, &|| format!("line {n}"))?;
        }
    } else {
        for f in files {
            record.clear();
            let file =
                std::fs::File::open(f).with_context(|| format!("reading {}", f.display()))?;
            file.take(MAX_ENTRY_SIZE as u64 + 1)
                .read_to_end(&mut record)
                .with_context(|| format!("reading {}", f.display()))?;
            put(&record, &|| f.display().to_string())?;
        }
    }
    out.flush().context("writing the spool file")?;
    drop(out);
    if spool.count == 0 {
        bail!("no records on standard input");
    }
    Ok(spool)
}

fn check_record(r: &[u8], what: &dyn Fn() -> String) -> Result<()> {
    if r.is_empty() {
        bail!("{}: empty record", what());
    }
    if r.len() > MAX_ENTRY_SIZE {
        bail!("{}: record of more than {MAX_ENTRY_SIZE} bytes, the maximum", what());
    }
    Ok(())
}

fn append(root: &Root, tenant: &str, files: &[PathBuf]) -> Result<()> {
    let spool = records(files)?;
    reportable("appended")?;
    let mut t = open(root, tenant)?;
    let mut input = io::BufReader::new(&spool.file);
    input.seek(io::SeekFrom::Start(0))?;
    let mut buf = vec![0u8; MAX_ENTRY_SIZE];
    let next = |buf: &mut [u8]| -> io::Result<Option<usize>> {
        let mut len = [0u8; 2];
        match input.read_exact(&mut len) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            r => r?,
        }
        let len = usize::from(u16::from_be_bytes(len));
        input.read_exact(&mut buf[..len])?;
        Ok(Some(len))
    };
    let appended = t.engine.append_stream(&mut buf, next).map_err(|e| match e {
        ledger::engine::StreamError::Source(e) => anyhow::anyhow!("reading the spool file: {e}"),
        ledger::engine::StreamError::Ledger(e) => ledger_err_in(&root.tenant_dir(tenant))(e),
    });
    let range = match appended {
        Ok(range) => range,
        Err(e) => {
            if t.engine.is_poisoned() {
                // Undo the failed commit now (reopening recovers), not at the next command.
                drop(t);
                let _ = root.open(tenant);
            }
            return Err(e);
        }
    };
    debug_assert_eq!(range.end - range.start, spool.count);
    let (first, last) = (range.start, range.end - 1);
    cosigned(root, tenant, &mut t)
        .with_context(|| format!("records {first} to {last} are stored but do not count yet"))?;
    say(format_args!("{first} {last}"))
        .map_err(|e| unreported(format!("appended records {first} to {last} to {tenant}"), e))
}

fn read(
    root: &Root,
    tenant: &str,
    audit: bool,
    from: u64,
    max: Option<u64>,
    format: Format,
) -> Result<()> {
    reportable("read")?;
    let mut t = open(root, tenant)?;
    let credential = caller_credential();
    let caller = Caller { module: "fsctl", credential: &credential, request: None };
    let limit = Limit::entries(max.unwrap_or(u64::MAX));
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failed: Option<io::Error> = None;
    let mut sink = |i, r: &[u8]| {
        if failed.is_none()
            && let Err(e) = write_record(&mut out, format, i, r)
        {
            failed = Some(e);
        }
    };
    if audit {
        t.engine.read_audit_since(&caller, from, limit, &mut sink)
    } else {
        t.engine.read_since(&caller, from, limit, &mut sink)
    }
    .map_err(ledger_err_in(&root.tenant_dir(tenant)))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    drop(out);
    cosigned(root, tenant, &mut t)
}

fn write_record(out: &mut impl Write, format: Format, index: u64, r: &[u8]) -> io::Result<()> {
    match format {
        Format::Raw => {
            out.write_all(r)?;
            out.write_all(b"\n")
        }
        Format::Hex => {
            write!(out, "{index} ")?;
            for b in r {
                write!(out, "{b:02x}")?;
            }
            writeln!(out)
        }
        Format::Json => {
            let mut v = json!({
                "index": index,
                "size": r.len(),
                "base64": <base64ct::Base64 as base64ct::Encoding>::encode_string(r),
            });
            if let Ok(text) = std::str::from_utf8(r) {
                v["text"] = json!(text);
            }
            writeln!(out, "{v}")
        }
    }
}

fn prove(root: &Root, tenant: &str, index: Option<u64>, old_size: Option<u64>) -> Result<()> {
    reportable("proved")?;
    // Held by a live daemon: prove from the files rather than wait for it.
    let quick = root.clone().waiting(std::time::Duration::ZERO);
    if let Err(tenant::TenantError::Busy { holder, .. }) = quick.lock(tenant).map(drop)
        && holder.contains("service-fsd")
    {
        return prove_from_files(root, tenant, index, old_size, &holder);
    }
    let mut t = open(root, tenant)?;
    let credential = caller_credential();
    let caller = Caller { module: "fsctl", credential: &credential, request: None };
    let size = t.engine.size();
    let checkpoint =
        String::from_utf8_lossy(t.engine.checkpoint().map_err(ledger_err)?).into_owned();
    let hashes = |p: &tlog::Proof| p.iter().map(ToString::to_string).collect::<Vec<_>>();
    let v = match (index, old_size) {
        (Some(index), _) => {
            let p: InclusionProof =
                t.engine.prove_inclusion(&caller, index, size).map_err(ledger_err)?;
            json!({
                "type": "inclusion",
                "index": p.index,
                "tree_size": p.tree_size,
                "leaf_hash": p.leaf_hash.to_string(),
                "root_hash": p.root.to_string(),
                "proof": hashes(&p.proof),
                "checkpoint": checkpoint,
            })
        }
        (None, Some(old)) => {
            let p: ConsistencyProof =
                t.engine.prove_consistency(&caller, old, size).map_err(ledger_err)?;
            json!({
                "type": "consistency",
                "old_size": p.old_size,
                "tree_size": p.tree_size,
                "old_root": p.old_root.to_string(),
                "root_hash": p.root.to_string(),
                "proof": hashes(&p.proof),
                "checkpoint": checkpoint,
            })
        }
        (None, None) => bail!("give --index or --old-size"),
    };
    cosigned(root, tenant, &mut t)?;
    say(&v).map_err(|e| unreported(format!("proved against {tenant}'s checkpoint (audited)"), e))
}

/// What a verification found, in one line.
fn summary(r: &verify::Report) -> String {
    format!(
        "{} size {} root {} ({} bundles, {} tiles, {} older partials)",
        r.origin, r.size, r.root, r.bundles, r.tiles, r.older_partials
    )
}

/// Objects beyond the checkpoint are explained only by a commit from that
/// checkpoint under way or interrupted (its intent); otherwise the
/// checkpoint was rolled back or objects were added.
fn explained(dir: &std::path::Path, key: &Verifier, report: &verify::Report) -> Result<()> {
    let Some(first) = report.beyond.first() else { return Ok(()) };
    // A live writer (service-fsd) committed while we verified: the
    // checkpoint there now is newer, signed, and covers every such object.
    let grown = || {
        let now = std::fs::read(dir.join("checkpoint")).ok()?;
        let cp = note::Checkpoint::parse(note::open(&now, &[key]).ok()?.text).ok()?;
        let covered =
            report.beyond.iter().all(|p| tlog::Tile::parse(p).is_some_and(|t| t.within(cp.size)));
        (cp.size > report.size && covered).then_some(cp.size)
    };
    let said_grown = |size: u64| {
        eprintln!(
            "fsctl: {}: the ledger grew to {size} while it was verified at {} (a live writer); verify again for the rest",
            dir.display(),
            report.size
        );
    };
    if let Some(size) = grown() {
        said_grown(size);
        return Ok(());
    }
    let intent = store_posix::read_intent(dir).map_err(ledger::Error::Store).map_err(ledger_err)?;
    if intent == Some(report.size) {
        eprintln!(
            "fsctl: warning: {}: {} object(s) of a commit from size {} under way or interrupted (the next write removes them)",
            dir.display(),
            report.beyond.len(),
            report.size
        );
        return Ok(());
    }
    // The commit from this size may have ended between the two reads: its
    // intent moves on only after its checkpoint is stored, so a checkpoint
    // read after the intent shows it.
    if let Some(size) = grown() {
        said_grown(size);
        return Ok(());
    }
    bail!(
        "verification failed: {}/{first}: beyond the checkpoint of size {} with no commit in progress: the checkpoint was replaced by an older one, or objects were added",
        dir.display(),
        report.size
    )
}

/// [`prove`] for a tenant a live `service-fsd` holds: from its files, verified, not audited.
fn prove_from_files(
    root: &Root,
    tenant: &str,
    index: Option<u64>,
    old_size: Option<u64>,
    holder: &str,
) -> Result<()> {
    let key = root.verifier(tenant)?;
    let mut files = live::Files::open(root.log_dir(tenant), &key)?;
    let size = files.size;
    let checkpoint = String::from_utf8_lossy(&files.checkpoint).into_owned();
    let hashes = |p: &tlog::Proof| p.iter().map(ToString::to_string).collect::<Vec<_>>();
    let v = match (index, old_size) {
        (Some(index), _) => {
            if index >= size {
                bail!("index {index} is beyond the ledger of {size} records");
            }
            let proof = tlog::proof::prove_inclusion(size, index, &mut files)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let leaf = tlog::tree::NodeReader::node(&mut files, 0, index)?;
            json!({
                "type": "inclusion",
                "index": index,
                "tree_size": size,
                "leaf_hash": leaf.to_string(),
                "root_hash": files.root.to_string(),
                "proof": hashes(&proof),
                "checkpoint": checkpoint,
            })
        }
        (None, Some(old)) => {
            if old == 0 || old > size {
                bail!("old size must be between 1 and the ledger's size {size}");
            }
            let proof = tlog::proof::prove_consistency(size, old, &mut files)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let old_root = tlog::tree::tree_hash(old, &mut files)?;
            json!({
                "type": "consistency",
                "old_size": old,
                "tree_size": size,
                "old_root": old_root.to_string(),
                "root_hash": files.root.to_string(),
                "proof": hashes(&proof),
                "checkpoint": checkpoint,
            })
        }
        (None, None) => bail!("give --index or --old-size"),
    };
    eprintln!(
        "fsctl: {tenant} is held by {holder}: proved from its verified files, not recorded in its audit ledger (audited reads go through the daemon)"
    );
    say(&v).map_err(|e| unreported(format!("proved against {tenant}'s checkpoint"), e))
}

fn verify(
    root: &Root,
    tenant: &str,
    key: &str,
    witnesses: &[String],
    trusted: &[PathBuf],
) -> Result<()> {
    let key =
        Verifier::parse(key.trim()).map_err(|e| anyhow::anyhow!("invalid verifier key: {e}"))?;
    let audit_key = audit_key(&key)?;
    let witnesses = witnesses
        .iter()
        .map(|w| {
            note::CosignatureVerifier::parse(w.trim())
                .map_err(|e| anyhow::anyhow!("invalid witness key {w}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let kept = trusted.iter().map(|f| Ok((f, read_note(f)?))).collect::<Result<Vec<_>>>()?;
    if !tenant::valid_tenant(tenant) {
        return Err(tenant::TenantError::BadName(tenant.into()).into());
    }
    let dir = root.tenant_dir(tenant);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!("{} is a symbolic link, which a ledger never follows", dir.display());
    }
    if !dir.is_dir() {
        bail!("no tenant {tenant:?} in {}", root.dir().display());
    }
    let mut matched = vec![false; kept.len()];
    for (dir, key) in [(root.log_dir(tenant), &key), (root.audit_dir(tenant), &audit_key)] {
        // The kept checkpoints of this ledger, and the sizes to compare at.
        let mine: Vec<(usize, note::Checkpoint)> = kept
            .iter()
            .enumerate()
            .filter_map(|(i, (_, n))| {
                Some((i, note::Checkpoint::parse(note::open(n, &[key]).ok()?.text).ok()?))
            })
            .collect();
        let sizes: Vec<u64> = mine.iter().map(|(_, cp)| cp.size).collect();
        let report = verify::verify_with_roots(&verify::Dir(dir.clone()), key, &sizes)
            .map_err(|d| anyhow::anyhow!("verification failed: {}/{d}", dir.display()))?;
        explained(&dir, key, &report)?;
        for w in &report.warnings {
            eprintln!("fsctl: warning: {}", dir.join(w).display());
        }
        for (i, cp) in &mine {
            matched[*i] = true;
            consistent(&report, kept[*i].0, cp)?;
        }
        let note = std::fs::read(dir.join("checkpoint")).context("reading the checkpoint")?;
        for w in &witnesses {
            match note::cosigned_at(&note, w) {
                Ok(Some(t)) => {
                    eprintln!("fsctl: {}: cosigned by {} at {t}", dir.display(), w.name())
                }
                Ok(None) => bail!(
                    "verification failed: {}/checkpoint: not cosigned by witness {}",
                    dir.display(),
                    w.name()
                ),
                Err(e) => bail!(
                    "verification failed: {}/checkpoint: witness {}: {e}",
                    dir.display(),
                    w.name()
                ),
            }
        }
        say(format_args!("ok {}", summary(&report)))?;
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        bail!(
            "{}: not a checkpoint of this ledger or its audit ledger (signed by {} under another origin, or not at all)",
            kept[i].0.display(),
            key.name()
        );
    }
    Ok(())
}

/// The ledger `report` verified is consistent with `kept`, a checkpoint of
/// it from earlier (from `file`): no smaller, and the same tree at its size.
fn consistent(
    report: &verify::Report,
    file: &std::path::Path,
    kept: &note::Checkpoint,
) -> Result<()> {
    if kept.size > report.size {
        bail!(
            "verification failed: {} shows the ledger {} at size {}, but it is at {}: it was rolled back",
            file.display(),
            report.origin,
            kept.size,
            report.size
        );
    }
    let root = report.roots.iter().find(|(n, _)| *n == kept.size).map(|(_, h)| *h);
    if root != Some(kept.root) {
        bail!(
            "verification failed: {} (size {}) is not a prefix of the ledger {}: its records were changed (a fork)",
            file.display(),
            kept.size,
            report.origin
        );
    }
    eprintln!(
        "fsctl: {}: consistent with the kept checkpoint of size {}",
        report.origin, kept.size
    );
    Ok(())
}
