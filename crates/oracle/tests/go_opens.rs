//! Go's `note.Open` accepts the checkpoints our signer writes, and refuses
//! them altered, truncated or checked with another tenant's key.

use note::Signer;

fn signed(text: &str, signer: &Signer) -> Vec<u8> {
    let mut out = vec![0u8; 1024];
    let n = note::sign(text, &[signer], &mut out).unwrap();
    out.truncate(n);
    out
}

#[test]
fn go_opens_our_checkpoints_and_refuses_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::from_seed("service-fs/acme", [3; 32]).unwrap();
    let other = Signer::from_seed("service-fs/acme", [4; 32]).unwrap();
    let root = "wZuhdPOA8ZFIX52aPxGP8zTmGiy/r4qD+fpK5CTTLjQ=";
    let text = format!("service-fs/acme\n8\n{root}\n");
    let note = signed(&text, &signer);
    let file = dir.path().join("checkpoint");
    std::fs::write(&file, &note).unwrap();
    let vkey = signer.verifier().to_string();
    let got = oracle::open(&vkey, &file).unwrap();
    assert_eq!(
        got,
        oracle::Opened { origin: "service-fs/acme".into(), size: 8, root: root.into() }
    );

    let forged = String::from_utf8(note.clone()).unwrap().replacen("\n8\n", "\n9\n", 1);
    std::fs::write(&file, forged).unwrap();
    assert!(oracle::open(&vkey, &file).is_err(), "an altered size must not verify");
    std::fs::write(&file, &note[..note.len() - 10]).unwrap();
    assert!(oracle::open(&vkey, &file).is_err(), "a truncated note must not verify");
    std::fs::write(&file, &note).unwrap();
    let wrong = other.verifier().to_string();
    assert!(oracle::open(&wrong, &file).is_err(), "another key must not verify");
}

/// A second signature line by the same key: Go's `note.Open` keeps the
/// first and drops the rest, so a valid one followed by a bad one opens and
/// a bad one followed by a valid one does not. Our `note::open` agrees.
#[test]
fn repeated_signatures_by_one_key_are_judged_as_go_judges_them() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer::from_seed("service-fs/acme", [3; 32]).unwrap();
    let text = "service-fs/acme\n8\nwZuhdPOA8ZFIX52aPxGP8zTmGiy/r4qD+fpK5CTTLjQ=\n";
    let note = String::from_utf8(signed(text, &signer)).unwrap();
    let good = note.lines().last().unwrap().to_string();
    // The same key ID, another signature: flip a character of the base64
    // past the key ID.
    let mut bad: Vec<char> = good.chars().collect();
    let at = bad.len() - 5;
    bad[at] = if bad[at] == 'A' { 'B' } else { 'A' };
    let bad: String = bad.into_iter().collect();
    let body = &note[..note.len() - good.len() - 1];
    let vkey = signer.verifier();
    let file = dir.path().join("note");
    for (lines, opens) in [([&good, &bad], true), ([&bad, &good], false)] {
        let msg = format!("{body}{}\n{}\n", lines[0], lines[1]);
        std::fs::write(&file, &msg).unwrap();
        let go = oracle::open(&vkey.to_string(), &file);
        let ours = note::open(msg.as_bytes(), &[&vkey]);
        assert_eq!(go.is_ok(), opens, "Go: {go:?}");
        assert_eq!(ours.is_ok(), opens, "ours: {:?}", ours.err());
    }
}
