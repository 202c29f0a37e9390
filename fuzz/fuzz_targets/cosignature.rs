//! Cosignatures (`note::cosigned_at`, `CosignatureVerifier::parse`): any
//! bytes never panic; a cosignature that verifies is exactly the line the
//! witness key writes for that text and time (Ed25519 is deterministic);
//! a witness key that parses writes back to itself.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use note::CosignatureVerifier;

fuzz_target!(|data: &[u8]| {
    let c = common::cosigner();
    if let Ok(Some(t)) = note::cosigned_at(data, &c.verifier()) {
        let msg = std::str::from_utf8(data).unwrap();
        let text = &msg[..msg.rfind("\n\n").unwrap() + 1];
        let mut line = [0u8; 256];
        let n = c.cosign(text, t, &mut line).unwrap();
        let line = std::str::from_utf8(&line[..n]).unwrap();
        assert!(msg[text.len()..].contains(line), "cosignature not as the key writes it");
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(v) = CosignatureVerifier::parse(s)
    {
        let again = CosignatureVerifier::parse(&v.to_string()).unwrap();
        assert_eq!(again, v);
        assert!(s.eq_ignore_ascii_case(&v.to_string()));
    }
});
