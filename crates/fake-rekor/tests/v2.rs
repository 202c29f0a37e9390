//! The server as a Rekor v2 client sees it over HTTP: requests built and
//! answers checked by hand here (not with `crates/rekor`), so the checks
//! are independent of both the server's and the client's code.

use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Digest, Sha512, SigningKey};
use fake_rekor::{FROZEN_MESSAGE, Fault, Options, Server};
use serde_json::{Value, json};
use tlog::Hash;
use tlog::tree::NodeReader;

const ED25519_SPKI: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn b64(b: &[u8]) -> String {
    Base64::encode_string(b)
}

fn unb64(v: &Value) -> Vec<u8> {
    Base64::decode_vec(v.as_str().expect("a base64 string")).expect("valid base64")
}

fn server() -> Server {
    Server::start(Options { seed: Some([1; 32]), ..Options::default() }).unwrap()
}

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(timeout).build().into()
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let mut body = Vec::new();
    r.body_mut().as_reader().read_to_end(&mut body).unwrap();
    Answer { status: r.status().as_u16(), headers, body }
}

fn try_post(s: &Server, body: &[u8], timeout: Option<Duration>) -> Result<Answer, ureq::Error> {
    let url = format!("{}/api/v2/log/entries", s.url());
    agent(timeout).post(&url).header("content-type", "application/json").send(body).map(answer)
}

fn post(s: &Server, body: &Value) -> Answer {
    try_post(s, &serde_json::to_vec(body).unwrap(), None).unwrap()
}

fn get(s: &Server, path: &str) -> Answer {
    answer(agent(None).get(format!("{}{path}", s.url())).call().unwrap())
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn ed25519_spki(k: &SigningKey) -> Vec<u8> {
    let mut spki = ED25519_SPKI.to_vec();
    spki.extend_from_slice(k.verifying_key().as_bytes());
    spki
}

/// A `PKIX_ED25519_PH` request: digest SHA-512(artifact), Ed25519ph signature.
fn ed25519ph(k: &SigningKey, artifact: &[u8]) -> Value {
    let sig = k.sign_prehashed(Sha512::new().chain_update(artifact), None).unwrap();
    request(&Sha512::digest(artifact), &sig.to_bytes(), &ed25519_spki(k), "PKIX_ED25519_PH")
}

fn request(digest: &[u8], sig: &[u8], spki: &[u8], details: &str) -> Value {
    json!({"hashedRekordRequestV002": {
        "digest": b64(digest),
        "signature": {
            "content": b64(sig),
            "verifier": {"publicKey": {"rawBytes": b64(spki)}, "keyDetails": details}
        }
    }})
}

/// The entry the log must record for `req`, written out by hand in JCS form.
fn expected_body(req: &Value, algorithm: &str) -> String {
    let h = &req["hashedRekordRequestV002"];
    let s = &h["signature"];
    format!(
        concat!(
            r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"#,
            r#""data":{{"algorithm":"{}","digest":{}}},"#,
            r#""signature":{{"content":{},"verifier":{{"keyDetails":{},"publicKey":{{"rawBytes":{}}}}}}}}}}}}}"#
        ),
        algorithm,
        h["digest"],
        s["content"],
        s["verifier"]["keyDetails"],
        s["verifier"]["publicKey"]["rawBytes"],
    )
}

/// A TransparencyLogEntry, read leniently (ints as strings or numbers).
#[derive(Debug)]
struct Tle {
    index: u64,
    size: u64,
    root_hash: Hash,
    hashes: Vec<Hash>,
    envelope: String,
    body: Vec<u8>,
    key_id: Vec<u8>,
}

fn int(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().expect("a decimal string"),
        other => other.as_u64().expect("an integer"),
    }
}

fn hash(v: &Value) -> Hash {
    Hash::from_slice(&unb64(v)).expect("32 bytes")
}

fn parse_tle(v: &Value) -> Tle {
    let p = &v["inclusionProof"];
    assert_eq!(int(&p["logIndex"]), int(&v["logIndex"]));
    Tle {
        index: int(&v["logIndex"]),
        size: int(&p["treeSize"]),
        root_hash: hash(&p["rootHash"]),
        hashes: p["hashes"].as_array().expect("hashes").iter().map(hash).collect(),
        envelope: p["checkpoint"]["envelope"].as_str().expect("envelope").to_string(),
        body: unb64(&v["canonicalizedBody"]),
        key_id: unb64(&v["logId"]["keyId"]),
    }
}

/// The checkpoint's origin, size and root, opened with the log's key.
fn open_checkpoint(s: &Server, envelope: &str) -> Result<(String, u64, Hash), note::NoteError> {
    let v = note::Verifier::parse(&s.log_key()).unwrap();
    let opened = note::open(envelope.as_bytes(), &[&v])?;
    let cp = note::Checkpoint::parse(opened.text).unwrap();
    Ok((cp.origin.to_string(), cp.size, cp.root))
}

/// SHA-256(origin || 0x0A || 0x01 || key), computed here from the vkey.
fn log_id(s: &Server) -> Vec<u8> {
    let v = note::Verifier::parse(&s.log_key()).unwrap();
    let mut m = b"rekor.test\n\x01".to_vec();
    m.extend_from_slice(v.public_key());
    <sha2::Sha256 as sha2::Digest>::digest(&m).to_vec()
}

/// Everything a careful client checks of a 201 answer; the body must be `expected`.
fn check_created(s: &Server, a: &Answer, expected: &str) -> Tle {
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.headers["content-type"], "application/json");
    let v = a.json();
    let mut names: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "canonicalizedBody",
            "inclusionPromise",
            "inclusionProof",
            "integratedTime",
            "kindVersion",
            "logId",
            "logIndex"
        ]
    );
    assert!(v["logIndex"].is_string() && v["inclusionProof"]["treeSize"].is_string());
    assert_eq!(v["integratedTime"], json!("0"));
    assert_eq!(v["inclusionPromise"], Value::Null);
    assert_eq!(v["kindVersion"], json!({"kind": "hashedrekord", "version": "0.0.2"}));
    let t = parse_tle(&v);
    assert_eq!(String::from_utf8(t.body.clone()).unwrap(), expected);
    assert_eq!(t.key_id, log_id(s));
    let (origin, size, root) = open_checkpoint(s, &t.envelope).unwrap();
    assert_eq!((origin.as_str(), size, root), ("rekor.test", t.size, t.root_hash));
    assert_eq!(proof_check(&t, &root), Ok(()));
    t
}

fn proof_check(t: &Tle, root: &Hash) -> Result<(), tlog::ProofError> {
    let leaf = tlog::leaf_hash(&t.body);
    tlog::proof::verify_inclusion(&t.hashes, t.size, root, t.index, &leaf)
}

#[test]
fn ed25519ph_entries_are_logged_and_proved() {
    let s = server();
    let k = key(2);
    for i in 0..5u64 {
        let req = ed25519ph(&k, format!("checkpoint {i}\n").as_bytes());
        let t = check_created(&s, &post(&s, &req), &expected_body(&req, "SHA2_512"));
        assert_eq!((t.index, t.size), (i, i + 1));
        // The last leaf's audit path: one hash per complete subtree to its left.
        assert_eq!(t.hashes.len(), i.count_ones() as usize);
        // The read side serves the same checkpoint.
        assert_eq!(get(&s, "/api/v2/checkpoint").body, t.envelope.as_bytes());
    }
    assert_eq!((s.posts(), s.size()), (5, 5));
    assert_eq!(s.checkpoint(), String::from_utf8(get(&s, "/api/v2/checkpoint").body).unwrap());
    let health = get(&s, "/healthz");
    assert_eq!((health.status, health.json()), (200, json!({"status": "SERVING"})));
}

#[test]
fn snake_case_names_are_accepted() {
    let s = server();
    let req = ed25519ph(&key(2), b"snake");
    let snake = serde_json::to_string(&req)
        .unwrap()
        .replace("hashedRekordRequestV002", "hashed_rekord_request_v002")
        .replace("publicKey", "public_key")
        .replace("rawBytes", "raw_bytes")
        .replace("keyDetails", "key_details");
    let a = try_post(&s, snake.as_bytes(), None).unwrap();
    // The entry is written in camelCase whatever the request's spelling.
    check_created(&s, &a, &expected_body(&req, "SHA2_512"));
}

#[test]
fn p256_entries_are_logged() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::pkcs8::EncodePublicKey;
    let s = server();
    let k = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let spki = k.verifying_key().to_public_key_der().unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"artifact");
    let sig: p256::ecdsa::Signature = k.sign_prehash(&digest).unwrap();
    let req = request(&digest, sig.to_der().as_bytes(), spki.as_bytes(), "PKIX_ECDSA_P256_SHA_256");
    check_created(&s, &post(&s, &req), &expected_body(&req, "SHA2_256"));
    // A signature over another digest does not verify.
    let other = <sha2::Sha256 as sha2::Digest>::digest(b"other");
    let bad = request(&other, sig.to_der().as_bytes(), spki.as_bytes(), "PKIX_ECDSA_P256_SHA_256");
    assert_invalid(&post(&s, &bad), "invalid hashedrekord request");
}

fn assert_invalid(a: &Answer, message: &str) {
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!((v["code"].clone(), v["details"].clone()), (json!(3), json!([])));
    assert_eq!(v["message"], json!(message), "{v}");
}

/// `req` with the value at `path` replaced (`None`: removed).
fn edit(req: &Value, path: &[&str], value: Option<Value>) -> Value {
    let mut v = req.clone();
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut v;
    for p in parents {
        at = &mut at[*p];
    }
    let obj = at.as_object_mut().unwrap();
    match value {
        Some(x) => obj.insert(last.to_string(), x),
        None => obj.remove(*last),
    };
    v
}

#[test]
fn invalid_requests_are_refused() {
    let s = server();
    let k = key(2);
    let good = ed25519ph(&k, b"artifact");
    let h = "hashedRekordRequestV002";
    let invalid = "invalid hashedrekord request";
    let refused = [
        // Pure Ed25519 over the digest: Rekor refuses non-prehashing algorithms.
        edit(&good, &[h, "signature", "verifier", "keyDetails"], Some(json!("PKIX_ED25519"))),
        // A signature that does not verify.
        edit(&good, &[h, "signature", "content"], Some(json!(b64(&[7; 64])))),
        // Signed by another key than the one given.
        edit(
            &good,
            &[h, "signature", "verifier", "publicKey", "rawBytes"],
            Some(json!(b64(&ed25519_spki(&key(3))))),
        ),
        // A 32-byte digest for a SHA-512 algorithm.
        edit(&good, &[h, "digest"], Some(json!(b64(&[1; 32])))),
        // Missing fields.
        edit(&good, &[h, "digest"], None),
        edit(&good, &[h, "signature"], None),
        edit(&good, &[h, "signature", "content"], None),
        edit(&good, &[h, "signature", "verifier"], None),
        edit(&good, &[h, "signature", "verifier", "publicKey"], None),
        edit(&good, &[h, "signature", "verifier", "keyDetails"], None),
        // A PEM key where v2 wants DER.
        edit(
            &good,
            &[h, "signature", "verifier", "publicKey", "rawBytes"],
            Some(json!(b64(b"-----BEGIN PUBLIC KEY-----\n"))),
        ),
        // An x509 certificate verifier (not supported by this fake).
        edit(
            &edit(&good, &[h, "signature", "verifier", "publicKey"], None),
            &[h, "signature", "verifier", "x509Certificate"],
            Some(json!({"rawBytes": b64(b"cert")})),
        ),
    ];
    for req in &refused {
        assert_invalid(&post(&s, req), invalid);
    }
    // Unknown fields, anywhere; malformed JSON and base64; another entry type.
    for (req, message) in [
        (edit(&good, &["foo"], Some(json!("bar"))), "proto"),
        (edit(&good, &[h, "signature", "verifier", "extra"], Some(json!(1))), "proto"),
        (edit(&good, &[h, "digest"], Some(json!("not base64!"))), "proto"),
        (json!({"dsseRequestV002": {}}), "invalid type, must be hashedrekord"),
        (json!({}), "invalid type, must be hashedrekord"),
    ] {
        let a = post(&s, &req);
        assert_eq!(a.status, 400);
        assert!(a.json()["message"].as_str().unwrap().starts_with(message), "{:?}", a.json());
    }
    assert_eq!(try_post(&s, b"{\"hashedRekordRequestV002\":", None).unwrap().status, 400);
    assert_eq!(try_post(&s, &vec![b' '; 65 * 1024], None).unwrap().status, 413);
    assert_eq!((s.size(), s.posts()), (0, refused.len() + 7));
    // And the good one still goes in.
    assert_eq!(post(&s, &good).status, 201);
}

#[test]
fn a_duplicate_is_409_with_its_index() {
    let s = server();
    let k = key(2);
    post(&s, &ed25519ph(&k, b"a"));
    post(&s, &ed25519ph(&k, b"b"));
    let a = post(&s, &ed25519ph(&k, b"a"));
    assert_eq!((a.status, a.headers["x-log-index"].as_str()), (409, "0"));
    assert_eq!(
        a.json(),
        json!({"code": 6, "message": "an equivalent entry already exists in the transparency log with index 0", "details": []})
    );
    assert_eq!(post(&s, &ed25519ph(&k, b"b")).headers["x-log-index"], "1");
    assert_eq!(s.size(), 2);
}

#[test]
fn pushback_for_n_requests() {
    let s = server();
    let req = ed25519ph(&key(2), b"a");
    s.set_fault_times(Fault::Pushback, 2);
    for _ in 0..2 {
        let a = post(&s, &req);
        assert_eq!(a.status, 503);
        assert_eq!(
            a.json(),
            json!({"code": 14, "message": "reached max pushback; retry", "details": []})
        );
    }
    assert_eq!(s.size(), 0);
    assert_eq!(post(&s, &req).status, 201);
    assert_eq!((s.posts(), s.size()), (3, 1));
}

#[test]
fn frozen_until_cleared() {
    let s = server();
    let req = ed25519ph(&key(2), b"a");
    s.set_fault(Fault::Frozen);
    for _ in 0..3 {
        let a = post(&s, &req);
        assert_eq!((a.status, a.body.as_slice()), (405, FROZEN_MESSAGE.as_bytes()));
        assert!(a.headers["content-type"].starts_with("text/plain"));
    }
    s.clear_fault();
    assert_eq!(post(&s, &req).status, 201);
}

#[test]
fn a_slow_answer_times_the_client_out_but_the_entry_is_logged() {
    let s = server();
    let req = serde_json::to_vec(&ed25519ph(&key(2), b"a")).unwrap();
    s.set_fault_times(Fault::Delay(Duration::from_millis(400)), 2);
    assert!(try_post(&s, &req, Some(Duration::from_millis(100))).is_err());
    assert_eq!(s.size(), 1);
    // A patient client gets the (duplicate) answer, late.
    let start = Instant::now();
    let a = try_post(&s, &req, Some(Duration::from_secs(10))).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert_eq!((a.status, a.headers["x-log-index"].as_str()), (409, "0"));
}

#[test]
fn dropping_the_server_does_not_wait_for_a_delayed_answer() {
    let s = server();
    s.set_fault(Fault::Delay(Duration::from_secs(600)));
    let req = serde_json::to_vec(&ed25519ph(&key(2), b"a")).unwrap();
    assert!(try_post(&s, &req, Some(Duration::from_millis(100))).is_err());
    let url = s.url().to_string();
    let start = Instant::now();
    drop(s);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(agent(None).get(format!("{url}/healthz")).call().is_err());
}

#[test]
fn a_lost_answer_then_409_on_retry() {
    let s = server();
    let req = serde_json::to_vec(&ed25519ph(&key(2), b"a")).unwrap();
    s.set_fault_times(Fault::DropConnection, 1);
    let lost = try_post(&s, &req, Some(Duration::from_secs(10)));
    assert!(lost.is_err(), "{:?}", lost.map(|a| a.status));
    assert_eq!(s.size(), 1);
    let a = try_post(&s, &req, None).unwrap();
    assert_eq!((a.status, a.headers["x-log-index"].as_str()), (409, "0"));
}

/// Posts `artifact` under `fault`, returning the parsed answer.
fn faulted(s: &Server, fault: Fault, artifact: &[u8]) -> (Value, Tle) {
    s.set_fault_times(fault, 1);
    let a = post(s, &ed25519ph(&key(2), artifact));
    assert_eq!(a.status, 201);
    let v = a.json();
    let t = parse_tle(&v);
    (v, t)
}

#[test]
fn a_corrupt_proof() {
    let s = server();
    // A one-entry tree has an empty proof: it gets a bogus hash.
    let (_, t) = faulted(&s, Fault::CorruptProof, b"a");
    let (_, _, root) = open_checkpoint(&s, &t.envelope).unwrap();
    assert_eq!(t.hashes.len(), 1);
    assert_eq!(proof_check(&t, &root), Err(tlog::ProofError::Mismatch));
    post(&s, &ed25519ph(&key(2), b"b"));
    post(&s, &ed25519ph(&key(2), b"c"));
    let (_, t) = faulted(&s, Fault::CorruptProof, b"d");
    let (_, _, root) = open_checkpoint(&s, &t.envelope).unwrap();
    assert_eq!(t.hashes.len(), 2);
    assert_eq!(proof_check(&t, &root), Err(tlog::ProofError::Mismatch));
    // The next answer is honest again.
    let t = parse_tle(&post(&s, &ed25519ph(&key(2), b"e")).json());
    assert_eq!(proof_check(&t, &open_checkpoint(&s, &t.envelope).unwrap().2), Ok(()));
}

#[test]
fn a_checkpoint_with_the_wrong_root() {
    let s = server();
    let (_, t) = faulted(&s, Fault::WrongRoot, b"a");
    let (origin, size, root) = open_checkpoint(&s, &t.envelope).unwrap();
    assert_eq!((origin.as_str(), size, root), ("rekor.test", 1, t.root_hash));
    assert_eq!(proof_check(&t, &root), Err(tlog::ProofError::Mismatch));
    // The log itself is intact.
    assert_eq!(open_checkpoint(&s, &s.checkpoint()).unwrap().2, tlog::leaf_hash(&t.body));
}

#[test]
fn a_checkpoint_signed_by_another_key() {
    let s = server();
    let (_, t) = faulted(&s, Fault::OtherKey, b"a");
    assert_eq!(open_checkpoint(&s, &t.envelope), Err(note::NoteError::Unverified));
    assert!(t.envelope.starts_with("rekor.test\n1\n"));
    assert_eq!(t.key_id, log_id(&s));
}

#[test]
fn a_checkpoint_for_another_origin() {
    let s = server();
    let (_, t) = faulted(&s, Fault::OtherOrigin, b"a");
    assert_eq!(open_checkpoint(&s, &t.envelope), Err(note::NoteError::Unverified));
    let renamed = note::Verifier::parse(&s.log_key()).unwrap().renamed("other.rekor.test").unwrap();
    let opened = note::open(t.envelope.as_bytes(), &[&renamed]).unwrap();
    assert_eq!(note::Checkpoint::parse(opened.text).unwrap().origin, "other.rekor.test");
}

#[test]
fn a_body_that_is_not_what_was_sent() {
    let s = server();
    let req = ed25519ph(&key(2), b"a");
    let (_, t) = faulted(&s, Fault::OtherBody, b"a");
    // Proof and checkpoint are fine: only the body gives it away.
    assert_eq!(proof_check(&t, &open_checkpoint(&s, &t.envelope).unwrap().2), Ok(()));
    let body: Value = serde_json::from_slice(&t.body).unwrap();
    let data = &body["spec"]["hashedRekordV002"]["data"];
    assert_ne!(data["digest"], req["hashedRekordRequestV002"]["digest"]);
    assert_eq!(data["algorithm"], json!("SHA2_512"));
    // So the real request is not a duplicate of it.
    assert_eq!(post(&s, &req).status, 201);
}

#[test]
fn numbers_as_json_numbers() {
    let s = server();
    post(&s, &ed25519ph(&key(2), b"a"));
    let (v, t) = faulted(&s, Fault::NumbersAsNumbers, b"b");
    assert_eq!((v["logIndex"].clone(), v["integratedTime"].clone()), (json!(1), json!(0)));
    assert_eq!(v["inclusionProof"]["treeSize"], json!(2));
    assert_eq!(proof_check(&t, &open_checkpoint(&s, &t.envelope).unwrap().2), Ok(()));
}

#[test]
fn garbage_with_201() {
    let s = server();
    s.set_fault_times(Fault::Garbage, 1);
    let a = post(&s, &ed25519ph(&key(2), b"a"));
    assert_eq!(a.status, 201);
    assert!(serde_json::from_slice::<Value>(&a.body).is_err());
    assert_eq!(s.size(), 1);
}

/// Tiles fetched over HTTP, read as a [`NodeReader`].
struct Tiles(HashMap<(u8, u64), Vec<u8>>);

impl NodeReader for Tiles {
    type Error = ();
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        let (tile_level, k) = (level / 8, u32::from(level % 8));
        let first = index << k;
        let data = self.0.get(&(tile_level, first / 256)).ok_or(())?;
        let at = (first % 256) as usize * 32;
        Ok(tlog::tile::subtree_hash(data.get(at..at + (32 << k)).ok_or(())?))
    }
}

#[test]
fn tiles_are_served_and_match_the_checkpoint() {
    let s = server();
    let k = key(2);
    let mut bodies = Vec::new();
    for i in 0..300u32 {
        let req = ed25519ph(&k, &i.to_be_bytes());
        let a = post(&s, &req);
        assert_eq!(a.status, 201);
        bodies.push(parse_tle(&a.json()).body);
    }
    let cp = get(&s, "/api/v2/checkpoint");
    assert!(cp.headers["content-type"].starts_with("text/plain"));
    let (_, size, root) = open_checkpoint(&s, std::str::from_utf8(&cp.body).unwrap()).unwrap();
    assert_eq!(size, 300);
    // 300 = one full level-0 tile, one of width 44; a level-1 tile of width 1.
    let mut tiles = Tiles(HashMap::new());
    for (level, index, path) in
        [(0, 0, "tile/0/000"), (0, 1, "tile/0/001.p/44"), (1, 0, "tile/1/000.p/1")]
    {
        let a = get(&s, &format!("/api/v2/{path}"));
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.headers["content-type"], "application/octet-stream");
        tiles.0.insert((level, index), a.body);
    }
    assert_eq!(tlog::tree::tree_hash(size, &mut tiles), Ok(root));
    // Entry bundles: u16 big-endian length, entry; their leaf hashes are level 0.
    let mut entries = Vec::new();
    for path in ["tile/entries/000", "tile/entries/001.p/44"] {
        let b = get(&s, &format!("/api/v2/{path}")).body;
        let mut rest = b.as_slice();
        while let [hi, lo, tail @ ..] = rest {
            let n = usize::from(u16::from_be_bytes([*hi, *lo]));
            entries.push(tail[..n].to_vec());
            rest = &tail[n..];
        }
    }
    assert_eq!(entries, bodies);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(tiles.node(0, i as u64), Ok(tlog::leaf_hash(e)));
    }
    // An older, narrower partial tile is still served; beyond the tree is 404.
    assert_eq!(get(&s, "/api/v2/tile/0/001.p/2").body, tiles.0[&(0, 1)][..64]);
    for missing in [
        "tile/0/001",
        "tile/0/001.p/45",
        "tile/0/002.p/1",
        "tile/2/000.p/1",
        "tile/0/1",
        "tile/entries/001",
    ] {
        assert_eq!(get(&s, &format!("/api/v2/{missing}")).status, 404, "{missing}");
    }
}

#[test]
fn without_tiles_reads_are_501() {
    let s = Server::start(Options { serve_tiles: false, ..Options::default() }).unwrap();
    for path in ["/api/v2/checkpoint", "/api/v2/tile/0/000.p/1", "/api/v2/tile/entries/000.p/1"] {
        let a = get(&s, path);
        assert_eq!((a.status, a.json()["code"].clone()), (501, json!(12)), "{path}");
    }
    // Writes work all the same, with a random log key.
    let req = ed25519ph(&key(2), b"a");
    let t = parse_tle(&post(&s, &req).json());
    assert!(open_checkpoint(&s, &t.envelope).is_ok());
}

#[test]
fn log_keys() {
    let s = server();
    let v = note::Verifier::parse(&s.log_key()).unwrap();
    assert_eq!(v.name(), "rekor.test");
    assert_eq!(s.log_id().to_vec(), log_id(&s));
    let der = s.log_spki_der();
    assert_eq!((&der[..12], &der[12..]), (&ED25519_SPKI[..], &v.public_key()[..]));
    let pem = s.log_spki_pem();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(Base64::decode_vec(&b64).unwrap(), der);
    // The same seed, the same key; another origin, another key ID.
    assert_eq!(server().log_key(), s.log_key());
    let o = Server::start(Options {
        origin: "log.example".into(),
        seed: Some([1; 32]),
        ..Options::default()
    })
    .unwrap();
    assert!(o.log_key().starts_with("log.example+"));
    assert!(Server::start(Options { origin: "bad origin".into(), ..Options::default() }).is_err());
}
