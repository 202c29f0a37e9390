//! `fsctl verify` fails, naming the file, when any byte of any tile, entry
//! bundle or checkpoint (of the records or the audit ledger) is flipped.

mod common;

use common::*;

#[test]
fn a_flipped_byte_anywhere_fails_verify_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = init(dir);
    let mut size = 0;
    for n in [3u64, 250, 40, 300] {
        ok(dir, &["append", "acme"], &lines(size, n));
        size += n;
        ok(dir, &["read", "acme", "--from", "0", "--max", "1"], b"");
    }
    ok(dir, &["verify", "acme", "--key", &key], b"");
    let files: Vec<_> = ["acme/log", "acme/audit"]
        .iter()
        .flat_map(|sub| snapshot(&dir.join(sub)).into_keys().map(move |p| dir.join(sub).join(p)))
        .collect();
    assert!(files.len() > 20, "{files:?}");
    for path in files {
        let orig = std::fs::read(&path).unwrap();
        for at in [0, orig.len() / 3, orig.len() - 1] {
            let mut bad = orig.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            let err = fails(dir, &["verify", "acme", "--key", &key], b"");
            assert!(
                err.contains(&format!("{}:", path.display())),
                "{} byte {at}: {err}",
                path.display()
            );
        }
        std::fs::write(&path, &orig).unwrap();
    }
    ok(dir, &["verify", "acme", "--key", &key], b"");
}
