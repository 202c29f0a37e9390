//! Rekor's answers (`rekor::v2::verify_entry`, `rekor::v1::verify_entry`),
//! checked against the real staging logs' keys: the first byte picks the
//! API, the rest is the answer. Any answer never panics; one that verifies
//! names an entry inside the tree of the checkpoint it verified under.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn keys() -> &'static (rekor::LogKey, rekor::v1::LogKey) {
    static K: OnceLock<(rekor::LogKey, rekor::v1::LogKey)> = OnceLock::new();
    K.get_or_init(|| {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/rekor/tests/data/");
        let v2 = std::fs::read_to_string(format!("{data}staging-v2-log.pem")).unwrap();
        let v2 = rekor::LogKey::from_spki_pem("log2025-alpha1.rekor.sigstage.dev", &v2).unwrap();
        let v1 = std::fs::read_to_string(format!("{data}v1/rekor_staging_key.pem")).unwrap();
        (v2, rekor::v1::LogKey::from_pem(&v1).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, answer)) = data.split_first() else { return };
    let (v2, v1) = keys();
    let (index, size) = if which & 1 == 0 {
        match rekor::v2::verify_entry(answer, v2) {
            Ok(v) => (v.log_index, v.tree_size),
            Err(e) => return assert!(!e.to_string().contains('\n')),
        }
    } else {
        match rekor::v1::verify_entry(answer, v1) {
            Ok(v) => (v.shard_log_index, v.tree_size),
            Err(e) => return assert!(!e.to_string().contains('\n')),
        }
    };
    assert!(index < size, "entry {index} outside a tree of {size}");
});
