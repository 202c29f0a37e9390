//! `rekor::v2::verify_entry` against a real staging Rekor v2 entry, and
//! `rekor::v2::verify` against entries in a hand-built log, with one
//! tampered response per check.

mod common;

use base64ct::{Base64, Encoding};
use common::{Log, b64, body_for_request};
use rekor::v2::{self, VerifyError};
use rekor::{AnchorKey, LogKey};
use serde_json::{Value, json};

const ORIGIN: &str = "log2025-alpha1.rekor.sigstage.dev";

fn fixture() -> Value {
    let bundle: Value =
        serde_json::from_str(include_str!("data/staging-rekor-v2.txt.sigstore.json")).unwrap();
    bundle["verificationMaterial"]["tlogEntries"][0].clone()
}

fn staging_key() -> LogKey {
    LogKey::from_spki_pem(ORIGIN, include_str!("data/staging-v2-log.pem")).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn check(v: &Value) -> Result<v2::Verified, VerifyError> {
    v2::verify_entry(&bytes(v), &staging_key())
}

#[test]
fn golden_staging_entry_verifies() {
    let v = check(&fixture()).unwrap();
    assert_eq!((v.log_index, v.tree_size), (645, 646));
    assert_eq!(Base64::encode_string(&v.root.0), "kNum4JmdViJPfZLMRB3xPi6flATj2JzJSiF+1pQDzNQ=");
    let body = Base64::decode_vec(fixture()["canonicalizedBody"].as_str().unwrap()).unwrap();
    assert_eq!(v.leaf.0, common::leaf(&body));
    assert!(v.checkpoint.starts_with("log2025-alpha1.rekor.sigstage.dev\n646\n"));
    assert_eq!(Base64::encode_string(&staging_key().key_id()), fixture()["logId"]["keyId"]);
}

#[test]
fn golden_entry_as_the_live_server_writes_it_and_leniently() {
    // The live server adds integratedTime "0" and a null promise; protojson
    // also allows numbers for int64, snake_case names and unknown fields.
    let mut e = fixture();
    e["integratedTime"] = json!("0");
    e["inclusionPromise"] = Value::Null;
    e["somethingNew"] = json!({"x": 1});
    e["logIndex"] = json!(645);
    e["inclusionProof"]["treeSize"] = json!(646);
    e["inclusionProof"]["logIndex"] = json!(645);
    check(&e).unwrap();
    let snake =
        serde_json::to_string(&e).unwrap().replace("canonicalizedBody", "canonicalized_body");
    v2::verify_entry(snake.as_bytes(), &staging_key()).unwrap();
}

#[test]
fn golden_entry_is_not_ours() {
    // It was signed by a Fulcio certificate (ECDSA), with SHA2_256.
    let artifact = include_bytes!("data/staging-rekor-v2.txt");
    let anchor = AnchorKey::from_seed([1; 32]);
    let err = v2::verify(&bytes(&fixture()), artifact, &anchor.spki_der(), &staging_key());
    assert_eq!(err, Err(VerifyError::BodyAlgorithm("SHA2_256".into())));
}

fn tampered(f: impl FnOnce(&mut Value)) -> Result<v2::Verified, VerifyError> {
    let mut e = fixture();
    f(&mut e);
    check(&e)
}

#[test]
fn golden_tampered_proof_hash() {
    let r = tampered(|e| e["inclusionProof"]["hashes"][2] = json!(b64(&[7; 32])));
    assert_eq!(r, Err(VerifyError::InclusionProof { index: 645 }));
}

#[test]
fn golden_dropped_proof_hash() {
    let r = tampered(|e| {
        e["inclusionProof"]["hashes"].as_array_mut().unwrap().pop();
    });
    assert_eq!(r, Err(VerifyError::InclusionProof { index: 645 }));
}

#[test]
fn golden_tampered_body() {
    let body = Base64::decode_vec(fixture()["canonicalizedBody"].as_str().unwrap()).unwrap();
    let other = String::from_utf8(body).unwrap().replace("SHA2_256", "SHA2_512");
    let r = tampered(|e| e["canonicalizedBody"] = json!(b64(other.as_bytes())));
    assert_eq!(r, Err(VerifyError::InclusionProof { index: 645 }));
}

#[test]
fn golden_tampered_index() {
    let r = tampered(|e| {
        e["logIndex"] = json!("644");
        e["inclusionProof"]["logIndex"] = json!("644");
    });
    assert_eq!(r, Err(VerifyError::InclusionProof { index: 644 }));
    let r = tampered(|e| e["logIndex"] = json!("644"));
    assert_eq!(r, Err(VerifyError::LogIndex { entry: 644, proof: 645 }));
    let r = tampered(|e| {
        e["logIndex"] = json!("646");
        e["inclusionProof"]["logIndex"] = json!("646");
    });
    assert_eq!(r, Err(VerifyError::IndexBeyondTree { index: 646, size: 646 }));
}

#[test]
fn golden_tampered_tree_size_and_root() {
    let r = tampered(|e| e["inclusionProof"]["treeSize"] = json!("647"));
    assert_eq!(r, Err(VerifyError::TreeSize { proof: 647, checkpoint: 646 }));
    let r = tampered(|e| e["inclusionProof"]["rootHash"] = json!(b64(&[9; 32])));
    assert!(matches!(r, Err(VerifyError::RootHash { .. })), "{r:?}");
}

#[test]
fn golden_tampered_checkpoint() {
    let cp = fixture()["inclusionProof"]["checkpoint"]["envelope"].as_str().unwrap().to_string();
    // Another root in the signed text: the signature fails.
    let forged = cp.replace("kNum4J", "kNum4K");
    let r = tampered(|e| e["inclusionProof"]["checkpoint"]["envelope"] = json!(forged));
    assert!(matches!(r, Err(VerifyError::CheckpointSignature { .. })), "{r:?}");
    // A flipped signature byte.
    let forged = cp.replace("8w1amQA0", "8w1amQA1");
    let r = tampered(|e| e["inclusionProof"]["checkpoint"]["envelope"] = json!(forged));
    assert!(matches!(r, Err(VerifyError::CheckpointSignature { .. })), "{r:?}");
    let r = tampered(|e| e["inclusionProof"]["checkpoint"] = Value::Null);
    assert_eq!(r, Err(VerifyError::Missing("inclusionProof.checkpoint.envelope")));
}

#[test]
fn golden_wrong_log_id_and_key() {
    let r = tampered(|e| e["logId"]["keyId"] = json!(b64(&[3; 32])));
    assert!(matches!(r, Err(VerifyError::LogId { .. })), "{r:?}");
    let r = tampered(|e| e["logId"] = Value::Null);
    assert_eq!(r, Err(VerifyError::Missing("logId.keyId")));
    // The right log ID but checked against another log's key.
    let other = Log::new(ORIGIN, 1).log_key();
    let r = v2::verify_entry(&bytes(&fixture()), &other);
    assert!(matches!(r, Err(VerifyError::LogId { .. })), "{r:?}");
}

#[test]
fn golden_wrong_kind_and_shape() {
    let r = tampered(|e| e["kindVersion"]["version"] = json!("0.0.1"));
    assert_eq!(
        r,
        Err(VerifyError::KindVersion { kind: "hashedrekord".into(), version: "0.0.1".into() })
    );
    let r = tampered(|e| e["inclusionProof"] = Value::Null);
    assert_eq!(r, Err(VerifyError::Missing("inclusionProof")));
    let r = tampered(|e| e["canonicalizedBody"] = json!("%%%"));
    assert!(matches!(r, Err(VerifyError::Malformed { field: "canonicalizedBody", .. })));
    let r = tampered(|e| e["inclusionProof"]["hashes"][0] = json!(b64(&[1; 31])));
    assert!(matches!(r, Err(VerifyError::Malformed { field: "inclusionProof.hashes", .. })));
    let r = tampered(|e| e["logIndex"] = json!("-1"));
    assert!(matches!(r, Err(VerifyError::Json(_))), "{r:?}");
    assert!(matches!(v2::verify_entry(b"<html>", &staging_key()), Err(VerifyError::Json(_))));
}

// --- v2::verify on a log we build, with our own anchor key.

struct Setup {
    log: Log,
    anchor: AnchorKey,
    artifact: Vec<u8>,
    index: usize,
}

fn setup() -> Setup {
    let anchor = AnchorKey::from_seed([42; 32]);
    let artifact = b"tenant.example\n17\nAAAA\n\n\xe2\x80\x94 tenant sig\n".to_vec();
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

fn verify(s: &Setup, tle: &Value) -> Result<v2::Verified, VerifyError> {
    v2::verify(&bytes(tle), &s.artifact, &s.anchor.spki_der(), &s.log.log_key())
}

#[test]
fn our_entry_verifies() {
    let s = setup();
    let v = verify(&s, &s.log.tle(s.index)).unwrap();
    assert_eq!((v.log_index, v.tree_size), (5, 9));
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
    for before in [0, 1, 2, 3, 7, 8] {
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
    // A filler entry is in the log but not ours.
    let r = verify(&s, &s.log.tle(0));
    assert!(matches!(r, Err(VerifyError::BodyKind { .. })), "{r:?}");
}

/// A log whose entry `index` has `edit` applied to our body before logging.
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
    // Another (valid-looking) signature.
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
    // Not canonical: spaces.
    let (s, tle) = logged_with(|b| b.replacen(":", ": ", 1));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyNotCanonical));
    let (s, tle) = logged_with(|_| "not json".into());
    assert!(matches!(verify(&s, &tle), Err(VerifyError::BodyJson(_))));
    let (s, tle) = logged_with(|b| b.replace("\"spec\"", "\"spek\""));
    assert_eq!(verify(&s, &tle), Err(VerifyError::BodyMissing("spec.hashedRekordV002")));
}

#[test]
fn checkpoint_of_another_origin_or_size_is_refused() {
    let s = setup();
    let leaves = s.log.leaves();
    let root = common::mth(&leaves);
    let mut tle = s.log.tle(s.index);
    // Signed by the right key but for another origin.
    tle["inclusionProof"]["checkpoint"]["envelope"] =
        json!(s.log.checkpoint_with("other.test", leaves.len(), &root));
    let r = verify(&s, &tle);
    assert!(matches!(r, Err(VerifyError::CheckpointOrigin { .. })), "{r:?}");
    // A checkpoint for a bigger tree than the proof.
    let mut tle = s.log.tle(s.index);
    tle["inclusionProof"]["checkpoint"]["envelope"] =
        json!(s.log.checkpoint_with("rekor.test", leaves.len() + 1, &root));
    assert_eq!(verify(&s, &tle), Err(VerifyError::TreeSize { proof: 9, checkpoint: 10 }));
    // Signed by another key of the same origin.
    let other = Log::new("rekor.test", 10).with_fillers(0);
    let mut tle = s.log.tle(s.index);
    tle["inclusionProof"]["checkpoint"]["envelope"] =
        json!(other.checkpoint_with("rekor.test", leaves.len(), &root));
    let r = verify(&s, &tle);
    assert!(matches!(r, Err(VerifyError::CheckpointSignature { .. })), "{r:?}");
    // Not a checkpoint body at all.
    let mut tle = s.log.tle(s.index);
    tle["inclusionProof"]["checkpoint"]["envelope"] = json!(
        s.log.checkpoint_with("rekor.test", leaves.len(), &root).replacen("\n9\n", "\nnine\n", 1)
    );
    let r = verify(&s, &tle);
    assert!(
        matches!(r, Err(VerifyError::CheckpointSignature { .. } | VerifyError::CheckpointBody(_))),
        "{r:?}"
    );
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
