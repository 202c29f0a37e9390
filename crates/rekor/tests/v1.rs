//! Rekor v1: the recorded staging entry (sigstore-rs) verifies and each
//! tampered copy fails for its own reason; requests posted to the fake v1
//! log verify, a retry after a lost answer is recovered, faults are caught.

use std::time::Duration;

use base64ct::{Base64, Encoding};
use fake_rekor::v1::{V1Fault, V1Log, V1Server};
use rekor::v1::{self, LogKey, VerifyError};
use rekor::{AnchorKey, Client, Error, Policy};
use serde_json::Value;

const LOG_ENTRY: &str = include_str!("data/v1/log_entry.json");
const STAGING_KEY_PEM: &str = include_str!("data/v1/rekor_staging_key.pem");
/// The staging shard's tree ID (108574341321668964) in hex, then the UUID:
/// the hex RFC 6962 leaf hash of the entry's body (computed independently).
const ENTRY_ID: &str =
    "0181bbc9c6333964ac3650aee1c1b3821211cf07067c1a118d0a7f86867bbb1df340cb8fc9c221af";

fn staging_key() -> LogKey {
    LogKey::from_pem(STAGING_KEY_PEM).unwrap()
}

/// The recorded entry as a v1 answer: `{entryID: entry}`.
fn golden() -> Value {
    let entry: Value = serde_json::from_str(LOG_ENTRY).unwrap();
    serde_json::json!({ ENTRY_ID: entry })
}

/// Verifies `answer` after `edit` changes the entry in it.
fn tampered(edit: impl FnOnce(&mut Value)) -> Result<v1::Verified, VerifyError> {
    let mut answer = golden();
    edit(&mut answer[ENTRY_ID]);
    v1::verify_entry(&serde_json::to_vec(&answer).unwrap(), &staging_key())
}

/// Flips the lowest bit of byte `at` of a base64 string.
fn flip_b64(s: &str, at: usize) -> String {
    let mut bytes = Base64::decode_vec(s).unwrap();
    bytes[at] ^= 1;
    Base64::encode_string(&bytes)
}

#[test]
fn golden_staging_entry_verifies() {
    let key = staging_key();
    assert_eq!(
        hex(&key.log_id()),
        "d32f30a3c32d639c2b762205a21c7bb07788e68283a4ae6f42118723a1bea496"
    );
    let v = v1::verify_entry(&serde_json::to_vec(&golden()).unwrap(), &key).unwrap();
    assert_eq!(v.log_index, 1688);
    assert_eq!(v.shard_log_index, 1227);
    assert_eq!(v.integrated_time, 1656448131);
    assert_eq!(v.tree_size, 14358);
    assert_eq!(hex(&v.root.0), "effa4fa4575f72829016a64e584441203de533212f9470d63a56d1992e73465d");
    assert_eq!(v.entry_id, ENTRY_ID);
    assert!(v.checkpoint.starts_with("rekor.sigstage.dev - 108574341321668964\n14358\n"));
}

#[test]
fn golden_also_under_bare_uuid_and_from_der_key() {
    let entry: Value = serde_json::from_str(LOG_ENTRY).unwrap();
    let answer = serde_json::json!({ &ENTRY_ID[16..]: entry });
    let der = staging_key().spki_der().to_vec();
    let key = LogKey::parse(&der).unwrap();
    v1::verify_entry(&serde_json::to_vec(&answer).unwrap(), &key).unwrap();
}

#[test]
fn golden_is_not_our_anchor() {
    // verify = verify_entry + the body check: the staging entry is sha256 with
    // a certificate, so it is not what we send.
    let anchor = AnchorKey::from_seed([1; 32]);
    let err = v1::verify(
        &serde_json::to_vec(&golden()).unwrap(),
        b"artifact",
        &anchor.spki_der(),
        &staging_key(),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::HashAlgorithm("sha256".into()));
}

#[test]
fn tampered_set_byte() {
    let err = tampered(|e| {
        let set = e["verification"]["signedEntryTimestamp"].as_str().unwrap().to_string();
        e["verification"]["signedEntryTimestamp"] = flip_b64(&set, 40).into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::SignedEntryTimestamp);
}

#[test]
fn tampered_integrated_time() {
    let err = tampered(|e| e["integratedTime"] = 1656448132.into());
    assert_eq!(err.unwrap_err(), VerifyError::SignedEntryTimestamp);
}

#[test]
fn tampered_log_index() {
    let err = tampered(|e| e["logIndex"] = 1689.into());
    assert_eq!(err.unwrap_err(), VerifyError::SignedEntryTimestamp);
}

#[test]
fn tampered_proof_hash() {
    let err = tampered(|e| {
        e["verification"]["inclusionProof"]["hashes"][3] =
            "b4439e8d71edbc96271723cb7a969dd725e23e73d139361864a62ed76ce8dc12".into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::InclusionProof);
}

#[test]
fn tampered_proof_index() {
    let err = tampered(|e| e["verification"]["inclusionProof"]["logIndex"] = 1226.into());
    assert_eq!(err.unwrap_err(), VerifyError::InclusionProof);
}

#[test]
fn tampered_checkpoint_signature() {
    let err = tampered(|e| {
        let cp = e["verification"]["inclusionProof"]["checkpoint"].as_str().unwrap().to_string();
        let (text, line) = cp.split_once("\n\n").unwrap();
        let (name, sig) = line.trim_end().rsplit_once(' ').unwrap();
        // Byte 40: inside the DER signature, past the 4-byte key hash.
        let cp = format!("{text}\n\n{name} {}\n", flip_b64(sig, 40));
        e["verification"]["inclusionProof"]["checkpoint"] = cp.into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::CheckpointSignature);
}

#[test]
fn tampered_checkpoint_text() {
    let err = tampered(|e| {
        let cp = e["verification"]["inclusionProof"]["checkpoint"].as_str().unwrap();
        let cp = cp.replace("\n14358\n", "\n14359\n");
        e["verification"]["inclusionProof"]["checkpoint"] = cp.into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::CheckpointSignature);
}

#[test]
fn tampered_checkpoint_signer_name() {
    let err = tampered(|e| {
        let cp = e["verification"]["inclusionProof"]["checkpoint"].as_str().unwrap();
        let cp = cp.replace("\u{2014} rekor.sigstage.dev ", "\u{2014} rekor.sigstore.dev ");
        e["verification"]["inclusionProof"]["checkpoint"] = cp.into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::CheckpointUnsigned);
}

#[test]
fn tampered_log_id() {
    let err = tampered(|e| {
        e["logID"] = "d32f30a3c32d639c2b762205a21c7bb07788e68283a4ae6f42118723a1bea497".into();
    });
    assert!(matches!(err.unwrap_err(), VerifyError::LogId { .. }));
}

#[test]
fn another_log_key() {
    let other = LogKey::from_pem(&V1Log::new([9; 32]).public_key_pem()).unwrap();
    let err = v1::verify_entry(&serde_json::to_vec(&golden()).unwrap(), &other).unwrap_err();
    assert!(matches!(err, VerifyError::LogId { .. }), "{err}");
}

#[test]
fn tampered_root_and_size() {
    let err = tampered(|e| {
        e["verification"]["inclusionProof"]["rootHash"] =
            "effa4fa4575f72829016a64e584441203de533212f9470d63a56d1992e73465e".into();
    });
    assert_eq!(err.unwrap_err(), VerifyError::RootHash);
    let err = tampered(|e| e["verification"]["inclusionProof"]["treeSize"] = 14359.into());
    assert_eq!(err.unwrap_err(), VerifyError::TreeSize { proof: 14359, checkpoint: 14358 });
}

#[test]
fn wrong_entry_id_and_shapes() {
    let entry: Value = serde_json::from_str(LOG_ENTRY).unwrap();
    let key = staging_key();
    let other_id = format!("{}0", &ENTRY_ID[..79]);
    let answer = serde_json::json!({ &other_id: entry.clone() });
    let err = v1::verify_entry(&serde_json::to_vec(&answer).unwrap(), &key).unwrap_err();
    assert_eq!(err, VerifyError::EntryId(other_id));

    let two = serde_json::json!({ ENTRY_ID: entry.clone(), "x": entry.clone() });
    let err = v1::verify_entry(&serde_json::to_vec(&two).unwrap(), &key).unwrap_err();
    assert_eq!(err, VerifyError::NotOneEntry);
    // The bare entry (not in its map) is not an answer either.
    let err = v1::verify_entry(LOG_ENTRY.as_bytes(), &key).unwrap_err();
    assert_eq!(err, VerifyError::NotOneEntry);
    assert!(matches!(v1::verify_entry(b"<html>", &key), Err(VerifyError::NotJson(_))));

    let err = tampered(|e| {
        e["verification"].as_object_mut().unwrap().remove("signedEntryTimestamp");
    });
    assert_eq!(err.unwrap_err(), VerifyError::Missing("signedEntryTimestamp"));
    let err = tampered(|e| e["logIndex"] = "1688".into());
    assert_eq!(err.unwrap_err(), VerifyError::Malformed("logIndex"));
}

#[test]
fn errors_read_as_one_line() {
    for e in [
        VerifyError::SignedEntryTimestamp,
        VerifyError::InclusionProof,
        VerifyError::CheckpointSignature,
        VerifyError::LogId { got: "aa".into(), want: "bb".into() },
    ] {
        let s = e.to_string();
        assert!(s.starts_with("Rekor v1 ") && !s.contains('\n'), "{s}");
    }
}

#[test]
fn log_key_refuses_other_keys() {
    let ed25519 = AnchorKey::from_seed([1; 32]);
    assert_eq!(LogKey::parse(&ed25519.spki_der()).unwrap_err(), v1::KeyError::NotP256);
    assert_eq!(LogKey::from_pem("not a key").unwrap_err(), v1::KeyError::NotPem);
}

#[test]
fn request_shape() {
    let anchor = AnchorKey::from_seed([3; 32]);
    let req = v1::request(b"checkpoint bytes", &anchor);
    let json: Value = serde_json::from_slice(&req.to_json()).unwrap();
    assert_eq!(json["kind"], "hashedrekord");
    assert_eq!(json["apiVersion"], "0.0.1");
    let hash = &json["spec"]["data"]["hash"];
    assert_eq!(hash["algorithm"], "sha512");
    assert_eq!(hash["value"].as_str().unwrap().len(), 128);
    let pem =
        Base64::decode_vec(json["spec"]["signature"]["publicKey"]["content"].as_str().unwrap())
            .unwrap();
    let pem = String::from_utf8(pem).unwrap();
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
            && pem.ends_with("-----END PUBLIC KEY-----\n")
    );
    let sig = Base64::decode_vec(json["spec"]["signature"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(sig, anchor.sign_ph(b"checkpoint bytes"));
    // RFC 8785: keys sorted, no spaces.
    let text = String::from_utf8(req.to_json()).unwrap();
    assert!(text.starts_with(r#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":"#));
}

// --- Against the fake v1 log. ---

fn quick() -> Policy {
    Policy {
        timeout: Duration::from_secs(5),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

struct Setup {
    server: V1Server,
    client: Client,
    key: LogKey,
    anchor: AnchorKey,
}

fn setup() -> Setup {
    let server = V1Server::start(V1Log::new([7; 32])).unwrap();
    let client = Client::new(&server.url(), quick());
    // The key as a client would get it from the log.
    let pem = client.get("/api/v1/log/publicKey").unwrap();
    assert_eq!(pem.status, 200);
    let key = LogKey::from_pem(std::str::from_utf8(&pem.body).unwrap()).unwrap();
    assert_eq!(key.spki_der(), server.log().public_key_der());
    Setup { server, client, key, anchor: AnchorKey::from_seed([4; 32]) }
}

#[test]
fn posted_entries_verify() {
    let s = setup();
    for (i, artifact) in [&b"one"[..], b"two", b"three", b"four", b"five"].iter().enumerate() {
        let req = v1::request(artifact, &s.anchor);
        let created = v1::create_entry(&s.client, &req).unwrap();
        assert!(!created.recovered);
        let v = v1::verify(&created.response, artifact, &s.anchor.spki_der(), &s.key).unwrap();
        assert_eq!(v.log_index, i as u64);
        assert_eq!(v.tree_size, i as u64 + 1);
        assert_eq!(hex(&v.leaf.0), req.uuid());
        assert!(v.entry_id.ends_with(&req.uuid()));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!(v.integrated_time.abs_diff(now.as_secs()) < 60);
        // The PEM form of the anchor key is accepted too.
        v1::verify(&created.response, artifact, s.anchor.spki_pem().as_bytes(), &s.key).unwrap();
        // And what we sent is checked: another artifact, another key.
        let err = v1::verify(&created.response, b"other", &s.anchor.spki_der(), &s.key);
        assert_eq!(err.unwrap_err(), VerifyError::Digest);
        let other = AnchorKey::from_seed([5; 32]);
        let err = v1::verify(&created.response, artifact, &other.spki_der(), &s.key);
        assert_eq!(err.unwrap_err(), VerifyError::PublicKey);
    }
    assert_eq!(s.server.log().size(), 5);
}

#[test]
fn an_older_entry_fetched_later_verifies_at_the_new_size() {
    let s = setup();
    let first = v1::request(b"first", &s.anchor);
    v1::create_entry(&s.client, &first).unwrap();
    for i in 0..6u8 {
        v1::create_entry(&s.client, &v1::request(&[i], &s.anchor)).unwrap();
    }
    let got = s.client.get(&format!("/api/v1/log/entries/{}", first.uuid())).unwrap();
    assert_eq!(got.status, 200);
    let v = v1::verify(&got.body, b"first", &s.anchor.spki_der(), &s.key).unwrap();
    assert_eq!((v.log_index, v.tree_size), (0, 7));
}

#[test]
fn duplicate_is_recovered_via_409() {
    let s = setup();
    let req = v1::request(b"twice", &s.anchor);
    let first = v1::create_entry(&s.client, &req).unwrap();
    let again = v1::create_entry(&s.client, &req).unwrap();
    assert!(again.recovered);
    let a = v1::verify(&first.response, b"twice", &s.anchor.spki_der(), &s.key).unwrap();
    let b = v1::verify(&again.response, b"twice", &s.anchor.spki_der(), &s.key).unwrap();
    assert_eq!((a.log_index, a.integrated_time, a.leaf), (b.log_index, b.integrated_time, b.leaf));
    assert_eq!(s.server.log().size(), 1);
}

#[test]
fn lost_answer_is_retried_and_recovered() {
    let s = setup();
    s.server.log().set_fault(V1Fault::LoseResponse);
    let created = v1::create_entry(&s.client, &v1::request(b"lost", &s.anchor)).unwrap();
    assert!(created.recovered);
    assert_eq!(s.server.log().posts(), 2);
    assert_eq!(s.server.log().size(), 1);
    v1::verify(&created.response, b"lost", &s.anchor.spki_der(), &s.key).unwrap();
}

#[test]
fn unavailable_then_retried() {
    let s = setup();
    s.server.log().set_fault(V1Fault::Unavailable(2));
    let created = v1::create_entry(&s.client, &v1::request(b"busy", &s.anchor)).unwrap();
    assert!(!created.recovered);
    assert_eq!(s.server.log().posts(), 3);
    v1::verify(&created.response, b"busy", &s.anchor.spki_der(), &s.key).unwrap();
}

#[test]
fn unavailable_for_good_is_one_error() {
    let s = setup();
    s.server.log().set_fault(V1Fault::Unavailable(100));
    let err = v1::create_entry(&s.client, &v1::request(b"down", &s.anchor)).unwrap_err();
    assert!(matches!(err, Error::Unavailable { attempts: 3, .. }), "{err}");
    assert!(err.to_string().contains(&s.server.url()), "{err}");
    assert_eq!(s.server.log().size(), 0);
}

#[test]
fn invalid_request_is_rejected() {
    let s = setup();
    let resp = s.client.post_json(v1::ENTRIES_PATH, br#"{"kind":"rekord"}"#).unwrap();
    assert_eq!(resp.status, 400);
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["code"], 400);
    // A signature that does not verify (another key's) is refused too.
    let req = v1::request(b"x", &s.anchor);
    let mut json: Value = serde_json::from_slice(&req.to_json()).unwrap();
    let other = AnchorKey::from_seed([6; 32]);
    json["spec"]["signature"]["content"] = Base64::encode_string(&other.sign_ph(b"x")).into();
    let resp = s.client.post_json(v1::ENTRIES_PATH, &serde_json::to_vec(&json).unwrap()).unwrap();
    assert_eq!(resp.status, 400);
    assert_eq!(s.server.log().size(), 0);
}

#[test]
fn faults_are_caught_by_the_verifier() {
    for (fault, want) in [
        (V1Fault::CorruptSet, VerifyError::SignedEntryTimestamp),
        (V1Fault::CorruptProof, VerifyError::InclusionProof),
        (V1Fault::CorruptCheckpoint, VerifyError::CheckpointSignature),
    ] {
        let s = setup();
        // Two entries first, so that the proof is not empty.
        v1::create_entry(&s.client, &v1::request(b"a", &s.anchor)).unwrap();
        v1::create_entry(&s.client, &v1::request(b"b", &s.anchor)).unwrap();
        s.server.log().set_fault(fault);
        let created = v1::create_entry(&s.client, &v1::request(b"c", &s.anchor)).unwrap();
        let err = v1::verify(&created.response, b"c", &s.anchor.spki_der(), &s.key).unwrap_err();
        assert_eq!(err, want, "{fault:?}");
    }
}

#[test]
fn corrupt_root_of_a_one_entry_log() {
    let s = setup();
    s.server.log().set_fault(V1Fault::CorruptProof);
    let created = v1::create_entry(&s.client, &v1::request(b"solo", &s.anchor)).unwrap();
    let err = v1::verify(&created.response, b"solo", &s.anchor.spki_der(), &s.key).unwrap_err();
    assert_eq!(err, VerifyError::RootHash);
}

#[test]
fn other_statuses_are_rejected() {
    let s = setup();
    let client = Client::new(&format!("{}/nowhere", s.server.url()), quick());
    let err = v1::create_entry(&client, &v1::request(b"x", &s.anchor)).unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 404, .. }), "{err}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sharded_log_virtual_and_shard_indices() {
    let server = V1Server::start(V1Log::sharded([8; 32], "rekor.example", 42, 1000)).unwrap();
    let client = Client::new(&server.url(), quick());
    let key = LogKey::parse(server.log().public_key_pem().as_bytes()).unwrap();
    let anchor = AnchorKey::from_seed([4; 32]);
    v1::create_entry(&client, &v1::request(b"a", &anchor)).unwrap();
    let created = v1::create_entry(&client, &v1::request(b"b", &anchor)).unwrap();
    let v = v1::verify(&created.response, b"b", &anchor.spki_der(), &key).unwrap();
    assert_eq!((v.log_index, v.shard_log_index, v.tree_size), (1001, 1, 2));
    assert!(v.entry_id.starts_with("000000000000002a"));
    assert!(v.checkpoint.starts_with("rekor.example - 42\n2\n"));
}

#[test]
fn errors_quote_what_the_answer_says() {
    // Found by fuzzing: text from the answer must not break the one-line error.
    let e = tampered(|e| e["logID"] = Value::from("d32f\n\u{2014} forged")).unwrap_err();
    assert!(matches!(e, VerifyError::LogId { .. }), "{e:?}");
    assert!(!e.to_string().contains('\n'), "{e}");
}
