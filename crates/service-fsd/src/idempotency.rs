//! Retries never double-append: a tenant's journal of recent
//! `Idempotency-Key`s, each with the hash of its request body and the
//! indexes it was given.
//!
//! `DIR/<tenant>/idempotency` holds one line per keyed append,
//! `<first> <count> <sha256 of body> <key>`. A commit's lines are written
//! and fdatasync'd *before* the commit, so no acknowledged append lacks
//! its key; lines of a commit that then failed are truncated away, and at
//! open every line naming indexes beyond the ledger (a crash between the
//! two) is dropped. The most recent `window` keys are kept; the file is
//! rewritten (atomically) when it holds twice that many.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The journal's file name in a tenant directory.
pub const FILE: &str = "idempotency";
/// Longest key accepted.
pub const MAX_KEY: usize = 255;

/// What a key was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// SHA-256 of the request body.
    pub body: [u8; 32],
    /// First index.
    pub first: u64,
    /// Records appended.
    pub count: u64,
}

/// Whether `key` is acceptable: 1–255 printable ASCII characters.
pub fn valid_key(key: &str) -> bool {
    (1..=MAX_KEY).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// A tenant's journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    len: u64,
    lines: usize,
    map: HashMap<String, Done>,
    order: VecDeque<String>,
    window: usize,
}

/// The journal opened for appending, never through a symbolic link.
fn append_to(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

fn parse_line(line: &str) -> Option<(String, Done)> {
    let mut parts = line.splitn(4, ' ');
    let first = parts.next()?.parse().ok()?;
    let count = parts.next()?.parse().ok()?;
    let hex = parts.next()?;
    let key = parts.next()?;
    if hex.len() != 64 || !valid_key(key) {
        return None;
    }
    let mut body = [0u8; 32];
    for (i, b) in body.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((key.to_string(), Done { body, first, count }))
}

fn line(key: &str, d: &Done) -> String {
    format!("{} {} {} {key}\n", d.first, d.count, credentials::hex(&d.body))
}

impl Journal {
    /// Opens the journal of the tenant in `dir`, whose ledger has `size`
    /// records: lines beyond `size` were never acknowledged and are dropped.
    pub fn open(dir: &Path, size: u64, window: usize) -> io::Result<Journal> {
        let path = dir.join(FILE);
        let text = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::other(format!(
                    "{}: a symbolic link, which a ledger never follows",
                    path.display()
                )));
            }
            Ok(_) => fs::read_to_string(&path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut entries = Vec::new();
        let mut dropped = false;
        for l in text.split_inclusive('\n') {
            // A line without its newline is torn: its key may be cut short.
            match l.strip_suffix('\n').and_then(parse_line) {
                Some((k, d)) if d.first.saturating_add(d.count) <= size => entries.push((k, d)),
                // Torn, garbage, or a commit that never happened.
                _ => dropped = true,
            }
        }
        let keep = entries.len().saturating_sub(window);
        let entries = entries.split_off(keep);
        if dropped || keep > 0 {
            let text: String = entries.iter().map(|(k, d)| line(k, d)).collect();
            store_posix::write_durably(&path, text.as_bytes()).map_err(io::Error::other)?;
        }
        let file = append_to(&path)?;
        let len = file.metadata()?.len();
        let mut j = Journal {
            path,
            file,
            len,
            lines: entries.len(),
            map: HashMap::new(),
            order: VecDeque::new(),
            window,
        };
        for (k, d) in entries {
            j.remember(k, d);
        }
        Ok(j)
    }

    fn remember(&mut self, key: String, d: Done) {
        if self.map.insert(key.clone(), d).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// What `key` was given, if it is remembered.
    pub fn get(&self, key: &str) -> Option<Done> {
        self.map.get(key).copied()
    }

    /// Durably writes `entries` before the commit that gives them their
    /// indexes; returns the file length to roll back to if it fails.
    pub fn prepare(&mut self, entries: &[(&str, Done)]) -> io::Result<u64> {
        let before = self.len;
        if entries.is_empty() {
            return Ok(before);
        }
        let text: String = entries.iter().map(|(k, d)| line(k, d)).collect();
        let written = self.file.write_all(text.as_bytes()).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.rollback(before)?;
            return Err(e);
        }
        self.len += text.len() as u64;
        Ok(before)
    }

    /// The commit succeeded: the entries count.
    pub fn committed(&mut self, entries: &[(&str, Done)]) -> io::Result<()> {
        for (k, d) in entries {
            self.remember(k.to_string(), *d);
        }
        self.lines += entries.len();
        if self.lines > 2 * self.window.max(1) {
            self.compact()?;
        }
        Ok(())
    }

    /// The commit failed: forget what [`Journal::prepare`] wrote.
    pub fn rollback(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.file.sync_data()?;
        self.len = len;
        Ok(())
    }

    /// Rewrites the file with the remembered keys only.
    fn compact(&mut self) -> io::Result<()> {
        let text: String = self.order.iter().map(|k| line(k, &self.map[k])).collect();
        store_posix::write_durably(&self.path, text.as_bytes()).map_err(io::Error::other)?;
        self.file = append_to(&self.path)?;
        self.len = text.len() as u64;
        self.lines = self.order.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(first: u64, count: u64) -> Done {
        Done { body: [first as u8; 32], first, count }
    }

    #[test]
    fn keys_survive_reopen_and_uncommitted_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 0, 10).unwrap();
        let a = [("a", done(0, 2))];
        j.prepare(&a).unwrap();
        j.committed(&a).unwrap();
        let b = [("b", done(2, 1))];
        let before = j.prepare(&b).unwrap();
        j.rollback(before).unwrap();
        let c = [("c", done(2, 3))];
        j.prepare(&c).unwrap();
        // Crash: `c` was written, its commit never happened.
        drop(j);
        let j = Journal::open(dir.path(), 2, 10).unwrap();
        assert_eq!(j.get("a"), Some(done(0, 2)));
        assert_eq!((j.get("b"), j.get("c")), (None, None));
        let text = fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn the_window_bounds_memory_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path(), 0, 3).unwrap();
        for i in 0..20u64 {
            let key = format!("k{i}");
            let e = [(key.as_str(), done(i, 1))];
            j.prepare(&e).unwrap();
            j.committed(&e).unwrap();
        }
        assert_eq!(j.get("k19"), Some(done(19, 1)));
        assert_eq!(j.get("k16"), None);
        let lines = fs::read_to_string(dir.path().join(FILE)).unwrap().lines().count();
        assert!(lines <= 6, "{lines}");
        let j = Journal::open(dir.path(), 20, 3).unwrap();
        assert_eq!((j.get("k17"), j.get("k19")), (Some(done(17, 1)), Some(done(19, 1))));
    }

    #[test]
    fn a_planted_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(FILE)).unwrap();
        assert!(Journal::open(dir.path(), 0, 10).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"");
    }

    #[test]
    fn garbage_and_torn_lines_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let h = "ab".repeat(32);
        fs::write(dir.path().join(FILE), format!("0 1 {h} good\nnot a line\n1 1 {h} torn"))
            .unwrap();
        let j = Journal::open(dir.path(), 5, 10).unwrap();
        assert!(j.get("good").is_some());
        assert!(j.get("torn").is_none());
        assert!(!valid_key("") && !valid_key("a\nb") && !valid_key(&"x".repeat(256)));
        assert!(valid_key("retry 7"));
    }
}
