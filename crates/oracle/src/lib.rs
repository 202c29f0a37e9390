//! The Go oracle: Go's `golang.org/x/mod/sumdb/tlog` and `note` (Debian's
//! `golang-golang-x-mod-dev`), an implementation independent of ours, used by
//! tests to check our tiles, hashes, proofs and notes, and to produce notes
//! and proofs for our code to check.
//!
//! `make test` installs Go and the package. Without them the oracle tests
//! fail with a message saying so: they must not pass silently.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;

/// Where Debian installs Go packages for GOPATH mode.
pub const GOPATH: &str = "/usr/share/gocode";

/// What `oracle check` verified.
#[derive(Debug, Deserialize)]
pub struct CheckSummary {
    /// Tree size.
    pub size: u64,
    /// Root hash (base64).
    pub root: String,
    /// Checkpoint origin.
    pub origin: String,
    /// Full and current partial tiles compared with Go's.
    pub tiles: u64,
    /// Older partial tiles present and compared.
    pub older_partials: u64,
    /// Proofs checked with Go and compared with Go's own.
    pub proofs: u64,
}

/// A proof Go built.
#[derive(Debug, Deserialize)]
pub struct GoProof {
    /// Record index (inclusion proofs).
    #[serde(default)]
    pub index: u64,
    /// Old tree size (consistency proofs).
    #[serde(default)]
    pub old_size: u64,
    /// Tree size.
    pub tree_size: u64,
    /// Hashes, base64.
    pub proof: Vec<String>,
}

/// A log Go built and signed.
#[derive(Debug, Deserialize)]
pub struct Generated {
    /// Go's private key for the log (`PRIVATE+KEY+…`).
    pub skey: String,
    /// The log's verifier key.
    pub vkey: String,
    /// A second (witness) verifier key that also signed.
    pub vkey2: String,
    /// The checkpoint text.
    pub text: String,
    /// The checkpoint signed by both keys.
    pub note: String,
    /// The records, base64.
    pub records: Vec<String>,
    /// Inclusion proofs.
    pub inclusion: Vec<GoProof>,
    /// Consistency proofs.
    pub consistency: Vec<GoProof>,
    /// Root hash (base64) of every tree size 1..=n.
    pub roots: std::collections::BTreeMap<u64, String>,
}

/// A Go toolchain: Debian's default (`go` on the path; Go 1.19 on bookworm,
/// whose SHA-256 uses AVX2), or Go 1.23 from bookworm-backports (SHA-NI),
/// which `scripts/setup.sh` installs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Go {
    /// `go` on the path.
    Default,
    /// `/usr/lib/go-1.23/bin/go`.
    Go123,
}

impl Go {
    /// The `go` command.
    pub fn command(self) -> &'static Path {
        match self {
            Go::Default => Path::new("go"),
            Go::Go123 => Path::new("/usr/lib/go-1.23/bin/go"),
        }
    }

    /// Whether it is installed.
    pub fn installed(self) -> bool {
        match self {
            Go::Default => Command::new("go").arg("version").output().is_ok(),
            Go::Go123 => self.command().is_file(),
        }
    }

    /// Its `go version`, such as `go1.23.1`.
    pub fn version(self) -> Result<String, String> {
        let out =
            Command::new(self.command()).arg("version").output().map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().nth(2).map(str::to_string).ok_or_else(|| text.trim().to_string())
    }
}

fn go_binary() -> Result<&'static Path, String> {
    oracle_binary(Go::Default)
}

fn oracle_binary(go: Go) -> Result<&'static Path, String> {
    static DEFAULT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static GO123: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let (cell, name) = match go {
        Go::Default => (&DEFAULT, "oracle"),
        Go::Go123 => (&GO123, "oracle-go1.23"),
    };
    cell.get_or_init(|| build_with(go, "go/oracle.go", name)).as_deref().map_err(Clone::clone)
}

fn http_client_binary() -> Result<&'static Path, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| build("go/httpclient/main.go", "httpclient"))
        .as_deref()
        .map_err(Clone::clone)
}

/// Builds the Go program `src` (relative to this crate) beside the running
/// test executable, in cargo's target directory: named after `name` and a
/// hash of the source, so test processes share one build and none leaves a
/// binary behind in the temporary directory.
fn build(src: &str, name: &str) -> Result<PathBuf, String> {
    build_with(Go::Default, src, name)
}

/// [`build`] with the toolchain `go`.
fn build_with(go: Go, src: &str, name: &str) -> Result<PathBuf, String> {
    let missing = "the Go oracle needs `go` and Debian's golang-golang-x-mod-dev \
                   (run `make setup`, or `apt-get install golang-go golang-golang-x-mod-dev`)";
    if !Path::new(GOPATH).join("src/golang.org/x/mod/sumdb/tlog").is_dir() {
        return Err(missing.into());
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let text = std::fs::read(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut hash = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&text, &mut hash);
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    let out = dir.join(format!("go-{name}-{:016x}", std::hash::Hasher::finish(&hash)));
    if out.is_file() {
        return Ok(out);
    }
    // Built under a name of this process's, then renamed: a concurrent
    // test process never runs a half-written binary.
    let partial = dir.join(format!(".go-{name}-{}", std::process::id()));
    let status = go_command(go)
        .arg("build")
        .arg("-o")
        .arg(&partial)
        .arg(&src)
        .status()
        .map_err(|e| format!("{missing}: running go: {e}"))?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        return Err(format!("building {} failed", src.display()));
    }
    std::fs::rename(&partial, &out).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

fn go_command(go: Go) -> Command {
    let mut c = Command::new(go.command());
    c.env("GOPATH", GOPATH).env("GO111MODULE", "off").env("GOFLAGS", "");
    if std::env::var_os("GOCACHE").is_none() {
        c.env("GOCACHE", std::env::temp_dir().join("service-fs-gocache"));
    }
    c
}

fn run(args: &[&OsStr]) -> Result<String, String> {
    run_binary(go_binary()?, args)
}

fn run_binary(bin: &Path, args: &[&OsStr]) -> Result<String, String> {
    let out = Command::new(bin).args(args).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// Checks a tlog-tiles directory with Go: opens the checkpoint with
/// `verifier_key`, recomputes every hash from the entry bundles, compares
/// every tile (and older partial tile present), the root, and each proof in
/// `proofs` (JSON lines as `fsctl prove` prints them).
pub fn check(dir: &Path, verifier_key: &str, proofs: &Path) -> Result<CheckSummary, String> {
    let args = [OsStr::new("check"), dir.as_os_str(), OsStr::new(verifier_key), proofs.as_os_str()];
    let out = run(&args)?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}: {out}"))
}

/// A checkpoint note Go verified.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct Opened {
    /// Checkpoint origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash (base64).
    pub root: String,
}

/// Verifies the signed checkpoint note in `file` with Go's `note.Open`
/// against `verifier_key`, and parses its body.
pub fn open(verifier_key: &str, file: &Path) -> Result<Opened, String> {
    let out = run(&[OsStr::new("open"), OsStr::new(verifier_key), file.as_os_str()])?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}: {out}"))
}

/// Like [`open`], and also checks with Go's `note.Open` (given a C2SP
/// tlog-cosignature v1 verifier written in Go from the specification) that
/// the witness with key `witness_key` cosigned the note.
pub fn cosigned(verifier_key: &str, witness_key: &str, file: &Path) -> Result<Opened, String> {
    let args = [
        OsStr::new("cosigned"),
        OsStr::new(verifier_key),
        OsStr::new(witness_key),
        file.as_os_str(),
    ];
    let out = run(&args)?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}: {out}"))
}

/// Verifies with Go 1.23's crypto/ed25519, as Rekor does, that `signature`
/// (base64) is an Ed25519ph signature over SHA-512 of the file `artifact`
/// by the key in the DER SubjectPublicKeyInfo `spki` (base64).
pub fn ed25519ph(spki: &str, signature: &str, artifact: &Path) -> Result<(), String> {
    // Go 1.19, Debian's default, has no Ed25519ph.
    let bin = build_with(Go::Go123, "go/ed25519ph/main.go", "ed25519ph")?;
    let args = [OsStr::new(spki), OsStr::new(signature), artifact.as_os_str()];
    run_binary(&bin, &args).map(drop)
}

/// Has Go build and sign a log of `n` records and prove things about it.
pub fn generate(n: u64) -> Result<Generated, String> {
    let n = n.to_string();
    let out = run(&[OsStr::new("gen"), OsStr::new(&n)])?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}"))
}

/// Go's timings, nanoseconds per record, sorted.
#[derive(Debug, Deserialize)]
pub struct GoBench {
    /// `tlog.StoredHashes` into in-memory storage.
    pub ns_per_record: Vec<f64>,
    /// Go's own SHA-256 of each record (its hashing bound).
    pub sha256_ns: Vec<f64>,
}

/// Times Go's `tlog.StoredHashes` appending `count` records of `size` bytes
/// to in-memory storage, and Go's SHA-256 of each record, `runs` times each.
pub fn bench_stored_hashes(size: usize, count: usize, runs: usize) -> Result<GoBench, String> {
    bench_stored_hashes_with(Go::Default, size, count, runs)
}

/// [`bench_stored_hashes`] built with the toolchain `go`.
pub fn bench_stored_hashes_with(
    go: Go,
    size: usize,
    count: usize,
    runs: usize,
) -> Result<GoBench, String> {
    let args = [size.to_string(), count.to_string(), runs.to_string()];
    let out = run_binary(
        oracle_binary(go)?,
        &[OsStr::new("bench"), OsStr::new(&args[0]), OsStr::new(&args[1]), OsStr::new(&args[2])],
    )?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}"))
}

/// Go's proof timings over a directory's tiles, nanoseconds per proof.
#[derive(Debug, Deserialize)]
pub struct GoProofBench {
    /// `tlog.ProveRecord` through `tlog.TileHashReader`.
    pub inclusion_ns: f64,
    /// `tlog.ProveTree` through `tlog.TileHashReader`.
    pub consistency_ns: f64,
}

/// Times `count` inclusion and `count` consistency proofs of pseudo-random
/// indexes over the tiles of the tlog-tiles directory `dir` (its checkpoint
/// opened with `verifier_key`) with Go's `tlog.TileHashReader`, built with
/// the toolchain `go`; each inclusion proof is checked.
pub fn bench_proofs_with(
    go: Go,
    dir: &Path,
    verifier_key: &str,
    count: usize,
) -> Result<GoProofBench, String> {
    let count = count.to_string();
    let args =
        [OsStr::new("proofbench"), dir.as_os_str(), OsStr::new(verifier_key), OsStr::new(&count)];
    let out = run_binary(oracle_binary(go)?, &args)?;
    serde_json::from_str(&out).map_err(|e| format!("oracle output: {e}: {out}"))
}

/// What the Go tlog-tiles client verified over HTTP.
#[derive(Debug, Deserialize)]
pub struct HttpVerified {
    /// Checkpoint origin (the verifier key's name).
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash (base64).
    pub root: String,
    /// Records fetched in entry bundles whose hashes matched the tiles.
    pub records: u64,
    /// Hash tiles fetched: every tile of the tree, each equal to the one Go
    /// builds from the records.
    pub tiles_fetched: u64,
    /// Entry bundles fetched.
    pub bundles: u64,
    /// Narrower partial tiles and bundles checked to be prefixes of full ones.
    pub older_partials: u64,
    /// Inclusion proofs built from the tiles and checked.
    pub proofs: u64,
}

/// Has Go's tlog-tiles client (`go/httpclient`, Go's `tlog` and `note`)
/// fetch the log under `base_url` (such as `http://ADDR/acme/`, or
/// `http://ADDR/acme/audit/`) with bearer `token`: open its checkpoint with
/// `verifier_key`, authenticate its tiles against the root, match every
/// record of its entry bundles to the tiles, recompute the root and every
/// tile from the records, and check inclusion proofs.
pub fn http_verify(
    base_url: &str,
    verifier_key: &str,
    token: &str,
) -> Result<HttpVerified, String> {
    let args =
        [OsStr::new("verify"), OsStr::new(base_url), OsStr::new(verifier_key), OsStr::new(token)];
    let out = run_binary(http_client_binary()?, &args)?;
    serde_json::from_str(&out).map_err(|e| format!("httpclient output: {e}: {out}"))
}
