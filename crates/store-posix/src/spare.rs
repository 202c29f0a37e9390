//! Spare inodes: superseded partial tiles and their directories, kept beside
//! the tree (`<root>.spare/`) to be written again as the next objects
//! instead of being deleted.
//!
//! A commit writes a few new partial tiles and a full tile makes a few old
//! ones superseded, so a store that deletes them frees and allocates inodes
//! at the commit rate. ext4 without a journal skips every inode freed in
//! the last minutes when it allocates one, looking each up in the inode
//! table: under load that cost a third of a ledger thread. Reusing the
//! superseded inodes, a store in steady state frees none.
//!
//! Safety: an inode is written again only once its old name is durably
//! gone from the tree, or a crash could bring the old name back naming new
//! content. So what a prune moves here is *pending* until the next sync
//! round, which includes the directories it left (their parents, and each
//! moved directory itself, now empty, so that it cannot bring back stale
//! entries when it is reused); [`Spares::settle`] then makes it ready. A
//! spare file is written only if it is a regular file with no other name
//! (a crash between linking a spare into place and removing its spare name
//! leaves one with two), and a spare directory is used only if empty. What a
//! previous process left here is deleted before the first spare is kept
//! (not at open, which changes nothing until recovery has decided): whether
//! its old names are durably gone is not known.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Spare files kept at most (a full tile of level 1 supersedes one partial
/// per commit of the last 65,536 records: hundreds at once).
const MAX_FILES: usize = 1024;
/// Spare directories kept at most.
const MAX_DIRS: usize = 64;

/// The spare inodes of one store.
#[derive(Debug)]
pub(crate) struct Spares {
    /// `<root>.spare`.
    dir: PathBuf,
    /// Whether it is emptied of what earlier processes left and usable:
    /// `None` until the first spare is kept; where it cannot be used,
    /// everything superseded is deleted, as without spares.
    usable: Option<bool>,
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    pending_files: Vec<PathBuf>,
    pending_dirs: Vec<PathBuf>,
    /// For names not yet used in this process.
    next: u64,
}

impl Spares {
    /// The spares of the store at `root` (whose lock the caller holds).
    pub(crate) fn new(root: &Path) -> Spares {
        Spares {
            dir: crate::store::beside(root, ".spare"),
            usable: None,
            files: Vec::new(),
            dirs: Vec::new(),
            pending_files: Vec::new(),
            pending_dirs: Vec::new(),
            next: 0,
        }
    }

    /// A name for a new spare, the directory made ready at the first.
    fn fresh_name(&mut self, kind: char) -> Option<PathBuf> {
        let dir = &self.dir;
        let usable = *self.usable.get_or_insert_with(|| match fs::symlink_metadata(dir) {
            Ok(m) => m.is_dir() && clear(dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                crate::dir_builder(false).create(dir).is_ok()
            }
            Err(_) => false,
        });
        self.next += 1;
        usable.then(|| dir.join(format!("{kind}{}-{}", std::process::id(), self.next)))
    }

    /// Moves `file` (a superseded object) here, pending; `false` if it was
    /// not (no room, or no spare directory): the caller deletes it.
    pub(crate) fn keep_file(&mut self, file: &Path) -> bool {
        if self.files.len() + self.pending_files.len() >= MAX_FILES {
            return false;
        }
        let Some(to) = self.fresh_name('f') else { return false };
        let kept = fs::rename(file, &to).is_ok();
        if kept {
            self.pending_files.push(to);
        }
        kept
    }

    /// Moves the empty directory `dir` here, pending, and returns where it
    /// now is (to be synced with the next round); `None` if it was not.
    pub(crate) fn keep_dir(&mut self, dir: &Path) -> Option<PathBuf> {
        if self.dirs.len() + self.pending_dirs.len() >= MAX_DIRS || !is_empty_dir(dir) {
            return None;
        }
        let to = self.fresh_name('d')?;
        fs::rename(dir, &to).ok()?;
        self.pending_dirs.push(to.clone());
        Some(to)
    }

    /// A sync round that included every directory the pending spares left
    /// is done: they are ready.
    pub(crate) fn settle(&mut self) {
        self.files.append(&mut self.pending_files);
        self.dirs.append(&mut self.pending_dirs);
    }

    /// The pending spares will not be settled (their round failed, or
    /// recovery threw the round away): they stay here, unused, until the
    /// next open deletes them.
    pub(crate) fn forget_pending(&mut self) {
        self.pending_files.clear();
        self.pending_dirs.clear();
    }

    /// A ready spare file, emptied and open for writing, with its name
    /// here: the caller writes it, links it into place and removes this
    /// name. `None` if there is none fit to write.
    pub(crate) fn take_file(&mut self) -> Option<(PathBuf, File)> {
        while let Some(path) = self.files.pop() {
            if let Some(f) = open_alone(&path) {
                return Some((path, f));
            }
            let _ = fs::remove_file(&path);
        }
        None
    }

    /// Puts a ready spare directory at `to` (which must not exist); `false`
    /// if there is none, and the caller creates it.
    pub(crate) fn take_dir(&mut self, to: &Path) -> bool {
        while let Some(path) = self.dirs.pop() {
            if !is_empty_dir(&path) {
                continue;
            }
            if fs::rename(&path, to).is_ok() {
                return true;
            }
            // `to` appeared meanwhile: the spare stays one.
            self.dirs.push(path);
            return false;
        }
        false
    }

    /// Ready spare files and directories.
    #[cfg(test)]
    pub(crate) fn ready(&self) -> (usize, usize) {
        (self.files.len(), self.dirs.len())
    }

    /// Makes `file` a ready spare, whatever it is.
    #[cfg(test)]
    pub(crate) fn add_ready(&mut self, file: &Path) {
        self.files.push(file.to_path_buf());
    }
}

/// `path` opened for writing and emptied, if it is a regular file (never
/// through a symbolic link, and never waiting on a FIFO planted there)
/// whose only name is `path`.
fn open_alone(path: &Path) -> Option<File> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = OpenOptions::new().write(true).custom_flags(flags.bits() as i32).open(path).ok()?;
    let m = f.metadata().ok()?;
    (m.is_file() && m.nlink() == 1 && f.set_len(0).is_ok()).then_some(f)
}

fn is_empty_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        && fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Deletes what is in `dir` (files, and directories if empty); whether it
/// is usable.
fn clear(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    for e in entries.flatten() {
        let _ = match e.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir(e.path()),
            _ => fs::remove_file(e.path()),
        };
    }
    true
}
