//! A flipped byte in any file of a ledger is found, and blamed on that file.

use std::fs;
use std::path::Path;

use ledger::Ledger;
use note::Verifier;
use tenant::Root;
use verify::{Dir, Source, verify};

/// A tenant with full and partial tiles at two levels, older partials of
/// the rightmost tiles from earlier commits (the store deletes those of
/// full tiles), and records of varied lengths.
fn ledger(dir: &Path) -> Verifier {
    let root = Root::new(dir);
    let key = root.init("acme", None).unwrap();
    let mut t = root.open("acme").unwrap();
    let mut n = 0u64;
    for batch in [1u64, 3, 200, 60, 300, 37] {
        let recs: Vec<Vec<u8>> = (n..n + batch)
            .map(|i| format!("rec-{i}-{}", "z".repeat((i % 9) as usize)).into_bytes())
            .collect();
        t.engine.append_batch(recs.iter().map(Vec::as_slice)).unwrap();
        n += batch;
    }
    key
}

#[test]
fn every_flipped_byte_is_found_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    let report = verify(&Dir(log.clone()), &key).unwrap();
    assert_eq!(report.size, 601);
    assert!(report.older_partials >= 3, "{report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    let files = Dir(log.clone()).list().unwrap();
    assert!(files.len() > 10, "{files:?}");
    for file in &files {
        let path = log.join(file);
        let orig = fs::read(&path).unwrap();
        for at in [0, orig.len() / 2, orig.len() - 1] {
            let mut bad = orig.clone();
            bad[at] ^= 0x04;
            fs::write(&path, &bad).unwrap();
            let err = verify(&Dir(log.clone()), &key).expect_err(&format!("{file} byte {at}"));
            assert_eq!(&err.path, file, "{file} byte {at}: {err}");
            fs::write(&path, &orig).unwrap();
        }
        // Truncated files.
        fs::write(&path, &orig[..orig.len() - 1]).unwrap();
        assert_eq!(&verify(&Dir(log.clone()), &key).unwrap_err().path, file);
        // Missing files too, except older partials, which C2SP lets a log delete.
        fs::remove_file(&path).unwrap();
        let older = tlog::Tile::parse(file)
            .is_some_and(|t| !t.is_full() && tlog::Tile::partial(t.kind, 601) != Some(t));
        match verify(&Dir(log.clone()), &key) {
            Err(e) => assert_eq!(&e.path, file),
            Ok(_) => assert!(older, "{file} missing went unnoticed"),
        }
        fs::write(&path, &orig).unwrap();
    }
    verify(&Dir(log), &key).unwrap();
}

#[test]
fn wrong_key_and_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    let other = note::Signer::from_seed("service-fs/acme", [9; 32]).unwrap().verifier();
    let err = verify(&Dir(log.clone()), &other).unwrap_err();
    assert_eq!(err.path, "checkpoint");
    let renamed = key.renamed("service-fs/other").unwrap();
    assert!(verify(&Dir(log.clone()), &renamed).is_err());
    // Files outside the signed tree are reported, not failures; objects of a
    // larger tree apart, for the caller to judge (an interrupted commit, or
    // a rollback).
    fs::write(log.join("tile/0/.002.p.tmp"), b"half").unwrap();
    fs::create_dir_all(log.join("tile/entries/x001")).unwrap();
    fs::write(log.join("tile/entries/x001/000"), b"later").unwrap();
    fs::write(log.join("index.html"), b"hi").unwrap();
    let report = verify(&Dir(log), &key).unwrap();
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert_eq!(report.beyond, ["tile/entries/x001/000"]);
}

#[test]
fn a_rewritten_history_is_caught_at_the_checkpoint() {
    // Replace the whole content with a different, self-consistent ledger:
    // the tiles match the entries, but not the signed root.
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    let root = Root::new(tmp.path());
    let cp = fs::read(log.join("checkpoint")).unwrap();
    fs::remove_dir_all(tmp.path().join("acme")).unwrap();
    let k2 = root.init("acme", None).unwrap();
    let mut t = root.open("acme").unwrap();
    let recs: Vec<Vec<u8>> = (0..601u64).map(|i| format!("forged {i}").into_bytes()).collect();
    t.engine.append_batch(recs.iter().map(Vec::as_slice)).unwrap();
    verify(&Dir(log.clone()), &k2).unwrap();
    fs::write(log.join("checkpoint"), cp).unwrap();
    let err = verify(&Dir(log), &key).unwrap_err();
    assert_eq!(err.path, "checkpoint");
    assert!(err.to_string().contains("do not hash to the signed root"), "{err}");
}

#[test]
fn with_two_faults_the_bundle_is_blamed_only_if_its_tile_is_trusted() {
    // Tile 0 and bundle 1 both changed: the bundle at fault is 1 (its tile
    // still matches the signed root), not bundle 0 (whose tile was forged).
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    for (file, at) in [("tile/0/000", 100), ("tile/entries/001", 40)] {
        let mut data = fs::read(log.join(file)).unwrap();
        data[at] ^= 1;
        fs::write(log.join(file), data).unwrap();
    }
    let err = verify(&Dir(log), &key).unwrap_err();
    assert_eq!(err.path, "tile/entries/001", "{err}");
    assert!(err.to_string().contains("which matches the signed checkpoint"), "{err}");
}

/// A directory whose superseded partial tiles are deleted between listing
/// and reading, as a live writer deletes them while `fsctl verify` runs.
struct Pruned(Dir);

impl Source for Pruned {
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        self.0.read(path)
    }

    fn list(&self) -> std::io::Result<Vec<String>> {
        let files = self.0.list()?;
        let size = 601;
        for f in &files {
            if tlog::Tile::parse(f)
                .is_some_and(|t| !t.is_full() && tlog::Tile::partial(t.kind, size) != Some(t))
            {
                fs::remove_file(self.0.0.join(f)).unwrap();
            }
        }
        Ok(files)
    }
}

#[test]
fn partial_tiles_deleted_while_verifying_are_no_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    assert!(verify(&Dir(log.clone()), &key).unwrap().older_partials > 0);
    let report = verify(&Pruned(Dir(log.clone())), &key).unwrap();
    assert_eq!((report.size, report.older_partials), (601, 0));
}

/// A writer deleting a superseded `.p/` directory while `verify` lists and
/// reads the tree: every run passes, whether it saw it whole, in part or
/// not at all.
#[test]
fn partial_tile_directories_vanishing_while_verifying_are_no_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    // An older partial of full bundle 1 (its first 8 entries), as a log
    // that had not deleted it yet would have it.
    let full = fs::read(log.join("tile/entries/001")).unwrap();
    let len: usize = tlog::bundle::entries(&full)
        .take(8)
        .map(|e| tlog::bundle::encoded_len(e.unwrap().len()))
        .sum();
    let dir = log.join("tile/entries/001.p");
    let staged = tmp.path().join("staged");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Whole or not at all, as the store writes objects.
                fs::write(&staged, &full[..len]).unwrap();
                fs::create_dir_all(&dir).unwrap();
                fs::rename(&staged, dir.join("8")).unwrap();
                fs::remove_dir_all(&dir).unwrap();
            }
        });
        for _ in 0..200 {
            let r = verify(&Dir(log.clone()), &key);
            assert!(r.is_ok(), "{r:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// A checkpoint older than the files (rolled back, or read just before a
/// live writer committed past it) whose partial tiles the writer deleted
/// once their full tiles existed: they are read from the full tiles'
/// prefixes, as C2SP has clients do, and the larger tree is reported as
/// lying beyond it, for the caller to judge.
#[test]
fn an_older_checkpoint_verifies_from_full_tiles_once_its_partials_are_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ledger(tmp.path());
    let log = tmp.path().join("acme/log");
    let old = fs::read(log.join("checkpoint")).unwrap();
    let root = Root::new(tmp.path());
    let mut t = root.open("acme").unwrap();
    t.engine.append_batch((0..200).map(|_| &b"later"[..])).unwrap();
    drop(t);
    assert!(!log.join("tile/entries/002.p").exists() && !log.join("tile/0/002.p").exists());
    fs::write(log.join("checkpoint"), &old).unwrap();
    let report = verify(&Dir(log.clone()), &key).unwrap();
    assert_eq!(report.size, 601);
    assert!(report.beyond.contains(&"tile/entries/002".to_string()), "{report:?}");
    // A full tile that does not hold the old partial as its prefix is caught.
    let mut full = fs::read(log.join("tile/0/002")).unwrap();
    full[0] ^= 1;
    fs::write(log.join("tile/0/002"), &full).unwrap();
    assert!(verify(&Dir(log), &key).is_err());
}
