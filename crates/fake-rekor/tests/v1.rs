//! The fake Rekor v1 log over HTTP, checked with hand-built requests and
//! independent checks of its answers (no `rekor` crate).

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Digest, Sha512, SigningKey};
use fake_rekor::v1::{HOST, TREE_ID, V1Fault, V1Log, V1Server};
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey;
use serde_json::{Value, json};

const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pem(der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

/// A hashedrekord 0.0.1 entry for `artifact`, Ed25519ph-signed.
fn entry(artifact: &[u8], seed: u8) -> Value {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let digest = Sha512::digest(artifact);
    let sig = key.sign_prehashed(Sha512::new().chain_update(artifact), None).unwrap();
    let der = [&ED25519_SPKI_PREFIX[..], key.verifying_key().as_bytes()].concat();
    json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha512", "value": hex(&digest) } },
            "signature": {
                "content": Base64::encode_string(&sig.to_bytes()),
                "publicKey": { "content": Base64::encode_string(pem(&der).as_bytes()) },
            },
        },
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

struct Answer {
    status: u16,
    location: Option<String>,
    etag: Option<String>,
    body: Vec<u8>,
}

fn send(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap();
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let (location, etag) = (h("location"), h("etag"));
    Answer {
        status: r.status().as_u16(),
        location,
        etag,
        body: r.body_mut().read_to_vec().unwrap(),
    }
}

fn post(url: &str, body: &[u8]) -> Answer {
    let url = format!("{url}/api/v1/log/entries");
    send(agent().post(&url).content_type("application/json").send(body))
}

fn get(url: &str, path: &str) -> Answer {
    send(agent().get(&format!("{url}{path}")).call())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// The one `(entryID, entry)` of an answer.
fn only(v: &Value) -> (String, Value) {
    let map = v.as_object().unwrap();
    assert_eq!(map.len(), 1);
    let (k, v) = map.iter().next().unwrap();
    (k.clone(), v.clone())
}

/// Checks the SET and the checkpoint signature of `e` with `pem`, as
/// Rekor's clients do.
fn check_signatures(e: &Value, pem: &str) {
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem).unwrap();
    let payload = json!({
        "body": e["body"], "integratedTime": e["integratedTime"],
        "logID": e["logID"], "logIndex": e["logIndex"],
    });
    let payload = fake_rekor::jcs::canonical(&payload).unwrap();
    let set =
        Base64::decode_vec(e["verification"]["signedEntryTimestamp"].as_str().unwrap()).unwrap();
    key.verify(&payload, &p256::ecdsa::Signature::from_der(&set).unwrap()).unwrap();

    let cp = e["verification"]["inclusionProof"]["checkpoint"].as_str().unwrap();
    let (text, sig_line) = cp.split_once("\n\n").unwrap();
    let text = format!("{text}\n");
    assert!(text.starts_with(&format!("{HOST} - {TREE_ID}\n")));
    let b64 = sig_line.strip_prefix(&format!("\u{2014} {HOST} ")).unwrap().trim_end();
    let sig = Base64::decode_vec(b64).unwrap();
    let log_id = e["logID"].as_str().unwrap();
    assert_eq!(hex(&sig[..4]), log_id[..8]);
    key.verify(text.as_bytes(), &p256::ecdsa::Signature::from_der(&sig[4..]).unwrap()).unwrap();
}

#[test]
fn post_get_duplicate_and_public_key() {
    let server = V1Server::start(V1Log::new([7; 32])).unwrap();
    let url = &server.url();
    let pem = server.log().public_key_pem();

    let key = get(url, "/api/v1/log/publicKey");
    assert_eq!(key.status, 200);
    assert_eq!(String::from_utf8(key.body).unwrap(), pem);

    let first = post(url, &serde_json::to_vec(&entry(b"one", 1)).unwrap());
    assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
    let second = post(url, &serde_json::to_vec(&entry(b"two", 1)).unwrap());
    assert_eq!(second.status, 201);
    let (id, e) = only(&json_of(&second.body));
    assert_eq!(id.len(), 80);
    assert_eq!(id[..16], format!("{TREE_ID:016x}"));
    let uuid = &id[16..];
    assert_eq!(second.etag.as_deref(), Some(uuid));
    assert_eq!(second.location.as_deref(), Some(&*format!("/api/v1/log/entries/{uuid}")));
    assert_eq!(e["logIndex"], 1);
    assert_eq!(e["verification"]["inclusionProof"]["treeSize"], 2);
    // The UUID is the leaf hash of the logged body.
    let body = Base64::decode_vec(e["body"].as_str().unwrap()).unwrap();
    let leaf = tlog::leaf_hash(&body);
    assert_eq!(hex(&leaf.0), uuid);
    check_signatures(&e, &pem);

    // The same entry again, even spelled differently: 409 naming it.
    let mut again = entry(b"two", 1);
    let pem_b64 = again["spec"]["signature"]["publicKey"]["content"].as_str().unwrap();
    let unwrapped =
        String::from_utf8(Base64::decode_vec(pem_b64).unwrap()).unwrap().replace('\n', "\r\n");
    again["spec"]["signature"]["publicKey"]["content"] =
        Base64::encode_string(unwrapped.as_bytes()).into();
    let dup = post(url, &serde_json::to_vec(&again).unwrap());
    assert_eq!(dup.status, 409, "{}", String::from_utf8_lossy(&dup.body));
    assert_eq!(dup.location, second.location);
    assert_eq!(json_of(&dup.body)["code"], 409);
    assert_eq!(server.log().size(), 2);

    // Fetched by UUID or by entry ID: the same entry, a newer proof is fine.
    for path in [format!("/api/v1/log/entries/{uuid}"), format!("/api/v1/log/entries/{id}")] {
        let got = get(url, &path);
        assert_eq!(got.status, 200);
        let (got_id, got_e) = only(&json_of(&got.body));
        assert_eq!(got_id, id);
        assert_eq!(got_e["body"], e["body"]);
        check_signatures(&got_e, &pem);
    }
    assert_eq!(get(url, &format!("/api/v1/log/entries/{}", "0".repeat(64))).status, 404);
    assert_eq!(server.log().posts(), 3);
}

/// A change to a request.
type Tamper = Box<dyn Fn(&mut Value)>;

#[test]
fn strict_requests() {
    let server = V1Server::start(V1Log::new([8; 32])).unwrap();
    let url = &server.url();
    let good = entry(b"artifact", 2);
    let cases: Vec<(&str, Tamper)> = vec![
        ("kind", Box::new(|v| v["kind"] = "rekord".into())),
        ("version", Box::new(|v| v["apiVersion"] = "0.0.2".into())),
        ("unknown field", Box::new(|v| v["spec"]["extra"] = 1.into())),
        (
            "missing field",
            Box::new(|v| v["spec"].as_object_mut().unwrap().retain(|k, _| k != "data")),
        ),
        ("algorithm", Box::new(|v| v["spec"]["data"]["hash"]["algorithm"] = "md5".into())),
        (
            "sha256 with Ed25519",
            Box::new(|v| v["spec"]["data"]["hash"]["algorithm"] = "sha256".into()),
        ),
        ("hex length", Box::new(|v| v["spec"]["data"]["hash"]["value"] = "ab".into())),
        ("not hex", Box::new(|v| v["spec"]["data"]["hash"]["value"] = "z".repeat(128).into())),
        (
            "key not PEM",
            Box::new(|v| v["spec"]["signature"]["publicKey"]["content"] = "AAAA".into()),
        ),
        (
            "wrong digest",
            Box::new(|v| {
                v["spec"]["data"]["hash"]["value"] = hex(&Sha512::digest(b"other")).into()
            }),
        ),
        ("signature not base64", Box::new(|v| v["spec"]["signature"]["content"] = "!!".into())),
    ];
    for (name, tamper) in cases {
        let mut v = good.clone();
        tamper(&mut v);
        let a = post(url, &serde_json::to_vec(&v).unwrap());
        assert_eq!(a.status, 400, "{name}: {}", String::from_utf8_lossy(&a.body));
        assert_eq!(json_of(&a.body)["code"], 400, "{name}");
    }
    // A pure Ed25519 signature over the digest is not Ed25519ph.
    let key = SigningKey::from_bytes(&[2; 32]);
    let mut pure = good.clone();
    let sig = ed25519_dalek::Signer::sign(&key, &Sha512::digest(b"artifact"));
    pure["spec"]["signature"]["content"] = Base64::encode_string(&sig.to_bytes()).into();
    assert_eq!(post(url, &serde_json::to_vec(&pure).unwrap()).status, 400);
    assert_eq!(post(url, b"not json").status, 400);
    assert_eq!(server.log().size(), 0);
    assert_eq!(post(url, &serde_json::to_vec(&good).unwrap()).status, 201);
}

#[test]
fn ecdsa_p256_entries_are_accepted() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::pkcs8::EncodePublicKey;
    let server = V1Server::start(V1Log::new([9; 32])).unwrap();
    let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"artifact");
    let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
    let der = key.verifying_key().to_public_key_der().unwrap();
    let v = json!({
        "apiVersion": "0.0.1", "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": "sha256", "value": hex(&digest) } },
            "signature": {
                "content": Base64::encode_string(sig.to_der().as_bytes()),
                "publicKey": { "content": Base64::encode_string(pem(der.as_bytes()).as_bytes()) },
            },
        },
    });
    let a = post(&server.url(), &serde_json::to_vec(&v).unwrap());
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
}

#[test]
fn faults() {
    let server = V1Server::start(V1Log::new([10; 32])).unwrap();
    let (url, log) = (&server.url(), server.log());
    let pem = log.public_key_pem();

    log.set_fault(V1Fault::Unavailable(2));
    assert_eq!(get(url, "/api/v1/log/publicKey").status, 503);
    assert_eq!(post(url, &serde_json::to_vec(&entry(b"a", 1)).unwrap()).status, 503);
    assert_eq!(log.size(), 0);
    assert_eq!(post(url, &serde_json::to_vec(&entry(b"a", 1)).unwrap()).status, 201);

    log.set_fault(V1Fault::LoseResponse);
    let body = serde_json::to_vec(&entry(b"b", 1)).unwrap();
    assert_eq!(post(url, &body).status, 503);
    assert_eq!(log.size(), 2);
    assert_eq!(post(url, &body).status, 409);

    log.set_fault(V1Fault::CorruptSet);
    let a = post(url, &serde_json::to_vec(&entry(b"c", 1)).unwrap());
    let (_, e) = only(&json_of(&a.body));
    let r = std::panic::catch_unwind(|| check_signatures(&e, &pem));
    assert!(r.is_err(), "a corrupt SET verified");

    log.set_fault(V1Fault::CorruptCheckpoint);
    let a = post(url, &serde_json::to_vec(&entry(b"d", 1)).unwrap());
    let (_, e) = only(&json_of(&a.body));
    assert!(std::panic::catch_unwind(|| check_signatures(&e, &pem)).is_err());

    log.set_fault(V1Fault::None);
    let a = post(url, &serde_json::to_vec(&entry(b"e", 1)).unwrap());
    let (_, e) = only(&json_of(&a.body));
    check_signatures(&e, &pem);
}

#[test]
fn sharded_indices() {
    let log = V1Log::sharded([11; 32], "rekor.example", 42, 1000);
    let server = V1Server::start(log).unwrap();
    let a = post(&server.url(), &serde_json::to_vec(&entry(b"x", 1)).unwrap());
    let (id, e) = only(&json_of(&a.body));
    assert!(id.starts_with("000000000000002a"));
    assert_eq!(e["logIndex"], 1000);
    assert_eq!(e["verification"]["inclusionProof"]["logIndex"], 0);
    let cp = e["verification"]["inclusionProof"]["checkpoint"].as_str().unwrap();
    assert!(cp.starts_with("rekor.example - 42\n1\n"), "{cp}");
    assert!(cp.contains("\n\n\u{2014} rekor.example "), "{cp}");
}
