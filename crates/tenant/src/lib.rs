//! The ledger root: one directory per tenant.
//!
//! ```text
//! DIR/<tenant>/
//!   signing.key   the tenant's Ed25519 note key (mode 0600; never served)
//!   lock          held by the one process writing this tenant (which writes its pid there)
//!   log/          the records: C2SP tlog-tiles (checkpoint, tile/…), servable as-is
//!   log.intent    the record log's commit intent (see PosixStore::intent)
//!   log.spare/    superseded partial tiles, to be written again as new objects
//!   audit/        the audit sub-ledger, also tlog-tiles
//!   audit.intent  the audit log's commit intent
//!   audit.spare/  likewise for the audit log
//!   anchors/      the anchor sub-ledger of Rekor receipts (the `anchor` crate;
//!                 made by the first `fs-anchor-emitter` run)
//! ```
//!
//! Each log is a [`PosixStore`] (the `store-posix` crate); this crate adds
//! the tenants around them: names, keys, the writer lock, creating a tenant
//! atomically, and the engine over its two stores ([`HostEngine`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger::engine::Recovered;
use ledger::{Buffers, Clock, Engine, Timestamp};
use note::{Signer, Verifier};
use tlog::bundle::MAX_ENTRY_SIZE;

use store_posix::{IoError, PosixStore};

/// Key file name inside a tenant directory.
pub const KEY_FILE: &str = "signing.key";
/// The record log's directory.
pub const LOG_DIR: &str = "log";
/// The audit log's directory.
pub const AUDIT_DIR: &str = "audit";
/// The anchor sub-ledger's directory (written by `fs-anchor-emitter`).
pub const ANCHORS_DIR: &str = "anchors";
const LOCK_FILE: &str = "lock";
/// Verified tiles a tenant's record log keeps (16 KiB each, taken only as
/// proofs and reads fill them, at most 64 MiB): every level-0 tile of
/// 1,048,576 records, so proofs over those are lookups once warm.
pub const LOG_CACHE_TILES: usize = 4096;
/// The audit log's, read far less.
pub const AUDIT_CACHE_TILES: usize = 256;
/// Where `init` builds a tenant before renaming it into place:
/// `.init-<tenant>-<pid>` in the root.
const STAGING: &str = ".init-";

/// The engine over POSIX stores, as the host tools and daemon run it.
pub type HostEngine = Engine<PosixStore, Vec<u8>, SystemClock>;

/// Wall-clock time from the host, for audit records.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&mut self) -> Timestamp {
        let unix_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
        Timestamp { unix_ms, source: "host-realtime" }
    }
}

/// Why a tenant could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Tenant names are 1–64 characters of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
    #[error(
        "invalid tenant name {0:?}: use 1-64 characters of A-Z a-z 0-9 . _ - (not starting with . or -)"
    )]
    BadName(String),
    /// `init` on an existing tenant.
    #[error("tenant {0:?} already exists")]
    Exists(String),
    /// No such tenant.
    #[error("no tenant {0:?} in {1} (create it with `fsctl init`)")]
    Missing(String, PathBuf),
    /// Another writer held the tenant's lock for the whole wait.
    #[error(
        "tenant {tenant:?} is in use by {holder}; gave up after {waited_ms} ms (wait longer with --wait SECS)"
    )]
    Busy {
        /// The tenant.
        tenant: String,
        /// Who holds the lock, as it wrote itself into the lock file.
        holder: String,
        /// How long this open waited.
        waited_ms: u128,
    },
    /// The key file is unreadable, malformed or readable by others.
    #[error("{path}: {msg}", path = .0.display(), msg = .1)]
    Key(PathBuf, String),
    /// The origin is not a valid key name.
    #[error("invalid origin {0:?}: {1}")]
    BadOrigin(String, note::KeyError),
    /// A file-system failure.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A plain I/O failure with its context.
    #[error("{0}: {1}")]
    Os(String, io::Error),
    /// The ledger would not open.
    #[error("{0}")]
    Ledger(String),
}

fn os(ctx: impl std::fmt::Display) -> impl FnOnce(io::Error) -> TenantError {
    let ctx = ctx.to_string();
    move |e| TenantError::Os(ctx, e)
}

/// Whether `name` is a valid tenant name.
pub fn valid_tenant(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(['.', '-'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A ledger root directory holding one directory per tenant.
#[derive(Clone, Debug)]
pub struct Root {
    dir: PathBuf,
    wait: Duration,
}

/// How long [`Root::open`] waits for another writer by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// An open tenant: its engine, holding the tenant's write lock.
pub struct Tenant {
    /// The ledger.
    pub engine: HostEngine,
    /// What opening it repaired.
    pub recovered: Recovered,
    _lock: File,
}

impl Tenant {
    /// Closes the ledger, keeping its writer lock: to reopen it with
    /// [`Root::open_locked`] after a failure, with no other writer in between.
    pub fn into_lock(self) -> File {
        self._lock
    }
}

impl Root {
    /// The root at `dir` (created by the first `init`).
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into(), wait: DEFAULT_WAIT }
    }

    /// The same root, waiting up to `wait` for another writer's lock.
    pub fn waiting(self, wait: Duration) -> Root {
        Root { wait, ..self }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of `tenant`.
    pub fn tenant_dir(&self, tenant: &str) -> PathBuf {
        self.dir.join(tenant)
    }

    /// Creates a tenant with a fresh key and empty, signed record and audit
    /// logs; returns its verifier key. The origin (and key name) defaults to
    /// `service-fs/<tenant>`. Atomic: it is built aside and renamed into place.
    pub fn init(&self, tenant: &str, origin: Option<&str>) -> Result<Verifier, TenantError> {
        if !valid_tenant(tenant) {
            return Err(TenantError::BadName(tenant.into()));
        }
        let default_origin = format!("service-fs/{tenant}");
        let origin = origin.unwrap_or(&default_origin);
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| TenantError::Os("reading randomness".into(), io::Error::other(e)))?;
        let signer = Signer::from_seed(origin, seed)
            .map_err(|e| TenantError::BadOrigin(origin.into(), e))?;
        ledger::engine::audit_signer::<()>(&signer)
            .map_err(|_| TenantError::BadOrigin(origin.into(), note::KeyError::BadName))?;
        let dest = self.tenant_dir(tenant);
        if dest.exists() {
            return Err(TenantError::Exists(tenant.into()));
        }
        store_posix::dir_builder(true)
            .create(&self.dir)
            .map_err(os(format!("creating {}", self.dir.display())))?;
        let staging = self.dir.join(format!("{STAGING}{tenant}-{}", std::process::id()));
        let built = build_tenant(&staging, &signer);
        if let Err(e) = built {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        // rename(2) refuses to replace a non-empty directory: a racing init loses.
        if let Err(e) = fs::rename(&staging, &dest) {
            let _ = fs::remove_dir_all(&staging);
            return Err(if dest.exists() {
                TenantError::Exists(tenant.into())
            } else {
                os("creating tenant")(e)
            });
        }
        sync_dir(&self.dir)?;
        Ok(signer.verifier())
    }

    /// Takes `tenant`'s writer lock (as [`Root::open`] does) without
    /// opening its ledger: for operator commands that repair what opening
    /// refuses. The lock is held until the returned file is dropped.
    pub fn lock(&self, tenant: &str) -> Result<File, TenantError> {
        let dir = self.existing(tenant)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(store_posix::FILE_MODE)
            .open(&lock_path)
            .map_err(os(format!("opening {}", lock_path.display())))?;
        take_lock(&lock, &lock_path, tenant, self.wait)?;
        Ok(lock)
    }

    /// The directory of an existing `tenant`: a valid name, a signing key,
    /// and no symbolic link among its parts.
    fn existing(&self, tenant: &str) -> Result<PathBuf, TenantError> {
        if !valid_tenant(tenant) {
            return Err(TenantError::BadName(tenant.into()));
        }
        let dir = self.tenant_dir(tenant);
        if !dir.join(KEY_FILE).exists() {
            return Err(TenantError::Missing(tenant.into(), self.dir.clone()));
        }
        for part in [
            dir.clone(),
            dir.join(KEY_FILE),
            dir.join(LOG_DIR),
            dir.join(AUDIT_DIR),
            dir.join(ANCHORS_DIR),
            dir.join(LOCK_FILE),
        ] {
            if fs::symlink_metadata(&part).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(TenantError::Os(
                    format!("opening {}", part.display()),
                    io::Error::other("a symbolic link, which a ledger never follows"),
                ));
            }
        }
        Ok(dir)
    }

    /// The verifier key of `tenant`, derived from its signing key (for a
    /// tenant whose `init` was killed before it printed the key).
    pub fn verifier(&self, tenant: &str) -> Result<Verifier, TenantError> {
        Ok(read_key(&self.existing(tenant)?.join(KEY_FILE))?.verifier())
    }

    /// The signing key of `tenant` (for the anchor emitter, which signs
    /// its anchor sub-ledger and Rekor entries with it).
    pub fn signer(&self, tenant: &str) -> Result<Signer, TenantError> {
        read_key(&self.existing(tenant)?.join(KEY_FILE))
    }

    /// Removes what killed `init`s left: staging directories (holding keys
    /// of tenants that never came to be) of processes no longer running.
    /// Returns the directories removed.
    pub fn clean_staging(&self) -> Result<Vec<PathBuf>, TenantError> {
        let mut removed = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else { return Ok(removed) };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(STAGING) else { continue };
            let pid = rest.rsplit_once('-').and_then(|(_, p)| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                fs::remove_dir_all(e.path())
                    .map_err(os(format!("removing {}", e.path().display())))?;
                removed.push(e.path());
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Opens a tenant for reading and writing: takes its lock (waiting up to
    /// the root's wait for another writer to finish; then
    /// [`TenantError::Busy`], naming the holder), loads its key and recovers
    /// its logs.
    pub fn open(&self, tenant: &str) -> Result<Tenant, TenantError> {
        let lock = self.lock(tenant)?;
        self.open_locked(tenant, lock)
    }

    /// [`Root::open`] with the lock [`Root::lock`] gave: for a caller that
    /// must look at the tenant's files, unchanged, before recovery runs.
    pub fn open_locked(&self, tenant: &str, lock: File) -> Result<Tenant, TenantError> {
        self.existing(tenant)?;
        let dir = self.tenant_dir(tenant);
        let signer = read_key(&dir.join(KEY_FILE))?;
        let (engine, recovered) = open_engine(&dir, signer, false)?;
        Ok(Tenant { engine, recovered, _lock: lock })
    }

    /// The tenant's record log directory (its tlog-tiles root).
    pub fn log_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join(LOG_DIR)
    }

    /// The tenant's anchor sub-ledger directory.
    pub fn anchors_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join(ANCHORS_DIR)
    }

    /// The tenant's audit log directory.
    pub fn audit_dir(&self, tenant: &str) -> PathBuf {
        self.tenant_dir(tenant).join(AUDIT_DIR)
    }
}

/// Takes the tenant's lock within `wait`, then writes who holds it (this
/// process) into the lock file for anyone who has to wait.
fn take_lock(lock: &File, path: &Path, tenant: &str, wait: Duration) -> Result<(), TenantError> {
    let start = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(path).unwrap_or_default();
                let holder = holder.trim();
                return Err(TenantError::Busy {
                    tenant: tenant.into(),
                    holder: if holder.is_empty() {
                        "another process".into()
                    } else {
                        holder.into()
                    },
                    waited_ms: start.elapsed().as_millis(),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(TenantError::Os(format!("locking {}", path.display()), e));
            }
        }
    }
    let program = std::env::args().next().unwrap_or_default();
    let program = Path::new(&program).file_name().map(|n| n.to_string_lossy().into_owned());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut me =
        format!("pid {} ({} {})", std::process::id(), program.unwrap_or_default(), args.join(" "));
    me.truncate(me.floor_char_boundary(200));
    // Only informative: a failure to record it does not stop the writer.
    let _ = lock.set_len(0).and_then(|()| lock.write_all_at(me.as_bytes(), 0));
    Ok(())
}

/// Opens a tenant's engine; `create`: writing the first checkpoints of
/// empty logs (only `init` does), else both must exist.
fn open_engine(
    dir: &Path,
    signer: Signer,
    create: bool,
) -> Result<(HostEngine, Recovered), TenantError> {
    let log = PosixStore::open(dir.join(LOG_DIR))?;
    let audit = PosixStore::open(dir.join(AUDIT_DIR))?;
    let open = if create { Engine::open } else { Engine::open_existing };
    let buffers = Buffers::with_cache(LOG_CACHE_TILES, AUDIT_CACHE_TILES);
    open(log, audit, signer, SystemClock, buffers, MAX_ENTRY_SIZE)
        .map_err(|e| TenantError::Ledger(format!("{}: {e}", dir.display())))
}

fn build_tenant(dir: &Path, signer: &Signer) -> Result<(), TenantError> {
    store_posix::dir_builder(false)
        .create(dir)
        .map_err(os(format!("creating {}", dir.display())))?;
    for sub in [LOG_DIR, AUDIT_DIR] {
        store_posix::dir_builder(false)
            .create(dir.join(sub))
            .map_err(os(format!("creating {}", dir.display())))?;
    }
    write_key(&dir.join(KEY_FILE), signer)?;
    // Opening writes and syncs the size-0 checkpoints of both logs; their
    // intent records start idle, made durable with the directory.
    open_engine(dir, signer.clone(), true)?;
    for sub in [LOG_DIR, AUDIT_DIR] {
        store_posix::write_idle_intent(&dir.join(sub))?;
    }
    sync_dir(dir)
}

fn write_key(path: &Path, signer: &Signer) -> Result<(), TenantError> {
    let mut text = String::new();
    signer
        .write_private(&mut text)
        .map_err(|_| TenantError::Key(path.into(), "cannot encode".into()))?;
    text.push('\n');
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(os(format!("creating {}", path.display())))?;
    // The mode above is filtered by the umask; make sure it is exactly 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(os(format!("chmod {}", path.display())))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(os(format!("writing {}", path.display())))
}

fn read_key(path: &Path) -> Result<Signer, TenantError> {
    let meta = fs::metadata(path).map_err(os(format!("reading {}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TenantError::Key(
            path.into(),
            format!(
                "permissions {mode:04o} are too open; the key must be readable by its owner only (chmod 600)"
            ),
        ));
    }
    let text = fs::read_to_string(path).map_err(os(format!("reading {}", path.display())))?;
    Signer::parse(text.trim_end()).map_err(|e| TenantError::Key(path.into(), e.to_string()))
}

fn sync_dir(dir: &Path) -> Result<(), TenantError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(os(format!("syncing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{Caller, Ledger, Limit};

    #[test]
    fn init_open_and_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path().join("ledgers"));
        let v = root.init("acme", None).unwrap();
        assert_eq!(v.name(), "service-fs/acme");
        assert!(matches!(root.init("acme", None), Err(TenantError::Exists(_))));
        let dir = root.tenant_dir("acme");
        let mode = fs::metadata(dir.join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for cp in [dir.join("log/checkpoint"), dir.join("audit/checkpoint")] {
            assert!(cp.exists(), "{}", cp.display());
        }
        let mut t = root.open("acme").unwrap();
        t.engine.append(b"hello").unwrap();
        let caller = Caller { module: "test", credential: "uid:0", request: None };
        let mut got = vec![];
        t.engine.read_since(&caller, 0, Limit::NONE, &mut |_, r| got.push(r.to_vec())).unwrap();
        assert_eq!(got, vec![b"hello".to_vec()]);
        assert!(fs::read(dir.join("log/tile/entries/000.p/1")).unwrap().ends_with(b"hello"));
        let cp = fs::read(dir.join("log/checkpoint")).unwrap();
        note::open(&cp, &[&v]).unwrap();
        // No staging directories are left behind.
        let names: Vec<_> = fs::read_dir(tmp.path().join("ledgers"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["acme"]);
    }

    #[test]
    fn refuses_bad_names_and_loose_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        for bad in ["", ".hidden", "-x", "a/b", "a b", "..", &"x".repeat(65)] {
            assert!(matches!(root.init(bad, None), Err(TenantError::BadName(_))), "{bad:?}");
        }
        assert!(matches!(root.init("ok", Some("has space")), Err(TenantError::BadOrigin(..))));
        assert!(matches!(root.open("nobody"), Err(TenantError::Missing(..))));
        root.init("t", Some("example.com/t")).unwrap();
        let key = root.tenant_dir("t").join(KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = root.open("t").err().unwrap().to_string();
        assert!(err.contains("too open"), "{err}");
    }
}
