//! Key encodings (`note::Verifier::parse`, `note::Signer::parse`): parsing
//! never panics; a key that parses writes back to the same text (the hex
//! key ID in lower case) and parses again to the same key; a signer's
//! signatures verify with its verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;
use note::{Signer, Verifier};

/// `name+ID+key` with the ID in lower case.
fn lower_id(s: &str) -> String {
    let mut parts: Vec<String> = s.splitn(3, '+').map(str::to_string).collect();
    if parts.len() == 3 {
        parts[1] = parts[1].to_ascii_lowercase();
    }
    parts.join("+")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = Verifier::parse(text) {
        let again = v.to_string();
        assert_eq!(again, lower_id(text));
        let w = Verifier::parse(&again).unwrap();
        assert_eq!((w.name(), w.id(), w.public_key()), (v.name(), v.id(), v.public_key()));
    }
    if let Ok(s) = Signer::parse(text) {
        let mut again = String::new();
        s.write_private(&mut again).unwrap();
        let rest = text.strip_prefix("PRIVATE+KEY+").unwrap();
        assert_eq!(again, format!("PRIVATE+KEY+{}", lower_id(rest)));
        let t = Signer::parse(&again).unwrap();
        assert_eq!((t.name(), t.id()), (s.name(), s.id()));
        let sig = s.sign_bytes(data);
        assert!(s.verifier().verify(data, &sig));
    }
});
