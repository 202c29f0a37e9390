//! `rekor::v2::verify` against entries in a log built by hand in
//! `tests/common` (RFC 6962 tree and proofs written from the RFC, not with
//! `tlog`), with one tampered response or body per check.

mod common;

use common::{Log, b64, body_for_request};
use rekor::AnchorKey;
use rekor::v2::{self, VerifyError};
use serde_json::{Value, json};

struct Setup {
    log: Log,
    anchor: AnchorKey,
    artifact: Vec<u8>,
    index: usize,
}

fn setup() -> Setup {
    let anchor = AnchorKey::from_seed([42; 32]);
    let artifact = "tenant.example\n17\nAAAA\n\n\u{2014} tenant sig\n".as_bytes().to_vec();
    let req = v2::request(&artifact, &anchor);
    let mut log = Log::new("rekor.test", 9).with_fillers(5);
    let index = log.append(body_for_request(&req.to_json()));
    log = log_with_more(log, 3);
    Setup { log, anchor, artifact, index }
}

fn log_with_more(mut log: Log, n: usize) -> Log {
    for i in 0..n {
        log.append(format!("{{\"after\":{i}}}").into_bytes());
    }
    log
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn verify(s: &Setup, tle: &Value) -> Result<v2::Verified, VerifyError> {
    v2::verify(&bytes(tle), &s.artifact, &s.anchor.spki_der(), &s.log.log_key())
}

#[test]
fn our_entry_verifies() {
    let s = setup();
    let v = verify(&s, &s.log.tle(s.index)).unwrap();
    assert_eq!((v.log_index, v.tree_size), (5, 9));
    assert_eq!(v.root.0, common::mth(&s.log.leaves()));
    assert_eq!(v.checkpoint, s.log.checkpoint());
    // The anchor key may be given as PEM too.
    let tle = bytes(&s.log.tle(s.index));
    let pem = s.anchor.spki_pem();
    v2::verify(&tle, &s.artifact, pem.as_bytes(), &s.log.log_key()).unwrap();
    // The request's own idea of the body is the log's.
    let req = v2::request(&s.artifact, &s.anchor);
    assert_eq!(req.entry_body(), s.log.bodies[s.index]);
    assert_eq!(req.leaf_hash().0, common::leaf(&s.log.bodies[s.index]));
}

#[test]
fn entry_at_every_position_verifies() {
    // Indices and sizes around powers of two exercise every proof shape.
    let anchor = AnchorKey::from_seed([42; 32]);
    let artifact = b"x".to_vec();
    let body = body_for_request(&v2::request(&artifact, &anchor).to_json());
    for before in [0, 1, 2, 3, 7, 8, 15] {
        for after in [0, 1, 4, 9] {
            let mut log = Log::new("rekor.test", 9).with_fillers(before);
            let index = log.append(body.clone());
            let log = log_with_more(log, after);
            let tle = bytes(&log.tle(index));
            let v = v2::verify(&tle, &artifact, &anchor.spki_der(), &log.log_key()).unwrap();
            assert_eq!((v.log_index, v.tree_size), (index as u64, (before + 1 + after) as u64));
        }
    }
}

#[test]
fn another_artifact_or_key_is_refused() {
    let s = setup();
    let tle = bytes(&s.log.tle(s.index));
    let log = s.log.log_key();
    let r = v2::verify(&tle, b"other", &s.anchor.spki_der(), &log);
    assert_eq!(r, Err(VerifyError::BodyDigest));
    let other = AnchorKey::from_seed([43; 32]);
    let r = v2::verify(&tle, &s.artifact, &other.spki_der(), &log);
    assert_eq!(r, Err(VerifyError::BodyKey));
    let r = v2::verify(&tle, &s.artifact, b"not a key", &log);
    assert_eq!(r, Err(VerifyError::AnchorKey));
    // A filler entry is in the log but is not ours.
    let r = verify(&s, &s.log.tle(0));
    assert!(matches!(r, Err(VerifyError::BodyKind { .. })), "{r:?}");
}

/// The setup with `edit` applied to our body before it was logged.
fn logged_with(edit: impl Fn(&str) -> String) -> (Setup, Value) {
    let mut s = setup();
    let body = String::from_utf8(s.log.bodies[s.index].clone()).unwrap();
    s.log.bodies[s.index] = edit(&body).into_bytes();
    let tle = s.log.tle(s.index);
    (s, tle)
}

#[test]
fn body_that_differs_from_the_request_is_refused() {
    let (s, tle) = logged_with(|b| b.replace("SHA2_512", "SHA2_256"));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyAlgorithm("SHA2_256".into())));
    let (s, tle) = logged_with(|b| b.replace("PKIX_ED25519_PH", "PKIX_ED25519"));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyKeyDetails("PKIX_ED25519".into())));
    let (s, tle) = logged_with(|b| b.replace("\"0.0.2\"", "\"0.0.3\""));
    assert!(matches!(verify(&s, &tle), Err(VerifyError::BodyKind { .. })));
    // Another signature by our key, over something else.
    let sig = b64(&AnchorKey::from_seed([42; 32]).sign_ph(b"other"));
    let (s, tle) = logged_with(|b| {
        let v: Value = serde_json::from_str(b).unwrap();
        let old = v["spec"]["hashedRekordV002"]["signature"]["content"].as_str().unwrap();
        b.replace(old, &sig)
    });
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodySignature));
    // An extra field, still canonical: every field we check is right.
    let (s, tle) =
        logged_with(|b| b.replacen("{\"apiVersion\"", "{\"aaa\":\"x\",\"apiVersion\"", 1));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyDiffers));
    // Not canonical: a space.
    let (s, tle) = logged_with(|b| b.replacen(':', ": ", 1));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyNotCanonical));
    let (s, tle) = logged_with(|_| "not json".into());
    assert!(matches!(verify(&s, &tle), Err(VerifyError::BodyJson(_))));
    let (s, tle) = logged_with(|b| b.replace("\"spec\"", "\"spek\""));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyMissing("spec.hashedRekordV002")));
}

#[test]
fn checkpoint_of_another_origin_size_or_key_is_refused() {
    let s = setup();
    let leaves = s.log.leaves();
    let root = common::mth(&leaves);
    let with_cp = |cp: String| {
        let mut tle = s.log.tle(s.index);
        tle["inclusionProof"]["checkpoint"]["envelope"] = json!(cp);
        verify(&s, &tle)
    };
    // Signed by the log's key, for another origin.
    let r = with_cp(s.log.checkpoint_with("other.test", leaves.len(), &root));
    let (got, want) = ("other.test".into(), "rekor.test".into());
    assert_eq!(r, Err(VerifyError::CheckpointOrigin { got, want }));
    // A checkpoint for a bigger tree than the proof's.
    let r = with_cp(s.log.checkpoint_with("rekor.test", leaves.len() + 1, &root));
    assert_eq!(r, Err(VerifyError::TreeSize { proof: 9, checkpoint: 10 }));
    // Another root.
    let r = with_cp(s.log.checkpoint_with("rekor.test", leaves.len(), &[5; 32]));
    assert!(matches!(r, Err(VerifyError::RootHash { .. })), "{r:?}");
    // Another key under the same origin.
    let other = Log::new("rekor.test", 10);
    let r = with_cp(other.checkpoint_with("rekor.test", leaves.len(), &root));
    assert!(matches!(r, Err(VerifyError::CheckpointSignature { .. })), "{r:?}");
    // Signed, but not a checkpoint body.
    let r =
        with_cp(s.log.checkpoint_with("rekor.test", leaves.len(), &root).replace("\n9\n", "\n"));
    assert!(
        matches!(r, Err(VerifyError::CheckpointSignature { .. } | VerifyError::CheckpointBody(_))),
        "{r:?}"
    );
}

#[test]
fn log_id_of_another_key_is_refused() {
    let s = setup();
    let mut tle = s.log.tle(s.index);
    tle["logId"]["keyId"] = json!(b64(&[3; 32]));
    let e = verify(&s, &tle).unwrap_err();
    assert!(matches!(e, VerifyError::LogId { .. }), "{e:?}");
    let text = e.to_string();
    assert!(!text.contains('\n') && text.contains("logId"), "{text}");
    // Usable with `?` in anyhow code.
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
}

#[test]
fn errors_print_one_line() {
    let s = setup();
    let mut tle = s.log.tle(s.index);
    tle["logId"]["keyId"] = json!(b64(&[3; 32]));
    let e = verify(&s, &tle).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains('\n') && text.contains("logId"), "{text}");
    // Usable with `?` in anyhow-style code.
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
}
