//! A tlog-tiles directory as a crash-safe, write-once tile store.
//!
//! Every object is written to a temporary file in its directory and then
//! hard-linked into place, which fails if the name exists, so an object is
//! never replaced. [`sync`](TileStore::sync) fsyncs the new files and then
//! the directories that gained entries; only after that does the engine
//! replace the checkpoint (temp file, fsync, rename, directory fsync).
//! Deferring the file fsyncs to `sync` lets one journal commit cover a whole
//! batch. A crash before the checkpoint is replaced can leave objects with
//! incomplete content, but only beyond the checkpoint's tree.
//!
//! A crash must be told from a rollback (the checkpoint replaced by an
//! older one the ledger itself signed, which would otherwise look exactly
//! like a commit interrupted long ago): before a commit's first object the
//! store durably writes its **intent**, `<root>.intent` beside the served
//! tree, naming the tree size the commit starts from, and removes it once
//! the new checkpoint is in place. [`recover`](TileStore::recover) removes
//! objects beyond the checkpoint only when an intent from that very size is
//! there (they were never acknowledged); objects beyond it without one are
//! [`StoreError::Unexplained`] and nothing is touched. It also removes
//! temporary files. One store at a time writes a directory: it holds an
//! exclusive `flock` on it.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ledger::store::{
    Recovery, StoreError, TileStore, check_checkpoint_replace, check_recover_size,
};
use tlog::Tile;

/// The checkpoint's file name.
pub const CHECKPOINT: &str = "checkpoint";
const TEMP_SUFFIX: &str = ".tmp";
/// The first line of a commit intent; the tree size it starts from follows.
const INTENT_HEADER: &str = "service-fs commit intent\nfrom ";

/// A failed file-system operation, with the path it was on.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct IoError {
    op: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

type Result<T> = std::result::Result<T, StoreError<IoError>>;

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError<IoError> + use<> {
    let path = path.to_path_buf();
    move |source| {
        if source.raw_os_error() == Some(28) {
            StoreError::Full // ENOSPC
        } else {
            StoreError::Backend(IoError { op, path, source })
        }
    }
}

/// A tlog-tiles directory (`checkpoint`, `tile/…`) as an L1 store.
#[derive(Debug)]
pub struct PosixStore {
    root: PathBuf,
    /// Held for the store's lifetime: an exclusive lock on `root`.
    _lock: File,
    /// Directories this process has fsynced (and not changed since).
    durable_dirs: BTreeSet<PathBuf>,
    /// Files written since the last sync.
    dirty_files: Vec<PathBuf>,
    /// Directories that gained entries since the last sync.
    dirty_dirs: BTreeSet<PathBuf>,
    /// Whether this process wrote the intent of the commit under way.
    intent_open: bool,
}

impl PosixStore {
    /// A store in `root`, which must exist; fails if another store has it open.
    pub fn open(root: impl Into<PathBuf>) -> std::result::Result<PosixStore, IoError> {
        let root = root.into();
        let err = |op, source| IoError { op, path: root.clone(), source };
        let meta = fs::symlink_metadata(&root).map_err(|e| err("opening", e))?;
        if meta.file_type().is_symlink() {
            return Err(err(
                "opening",
                io::Error::other("a symbolic link, which a ledger never follows"),
            ));
        }
        if !meta.is_dir() {
            return Err(err("opening", io::Error::other("not a directory")));
        }
        let lock = File::open(&root).map_err(|e| err("opening", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(err("locking", io::Error::other("another writer has it open")));
            }
            Err(fs::TryLockError::Error(e)) => return Err(err("locking", e)),
        }
        Ok(PosixStore {
            root,
            _lock: lock,
            durable_dirs: BTreeSet::new(),
            dirty_files: Vec::new(),
            dirty_dirs: BTreeSet::new(),
            intent_open: false,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit intent: beside the directory (`log.intent`), durably
    /// written before a commit's first object and removed once its
    /// checkpoint is in place. Objects beyond the checkpoint are a crashed
    /// commit's only if an intent from that checkpoint's size is there.
    pub fn intent(&self) -> PathBuf {
        let mut name = self.root.file_name().unwrap_or_default().to_os_string();
        name.push(".intent");
        self.root.with_file_name(name)
    }

    /// The tree size the intent says a commit started from, if any.
    pub fn read_intent(&self) -> Result<Option<u64>> {
        read_intent(&self.root)
    }

    /// Durably records that a commit starts from the stored checkpoint.
    fn write_intent(&mut self) -> Result<()> {
        let checkpoint = self.root.join(CHECKPOINT);
        let from = match fs::read(&checkpoint) {
            Ok(cp) => note::Checkpoint::peek_size(&cp).ok_or(StoreError::BadCheckpoint)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err("reading", &checkpoint)(e)),
        };
        let path = self.intent();
        let temp = write_temp(&path, format!("{INTENT_HEADER}{from}\n").as_bytes(), true)?;
        fs::rename(&temp, &path).map_err(io_err("renaming", &temp))?;
        sync_path(path.parent().unwrap_or(Path::new(".")))?;
        self.intent_open = true;
        Ok(())
    }

    /// The commit is over: its checkpoint is in place (or recovery undid it).
    fn close_intent(&mut self) -> Result<()> {
        let path = self.intent();
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &path)(e)),
        }
        self.intent_open = false;
        Ok(())
    }

    /// Marks every directory from `file`'s up to the root for the next
    /// sync, unless this process already made it durable: a directory
    /// created by an earlier, crashed writer may never have been fsynced.
    fn mark_ancestors(&mut self, file: &Path) {
        let mut dir = file.parent();
        while let Some(d) = dir {
            if !self.durable_dirs.contains(d) {
                self.dirty_dirs.insert(d.to_path_buf());
            }
            if d == self.root {
                break;
            }
            dir = d.parent();
        }
    }

    fn path(&self, tile: &Tile) -> PathBuf {
        self.root.join(tile.path().as_str())
    }

    /// Creates the missing directories above `file`, remembering whose
    /// entries changed.
    fn make_parents(&mut self, file: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut dir = file.parent();
        while let Some(d) = dir {
            if d == self.root || d.is_dir() {
                break;
            }
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        for d in missing.iter().rev() {
            match crate::dir_builder(false).create(d) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("creating directory", d)(e)),
            }
            if let Some(p) = d.parent() {
                self.durable_dirs.remove(p);
                self.dirty_dirs.insert(p.to_path_buf());
            }
        }
        Ok(())
    }
}

/// The tree size the commit intent of the store at `root` says a commit
/// started from, if one is under way or was interrupted (see
/// [`PosixStore::intent`]). Reads without taking the store's lock.
pub fn read_intent(root: &Path) -> Result<Option<u64>> {
    let mut name = root.file_name().unwrap_or_default().to_os_string();
    name.push(".intent");
    let path = root.with_file_name(name);
    match fs::read_to_string(&path) {
        Ok(text) => text
            .strip_prefix(INTENT_HEADER)
            .and_then(|t| t.trim_end().parse().ok())
            .map(Some)
            .ok_or_else(|| io_err("reading", &path)(io::Error::other("not a commit intent"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", &path)(e)),
    }
}

/// Refuses a symbolic link anywhere from `root` down to `path` (a file
/// under it): the store's files are its own, never where a link points.
fn no_symlink(root: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    verify::no_symlink(root, rel).map_err(|source| {
        StoreError::Backend(IoError { op: "refusing", path: path.to_path_buf(), source })
    })
}

/// Reads a whole file into `buf`, or says how big it is.
fn read_into(path: &Path, buf: &mut [u8]) -> Result<Option<usize>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("opening", path)(e)),
    };
    let len = f.metadata().map_err(io_err("reading", path))?.len() as usize;
    let dst = buf.get_mut(..len).ok_or(StoreError::TooSmall { needed: len })?;
    f.read_exact(dst).map_err(io_err("reading", path))?;
    Ok(Some(len))
}

/// Replaces the file at `path` with `data` atomically and durably (a
/// temporary file beside it, fsync, rename, directory fsync), created at
/// [`FILE_MODE`](crate::FILE_MODE): a crash leaves the old file or the new.
pub fn write_durably(path: &Path, data: &[u8]) -> std::result::Result<(), IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let done = write_temp(path, data, true).and_then(|temp| {
        fs::rename(&temp, path).map_err(io_err("renaming", &temp))?;
        sync_path(dir)
    });
    done.map_err(|e| match e {
        StoreError::Backend(e) => e,
        StoreError::Full => IoError {
            op: "writing",
            path: path.to_path_buf(),
            source: io::Error::from_raw_os_error(28),
        },
        other => IoError {
            op: "writing",
            path: path.to_path_buf(),
            source: io::Error::other(other.to_string()),
        },
    })
}

/// Puts `note` in place as the checkpoint of the store at `root`, durably,
/// and ends any commit intent (its objects are covered now): the operator's
/// restore of a checkpoint the caller has verified against every object.
/// Takes no lock: the caller holds the tenant's.
pub fn install_checkpoint(root: &Path, note: &[u8]) -> std::result::Result<(), IoError> {
    let path = root.join(CHECKPOINT);
    no_symlink(root, &path).map_err(|e| IoError {
        op: "writing",
        path: path.clone(),
        source: io::Error::other(e.to_string()),
    })?;
    write_durably(&path, note)?;
    let mut intent = root.as_os_str().to_os_string();
    intent.push(".intent");
    let intent = PathBuf::from(intent);
    match fs::remove_file(&intent) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(IoError { op: "removing", path: intent, source: e })
        }
        _ => Ok(()),
    }
}

/// Creates `path` afresh for writing: whatever is at that name (a killed
/// writer's leftover, or a symbolic link planted there) is removed first,
/// never opened, so nothing is ever written through a link.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    let create =
        || OpenOptions::new().write(true).create_new(true).mode(crate::FILE_MODE).open(path);
    match create() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(path)?;
            create()
        }
        r => r,
    }
}

/// Writes `data` to a fresh temporary file next to `path`, fsynced if `durable`.
fn write_temp(path: &Path, data: &[u8], durable: bool) -> Result<PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    let temp = path.with_file_name(format!(".{name}{TEMP_SUFFIX}"));
    let mut f = create_fresh(&temp).map_err(io_err("creating", &temp))?;
    let written = f.write_all(data).map_err(io_err("writing", &temp));
    let synced = written.and_then(|()| match durable {
        true => f.sync_all().map_err(io_err("syncing", &temp)),
        false => Ok(()),
    });
    if let Err(e) = synced {
        // A full disk must not leave half an object in the served tree.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

fn sync_path(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(io_err("syncing", path))
}

/// Fsyncs `paths` from a few threads at once: concurrent fsyncs share
/// journal commits and device flushes, where one after another each pays.
fn sync_all(paths: &[PathBuf]) -> Result<()> {
    const THREADS: usize = 32;
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| sync_path(p));
    }
    let chunk = paths.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        let sync = |part: &[PathBuf]| part.iter().try_for_each(|p| sync_path(p));
        let mut workers = Vec::new();
        for part in paths.chunks(chunk) {
            // Where no thread can be had (resource limits), sync right here.
            match std::thread::Builder::new().spawn_scoped(s, move || sync(part)) {
                Ok(w) => workers.push(w),
                Err(_) => sync(part)?,
            }
        }
        workers.into_iter().try_for_each(|w| {
            w.join().unwrap_or_else(|_| {
                Err(StoreError::Backend(IoError {
                    op: "syncing",
                    path: PathBuf::new(),
                    source: io::Error::other("sync thread panicked"),
                }))
            })
        })
    })
}

fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

impl TileStore for PosixStore {
    type Error = IoError;

    fn get(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<Option<usize>> {
        let path = self.path(tile);
        no_symlink(&self.root, &path)?;
        read_into(&path, buf)
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<()> {
        let path = self.path(tile);
        no_symlink(&self.root, &path)?;
        if !self.intent_open {
            self.write_intent()?;
        }
        self.make_parents(&path)?;
        let temp = write_temp(&path, data, false)?;
        // A hard link never replaces an existing name: write-once even if
        // another process races us.
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => {
                // The file's directory gained an entry, whatever this process knew of it.
                if let Some(dir) = path.parent() {
                    self.durable_dirs.remove(dir);
                }
                self.mark_ancestors(&path);
                self.dirty_files.push(path);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut existing = vec![0; data.len()];
                match read_into(&path, &mut existing) {
                    Ok(Some(n)) if existing[..n] == *data => Ok(()),
                    Ok(_) | Err(StoreError::TooSmall { .. }) => Err(StoreError::Conflict),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(io_err("linking", &path)(e)),
        }
    }

    fn sync(&mut self) -> Result<()> {
        // Files first, then the directory entries that name them.
        let files = std::mem::take(&mut self.dirty_files);
        sync_all(&files)?;
        let dirs: Vec<PathBuf> = std::mem::take(&mut self.dirty_dirs).into_iter().collect();
        sync_all(&dirs)?;
        self.durable_dirs.extend(dirs);
        Ok(())
    }

    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let path = self.root.join(CHECKPOINT);
        no_symlink(&self.root, &path)?;
        read_into(&path, buf)
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<()> {
        let path = self.root.join(CHECKPOINT);
        no_symlink(&self.root, &path)?;
        let stored = match fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        check_checkpoint_replace(stored.as_deref(), expected, new)?;
        if stored.as_deref() == Some(new) {
            return Ok(());
        }
        let temp = write_temp(&path, new, true)?;
        fs::rename(&temp, &path).map_err(io_err("renaming", &temp))?;
        sync_path(&self.root)?;
        self.close_intent()
    }

    fn recover(&mut self, size: u64) -> Result<Recovery> {
        let checkpoint = self.root.join(CHECKPOINT);
        no_symlink(&self.root, &checkpoint)?;
        let stored = match fs::read(&checkpoint) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("reading", &checkpoint)(e)),
        };
        check_recover_size(stored.as_deref(), size)?;
        if stored.is_some() {
            // A crashed writer may have renamed it without syncing: make the
            // checkpoint durable before anything is served from it.
            sync_path(&checkpoint)?;
            sync_path(&self.root)?;
        }
        let mut files = Vec::new();
        walk(&self.root, &self.root, &mut files)?;
        let mut rec = Recovery { size, ..Recovery::default() };
        let mut touched = BTreeSet::new();
        let mut beyond = Vec::new();
        for rel in files {
            let path = self.root.join(&rel);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if is_temp(name) {
                fs::remove_file(&path).map_err(io_err("removing", &path))?;
                rec.removed_partial_writes += 1;
                touched.insert(path.parent().unwrap_or(&self.root).to_path_buf());
            } else if let Some(t) = rel.to_str().and_then(Tile::parse) {
                if stored.is_none() {
                    return Err(StoreError::NoCheckpoint);
                }
                if !t.within(size) {
                    beyond.push((t, rel));
                }
            }
        }
        if !beyond.is_empty() && self.read_intent()? != Some(size) {
            let mut unexplained = Recovery::default();
            beyond.iter().for_each(|(t, _)| unexplained.removed(t));
            return Err(StoreError::Unexplained {
                checkpoint: size,
                extent: unexplained.orphan_extent,
            });
        }
        // The interrupted commit's objects were never acknowledged: remove them.
        for (t, rel) in beyond {
            let path = self.root.join(&rel);
            fs::remove_file(&path).map_err(io_err("removing", &path))?;
            rec.removed(&t);
            touched.insert(path.parent().unwrap_or(&self.root).to_path_buf());
        }
        let touched: Vec<PathBuf> = touched.into_iter().collect();
        sync_all(&touched)?;
        self.close_intent()?;
        Ok(rec)
    }
}

/// Lists the files under `dir` as paths relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))? {
        let entry = entry.map_err(io_err("listing", dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io_err("listing", &path))?;
        if kind.is_symlink() {
            return no_symlink(dir, &path);
        }
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, PosixStore) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("log");
        fs::create_dir(&root).unwrap();
        let s = PosixStore::open(root).unwrap();
        (dir, s)
    }

    #[test]
    fn write_once_and_layout() {
        let (dir, mut s) = store();
        let t = Tile::hashes(0, 1234, 5);
        s.put(&t, b"hello").unwrap();
        s.put(&t, b"hello").unwrap();
        assert!(matches!(s.put(&t, b"other"), Err(StoreError::Conflict)));
        assert!(matches!(s.put(&t, b"hell"), Err(StoreError::Conflict)));
        s.sync().unwrap();
        assert_eq!(fs::read(dir.path().join("log/tile/0/x001/234.p/5")).unwrap(), b"hello");
        let mut buf = [0u8; 3];
        assert!(matches!(s.get(&t, &mut buf), Err(StoreError::TooSmall { needed: 5 })));
        let mut buf = [0u8; 8];
        assert_eq!(s.get(&t, &mut buf).unwrap(), Some(5));
        assert_eq!(s.get(&Tile::hashes(0, 1, 256), &mut buf).unwrap(), None);
    }

    fn note(size: u64) -> Vec<u8> {
        format!("o\n{size}\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} o AAAAAA==\n")
            .into_bytes()
    }

    #[test]
    fn checkpoint_only_grows() {
        let (_dir, mut s) = store();
        s.replace_checkpoint(b"", &note(1)).unwrap();
        assert!(matches!(s.replace_checkpoint(b"", &note(2)), Err(StoreError::CheckpointChanged)));
        s.replace_checkpoint(&note(1), &note(1)).unwrap();
        let r = s.replace_checkpoint(&note(1), &note(0));
        assert!(matches!(r, Err(StoreError::NotLarger { stored: 1, offered: 0 })));
        s.replace_checkpoint(&note(1), &note(5)).unwrap();
        let mut buf = [0u8; 256];
        let n = s.get_checkpoint(&mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], &note(5)[..]);
    }

    #[test]
    fn recover_removes_an_interrupted_commit_and_refuses_unexplained_objects() {
        let (dir, mut s) = store();
        s.put(&Tile::entries(0, 3), b"x").unwrap();
        assert!(matches!(s.recover(0), Err(StoreError::NoCheckpoint)));
        s.replace_checkpoint(b"", &note(4)).unwrap();
        assert!(!s.intent().exists(), "a commit's intent ends with its checkpoint");
        // A commit from size 4 is interrupted after its objects.
        for t in [Tile::hashes(0, 0, 3), Tile::entries(0, 5), Tile::hashes(0, 0, 256)] {
            s.put(&t, b"x").unwrap();
        }
        assert_eq!(s.read_intent().unwrap(), Some(4));
        fs::write(dir.path().join("log/tile/0/.000.tmp"), b"half").unwrap();
        fs::write(dir.path().join("log/README"), b"not ours").unwrap();
        assert!(matches!(s.recover(3), Err(StoreError::CheckpointChanged)));
        let rec = s.recover(4).unwrap();
        assert_eq!(
            (rec.size, rec.removed_objects, rec.removed_partial_writes, rec.orphan_extent),
            (4, 2, 1, 256)
        );
        assert!(dir.path().join("log/tile/entries/000.p/3").exists());
        assert!(!dir.path().join("log/tile/entries/000.p/5").exists());
        assert!(!dir.path().join("log/tile/0/000").exists());
        assert!(dir.path().join("log/README").exists());
        assert!(!s.intent().exists());
        assert!(!s.recover(4).unwrap().repaired());
        // An object beyond the checkpoint with no commit under way: refused,
        // and left where it is.
        let stray = dir.path().join("log/tile/entries/000.p/9");
        fs::write(&stray, b"y").unwrap();
        assert!(matches!(s.recover(4), Err(StoreError::Unexplained { checkpoint: 4, extent: 9 })));
        assert!(stray.exists());
    }

    #[test]
    fn one_writer_per_directory() {
        let (dir, _s) = store();
        let err = PosixStore::open(dir.path().join("log")).unwrap_err().to_string();
        assert!(err.contains("another writer"), "{err}");
    }
}
