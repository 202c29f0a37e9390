//! A tlog-tiles directory as a crash-safe, write-once tile store.
//!
//! Every object is written to a temporary file in its directory and then
//! hard-linked into place, which fails if the name exists, so an object is
//! never replaced. [`sync`](TileStore::sync) fsyncs the new files and the
//! directories that gained entries, all at once (their order does not
//! matter: until the checkpoint names them, recovery removes them); only
//! after that does the engine replace the checkpoint (written into the
//! spare `.checkpoint.spare`, fsynced, exchanged with the checkpoint by
//! `renameat2(RENAME_EXCHANGE)`, directory fsynced: see `swap_in`). Deferring the file fsyncs to `sync` lets one
//! journal commit cover a whole batch. A crash before the checkpoint is
//! replaced can leave objects with incomplete content, but only beyond the
//! checkpoint's tree. Once the new checkpoint is in place, the partial tiles
//! of every tile the commit made full leave the tree (C2SP lets a log delete
//! them once the full tile exists), best effort and unsynced, as spares to
//! be written again (see `spare`).
//!
//! A crash must be told from a rollback (the checkpoint replaced by an
//! older one the ledger itself signed, which would otherwise look exactly
//! like a commit interrupted long ago): before a commit's first object the
//! store durably writes its **intent**, `<root>.intent` beside the served
//! tree, naming the tree size the commit starts from, and marks it idle
//! once the new checkpoint is in place. [`recover`](TileStore::recover)
//! removes objects beyond the checkpoint only when an intent from that very
//! size is there (they were never acknowledged); objects beyond it without
//! one are [`StoreError::Unexplained`] and nothing is touched. It also
//! removes temporary files. One store at a time writes a directory: it
//! holds an exclusive `flock` on it.
//!
//! The intent is one fixed-size record with a checksum, rewritten in place
//! and `fdatasync`ed: no rename and no directory fsync per commit. That is
//! crash-safe because
//! - its name is made durable once, when it is created (temporary file,
//!   fsync, rename, directory fsync), and rewritten in place only by a
//!   process that knows that: one that created it, or whose recovery found
//!   it idle (a record is only ever marked idle after its creation was
//!   durable);
//! - a commit's objects are written only after `fdatasync` of its intent
//!   returned, so no object of a commit reaches the disk before its intent;
//! - a record torn by a crash fails its checksum, and a crash can tear only
//!   a rewrite made while no object lies beyond the checkpoint (the start of
//!   a commit, or marking it idle after the checkpoint): recovery then has
//!   nothing to remove and replaces the record; with objects beyond the
//!   checkpoint a damaged record removes nothing;
//! - marking it idle is not synced, exactly as removing it was not: a power
//!   loss right after a commit can leave its intent (a stale intent, from an
//!   older size than the checkpoint's), which explains nothing unless the
//!   checkpoint is also rolled back to that size (docs/security.md).
//!
//! An idle record also says that nothing needs syncing at open: it is
//! written only after the checkpoint was durably in place, and every
//! directory on the right edge durable (see `Probe`; the commit fsynced the
//! parents of those it created, and its process's recovery had them all
//! durable already). So recovery that finds it idle syncs nothing and
//! trusts the directories it listed; finding anything else (a commit's
//! intent, the text earlier versions wrote, none), it fsyncs the checkpoint
//! (a crashed writer may have renamed it without syncing) and every
//! directory it listed (a crashed writer may have created them without
//! syncing) in one round, before anything is served from them, and then
//! writes the idle record. A commit then fsyncs only the directories that
//! gained entries.
//!
//! Recovery does not walk the tree: it lists only where a commit from the
//! checkpoint's size can have written, the directories along the path of
//! each level's right-edge tile (see `Probe`).

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ledger::store::{
    Recovery, StoreError, TileStore, check_checkpoint_replace, check_recover_size,
};
use tlog::{TILE_WIDTH, Tile, TileKind};

use crate::spare::Spares;

/// The checkpoint's file name.
pub const CHECKPOINT: &str = "checkpoint";
/// Beside it, the previous checkpoint, overwritten with the next one and
/// exchanged with it (see [`swap_in`]). Never served.
pub const SPARE: &str = ".checkpoint.spare";
const TEMP_SUFFIX: &str = ".tmp";
/// The first line of an intent as earlier versions wrote it (and as an
/// operator can still write one); the tree size it starts from follows.
const INTENT_HEADER: &str = "service-fs commit intent\nfrom ";
/// The first line of the fixed-size intent record rewritten in place.
const INTENT_MAGIC: &str = "service-fs commit intent 2\n";
/// `from <20 digits>\n` or `none <20 digits>\n`.
const INTENT_STATE_LEN: usize = 26;
/// `sum <16 hex digits>\n`: the first 8 bytes of the SHA-256 leaf hash of
/// what precedes it.
const INTENT_SUM_LEN: usize = 21;
/// The size of an intent record.
const INTENT_LEN: usize = INTENT_MAGIC.len() + INTENT_STATE_LEN + INTENT_SUM_LEN;
/// Superseded partial tiles an open deletes at most (those a crash left
/// where recovery looks anyway); later opens and commits take the rest.
const MAX_PRUNE_AT_OPEN: usize = 16;

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

/// What an intent file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Intent {
    /// No commit under way (the record rewritten in place after a commit).
    Idle,
    /// A commit from this tree size is under way or was interrupted.
    From(u64),
}

/// The intent record for `from` (`None`: idle).
fn intent_record(from: Option<u64>) -> [u8; INTENT_LEN] {
    let state = match from {
        Some(n) => format!("from {n:020}\n"),
        None => format!("none {:020}\n", 0),
    };
    let mut out = [0u8; INTENT_LEN];
    let body = format!("{INTENT_MAGIC}{state}");
    let sum = intent_sum(body.as_bytes());
    let text = format!("{body}sum {sum}\n");
    out.copy_from_slice(text.as_bytes());
    out
}

fn intent_sum(body: &[u8]) -> String {
    let h = tlog::leaf_hash(body);
    h.0[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses an intent: the in-place record (checksum checked) or the text
/// earlier versions wrote. `None`: not an intent.
fn parse_intent(bytes: &[u8]) -> Option<Intent> {
    if let Some(rest) = bytes.strip_prefix(INTENT_MAGIC.as_bytes()) {
        if bytes.len() != INTENT_LEN {
            return None;
        }
        let (state, sum) = rest.split_at(INTENT_STATE_LEN);
        let body = &bytes[..INTENT_MAGIC.len() + INTENT_STATE_LEN];
        let sum = std::str::from_utf8(sum).ok()?.strip_prefix("sum ")?.strip_suffix('\n')?;
        if sum != intent_sum(body) {
            return None;
        }
        let state = std::str::from_utf8(state).ok()?.strip_suffix('\n')?;
        let (word, digits) = state.split_once(' ')?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        return match word {
            "from" => Some(Intent::From(n)),
            "none" if n == 0 => Some(Intent::Idle),
            _ => None,
        };
    }
    let text = std::str::from_utf8(bytes).ok()?;
    text.strip_prefix(INTENT_HEADER)?.trim_end().parse().ok().map(Intent::From)
}

/// The intent file beside the store at `root`.
/// Takes the directory's lock, waiting a moment for a holder that is
/// not a writer: a child another thread of this process is starting holds
/// a copy of every descriptor, locks included, from its fork until its
/// exec closes them.
fn lock_briefly(lock: &File) -> io::Result<()> {
    for _ in 0..50 {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(4))
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
    Err(io::Error::other("another writer has it open"))
}

fn intent_path(root: &Path) -> PathBuf {
    beside(root, ".intent")
}

/// The name beside the tree `root` made of its own and `suffix`
/// (`log` → `log.intent`), whatever the form `root` was given in
/// (`log/` too).
pub(crate) fn beside(root: &Path, suffix: &str) -> PathBuf {
    let mut name = root.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    root.with_file_name(name)
}

/// Reads the intent at `path` without following a symbolic link.
fn read_intent_at(path: &Path) -> Result<Option<Intent>> {
    let bad = |what: &str| io_err("reading", path)(io::Error::other(what.to_string()));
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading", path)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(bad("a symbolic link, which a ledger never follows"));
        }
        Ok(m) if !m.is_file() || m.len() > 4096 => return Err(bad("not a commit intent")),
        Ok(_) => {}
    }
    match fs::read(path) {
        Ok(bytes) => parse_intent(&bytes).map(Some).ok_or_else(|| bad("not a commit intent")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

/// Opens the intent record at `path` for rewriting in place: a regular
/// file of the record's size, never through a symbolic link (the file
/// opened is the one `lstat` found). `None` if it is anything else.
fn open_in_place(path: &Path) -> Option<File> {
    let before = fs::symlink_metadata(path).ok()?;
    if !before.is_file() || before.len() != INTENT_LEN as u64 {
        return None;
    }
    let f = OpenOptions::new().write(true).open(path).ok()?;
    let opened = f.metadata().ok()?;
    (opened.dev() == before.dev() && opened.ino() == before.ino()).then_some(f)
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
    /// The intent record, open for rewriting in place, once this process
    /// knows its name is durable.
    intent_file: Option<File>,
    /// Full tiles written since the last checkpoint: their partial tiles
    /// go once a checkpoint covering them is in place.
    full_written: Vec<Tile>,
    /// Directories the last recovery listed (for tests of its cost).
    listed: usize,
    /// Superseded objects and directories, to be written again.
    spares: Spares,
    /// Directories the last prune changed (the parents of those it took
    /// out of the tree, and those directories where they now are): synced
    /// with the next round, before the spares it made are written.
    pruned_dirs: Vec<PathBuf>,
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
        lock_briefly(&lock).map_err(|e| err("locking", e))?;
        Ok(PosixStore {
            _lock: lock,
            durable_dirs: BTreeSet::new(),
            dirty_files: Vec::new(),
            dirty_dirs: BTreeSet::new(),
            intent_open: false,
            intent_file: None,
            full_written: Vec::new(),
            listed: 0,
            spares: Spares::new(&root),
            pruned_dirs: Vec::new(),
            root,
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The commit intent: beside the directory (`log.intent`), durably
    /// written before a commit's first object and marked idle once its
    /// checkpoint is in place. Objects beyond the checkpoint are a crashed
    /// commit's only if an intent from that checkpoint's size is there.
    pub fn intent(&self) -> PathBuf {
        intent_path(&self.root)
    }

    /// The tree size the intent says a commit started from, if any.
    pub fn read_intent(&self) -> Result<Option<u64>> {
        read_intent(&self.root)
    }

    /// How many directories the last [`recover`](TileStore::recover)
    /// listed: what opening costs, whatever the history.
    pub fn directories_listed(&self) -> usize {
        self.listed
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
        let record = intent_record(Some(from));
        if let Some(f) = &self.intent_file {
            let written = f.write_all_at(&record, 0).and_then(|()| timed(|| f.sync_data()));
            if let Err(e) = written {
                // Its state on disk is unknown: create it afresh next time.
                self.intent_file = None;
                return Err(io_err("writing", &path)(e));
            }
        } else {
            let temp = write_temp(&path, &record, true)?;
            fs::rename(&temp, &path).map_err(io_err("renaming", &temp))?;
            sync_path(path.parent().unwrap_or(Path::new(".")))?;
            self.intent_file = open_in_place(&path);
        }
        self.intent_open = true;
        Ok(())
    }

    /// The commit is over: its checkpoint is in place. The intent is marked
    /// idle, unsynced (see the module documentation).
    fn close_intent(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.intent_open) {
            return Ok(());
        }
        let path = self.intent();
        match &self.intent_file {
            Some(f) => {
                if let Err(e) = f.write_all_at(&intent_record(None), 0) {
                    self.intent_file = None;
                    return Err(io_err("writing", &path)(e));
                }
                Ok(())
            }
            None => remove_intent(&path),
        }
    }

    /// Marks every directory from `file`'s up to the root for the next
    /// sync, unless this process made it durable or its recovery knows it
    /// durable: a directory created by an earlier, crashed writer may never
    /// have been fsynced.
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
            if !self.spares.take_dir(d) {
                match crate::dir_builder(false).create(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err("creating directory", d)(e)),
                }
            }
            if let Some(p) = d.parent() {
                self.durable_dirs.remove(p);
                self.dirty_dirs.insert(p.to_path_buf());
            }
        }
        Ok(())
    }

    /// Takes the partial tiles of full tile `t` (its `<N>.p/` directory)
    /// out of the tree, as spares or deleted, best effort and unsynced: a
    /// crash leaves them, valid as they are, for a later commit or open.
    /// Only names that are `t`'s partial tiles are taken, never through a
    /// symbolic link. The directories this changes are synced with the next
    /// round, after which the spares are ready (see [`Spares`]).
    fn prune_partials(&mut self, t: &Tile) {
        let full = t.full().path();
        let dir = self.root.join(format!("{full}.p"));
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return;
        }
        let Ok(entries) = fs::read_dir(&dir) else { return };
        for e in entries.flatten() {
            let ours = e.file_name().to_str().and_then(|n| Tile::parse(&format!("{full}.p/{n}")));
            let is_file = e.file_type().is_ok_and(|k| k.is_file());
            if is_file
                && ours.is_some_and(|p| p.kind == t.kind && p.index == t.index)
                && !self.spares.keep_file(&e.path())
            {
                let _ = fs::remove_file(e.path());
            }
        }
        self.durable_dirs.remove(&dir);
        match self.spares.keep_dir(&dir) {
            Some(moved) => self.pruned_dirs.push(moved),
            // Names not the tile's keep it: its removed entries still count.
            None if fs::remove_dir(&dir).is_err() => self.pruned_dirs.push(dir.clone()),
            None => {}
        }
        self.pruned_dirs.extend(dir.parent().map(Path::to_path_buf));
    }

    /// Writes `data` for the object at `path` into a spare file or else a
    /// fresh temporary one, unsynced; returns its name, to be linked into
    /// place and removed.
    fn stage(&mut self, path: &Path, data: &[u8]) -> Result<PathBuf> {
        let Some((spare, mut f)) = self.spares.take_file() else {
            return write_temp(path, data, false);
        };
        if let Err(e) = f.write_all(data) {
            let _ = fs::remove_file(&spare);
            return Err(io_err("writing", &spare)(e));
        }
        Ok(spare)
    }
}

/// Removes the intent file at `path`, if there is one.
fn remove_intent(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", path)(e)),
    }
}

/// The tree size the commit intent of the store at `root` says a commit
/// started from, if one is under way or was interrupted (see
/// [`PosixStore::intent`]). Reads without taking the store's lock.
pub fn read_intent(root: &Path) -> Result<Option<u64>> {
    Ok(match read_intent_at(&intent_path(root))? {
        Some(Intent::From(n)) => Some(n),
        Some(Intent::Idle) | None => None,
    })
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
    // A bare file name's parent is "": the current directory.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
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
    let intent = intent_path(root);
    match fs::remove_file(&intent) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(IoError { op: "removing", path: intent, source: e })
        }
        _ => Ok(()),
    }
}

/// Writes an idle intent record beside the new store at `root`, whose
/// checkpoint is durably in place and which holds no tile yet, so that its
/// first open has nothing to sync. Not synced: the caller fsyncs the
/// directory holding it, with the rest of what it creates.
pub fn write_idle_intent(root: &Path) -> std::result::Result<(), IoError> {
    let path = intent_path(root);
    let done = write_temp(&path, &intent_record(None), true)
        .and_then(|temp| fs::rename(&temp, &path).map_err(io_err("renaming", &temp)));
    done.map_err(|e| match e {
        StoreError::Backend(e) => e,
        other => IoError {
            op: "writing",
            path: path.clone(),
            source: io::Error::other(other.to_string()),
        },
    })
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
        true => timed(|| f.sync_all()).map_err(io_err("syncing", &temp)),
        false => Ok(()),
    });
    if let Err(e) = synced {
        // A full disk must not leave half an object in the served tree.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

/// Puts `note` in place as `root/checkpoint`, atomically for readers:
/// written and synced into [`SPARE`], which is then exchanged with the
/// checkpoint (`renameat2(RENAME_EXCHANGE)`), so the previous checkpoint
/// becomes the next commit's spare. Where the file system cannot exchange
/// (or there is no checkpoint yet) the spare is renamed over it. No inode is
/// freed or allocated per commit: ext4 skips recently freed inodes when it
/// allocates, and a commit a millisecond would make every create pay for it.
fn swap_in(root: &Path, note: &[u8]) -> Result<()> {
    let path = root.join(CHECKPOINT);
    let spare = root.join(SPARE);
    let reusable = fs::symlink_metadata(&spare).is_ok_and(|m| m.file_type().is_file());
    let mut f = match reusable {
        true => OpenOptions::new()
            .write(true)
            .truncate(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&spare),
        // Missing, or something else planted there: never written through.
        false => create_fresh(&spare),
    }
    .map_err(io_err("opening", &spare))?;
    f.write_all(note).and_then(|()| timed(|| f.sync_all())).map_err(io_err("writing", &spare))?;
    drop(f);
    let exchanged = path.exists()
        && rustix::fs::renameat_with(
            rustix::fs::CWD,
            &spare,
            rustix::fs::CWD,
            &path,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .is_ok();
    if !exchanged {
        fs::rename(&spare, &path).map_err(io_err("renaming", &spare))?;
    }
    Ok(())
}

/// Told the duration of every fsync and fdatasync a store makes.
static SYNC_OBSERVER: std::sync::OnceLock<fn(std::time::Duration)> = std::sync::OnceLock::new();

/// Has `observe` told the duration of every fsync and fdatasync any store
/// in this process makes (for a daemon's metrics); the first call wins.
pub fn observe_syncs(observe: fn(std::time::Duration)) {
    let _ = SYNC_OBSERVER.set(observe);
}

fn timed<T>(sync: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let start = std::time::Instant::now();
    let done = sync();
    if let Some(observe) = SYNC_OBSERVER.get() {
        observe(start.elapsed());
    }
    done
}

fn sync_path(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| timed(|| f.sync_all())).map_err(io_err("syncing", path))
}

/// Fsyncs `paths` from a few threads at once: concurrent fsyncs share
/// journal commits and device flushes, where one after another each pays.
/// The threads are [`SyncPool`]'s, started once per process: a commit a
/// millisecond cannot afford to start threads for each round.
fn sync_all(paths: &[PathBuf]) -> Result<()> {
    if paths.len() <= 1 {
        return paths.iter().try_for_each(|p| sync_path(p));
    }
    let (done, results) = std::sync::mpsc::channel();
    let mut sent = 0;
    for path in paths {
        match SyncPool::get().and_then(|pool| pool.send(path.clone(), done.clone()).ok()) {
            Some(()) => sent += 1,
            // Where no thread can be had (resource limits), sync right here.
            None => sync_path(path)?,
        }
    }
    drop(done);
    let (mut first, mut answered) = (Ok(()), 0);
    for r in results.iter().take(sent) {
        answered += 1;
        if first.is_ok() {
            first = r;
        }
    }
    if answered < sent {
        // A sync thread stopped without answering: that path may not be durable.
        return Err(StoreError::Backend(IoError {
            op: "syncing",
            path: PathBuf::new(),
            source: io::Error::other("a sync thread stopped"),
        }));
    }
    first
}

/// A sync job: the path, and where its result goes.
type SyncJob = (PathBuf, std::sync::mpsc::Sender<Result<()>>);

/// Threads that fsync paths sent to them, shared by every store of the
/// process.
struct SyncPool {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<SyncJob>>,
}

impl SyncPool {
    /// Threads, as many fsyncs as are in flight at once at most.
    const THREADS: usize = 16;

    /// The process's pool, started at the first call; `None` if not even
    /// one thread could be started.
    fn get() -> Option<&'static SyncPool> {
        static POOL: std::sync::OnceLock<Option<SyncPool>> = std::sync::OnceLock::new();
        POOL.get_or_init(SyncPool::start).as_ref()
    }

    fn start() -> Option<SyncPool> {
        let (jobs, queue) = std::sync::mpsc::channel::<SyncJob>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let mut started = 0;
        for i in 0..Self::THREADS {
            let queue = queue.clone();
            let worker = move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok((path, done)) = job else { return };
                    let _ = done.send(sync_path(&path));
                }
            };
            let spawned = std::thread::Builder::new().name(format!("store-sync-{i}")).spawn(worker);
            started += usize::from(spawned.is_ok());
        }
        (started > 0).then(|| SyncPool { jobs: std::sync::Mutex::new(jobs) })
    }

    fn send(
        &self,
        path: PathBuf,
        done: std::sync::mpsc::Sender<Result<()>>,
    ) -> std::result::Result<(), ()> {
        let jobs = self.jobs.lock().map_err(|_| ())?;
        jobs.send((path, done)).map_err(|_| ())
    }
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
        let temp = self.stage(&path, data)?;
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
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut existing = vec![0; data.len()];
                match read_into(&path, &mut existing) {
                    Ok(Some(n)) if existing[..n] == *data => {}
                    Ok(_) | Err(StoreError::TooSmall { .. }) => return Err(StoreError::Conflict),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(io_err("linking", &path)(e)),
        }
        if tile.is_full() {
            self.full_written.push(*tile);
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        // One round: the new files and the directory entries that name
        // them. Neither counts before the checkpoint does, so their order
        // does not matter; both are durable before it is replaced. The
        // round also has the directories the last prune changed.
        let dirs = std::mem::take(&mut self.dirty_dirs);
        let mut paths = std::mem::take(&mut self.dirty_files);
        paths.extend(dirs.iter().cloned());
        let pruned: BTreeSet<PathBuf> = self.pruned_dirs.drain(..).collect();
        paths.extend(pruned.into_iter().filter(|d| !dirs.contains(d)));
        if let Err(e) = sync_all(&paths) {
            self.spares.forget_pending();
            return Err(e);
        }
        self.spares.settle();
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
        swap_in(&self.root, new)?;
        sync_path(&self.root)?;
        self.durable_dirs.insert(self.root.clone());
        self.close_intent()?;
        // The checkpoint covering them is durably in place: the partial
        // tiles the full ones supersede can go.
        let size = note::Checkpoint::peek_size(new).unwrap_or(0);
        for t in std::mem::take(&mut self.full_written) {
            if t.within(size) {
                self.prune_partials(&t);
            }
        }
        Ok(())
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
        // What a failed commit left in memory: recovery decides what stays.
        self.dirty_files.clear();
        self.dirty_dirs.clear();
        self.full_written.clear();
        self.pruned_dirs.clear();
        self.spares.forget_pending();
        let intent_at = self.intent();
        let intent = read_intent_at(&intent_at);
        // Idle: the last commit ended after its checkpoint and every
        // directory on the right edge were durable, and nothing has been
        // written since (see the module documentation).
        let idle = stored.is_some() && matches!(intent, Ok(Some(Intent::Idle)));
        let absent = matches!(intent, Ok(None));
        let mut probe =
            Probe { root: &self.root, size, found: Found::default(), listed: Vec::new() };
        let probed = probe.run();
        let listed = std::mem::take(&mut probe.listed);
        self.listed = listed.len();
        probed?;
        let Found { temps, beyond, superseded } = probe.found;
        if stored.is_none() && !beyond.is_empty() {
            return Err(StoreError::NoCheckpoint);
        }
        if !beyond.is_empty()
            && intent?.and_then(|i| match i {
                Intent::From(n) => Some(n),
                Intent::Idle => None,
            }) != Some(size)
        {
            let mut unexplained = Recovery::default();
            beyond.iter().for_each(|(t, _)| unexplained.removed(t));
            return Err(StoreError::Unexplained {
                checkpoint: size,
                extent: unexplained.orphan_extent,
            });
        }
        let mut rec = Recovery { size, ..Recovery::default() };
        let mut touched = BTreeSet::new();
        for path in temps {
            fs::remove_file(&path).map_err(io_err("removing", &path))?;
            rec.removed_partial_writes += 1;
            touched.insert(path.parent().unwrap_or(&self.root).to_path_buf());
        }
        // The interrupted commit's objects were never acknowledged: remove them.
        for (t, path) in beyond {
            fs::remove_file(&path).map_err(io_err("removing", &path))?;
            rec.removed(&t);
            touched.insert(path.parent().unwrap_or(&self.root).to_path_buf());
        }
        self.intent_open = false;
        if idle {
            sync_all(&touched.into_iter().collect::<Vec<_>>())?;
            if self.intent_file.is_none() {
                self.intent_file = open_in_place(&intent_at);
            }
        } else if stored.is_some() {
            // One round: the checkpoint (a crashed writer may have renamed
            // it without syncing: it is durable before anything is served
            // from it), every directory on the right edge (a crashed writer
            // may have created them without syncing; the commits of this
            // process, and of later ones while the intent stays idle, trust
            // them), the directories recovery changed among them, and an
            // idle intent record, which then takes the place of whatever
            // intent there was.
            let temp = write_temp(&intent_at, &intent_record(None), false)?;
            // Each directory once: those recovery changed are among those listed.
            let mut paths: Vec<PathBuf> = listed
                .iter()
                .cloned()
                .chain(touched)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            paths.push(checkpoint);
            paths.push(temp.clone());
            sync_all(&paths)?;
            fs::rename(&temp, &intent_at).map_err(io_err("renaming", &temp))?;
            sync_path(intent_at.parent().unwrap_or(Path::new(".")))?;
            self.intent_file = open_in_place(&intent_at);
        } else {
            // No checkpoint yet (a store being created): nothing to trust.
            sync_all(&touched.into_iter().collect::<Vec<_>>())?;
            self.intent_file = None;
            if !absent {
                remove_intent(&intent_at)?;
            }
        }
        if stored.is_some() {
            self.durable_dirs.extend(listed);
        }
        for t in superseded.iter().take(MAX_PRUNE_AT_OPEN) {
            self.prune_partials(t);
        }
        Ok(rec)
    }
}

/// What recovery found where a commit from the checkpoint's size can have
/// written.
#[derive(Default)]
struct Found {
    /// Temporary files of interrupted writes.
    temps: Vec<PathBuf>,
    /// Objects beyond the tree.
    beyond: Vec<(Tile, PathBuf)>,
    /// Full tiles within the tree whose partial tiles are still there.
    superseded: Vec<Tile>,
}

/// One name in a tile directory: a part of a tile index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `xNNN`: a directory of larger indexes, whose next group is NNN.
    Dir(u16),
    /// `NNN`: a full tile whose last group is NNN.
    Full(u16),
    /// `NNN.p`: the partial tiles of that index.
    Partial(u16),
}

fn three_digits(s: &str) -> Option<u16> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn part(name: &str) -> Option<Part> {
    if let Some(d) = name.strip_prefix('x') {
        return three_digits(d).map(Part::Dir);
    }
    if let Some(d) = name.strip_suffix(".p") {
        return three_digits(d).map(Part::Partial);
    }
    three_digits(name).map(Part::Full)
}

/// The groups of three digits of a tile index, most significant first
/// (`1234067` → 1, 234, 67), as its path spells them.
fn groups(mut n: u64) -> Vec<u16> {
    let mut out = Vec::new();
    loop {
        out.push((n % 1000) as u16);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    out
}

/// Deepest directory below a level's directory that can hold a tile
/// (seven groups and `.p`); deeper ones are not looked into.
const MAX_DEPTH: usize = 9;

/// Finds what a commit from tree size `size` can have left, listing only the
/// directories it can have written to.
///
/// A commit from `size` writes, at each level (and for the entries), tiles
/// from the right-edge index `E = level_count / 256` on: the full tile `E`
/// or a wider partial of it, and larger indexes. In each directory along
/// the path of `E` (`tile/0/x001/234` for 1234: `tile/0`, then
/// `tile/0/x001`) the names to the right of that path hold only larger
/// indexes and are listed whole (`xNNN` with NNN larger than the path's
/// group, and in the last directory every `xNNN`, which holds indexes of
/// more groups, and `NNN`, `NNN.p` from E's last group on); the names to
/// the left are not opened. An index of more groups than E lies to the
/// left only if its first groups are smaller than E's: the first such a
/// commit writes is 10^(3k) (k: E's groups), under `x001/x000/…`, and
/// that one directory is listed too. So every object a commit of fewer than
/// a million tiles of one level (256 million records) can write is found.
/// A stray object planted further left (`tile/0/x001/x000/000` beside an
/// edge at `tile/0/x005/000` is found; `tile/0/x002/x000/000` is not) is not
/// seen here; should the log ever reach its index, writing it fails as a
/// conflict (write-once) rather than replacing it.
///
/// Temporary files arise only beside the objects, so only in these
/// directories and the root. Along the way, `NNN.p` beside a full `NNN`
/// within the tree is noted: partial tiles a crash left after their full
/// tile was committed.
struct Probe<'a> {
    root: &'a Path,
    size: u64,
    found: Found,
    /// Directories listed.
    listed: Vec<PathBuf>,
}

impl Probe<'_> {
    fn run(&mut self) -> Result<()> {
        let Some(entries) = self.list("")? else { return Ok(()) };
        let mut tiles = false;
        for (name, kind) in entries {
            if is_temp(&name) && !kind.is_dir() {
                self.found.temps.push(self.root.join(&name));
            }
            tiles |= name == "tile" && kind.is_dir();
        }
        if !tiles {
            return Ok(());
        }
        let Some(entries) = self.list("tile")? else { return Ok(()) };
        for (name, kind) in entries {
            if is_temp(&name) && !kind.is_dir() {
                self.found.temps.push(self.root.join("tile").join(&name));
                continue;
            }
            if !kind.is_dir() {
                continue;
            }
            let level = match name.as_str() {
                "entries" => Some(TileKind::Entries),
                n => n
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l < 64 && l.to_string() == n)
                    .map(|level| TileKind::Hashes { level }),
            };
            if let Some(kind) = level {
                self.level(kind, &format!("tile/{name}"))?;
            }
        }
        Ok(())
    }

    /// The entries of `rel` (relative to the root): names and kinds, a
    /// symbolic link refused. `None` if it does not exist.
    fn list(&mut self, rel: &str) -> Result<Option<Vec<(String, fs::FileType)>>> {
        let dir = if rel.is_empty() { self.root.to_path_buf() } else { self.root.join(rel) };
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("listing", &dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("listing", &dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_err("listing", &path))?;
            if kind.is_symlink() {
                no_symlink(&dir, &path)?;
                continue;
            }
            // Names that are not UTF-8 are no tile's and no temporary file's.
            if let Ok(name) = entry.file_name().into_string() {
                out.push((name, kind));
            }
        }
        self.listed.push(dir);
        Ok(Some(out))
    }

    /// A file at `rel`: a temporary file, or an object if beyond the tree.
    fn file(&mut self, rel: &str) {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if is_temp(name) {
            self.found.temps.push(self.root.join(rel));
        } else if let Some(t) = Tile::parse(rel)
            && !t.within(self.size)
        {
            self.found.beyond.push((t, self.root.join(rel)));
        }
    }

    /// Everything under `rel`, which holds only indexes beyond the edge.
    fn whole(&mut self, rel: &str, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let Some(entries) = self.list(rel)? else { return Ok(()) };
        for (name, kind) in entries {
            let at = format!("{rel}/{name}");
            if kind.is_dir() {
                self.whole(&at, depth + 1)?;
            } else {
                self.file(&at);
            }
        }
        Ok(())
    }

    /// The directories of one level (`base`: `tile/<L>` or `tile/entries`).
    fn level(&mut self, kind: TileKind, base: &str) -> Result<()> {
        let level = match kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        };
        let count = Tile::level_count(level, self.size);
        let edge = groups(count / TILE_WIDTH);
        let k = edge.len();
        let mut rel = base.to_string();
        for (i, &g) in edge.iter().enumerate() {
            let last = i + 1 == k;
            let Some(entries) = self.list(&rel)? else { break };
            let full: BTreeSet<u16> = entries
                .iter()
                .filter(|(_, kind)| !kind.is_dir())
                .filter_map(|(name, _)| match part(name) {
                    Some(Part::Full(d)) => Some(d),
                    _ => None,
                })
                .collect();
            let mut deeper = false;
            for (name, kind) in &entries {
                let at = format!("{rel}/{name}");
                if !kind.is_dir() {
                    match part(name) {
                        Some(Part::Full(d)) if last && d >= g => self.file(&at),
                        _ if is_temp(name) => self.file(&at),
                        _ => {}
                    }
                    continue;
                }
                match part(name) {
                    // Indexes of more groups than E's, or larger in this group.
                    Some(Part::Dir(d)) if last || d > g => self.whole(&at, i + 1)?,
                    Some(Part::Dir(d)) => deeper |= d == g,
                    Some(Part::Partial(d)) if last && d > g => self.whole(&at, i + 1)?,
                    Some(Part::Partial(d)) if last && d == g => {
                        // The edge tile's own partials: wider ones are beyond.
                        for (name, kind) in self.list(&at)?.unwrap_or_default() {
                            if !kind.is_dir() {
                                self.file(&format!("{at}/{name}"));
                            }
                        }
                    }
                    Some(Part::Partial(d)) if full.contains(&d) => {
                        if let Some(t) = Tile::parse(&format!("{rel}/{d:03}"))
                            && t.within(self.size)
                        {
                            self.found.superseded.push(t);
                        }
                    }
                    _ => {}
                }
            }
            if last || !deeper {
                break;
            }
            rel = format!("{rel}/x{g:03}");
        }
        // The first indexes of one more group than E's, if their first
        // groups are not E's: 10^(3k) on, under x001/x000/….
        if k >= 2 {
            let chain: Vec<u16> = std::iter::once(1).chain(std::iter::repeat_n(0, k - 2)).collect();
            if chain[..] != edge[..k - 1] {
                let rel: String = chain.iter().map(|c| format!("/x{c:03}")).collect();
                let rel = format!("{base}{rel}");
                no_symlink(self.root, &self.root.join(&rel))?;
                for (name, kind) in self.list(&rel)?.unwrap_or_default() {
                    if kind.is_dir() && matches!(part(&name), Some(Part::Dir(_))) {
                        self.whole(&format!("{rel}/{name}"), k)?;
                    }
                }
            }
        }
        Ok(())
    }
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
        // A commit's intent ends with its checkpoint: the record stays, idle.
        assert_eq!(s.read_intent().unwrap(), None);
        assert_eq!(read_intent_at(&s.intent()).unwrap(), Some(Intent::Idle));
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
        // The intent is answered: an idle record takes its place.
        assert_eq!(read_intent_at(&s.intent()).unwrap(), Some(Intent::Idle));
        assert!(!s.recover(4).unwrap().repaired());
        // An object beyond the checkpoint with no commit under way: refused,
        // and left where it is.
        let stray = dir.path().join("log/tile/entries/000.p/9");
        fs::write(&stray, b"y").unwrap();
        assert!(matches!(s.recover(4), Err(StoreError::Unexplained { checkpoint: 4, extent: 9 })));
        assert!(stray.exists());
    }

    /// Writes `tile` at its path with no intent, as a stray file would be.
    fn plant(dir: &Path, t: &Tile) -> PathBuf {
        let path = dir.join("log").join(t.path().as_str());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, b"x").unwrap();
        path
    }

    /// Recovery finds what lies beyond the tree at every level, in the edge
    /// tile's own directory, to its right, in directories of more groups
    /// (`x001/…`, across the 999 → 1000 boundary), and refuses each one
    /// alone when no intent explains it; it leaves everything within alone.
    #[test]
    fn recovery_finds_every_object_beyond_the_edge_at_every_level() {
        // Level 0 and entries: 256,005 records, edge tile 1000
        // (tile/0/x001/000.p/5); level 1: 1000 hashes, edge 3 (003.p/232);
        // level 2: 3 hashes (000.p/3); level 3 and up: none.
        let size = 1000 * 256 + 5;
        let within = [
            Tile::hashes(0, 5, 256),
            Tile::hashes(0, 999, 256),
            Tile::hashes(0, 1000, 3),
            Tile::hashes(0, 1000, 5),
            Tile::entries(999, 256),
            Tile::entries(1000, 5),
            Tile::hashes(1, 2, 256),
            Tile::hashes(1, 3, 100),
            Tile::hashes(1, 3, 232),
            Tile::hashes(2, 0, 3),
        ];
        let beyond = [
            Tile::hashes(0, 1000, 256),
            Tile::hashes(0, 1000, 6),
            Tile::hashes(0, 1001, 1),
            Tile::hashes(0, 1999, 256),
            Tile::hashes(0, 2000, 256),
            Tile::hashes(0, 1_000_000, 256),
            Tile::hashes(0, 5_000_000, 1),
            Tile::entries(1000, 200),
            Tile::entries(1001, 256),
            Tile::hashes(1, 3, 233),
            Tile::hashes(1, 3, 256),
            Tile::hashes(1, 4, 1),
            Tile::hashes(1, 1000, 256),
            Tile::hashes(2, 0, 4),
            Tile::hashes(2, 1, 256),
            Tile::hashes(3, 0, 1),
            Tile::hashes(40, 7, 256),
        ];
        let (dir, mut s) = store();
        let kept: Vec<PathBuf> = within.iter().map(|t| plant(dir.path(), t)).collect();
        s.replace_checkpoint(b"", &note(size)).unwrap();
        for t in &beyond {
            let path = plant(dir.path(), t);
            assert!(
                matches!(s.recover(size), Err(StoreError::Unexplained { checkpoint, .. }) if checkpoint == size),
                "{t:?} went unseen"
            );
            assert!(path.exists());
            fs::remove_file(path).unwrap();
        }
        assert!(!s.recover(size).unwrap().repaired());
        // A commit from this size is interrupted after all of them.
        for t in &beyond {
            s.put(t, b"x").unwrap();
        }
        let temps = ["tile/0/x001/.000.tmp", "tile/0/x001/000.p/.6.tmp", "tile/1/.003.tmp"];
        for t in temps.iter().chain(&[".checkpoint.tmp"]) {
            fs::write(dir.path().join("log").join(t), b"half").unwrap();
        }
        let rec = s.recover(size).unwrap();
        assert_eq!((rec.removed_objects, rec.removed_partial_writes), (beyond.len() as u64, 4));
        assert_eq!(rec.orphan_extent, u64::MAX); // tile/40/… saturates it
        for t in &beyond {
            assert!(!dir.path().join("log").join(t.path().as_str()).exists(), "{t:?} left");
        }
        assert!(kept.iter().all(|p| p.exists()));
        assert!(!s.recover(size).unwrap().repaired());
    }

    /// An edge just left of a 3-digit boundary (tile 999) and one far right
    /// of the first index of more groups (tile 5000, whose first indexes
    /// of one more group, 1,000,000 on, lie under x001/).
    #[test]
    fn recovery_finds_objects_across_directory_boundaries() {
        for (size, beyond, within) in [
            (
                999 * 256 + 10,
                vec![Tile::hashes(0, 1000, 256), Tile::entries(1000, 3), Tile::hashes(0, 999, 11)],
                vec![Tile::hashes(0, 998, 256), Tile::entries(999, 10)],
            ),
            (
                5000 * 256,
                vec![Tile::hashes(0, 1_000_000, 256), Tile::entries(1_000_001, 1)],
                vec![Tile::hashes(0, 1500, 256), Tile::hashes(0, 4999, 256)],
            ),
        ] {
            let (dir, mut s) = store();
            let kept: Vec<PathBuf> = within.iter().map(|t| plant(dir.path(), t)).collect();
            s.replace_checkpoint(b"", &note(size)).unwrap();
            for t in &beyond {
                let path = plant(dir.path(), t);
                assert!(matches!(s.recover(size), Err(StoreError::Unexplained { .. })), "{t:?}");
                fs::remove_file(path).unwrap();
            }
            for t in &beyond {
                s.put(t, b"x").unwrap();
            }
            assert_eq!(s.recover(size).unwrap().removed_objects, beyond.len() as u64);
            assert!(kept.iter().all(|p| p.exists()));
        }
    }

    /// Opening lists the same few directories however long the history:
    /// trees of 300, 3,000 and 30,000 records, with every full tile and
    /// every older partial an earlier version left, cost one listing per
    /// directory on the right edge. Only a new group of digits or a new
    /// level adds directories.
    #[test]
    fn recovery_cost_does_not_grow_with_history() {
        let mut listed = Vec::new();
        for size in [300u64, 3_000, 30_000] {
            let (dir, mut s) = store();
            for kind in
                [TileKind::Entries, TileKind::Hashes { level: 0 }, TileKind::Hashes { level: 1 }]
            {
                let count = Tile::level_count(kind_level(kind), size);
                for index in 0..count / 256 {
                    for w in [1, 2, 100, 256] {
                        plant(dir.path(), &Tile { kind, index, width: w });
                    }
                }
                if let Some(t) = Tile::partial(kind, size) {
                    plant(dir.path(), &t);
                }
            }
            s.replace_checkpoint(b"", &note(size)).unwrap();
            assert!(!s.recover(size).unwrap().repaired());
            listed.push(s.directories_listed());
        }
        // The root, tile/, and per level its directory and its edge's .p/.
        assert_eq!(listed, [8, 8, 8]);
    }

    fn kind_level(kind: TileKind) -> u8 {
        match kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        }
    }

    /// Once a checkpoint covers a full tile written since the last one, the
    /// tile's partials are gone; a crash's leftovers go at the next open.
    #[test]
    fn superseded_partial_tiles_are_deleted() {
        let (dir, mut s) = store();
        let log = dir.path().join("log");
        for w in [1, 7] {
            s.put(&Tile::entries(0, w), b"x").unwrap();
            s.put(&Tile::hashes(0, 0, w), b"x").unwrap();
        }
        s.sync().unwrap();
        s.replace_checkpoint(b"", &note(7)).unwrap();
        s.put(&Tile::entries(0, 256), b"x").unwrap();
        s.put(&Tile::hashes(0, 0, 256), b"x").unwrap();
        s.put(&Tile::entries(1, 4), b"x").unwrap();
        // Not the tile's: left alone, and so is its directory.
        fs::write(log.join("tile/0/000.p/README"), b"mine").unwrap();
        s.sync().unwrap();
        s.replace_checkpoint(&note(7), &note(260)).unwrap();
        assert!(!log.join("tile/entries/000.p").exists());
        assert_eq!(fs::read_dir(log.join("tile/0/000.p")).unwrap().count(), 1);
        assert!(log.join("tile/entries/001.p/4").exists());
        // What a crash right after the checkpoint leaves, gone at the next open.
        fs::remove_file(log.join("tile/0/000.p/README")).unwrap();
        fs::write(log.join("tile/0/000.p/3"), b"x").unwrap();
        assert!(!s.recover(260).unwrap().repaired());
        assert!(!log.join("tile/0/000.p").exists());
        assert!(log.join("tile/0/000").exists());
    }

    /// Commits `tiles` (each written as `fill` repeated) up to tree size `to`.
    fn commit(s: &mut PosixStore, from: u64, to: u64, tiles: &[Tile], fill: u8) {
        for t in tiles {
            s.put(t, &[fill; 8]).unwrap();
        }
        s.sync().unwrap();
        let old = if from == 0 { Vec::new() } else { note(from) };
        s.replace_checkpoint(&old, &note(to)).unwrap();
    }

    #[test]
    fn superseded_partial_tiles_are_written_again_not_freed() {
        let (dir, mut s) = store();
        let log = dir.path().join("log");
        let spare_dir = dir.path().join("log.spare");
        // A leftover of an earlier process: deleted before the first spare is kept.
        fs::create_dir(&spare_dir).unwrap();
        fs::write(spare_dir.join("f1-1"), b"old").unwrap();
        commit(&mut s, 0, 7, &[Tile::entries(0, 7), Tile::hashes(0, 0, 7)], 1);
        let inos: BTreeSet<u64> = ["tile/entries/000.p/7", "tile/0/000.p/7", "tile/0/000.p"]
            .iter()
            .map(|p| fs::metadata(log.join(p)).unwrap().ino())
            .collect();
        commit(&mut s, 7, 256, &[Tile::entries(0, 256), Tile::hashes(0, 0, 256)], 2);
        assert!(!log.join("tile/0/000.p").exists() && !log.join("tile/entries/000.p").exists());
        assert!(!spare_dir.join("f1-1").exists());
        // Pending: the directories they left are synced with the next round first.
        assert_eq!(s.spares.ready(), (0, 0));
        commit(&mut s, 256, 260, &[Tile::entries(1, 4)], 3);
        assert_eq!(s.spares.ready(), (2, 2));
        commit(&mut s, 260, 300, &[Tile::entries(1, 44), Tile::hashes(0, 1, 44)], 4);
        let reused: BTreeSet<u64> = ["tile/entries/001.p/44", "tile/0/001.p/44", "tile/0/001.p"]
            .iter()
            .map(|p| fs::metadata(log.join(p)).unwrap().ino())
            .collect();
        assert_eq!(reused, inos, "the new objects are the superseded ones' inodes");
        assert_eq!(fs::read(log.join("tile/0/001.p/44")).unwrap(), [4; 8]);
        assert_eq!(fs::read(log.join("tile/entries/001.p/44")).unwrap(), [4; 8]);
        // No spare name is left behind for what was taken (the other
        // directory is still a spare), and none is in the tree.
        assert_eq!(s.spares.ready(), (0, 1));
        assert_eq!(fs::read_dir(&spare_dir).unwrap().count(), 1);
        assert!(!log.join(".spare").exists());
    }

    #[test]
    fn a_spare_that_has_another_name_or_is_no_regular_file_is_never_written() {
        let (dir, mut s) = store();
        let log = dir.path().join("log");
        commit(&mut s, 0, 256, &[Tile::entries(0, 256)], 1);
        // What a crash between linking a spare into place and removing its
        // spare name leaves: one inode, named in the tree and as a spare.
        let spare = dir.path().join("log.spare/f1-1");
        fs::create_dir_all(spare.parent().unwrap()).unwrap();
        fs::hard_link(log.join("tile/entries/000"), &spare).unwrap();
        s.spares.add_ready(&spare);
        // And a symbolic link and a FIFO planted among the spares.
        let link = dir.path().join("log.spare/f1-2");
        std::os::unix::fs::symlink(log.join("tile/entries/000"), &link).unwrap();
        s.spares.add_ready(&link);
        let fifo = dir.path().join("log.spare/f1-3");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600))
            .unwrap();
        s.spares.add_ready(&fifo);
        commit(&mut s, 256, 257, &[Tile::entries(1, 1)], 2);
        assert_eq!(fs::read(log.join("tile/entries/000")).unwrap(), [1; 8]);
        assert_eq!(fs::read(log.join("tile/entries/001.p/1")).unwrap(), [2; 8]);
        assert!(!spare.exists(), "its spare name is removed, never written through");
        assert!(fs::symlink_metadata(&link).is_err(), "the link is removed, never followed");
        assert!(fs::symlink_metadata(&fifo).is_err(), "the FIFO is removed, never waited on");
    }

    #[test]
    fn the_intent_is_one_record_rewritten_in_place() {
        let (dir, mut s) = store();
        s.recover(0).unwrap();
        s.replace_checkpoint(b"", &note(0)).unwrap();
        s.put(&Tile::entries(0, 1), b"x").unwrap();
        let path = s.intent();
        let ino = fs::metadata(&path).unwrap().ino();
        assert_eq!(fs::read(&path).unwrap().len(), INTENT_LEN);
        assert_eq!(s.read_intent().unwrap(), Some(0));
        s.sync().unwrap();
        s.replace_checkpoint(&note(0), &note(1)).unwrap();
        assert_eq!(read_intent_at(&path).unwrap(), Some(Intent::Idle));
        s.put(&Tile::entries(0, 2), b"x").unwrap();
        assert_eq!(s.read_intent().unwrap(), Some(1));
        assert_eq!(fs::metadata(&path).unwrap().ino(), ino, "rewritten, not replaced");
        // A torn or damaged record is no intent: it explains nothing.
        let mut bad = fs::read(&path).unwrap();
        bad[INTENT_MAGIC.len() + 24] = b'7';
        fs::write(&path, &bad).unwrap();
        assert!(s.read_intent().is_err());
        assert!(s.recover(1).is_err(), "an object lies beyond: nothing is removed");
        assert!(dir.path().join("log/tile/entries/000.p/2").exists());
        // The text earlier versions wrote is still read.
        fs::write(&path, "service-fs commit intent\nfrom 1\n").unwrap();
        assert_eq!(s.read_intent().unwrap(), Some(1));
        assert_eq!(s.recover(1).unwrap().removed_objects, 1);
        assert_eq!(read_intent_at(&path).unwrap(), Some(Intent::Idle));
        assert_eq!(parse_intent(&intent_record(Some(u64::MAX))), Some(Intent::From(u64::MAX)));
    }

    #[test]
    fn one_writer_per_directory() {
        let (dir, _s) = store();
        let err = PosixStore::open(dir.path().join("log")).unwrap_err().to_string();
        assert!(err.contains("another writer"), "{err}");
    }
}
