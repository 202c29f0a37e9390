//! Recovery trusts only a verified checkpoint and never destroys data.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ledger::Ledger;
use tenant::Root;

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let read = |rel: PathBuf| {
        let data = fs::read(dir.join(&rel)).unwrap();
        (rel, data)
    };
    common::files(dir).into_iter().map(read).collect()
}

fn tenant(dir: &Path, batches: &[u64]) -> Root {
    let root = Root::new(dir);
    root.init("acme", None).unwrap();
    let mut t = root.open("acme").unwrap();
    let mut n = 0;
    for &b in batches {
        let recs: Vec<Vec<u8>> = (n..n + b).map(|i| format!("record {i}").into_bytes()).collect();
        t.engine.append_batch(recs.iter().map(Vec::as_slice)).unwrap();
        n += b;
    }
    root
}

#[test]
fn a_checkpoint_that_does_not_verify_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tenant(tmp.path(), &[300]);
    let log = root.log_dir("acme");
    let cp = fs::read_to_string(log.join("checkpoint")).unwrap();
    for forged in [cp.replacen("\n300\n", "\n200\n", 1), "x\n0\n".into(), String::new()] {
        fs::write(log.join("checkpoint"), &forged).unwrap();
        let before = snapshot(tmp.path());
        let err = root.open("acme").err().expect("a forged checkpoint must not open");
        assert!(err.to_string().contains("checkpoint"), "{err}");
        assert_eq!(snapshot(tmp.path()), before, "opening changed files");
    }
}

#[test]
fn an_older_signed_checkpoint_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tenant(tmp.path(), &[100]);
    let log = root.log_dir("acme");
    let old = fs::read(log.join("checkpoint")).unwrap();
    root.open("acme").unwrap().engine.append_batch((0..300u64).map(|_| &b"later"[..])).unwrap();
    let newer = fs::read(log.join("checkpoint")).unwrap();
    // Someone puts back a checkpoint the ledger itself signed, of size 100.
    fs::write(log.join("checkpoint"), &old).unwrap();
    let before = snapshot(tmp.path());
    let err = root.open("acme").err().expect("a rolled-back checkpoint must not open");
    let err = err.to_string();
    assert!(err.contains("beyond the checkpoint of size 100"), "{err}");
    assert!(err.contains("replaced by an older one"), "{err}");
    assert_eq!(snapshot(tmp.path()), before, "opening changed files");
    // Putting the newest back is all it takes.
    fs::write(log.join("checkpoint"), &newer).unwrap();
    assert_eq!(root.open("acme").unwrap().engine.size(), 400);
}

#[test]
fn a_stray_file_at_the_largest_index_is_refused_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tenant(tmp.path(), &[3]);
    let stray = root.log_dir("acme").join("tile/0/x018/x446/x744/x073/x709/x551/615");
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::write(&stray, b"junk").unwrap();
    let err = root.open("acme").err().expect("an unexplained object must not open").to_string();
    assert!(err.contains("beyond the checkpoint of size 3"), "{err}");
    assert!(stray.exists());
}

/// Every commit deletes the partial tiles its full tiles supersede: after
/// 300 single appends (and the audit records of reading them), no full tile
/// keeps a `.p/` directory, only each level's rightmost tile its partials,
/// and both logs verify.
#[test]
fn no_full_tile_keeps_its_partial_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let root = Root::new(tmp.path());
    let key = root.init("acme", None).unwrap();
    let mut t = root.open("acme").unwrap();
    for i in 0..300 {
        t.engine.append(format!("record {i}").as_bytes()).unwrap();
    }
    let caller = ledger::Caller { module: "test", credential: "uid:0", request: None };
    for from in 0..300 {
        t.engine.read_since(&caller, from, ledger::Limit::NONE, &mut |_, _| {}).unwrap();
    }
    drop(t);
    let audit_key = key.renamed(&format!("{}/audit", key.name())).unwrap();
    for (dir, key) in [(root.log_dir("acme"), &key), (root.audit_dir("acme"), &audit_key)] {
        let report = verify::verify(&verify::Dir(dir.clone()), key).unwrap();
        assert!(report.warnings.is_empty(), "{report:?}");
        let size = report.size;
        assert!(size >= 300, "{size}");
        let mut partial_dirs = 0;
        for rel in snapshot(&dir).keys() {
            let rel = rel.to_str().unwrap();
            let Some(t) = tlog::Tile::parse(rel) else { continue };
            if !t.is_full() {
                assert!(!dir.join(t.full().path().as_str()).exists(), "{rel} beside its full tile");
                assert_eq!(
                    tlog::Tile::partial(t.kind, size).map(|p| p.index),
                    Some(t.index),
                    "{rel}"
                );
                partial_dirs += 1;
            }
        }
        assert!(partial_dirs > 0);
    }
}
