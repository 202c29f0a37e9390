//! The anchor sub-ledger: a tenant's receipts, one per anchoring, in a
//! tlog-tiles log of their own, signed by the tenant's key under the origin
//! `<origin>/anchors` (as the audit ledger is under `<origin>/audit`).
//!
//! ```text
//! DIR/<tenant>/anchors/
//!   log/          the receipts: C2SP tlog-tiles, servable as-is
//!   log.intent    its commit intent (see store-posix)
//!   lock          held by the one fs-anchor-emitter writing it
//! ```
//!
//! The directory is made on the first run, complete, under a staging name
//! and renamed into place, so it either exists with a signed checkpoint or
//! not at all; one that exists without its checkpoint was wiped, which is
//! refused rather than started again.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ledger::store::Recovery;
use ledger::{Log, LogBuffers};
use note::{Signer, Verifier};
use store_posix::PosixStore;
use tlog::bundle::MAX_ENTRY_SIZE;

use crate::receipt::Receipt;

/// The origin suffix of a tenant's anchor ledger.
pub const SUFFIX: &str = "/anchors";
/// The receipts' tlog-tiles directory inside `anchors/`.
pub const LOG: &str = "log";
const LOCK: &str = "lock";
const STAGING: &str = ".anchors-init-";

/// The anchor ledger's signer: the tenant's key under `<origin>/anchors`.
pub fn signer(tenant: &Signer) -> Result<Signer> {
    let name = format!("{}{SUFFIX}", tenant.name());
    tenant.renamed(&name).map_err(|e| anyhow!("anchor ledger origin {name:?}: {e}"))
}

/// The anchor ledger's verifier key, from the tenant's.
pub fn verifier(tenant: &Verifier) -> Result<Verifier> {
    let name = format!("{}{SUFFIX}", tenant.name());
    tenant.renamed(&name).map_err(|e| anyhow!("anchor ledger origin {name:?}: {e}"))
}

/// A tenant's anchor ledger, open for appending (its lock held).
pub struct AnchorLedger {
    log: Log<PosixStore, Vec<u8>>,
    /// What opening repaired.
    pub recovery: Recovery,
    _lock: File,
}

impl AnchorLedger {
    /// Opens the anchor ledger in `anchors` (a tenant's `anchors/`), making
    /// it if it does not exist; waits up to `wait` for another emitter.
    pub fn open(anchors: &Path, tenant: &Signer, wait: Duration) -> Result<AnchorLedger> {
        let signer = signer(tenant)?;
        match fs::symlink_metadata(anchors) {
            Err(_) => create(anchors, &signer)?,
            Ok(m) if m.file_type().is_symlink() => {
                bail!("{} is a symbolic link, which a ledger never follows", anchors.display())
            }
            Ok(_) => {}
        }
        let lock = lock(anchors, wait)?;
        let log_dir = anchors.join(LOG);
        if fs::symlink_metadata(log_dir.join("checkpoint")).is_err() {
            bail!(
                "{}: the anchor ledger has no checkpoint: it was wiped or damaged, and is not started again",
                log_dir.display()
            );
        }
        let store = PosixStore::open(&log_dir)?;
        let (log, recovery) = Log::open(store, signer, LogBuffers::default(), MAX_ENTRY_SIZE)
            .map_err(|e| anyhow!("{}: {e}", log_dir.display()))?;
        Ok(AnchorLedger { log, recovery, _lock: lock })
    }

    /// The number of receipts.
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// Its signed checkpoint.
    pub fn checkpoint(&self) -> &[u8] {
        self.log.checkpoint()
    }

    /// Every receipt, oldest first (each bundle checked against the signed
    /// tree as it is read).
    pub fn receipts(&mut self) -> Result<Vec<Receipt>> {
        self.read_from(0)
    }

    /// The latest receipt.
    pub fn last(&mut self) -> Result<Option<Receipt>> {
        let n = self.log.size();
        Ok(self.read_from(n.saturating_sub(1))?.pop())
    }

    fn read_from(&mut self, from: u64) -> Result<Vec<Receipt>> {
        let mut entries = Vec::new();
        let size = self.log.size();
        self.log
            .walk(from, size, &mut |_, e| {
                entries.push(e.to_vec());
                true
            })
            .map_err(|e| anyhow!("reading the anchor ledger: {e}"))?;
        let decode = |(i, e): (usize, Vec<u8>)| {
            Receipt::decode(&e).with_context(|| format!("anchor receipt {}", from + i as u64))
        };
        entries.into_iter().enumerate().map(decode).collect()
    }

    /// Appends a receipt and commits it durably; returns its index.
    pub fn append(&mut self, receipt: &Receipt) -> Result<u64> {
        let entry = receipt.encode()?;
        let index = self.log.append(&entry).map_err(|e| anyhow!("appending the receipt: {e}"))?;
        self.log.commit().map_err(|e| anyhow!("committing the receipt: {e}"))?;
        Ok(index)
    }
}

/// Builds the anchor ledger aside and renames it into place.
fn create(anchors: &Path, signer: &Signer) -> Result<()> {
    let parent = anchors.parent().context("anchor ledger path has no parent")?;
    clean_staging(parent)?;
    let staging = parent.join(format!("{STAGING}{}", std::process::id()));
    let built = build(&staging, signer);
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // rename(2) refuses to replace a non-empty directory: a racing emitter
    // that made it first wins, and this one opens theirs.
    if fs::rename(&staging, anchors).is_err() {
        let _ = fs::remove_dir_all(&staging);
        if fs::symlink_metadata(anchors).is_err() {
            bail!("cannot create {}", anchors.display());
        }
    }
    sync_dir(parent)
}

fn build(dir: &Path, signer: &Signer) -> Result<()> {
    let log_dir = dir.join(LOG);
    for d in [dir, &log_dir] {
        store_posix::dir_builder(false)
            .create(d)
            .with_context(|| format!("creating {}", d.display()))?;
    }
    let store = PosixStore::open(&log_dir)?;
    // Opening an empty store signs and durably writes its size-0 checkpoint.
    Log::open(store, signer.clone(), LogBuffers::<Vec<u8>>::default(), MAX_ENTRY_SIZE)
        .map_err(|e| anyhow!("{}: {e}", log_dir.display()))?;
    store_posix::write_idle_intent(&log_dir)?;
    sync_dir(dir)
}

/// Removes staging directories of emitters no longer running.
fn clean_staging(parent: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(parent) else { return Ok(()) };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(STAGING).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            fs::remove_dir_all(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    Ok(())
}

fn lock(anchors: &Path, wait: Duration) -> Result<File> {
    let path: PathBuf = anchors.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        // Never a symbolic link planted to make the lock write elsewhere.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(store_posix::FILE_MODE)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "{} is in use by {}; gave up after {} ms",
                    anchors.display(),
                    if holder.trim().is_empty() { "another emitter" } else { holder.trim() },
                    start.elapsed().as_millis()
                );
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    let me = format!("pid {} (fs-anchor-emitter)", std::process::id());
    // Only informative: a failure to record it does not stop the writer.
    let _ = file.set_len(0).and_then(|()| file.write_all_at(me.as_bytes(), 0));
    Ok(file)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}
