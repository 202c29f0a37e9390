//! `rekor::v2::verify_entry` against a real staging Rekor v2 entry, with
//! one tampered response per check (`tests/log.rs` checks `v2::verify` on
//! entries of a hand-built log).

mod common;

use base64ct::{Base64, Encoding};
use common::{Log, b64};
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
