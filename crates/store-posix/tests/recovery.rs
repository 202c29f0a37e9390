//! Recovery trusts only a verified checkpoint and never destroys data.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ledger::Ledger;
use store_posix::Root;

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&p).unwrap());
            }
        }
    }
    out
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
fn an_older_signed_checkpoint_moves_newer_objects_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tenant(tmp.path(), &[100]);
    let log = root.log_dir("acme");
    let old = fs::read(log.join("checkpoint")).unwrap();
    drop(root.open("acme").unwrap().engine.append_batch((0..300u64).map(|_| &b"later"[..])));
    let newer: Vec<PathBuf> =
        snapshot(&log).into_keys().filter(|p| p.starts_with("tile")).collect();
    // An operator restores the old checkpoint from a backup.
    fs::write(log.join("checkpoint"), &old).unwrap();
    let t = root.open("acme").unwrap();
    assert_eq!(t.engine.size(), 100);
    assert!(t.recovered.log.removed_objects > 0);
    assert_eq!(t.recovered.log.orphan_extent, 400);
    drop(t);
    // Nothing was destroyed: every object beyond the old tree is kept aside.
    let aside = snapshot(&tmp.path().join("acme/log.recovered"));
    let kept = snapshot(&log);
    for p in newer {
        let moved = aside.keys().any(|a| a.ends_with(&p));
        assert!(kept.contains_key(&p) || moved, "{} was lost", p.display());
    }
}

#[test]
fn a_stray_file_at_the_largest_index_is_moved_aside_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tenant(tmp.path(), &[3]);
    let stray = root.log_dir("acme").join("tile/0/x018/x446/x744/x073/x709/x551/615");
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::write(&stray, b"junk").unwrap();
    let t = root.open("acme").unwrap();
    assert_eq!(t.recovered.log.removed_objects, 1);
    assert!(!stray.exists());
}
