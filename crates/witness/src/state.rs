//! A witness's key, the logs it knows, and the last checkpoint it
//! cosigned for each, in a directory of its own:
//!
//! - `key`: its private cosignature key (`PRIVATE+KEY+name+id+base64`), 0600;
//! - `logs`: the verifier keys of the logs it witnesses, one per line
//!   (`#` comments); a log's origin is its key's name;
//! - `state/<sha256(origin) in hex>`: the last checkpoint it cosigned for
//!   that log, replaced atomically (temp file, fsync, rename, directory
//!   fsync) before the cosignature is returned.
//!
//! The directory is locked while a [`Witness`] has it open, so that two
//! witness processes never race on one log's state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use note::{Checkpoint, CosignatureVerifier, Cosigner, NoteError, Verifier};
use sha2::{Digest, Sha256};
use tlog::Hash;
use tlog::proof::verify_consistency;

use crate::protocol::parse_add_checkpoint;

const KEY: &str = "key";
const LOGS: &str = "logs";
const STATE: &str = "state";

/// A failure of the witness itself (not of a request).
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// A file operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A file holds something it should not.
    #[error("{}: {why}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WitnessError + use<> {
    let path = path.to_path_buf();
    move |source| WitnessError::Io { op, path, source }
}

fn bad(path: &Path, why: impl Into<String>) -> WitnessError {
    WitnessError::Bad { path: path.to_path_buf(), why: why.into() }
}

/// Why a checkpoint was not cosigned, with the HTTP status the protocol
/// gives it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request breaks the protocol.
    BadRequest(String),
    /// 404: no known log has the checkpoint's origin.
    UnknownOrigin(String),
    /// 403: no signature by a known key of that log verifies.
    Forbidden(String),
    /// 409: the old size is not the last one cosigned (it is given), or
    /// the same size came with another root hash.
    Conflict(u64),
    /// 422: the consistency proof does not verify.
    BadProof(String),
    /// 500: the witness could not read or keep its state.
    Internal(String),
}

impl Refusal {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::BadProof(_) => 422,
            Refusal::Internal(_) => 500,
        }
    }

    /// The response body: the last cosigned size for a conflict, else the reason.
    pub fn body(&self) -> String {
        match self {
            Refusal::Conflict(size) => format!("{size}\n"),
            Refusal::BadRequest(why)
            | Refusal::UnknownOrigin(why)
            | Refusal::Forbidden(why)
            | Refusal::BadProof(why)
            | Refusal::Internal(why) => format!("{why}\n"),
        }
    }
}

/// An open witness directory.
#[derive(Debug)]
pub struct Witness {
    dir: PathBuf,
    cosigner: Cosigner,
    logs: Vec<Verifier>,
    _lock: File,
}

impl Witness {
    /// Creates a witness directory with a new key named `name` (a
    /// schema-less URL, e.g. `witness.example.com/w1`); returns its
    /// verifier key. Fails if `dir` holds a key already.
    pub fn create(dir: &Path, name: &str) -> Result<CosignatureVerifier, WitnessError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("creating", dir))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| bad(dir, format!("no randomness: {e}")))?;
        let cosigner = Cosigner::from_seed(name, seed).map_err(|e| bad(dir, e.to_string()))?;
        let mut skey = String::new();
        cosigner.write_private(&mut skey).map_err(|_| bad(dir, "encoding the key"))?;
        let path = dir.join(KEY);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("creating", &path))?;
        f.write_all(format!("{skey}\n").as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("writing", &path))?;
        let logs = dir.join(LOGS);
        if !logs.exists() {
            fs::write(&logs, "# Verifier keys of the logs this witness cosigns, one per line.\n")
                .map_err(io("writing", &logs))?;
        }
        sync_dir(dir)?;
        Ok(cosigner.verifier())
    }

    /// Adds the log with verifier key `vkey` to those `dir` witnesses.
    pub fn trust(dir: &Path, vkey: &str) -> Result<Verifier, WitnessError> {
        let path = dir.join(LOGS);
        let v = Verifier::parse(vkey.trim()).map_err(|e| bad(&path, format!("{vkey}: {e}")))?;
        let known = read_logs(&path)?;
        if known.iter().any(|k| k.name() == v.name() && k != &v) {
            return Err(bad(&path, format!("another key for origin {} is there", v.name())));
        }
        if !known.contains(&v) {
            let mut f =
                OpenOptions::new().append(true).open(&path).map_err(io("opening", &path))?;
            f.write_all(format!("{v}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(io("writing", &path))?;
        }
        Ok(v)
    }

    /// Opens `dir`, locking it against other witness processes.
    pub fn open(dir: &Path) -> Result<Witness, WitnessError> {
        let lock = File::open(dir).map_err(io("opening", dir))?;
        lock.try_lock().map_err(|_| bad(dir, "another witness process has it open"))?;
        let path = dir.join(KEY);
        let skey = fs::read_to_string(&path).map_err(io("reading", &path))?;
        let cosigner = Cosigner::parse(skey.trim()).map_err(|e| bad(&path, e.to_string()))?;
        let logs = read_logs(&dir.join(LOGS))?;
        let state = dir.join(STATE);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&state)
            .map_err(io("creating", &state))?;
        Ok(Witness { dir: dir.to_path_buf(), cosigner, logs, _lock: lock })
    }

    /// The witness's verifier key.
    pub fn verifier(&self) -> CosignatureVerifier {
        self.cosigner.verifier()
    }

    /// The logs it witnesses.
    pub fn logs(&self) -> &[Verifier] {
        &self.logs
    }

    fn state_path(&self, origin: &str) -> PathBuf {
        let digest: [u8; 32] = Sha256::digest(origin.as_bytes()).into();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(STATE).join(hex)
    }

    /// The size and root hash of the last checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Result<Option<(u64, Hash)>, WitnessError> {
        let path = self.state_path(origin);
        let note = match fs::read(&path) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let v: Vec<&Verifier> = self.logs.iter().filter(|v| v.name() == origin).collect();
        let opened = note::open(&note, &v).map_err(|e| bad(&path, e.to_string()))?;
        let cp = Checkpoint::parse(opened.text).map_err(|e| bad(&path, e.to_string()))?;
        if cp.origin != origin {
            return Err(bad(&path, "holds another log's checkpoint"));
        }
        Ok(Some((cp.size, cp.root)))
    }

    /// Serves one `add-checkpoint` request at time `now` (POSIX seconds):
    /// the cosignature line to return, once the checkpoint is kept as the
    /// latest for its log.
    pub fn add_checkpoint(&mut self, body: &[u8], now: u64) -> Result<Vec<u8>, Refusal> {
        let req = parse_add_checkpoint(body).map_err(|e| Refusal::BadRequest(e.into()))?;
        let text = note_text(req.checkpoint)?;
        let origin = text.split('\n').next().unwrap_or_default();
        if !self.logs.iter().any(|v| v.name() == origin) {
            // `fs-witness trust` may have added it since: no restart needed.
            self.logs =
                read_logs(&self.dir.join(LOGS)).map_err(|e| Refusal::Internal(e.to_string()))?;
        }
        let keys: Vec<&Verifier> = self.logs.iter().filter(|v| v.name() == origin).collect();
        if keys.is_empty() {
            return Err(Refusal::UnknownOrigin(format!("unknown log origin {origin:?}")));
        }
        match note::open(req.checkpoint, &keys) {
            Ok(_) => {}
            Err(NoteError::Malformed(why)) => return Err(Refusal::BadRequest(why.into())),
            Err(e) => return Err(Refusal::Forbidden(e.to_string())),
        }
        let cp = Checkpoint::parse(text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        if text.len() > note::MAX_CHECKPOINT_TEXT {
            return Err(Refusal::BadRequest(
                "checkpoint text longer than a witness cosigns".into(),
            ));
        }
        if req.old > cp.size {
            return Err(Refusal::BadRequest("the old size is above the checkpoint's".into()));
        }
        let internal = |e: WitnessError| Refusal::Internal(e.to_string());
        let latest = self.latest(origin).map_err(internal)?;
        let (size, root) = latest.unwrap_or((0, tlog::EMPTY_ROOT));
        if req.old != size {
            return Err(Refusal::Conflict(size));
        }
        check_extends(&req.proof, req.old, &root, &cp)?;
        // Cosigned first, kept second: a failure leaves the state as it was.
        let mut line = [0u8; 512];
        let n = self
            .cosigner
            .cosign(text, now, &mut line)
            .map_err(|e| Refusal::Internal(format!("cosigning: {e}")))?;
        self.keep(origin, req.checkpoint).map_err(internal)?;
        Ok(line[..n].to_vec())
    }

    /// Durably replaces the state of `origin` with `note`.
    fn keep(&self, origin: &str, note: &[u8]) -> Result<(), WitnessError> {
        let path = self.state_path(origin);
        let temp = path.with_extension("tmp");
        // Never open whatever is at the name (a link planted there): afresh.
        let _ = fs::remove_file(&temp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io("creating", &temp))?;
        f.write_all(note).and_then(|()| f.sync_all()).map_err(io("writing", &temp))?;
        fs::rename(&temp, &path).map_err(io("renaming", &temp))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    }
}

/// The checkpoint extends the one last cosigned (`old` leaves, `old_root`).
fn check_extends(
    proof: &[Hash],
    old: u64,
    old_root: &Hash,
    cp: &Checkpoint<'_>,
) -> Result<(), Refusal> {
    if old == 0 {
        // Nothing cosigned yet: the first checkpoint is taken on trust.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(Refusal::BadRequest("a proof from size 0 must be empty".into()))
        };
    }
    if old == cp.size {
        return if cp.root == *old_root && proof.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Conflict(old))
        };
    }
    verify_consistency(proof, cp.size, &cp.root, old, old_root).map_err(|_| {
        Refusal::BadProof(format!(
            "the proof does not show size {} extending the cosigned size {old}",
            cp.size
        ))
    })
}

/// The text of a signed note (before its signature block).
fn note_text(note: &[u8]) -> Result<&str, Refusal> {
    let bad = || Refusal::BadRequest("the checkpoint is not a signed note".into());
    let s = std::str::from_utf8(note).map_err(|_| bad())?;
    let end = s.rfind("\n\n").ok_or_else(bad)?;
    Ok(&s[..=end])
}

fn read_logs(path: &Path) -> Result<Vec<Verifier>, WitnessError> {
    let text = fs::read_to_string(path).map_err(io("reading", path))?;
    let mut logs: Vec<Verifier> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let v = Verifier::parse(line).map_err(|e| bad(path, format!("line {}: {e}", n + 1)))?;
        if logs.iter().any(|k| k.name() == v.name()) {
            return Err(bad(path, format!("line {}: a second key for {}", n + 1, v.name())));
        }
        logs.push(v);
    }
    Ok(logs)
}

fn sync_dir(dir: &Path) -> Result<(), WitnessError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))
}
