//! `rekor::tsa::verify` against a real RFC 3161 token from Sigstore's
//! staging timestamp authority (`timestamp.sigstage.dev`), carried in the
//! staging Rekor v2 bundle, under the TSA chain of the staging trusted root;
//! one tampered token per check.

use base64ct::{Base64, Encoding};
use rekor::tsa::{self, Authority, TsaError};
use serde_json::Value;

const CHAIN: &str = include_str!("data/staging-tsa-chain.pem");

fn bundle() -> Value {
    serde_json::from_str(include_str!("data/staging-rekor-v2.txt.sigstore.json")).unwrap()
}

/// The bundle's `signedTimestamp`: a whole DER `TimeStampResp`.
fn reply() -> Vec<u8> {
    let b = bundle();
    let t = &b["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0];
    Base64::decode_vec(t["signedTimestamp"].as_str().unwrap()).unwrap()
}

/// What Sigstore timestamped: the artifact signature's bytes.
fn message() -> Vec<u8> {
    let b = bundle();
    Base64::decode_vec(b["messageSignature"]["signature"].as_str().unwrap()).unwrap()
}

fn authority() -> Authority {
    Authority::from_pem_chain(CHAIN).unwrap()
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    let at = hay.windows(needle.len()).position(|w| w == needle);
    let at = at.unwrap_or_else(|| panic!("{needle:02x?} not in the token"));
    assert!(hay[at + 1..].windows(needle.len()).all(|w| w != needle), "{needle:02x?} twice");
    at
}

/// The reply with the byte at `at` changed to `to`.
fn with(at: usize, to: u8) -> Vec<u8> {
    let mut t = reply();
    assert_ne!(t[at], to);
    t[at] = to;
    t
}

#[test]
fn the_staging_token_verifies() {
    let v = tsa::verify(&reply(), &message(), &authority()).unwrap();
    // genTime 2025-06-09T11:57:38Z.
    assert_eq!(v.time, 1_749_470_258);
    assert_eq!(v.tsa, "CN=sigstore-tsa,O=sigstore.dev");
    let serial = [0xee, 0x61, 0xc1, 0x7a, 0x1f, 0x1d, 0xd6, 0x8b, 0x6b, 0x20, 0xc6];
    assert!(v.serial.windows(serial.len()).any(|w| w == serial), "{:02x?}", v.serial);
}

#[test]
fn the_imprint_is_over_the_signature_not_the_artifact() {
    let artifact = include_bytes!("data/staging-rekor-v2.txt");
    let err = tsa::verify(&reply(), artifact, &authority()).unwrap_err();
    assert_eq!(err, TsaError::ImprintMismatch);
}

#[test]
fn the_bare_token_verifies_too() {
    // TimeStampResp = SEQUENCE { status SEQUENCE { INTEGER 0 }, token }: the
    // token starts after the 4-byte header and the 5-byte status.
    let r = reply();
    assert_eq!(&r[..9], &[0x30, 0x82, 0x04, 0xeb, 0x30, 0x03, 0x02, 0x01, 0x00]);
    let v = tsa::verify(&r[9..], &message(), &authority()).unwrap();
    assert_eq!(v.time, 1_749_470_258);
}

#[test]
fn the_root_alone_or_the_leaf_alone_is_enough() {
    let pems: Vec<&str> = CHAIN.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(pems.len(), 2);
    for pem in pems {
        let auth = Authority::from_pem_chain(pem).unwrap();
        tsa::verify(&reply(), &message(), &auth).unwrap();
    }
}

#[test]
fn another_message_fails() {
    let err = tsa::verify(&reply(), b"another message", &authority()).unwrap_err();
    assert_eq!(err, TsaError::ImprintMismatch);
}

#[test]
fn a_changed_tstinfo_fails() {
    // The last digit of genTime (GeneralizedTime 20250609115738Z) in the TSTInfo.
    let at = find(&reply(), b"\x18\x0f20250609115738Z") + 15;
    let err = tsa::verify(&with(at, b'9'), &message(), &authority()).unwrap_err();
    assert_eq!(err, TsaError::ContentDigestMismatch);
}

#[test]
fn a_changed_signed_attribute_fails() {
    // The last digit of the signed signingTime (UTCTime 250609115738Z).
    let at = find(&reply(), b"\x17\x0d250609115738Z") + 13;
    let err = tsa::verify(&with(at, b'9'), &message(), &authority()).unwrap_err();
    assert_eq!(err, TsaError::BadSignature("CN=sigstore-tsa,O=sigstore.dev".into()));
}

#[test]
fn a_changed_message_digest_attribute_fails() {
    // The first byte of the signed messageDigest (the TSTInfo's SHA-256).
    let at = find(&reply(), &[0x04, 0x20, 0x3a, 0xa8, 0x9e, 0xc8]) + 2;
    let err = tsa::verify(&with(at, 0x3b), &message(), &authority()).unwrap_err();
    assert_eq!(err, TsaError::ContentDigestMismatch);
}

#[test]
fn a_changed_signature_fails() {
    let r = reply();
    let last = r.len() - 1;
    let err = tsa::verify(&with(last, r[last] ^ 1), &message(), &authority()).unwrap_err();
    assert_eq!(err, TsaError::BadSignature("CN=sigstore-tsa,O=sigstore.dev".into()));
}

#[test]
fn another_root_fails() {
    let other = fake_rekor::tsa::TsaServer::start().unwrap();
    let auth = Authority::from_pem_chain(&other.root_pem()).unwrap();
    let err = tsa::verify(&reply(), &message(), &auth).unwrap_err();
    assert_eq!(err, TsaError::UntrustedChain("CN=sigstore-tsa,O=sigstore.dev".into()));
}

#[test]
fn a_changed_leaf_certificate_fails() {
    // A byte of the leaf's subject key in the token's certificates: the
    // signature then fails under that key (the token's own copy is used).
    let r = reply();
    let at = find(&r, &[0x04, 0xc7, 0x5b, 0xf9, 0x17]) + 3;
    let err = tsa::verify(
        &with(at, r[at] ^ 1),
        &message(),
        &Authority::from_pem_chain(
            CHAIN.split_inclusive("-----END CERTIFICATE-----\n").nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TsaError::BadSignature(_) | TsaError::UnsupportedSignature(_)),
        "{err:?}"
    );
}

#[test]
fn every_truncation_and_bit_flip_is_an_error_not_a_panic() {
    let r = reply();
    let (m, auth) = (message(), authority());
    for n in 0..r.len() {
        assert!(tsa::verify(&r[..n], &m, &auth).is_err(), "truncated to {n}");
    }
    for at in (0..r.len()).step_by(7) {
        let mut t = r.clone();
        t[at] ^= 0x40;
        // A flip in the unsigned parts (the certificates' non-key bytes
        // past the signer's copy, …) may still verify; none may panic.
        let _ = tsa::verify(&t, &m, &auth);
    }
}

#[test]
fn errors_are_one_line() {
    let errs = [
        TsaError::ImprintMismatch,
        TsaError::UntrustedChain("CN=x\nevil".into()),
        TsaError::NotSignedData("1.2.3".into()),
    ];
    for e in errs {
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
