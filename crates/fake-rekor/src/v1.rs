//! A Rekor v1 log for tests: the v1 REST API (`/api/v1/log/...`) over a
//! real RFC 6962 Merkle log, with an ECDSA P-256 log key that signs each
//! entry's signed entry timestamp (SET) and the v1 checkpoints.
//!
//! Written from Rekor v1's documented formats, independently of the
//! `rekor` crate's client. State is self-contained: [`V1Log::new`] makes a
//! log (its key from a seed), [`router_for`] serves it, [`V1Server::start`]
//! serves it on a loopback port from a thread of its own, and [`router`]
//! is a new log with a fixed seed (its key from `GET /api/v1/log/publicKey`),
//! to merge into a server's routes in one line.
//!
//! Routes:
//! - `POST /api/v1/log/entries`: hashedrekord 0.0.1 only, strict: sha256,
//!   sha384 or sha512 with a hex value of the right length, a PEM `PUBLIC
//!   KEY` (Ed25519: Ed25519ph over the digest, which must be sha512; ECDSA
//!   P-256: ECDSA over the digest); no other fields. 201 with
//!   `{entryID: entry}`, `ETag` and `Location`; 400 `{"code":400,
//!   "message":…}` when invalid; 409 with `Location:
//!   /api/v1/log/entries/<uuid>` when the same body is logged already.
//! - `GET /api/v1/log/entries/{uuid}` (UUID or entry ID): the same map, its
//!   proof and checkpoint at the current tree size.
//! - `GET /api/v1/log/publicKey`: the log key as PEM.
//!
//! [`V1Log::set_fault`] switches on one [`V1Fault`] for negative tests.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64ct::{Base64, Encoding};
use ed25519_dalek::ed25519::signature::digest;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tlog::{Hash, NodeReader};

/// The host name in the checkpoints' origin and signature lines of
/// [`V1Log::new`] logs.
pub const HOST: &str = "rekor-v1.test";

/// The tree ID of [`V1Log::new`] logs: in the checkpoint origin and entry
/// IDs.
pub const TREE_ID: u64 = 1_193_050_959_916_656_506;

/// The seed of [`router`]'s log key.
pub const DEFAULT_SEED: [u8; 32] = [0x5e; 32];

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// A misbehaviour of the log, for negative tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum V1Fault {
    /// Behave.
    #[default]
    None,
    /// Answer the next `n` requests (any route) with 503, then behave.
    Unavailable(u32),
    /// Log the next posted entry, then answer 503 as if the answer was
    /// lost (a retry then finds it logged: 409).
    LoseResponse,
    /// Entries logged from now on carry a SET with one byte changed.
    CorruptSet,
    /// Answers carry an inclusion proof with one hash changed (the root
    /// hash when the proof is empty).
    CorruptProof,
    /// Answers carry a checkpoint whose signature has one byte changed.
    CorruptCheckpoint,
}

/// One logged entry.
struct Entry {
    body: Vec<u8>,
    integrated_time: u64,
    set: Vec<u8>,
}

/// The Merkle log: every complete subtree's hash, by level.
#[derive(Default)]
struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if !row.len().is_multiple_of(2) {
                return;
            }
            hash = tlog::node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }
}

/// A subtree hash the tree does not have (never asked for by `tlog`).
#[derive(Debug)]
struct NoNode;

impl NodeReader for &Tree {
    type Error = NoNode;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, NoNode> {
        let row = self.levels.get(usize::from(level)).ok_or(NoNode)?;
        row.get(usize::try_from(index).map_err(|_| NoNode)?).copied().ok_or(NoNode)
    }
}

#[derive(Default)]
struct Inner {
    tree: Tree,
    entries: Vec<Entry>,
    by_leaf: HashMap<Hash, u64>,
    fault: V1Fault,
    posts: usize,
}

/// A Rekor v1 log: its entries, Merkle tree, key and fault switch.
pub struct V1Log {
    key: SigningKey,
    spki_der: Vec<u8>,
    host: String,
    tree_id: u64,
    index_offset: u64,
    inner: Mutex<Inner>,
}

impl V1Log {
    /// A new empty log whose ECDSA P-256 key is derived from `seed`, with
    /// host [`HOST`] and tree ID [`TREE_ID`].
    pub fn new(seed: [u8; 32]) -> Arc<V1Log> {
        V1Log::sharded(seed, HOST, TREE_ID, 0)
    }

    /// A log that is a later shard of a sharded Rekor: entry `i` of its
    /// tree has the (virtual) `logIndex` `index_offset + i`, while its
    /// inclusion proofs use `i`.
    pub fn sharded(seed: [u8; 32], host: &str, tree_id: u64, index_offset: u64) -> Arc<V1Log> {
        let key = signing_key(seed);
        // Encoding a valid P-256 public key cannot fail.
        let spki_der =
            key.verifying_key().to_public_key_der().map(|d| d.into_vec()).unwrap_or_default();
        Arc::new(V1Log {
            key,
            spki_der,
            host: host.to_string(),
            tree_id,
            index_offset,
            inner: Mutex::default(),
        })
    }

    /// The log key as a DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The log key as a PEM `PUBLIC KEY` document.
    pub fn public_key_pem(&self) -> String {
        pem_encode(&self.spki_der)
    }

    /// The log ID: SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn log_id(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// The checkpoint origin, `<host> - <tree ID>`.
    pub fn origin(&self) -> String {
        format!("{} - {}", self.host, self.tree_id)
    }

    /// Number of entries logged.
    pub fn size(&self) -> u64 {
        self.lock().tree.size()
    }

    /// Number of `POST /api/v1/log/entries` requests received.
    pub fn posts(&self) -> usize {
        self.lock().posts
    }

    /// Switches on `fault` (replacing the one before).
    pub fn set_fault(&self, fault: V1Fault) {
        self.lock().fault = fault;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another request leaves consistent state: keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Consumes one [`V1Fault::Unavailable`] answer, if one is due.
    fn unavailable(&self) -> bool {
        let mut inner = self.lock();
        match inner.fault {
            V1Fault::Unavailable(n) if n > 0 => {
                inner.fault = if n == 1 { V1Fault::None } else { V1Fault::Unavailable(n - 1) };
                true
            }
            _ => false,
        }
    }

    fn post(&self, body: &[u8]) -> Response {
        self.lock().posts += 1;
        if self.unavailable() {
            return unavailable();
        }
        let canonical = match proposed_entry(body) {
            Ok(c) => c,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        };
        let leaf = tlog::leaf_hash(&canonical);
        let uuid = hex(&leaf.0);
        let mut inner = self.lock();
        if inner.by_leaf.contains_key(&leaf) {
            let message = format!(
                "an equivalent entry already exists in the transparency log with UUID {uuid}"
            );
            let mut resp = error(StatusCode::CONFLICT, &message);
            set_header(&mut resp, header::LOCATION, &format!("/api/v1/log/entries/{uuid}"));
            return resp;
        }
        let index = self.append(&mut inner, leaf, canonical);
        if inner.fault == V1Fault::LoseResponse {
            inner.fault = V1Fault::None;
            return unavailable();
        }
        let mut resp = (StatusCode::CREATED, self.answer(&inner, index)).into_response();
        set_header(&mut resp, header::ETAG, &uuid);
        set_header(&mut resp, header::LOCATION, &format!("/api/v1/log/entries/{uuid}"));
        resp
    }

    fn append(&self, inner: &mut Inner, leaf: Hash, body: Vec<u8>) -> u64 {
        let index = inner.tree.size();
        let integrated_time =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let payload = json!({
            "body": Base64::encode_string(&body),
            "integratedTime": integrated_time,
            "logID": hex(&self.log_id()),
            "logIndex": self.index_offset + index,
        });
        // This crate's own RFC 8785 code: not the client's, so that a bug in
        // one is not mirrored in the other.
        let payload = crate::jcs::canonical(&payload).unwrap_or_default();
        let mut set = self.sign(&payload);
        if inner.fault == V1Fault::CorruptSet {
            let mid = set.len() / 2;
            set[mid] ^= 1;
        }
        inner.tree.push(leaf);
        inner.by_leaf.insert(leaf, index);
        inner.entries.push(Entry { body, integrated_time, set });
        index
    }

    fn get(&self, id: &str) -> Response {
        if self.unavailable() {
            return unavailable();
        }
        let tree = format!("{:016x}", self.tree_id);
        let uuid = match id.len() {
            // `get`, not slicing: the path may hold any UTF-8.
            80 if id.get(..16).is_some_and(|t| t.eq_ignore_ascii_case(&tree)) => {
                id.get(16..).unwrap_or_default()
            }
            64 => id,
            _ => return error(StatusCode::BAD_REQUEST, "invalid entry UUID"),
        };
        let inner = self.lock();
        let index = decode_hex(uuid)
            .and_then(|b| Hash::from_slice(&b))
            .and_then(|leaf| inner.by_leaf.get(&leaf).copied());
        match index {
            Some(index) => (StatusCode::OK, self.answer(&inner, index)).into_response(),
            None => error(StatusCode::NOT_FOUND, "entry not found"),
        }
    }

    /// `{entryID: entry}` for entry `index`, proved at the current size.
    fn answer(&self, inner: &Inner, index: u64) -> Json {
        let entry = &inner.entries[index as usize];
        let size = inner.tree.size();
        let tree = &inner.tree;
        let mut root = tlog::tree::tree_hash(size, &mut &*tree).unwrap_or_default();
        let mut proof: Vec<Hash> = tlog::proof::prove_inclusion(size, index, &mut &*tree)
            .map(|p| p.to_vec())
            .unwrap_or_default();
        let mut checkpoint = self.checkpoint(size, &root, false);
        match inner.fault {
            V1Fault::CorruptProof => match proof.first_mut() {
                Some(h) => h.0[0] ^= 1,
                None => root.0[0] ^= 1,
            },
            V1Fault::CorruptCheckpoint => checkpoint = self.checkpoint(size, &root, true),
            _ => {}
        }
        let leaf = tlog::leaf_hash(&entry.body);
        let entry_id = format!("{:016x}{}", self.tree_id, hex(&leaf.0));
        Json(json!({ entry_id: {
            "body": Base64::encode_string(&entry.body),
            "integratedTime": entry.integrated_time,
            "logID": hex(&self.log_id()),
            "logIndex": self.index_offset + index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": checkpoint,
                    "hashes": proof.iter().map(|h| hex(&h.0)).collect::<Vec<_>>(),
                    "logIndex": index,
                    "rootHash": hex(&root.0),
                    "treeSize": size,
                },
                "signedEntryTimestamp": Base64::encode_string(&entry.set),
            },
        }}))
    }

    /// The v1 checkpoint note: origin `<host> - <treeID>`, signed under the
    /// bare host name with the key hash SHA-256(DER SPKI)[:4] and a DER
    /// ECDSA signature over SHA-256 of the text. `corrupt` changes the
    /// signature's last byte.
    fn checkpoint(&self, size: u64, root: &Hash, corrupt: bool) -> String {
        let text = format!("{}\n{size}\n{root}\n", self.origin());
        let mut sig = self.log_id()[..4].to_vec();
        sig.extend(self.sign(text.as_bytes()));
        if corrupt {
            let last = sig.len() - 1;
            sig[last] ^= 1;
        }
        format!("{text}\n\u{2014} {} {}\n", self.host, Base64::encode_string(&sig))
    }

    /// DER ECDSA P-256 over SHA-256(msg).
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.key.sign(msg);
        sig.to_der().as_bytes().to_vec()
    }
}

/// An ECDSA P-256 key from a seed: the seed itself when it is a valid
/// scalar, else its SHA-256 (repeated).
fn signing_key(seed: [u8; 32]) -> SigningKey {
    let mut bytes = seed;
    loop {
        if let Ok(key) = SigningKey::from_slice(&bytes) {
            return key;
        }
        bytes = Sha256::digest(bytes).into();
    }
}

/// A JSON answer.
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// A go-swagger `Error`: `{"code": status, "message": …}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "code": status.as_u16(), "message": message }))).into_response()
}

fn unavailable() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
}

fn set_header(resp: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = value.parse() {
        resp.headers_mut().insert(name, v);
    }
}

/// Checks a posted ProposedEntry like Rekor's hashedrekord 0.0.1 type and
/// returns the body Rekor logs: the RFC 8785 form of the entry rebuilt from
/// the parsed fields, the key re-encoded as PEM.
fn proposed_entry(body: &[u8]) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let top = only(&v, "entry", &["kind", "apiVersion", "spec"])?;
    if top.get("kind").and_then(Value::as_str) != Some("hashedrekord") {
        return Err("unsupported entry kind: only hashedrekord".into());
    }
    if top.get("apiVersion").and_then(Value::as_str) != Some("0.0.1") {
        return Err("unsupported hashedrekord version: only 0.0.1".into());
    }
    let spec = only(member(top, "spec"), "spec", &["data", "signature"])?;
    let data = only(member(spec, "data"), "spec.data", &["hash"])?;
    let hash = only(member(data, "hash"), "spec.data.hash", &["algorithm", "value"])?;
    let signature = only(member(spec, "signature"), "spec.signature", &["content", "publicKey"])?;
    let public_key =
        only(member(signature, "publicKey"), "spec.signature.publicKey", &["content"])?;

    let algorithm = text(hash, "algorithm")?;
    let value = text(hash, "value")?;
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported hash algorithm {algorithm:?}")),
    };
    if value.len() != hex_len {
        return Err(format!("{algorithm} value must be {hex_len} hex digits"));
    }
    let digest = decode_hex(value).ok_or("hash value is not hex")?;
    let content = text(signature, "content")?;
    let sig = Base64::decode_vec(content).map_err(|_| "signature content is not base64")?;
    if sig.is_empty() {
        return Err("signature content is empty".into());
    }
    let pem = Base64::decode_vec(text(public_key, "content")?)
        .map_err(|_| "public key content is not base64")?;
    let der = std::str::from_utf8(&pem)
        .ok()
        .and_then(pem_decode)
        .ok_or("invalid public key: failure decoding PEM")?;
    verify_signature(&der, algorithm, &digest, &sig)?;

    let logged = json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": { "hash": { "algorithm": algorithm, "value": value } },
            "signature": {
                "content": content,
                "publicKey": { "content": Base64::encode_string(pem_encode(&der).as_bytes()) },
            },
        },
    });
    crate::jcs::canonical(&logged).ok_or_else(|| "the entry cannot be canonicalized".to_string())
}

/// `sig` verifies over `digest` under the SPKI `der`: Ed25519 keys as
/// Ed25519ph (sha512 only), P-256 keys as ECDSA.
fn verify_signature(der: &[u8], algorithm: &str, digest: &[u8], sig: &[u8]) -> Result<(), String> {
    if der.len() == 44 && der.starts_with(&ED25519_SPKI_PREFIX) {
        if algorithm != "sha512" {
            return Err("Ed25519 keys sign with Ed25519ph over a sha512 digest".into());
        }
        let raw: [u8; 32] = der[12..].try_into().map_err(|_| "invalid Ed25519 key")?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| "invalid Ed25519 key")?;
        let sig =
            ed25519_dalek::Signature::from_slice(sig).map_err(|_| "invalid Ed25519 signature")?;
        let prehash = Prehashed::of(digest).ok_or("sha512 digest must be 64 bytes")?;
        return key
            .verify_prehashed(prehash, None, &sig)
            .map_err(|_| "signature verification failed".into());
    }
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(der)
        .map_err(|_| "unsupported public key: only Ed25519 and ECDSA P-256")?;
    let sig = Signature::from_der(sig).map_err(|_| "invalid ECDSA signature")?;
    key.verify_prehash(digest, &sig).map_err(|_| "signature verification failed".into())
}

/// A "hash" whose output is a given SHA-512 digest: `verify_prehashed`
/// takes the hash state, but a hashedrekord carries only the digest.
#[derive(Clone)]
struct Prehashed([u8; 64]);

impl Default for Prehashed {
    fn default() -> Prehashed {
        Prehashed([0; 64])
    }
}

impl Prehashed {
    fn of(digest: &[u8]) -> Option<Prehashed> {
        Some(Prehashed(digest.try_into().ok()?))
    }
}

impl digest::HashMarker for Prehashed {}

impl digest::OutputSizeUser for Prehashed {
    type OutputSize = digest::consts::U64;
}

impl digest::Update for Prehashed {
    fn update(&mut self, _: &[u8]) {}
}

impl digest::FixedOutput for Prehashed {
    fn finalize_into(self, out: &mut digest::Output<Self>) {
        out.copy_from_slice(&self.0);
    }
}

/// `v` is an object with no keys but `allowed` (go-swagger's schema
/// validation refuses the others).
fn only<'a>(v: &'a Value, what: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let map = v.as_object().ok_or_else(|| format!("{what} must be an object"))?;
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what} has an unknown field {k:?}")),
        None => Ok(map),
    }
}

/// `map[key]`, `null` when absent (indexing a `Map` would panic).
fn member<'a>(map: &'a Map<String, Value>, key: &str) -> &'a Value {
    map.get(key).unwrap_or(&Value::Null)
}

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    map.get(key).and_then(Value::as_str).ok_or_else(|| format!("{key} must be a string"))
}

/// The router of `log`.
pub fn router_for(log: Arc<V1Log>) -> Router {
    Router::new()
        .route("/api/v1/log/entries", post(post_entry))
        .route("/api/v1/log/entries/{uuid}", get(get_entry))
        .route("/api/v1/log/publicKey", get(public_key))
        .with_state(log)
}

/// The router of a new log with the key of [`DEFAULT_SEED`] (its key is
/// served at `GET /api/v1/log/publicKey`).
pub fn router() -> Router {
    router_for(V1Log::new(DEFAULT_SEED))
}

async fn post_entry(State(log): State<Arc<V1Log>>, body: Bytes) -> Response {
    log.post(&body)
}

async fn get_entry(State(log): State<Arc<V1Log>>, Path(uuid): Path<String>) -> Response {
    log.get(&uuid)
}

async fn public_key(State(log): State<Arc<V1Log>>) -> Response {
    if log.unavailable() {
        return unavailable();
    }
    ([(header::CONTENT_TYPE, "application/x-pem-file")], log.public_key_pem()).into_response()
}

/// A [`V1Log`] served on a free loopback port from a thread of its own
/// (with its own tokio runtime), for blocking tests. Dropping it stops it.
pub struct V1Server {
    addr: SocketAddr,
    log: Arc<V1Log>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl V1Server {
    /// Serves `log` on `127.0.0.1:0`.
    pub fn start(log: Arc<V1Log>) -> io::Result<V1Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router_for(log.clone());
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(V1Server { addr, log, stop: Some(stop), thread: Some(thread) })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The log served.
    pub fn log(&self) -> &Arc<V1Log> {
        &self.log
    }
}

impl Drop for V1Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A `PUBLIC KEY` PEM document as Go's `pem.EncodeToMemory` writes it
/// (what Rekor logs): 64-column base64 lines, a final newline.
fn pem_encode(der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The DER of the first `PUBLIC KEY` block of a PEM text.
fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let begin = "-----BEGIN PUBLIC KEY-----";
    let start = pem.find(begin)? + begin.len();
    let len = pem[start..].find("-----END PUBLIC KEY-----")?;
    let b64: String = pem[start..start + len].split_whitespace().collect();
    Base64::decode_vec(&b64).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}
