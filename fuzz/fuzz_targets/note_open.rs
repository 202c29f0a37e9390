//! Signed notes (`note::open`, `note::sign`): opening any bytes never
//! panics; a note that opens has its text as a prefix and, for each key that
//! verified it, exactly the signature line `sign` writes (Ed25519 is
//! deterministic); signing any acceptable text opens back to that text.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use note::{Signer, Verifier};

fn keys() -> &'static ([Signer; 2], [Verifier; 2]) {
    static KEYS: std::sync::OnceLock<([Signer; 2], [Verifier; 2])> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let [a, b] = common::note_keys();
        let (va, vb) = (a.verifier(), b.verifier());
        ([a, b], [va, vb])
    })
}

fuzz_target!(|data: &[u8]| {
    let (signers, verifiers) = keys();
    let vs = [&verifiers[0], &verifiers[1]];
    if let Ok(opened) = note::open(data, &vs) {
        assert!(data.starts_with(opened.text.as_bytes()));
        assert!(opened.text.ends_with('\n'));
        assert!(opened.verified_by != 0 && opened.verified_by < 4);
        let msg = std::str::from_utf8(data).unwrap();
        for (i, s) in signers.iter().enumerate() {
            if opened.verified_by & (1 << i) != 0 {
                let mut buf = vec![0u8; opened.text.len() + 256];
                let n = note::sign(opened.text, &[s], &mut buf).unwrap();
                let line = std::str::from_utf8(&buf[opened.text.len() + 1..n]).unwrap();
                assert!(msg[opened.text.len()..].contains(line), "signature line not as signed");
            }
        }
        // The body, when a checkpoint, re-serialises to itself.
        if let Ok(cp) = note::Checkpoint::parse(opened.text) {
            assert_eq!(cp.to_string(), opened.text);
        }
    }
    // Any text signing accepts opens back to itself.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut buf = vec![0u8; text.len() + 512];
        if let Ok(n) = note::sign(text, &[&signers[0], &signers[1]], &mut buf) {
            let opened = note::open(&buf[..n], &vs).expect("a signed note opens");
            assert_eq!(opened.text, text);
            assert_eq!(opened.verified_by, 3);
            assert_eq!(opened.unknown, 0);
        }
    }
});
