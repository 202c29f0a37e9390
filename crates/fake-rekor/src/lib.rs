//! A Rekor v2-compatible transparency log on loopback, for tests and demos,
//! with a Rekor v1 log beside it ([`v1`]: `/api/v1/log/entries`, signed
//! entry timestamps, ECDSA checkpoints; also servable alone, [`v1::V1Server`]),
//! and an RFC 3161 timestamp authority that is served alone
//! ([`tsa::TsaServer`]: `POST /api/v1/timestamp` as Sigstore's).
//!
//! There is no network where service-fs is tested, so the anchoring code
//! (`crates/rekor`, `fs-anchor-emitter`) runs against this server instead of
//! a Sigstore Rekor shard: only the base URL, the origin and the log key
//! differ, the client's code path is the one it runs against the real log.
//! **Not a production Rekor**: everything is in memory, one process, no
//! batching, no persistence, no rate limits, no authentication.
//!
//! It is written independently of the client crate (its own request
//! parsing, JSON building and canonicalization; only the `tlog` Merkle tree
//! and the `note` signed-note code are shared), so that a misreading of the
//! protocol in one is not silently mirrored by the other.
//!
//! # What it reproduces of rekor-tiles
//!
//! - `POST /api/v2/log/entries` with a `CreateEntryRequest` holding a
//!   `hashedRekordRequestV002`, parsed like grpc-gateway's protojson:
//!   camelCase or snake_case names, unknown or repeated fields refused,
//!   `null` = unset, bytes as base64, enums by name or number. Validation
//!   as `hashedrekord.ToLogEntry`: non-empty digest and signature, a
//!   verifier with a DER SPKI public key, key details `PKIX_ED25519_PH`
//!   (Ed25519ph over a 64-byte SHA-512 digest) or `PKIX_ECDSA_P256_SHA_256`
//!   (DER ECDSA over a 32-byte SHA-256 digest), digest length matching, the
//!   signature verified. Refusals are 400 with the gRPC status body
//!   `{"code":3,"message":"invalid hashedrekord request","details":[]}`
//!   (`"invalid type, must be hashedrekord"` for other entry types, a
//!   `proto: …` message for malformed requests). Pure Ed25519
//!   (`PKIX_ED25519`) is refused as Rekor refuses it.
//! - The entry: RFC 8785 canonical JSON of
//!   `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":…,"digest":…},"signature":…}}}`
//!   (the signature as received, re-encoded camelCase); leaf hash
//!   `SHA-256(0x00 || entry)`. A duplicate leaf is 409 with `x-log-index: N`
//!   and `{"code":6,"message":"an equivalent entry already exists in the transparency log with index N","details":[]}`.
//! - A real RFC 6962 log: every append signs a C2SP checkpoint
//!   (`origin\nsize\nbase64(root)\n`, Ed25519 note signature, key ID
//!   `SHA-256(origin || 0x0A || 0x01 || key)[:4]`) and answers 201 with the
//!   protojson `TransparencyLogEntry`: int64 fields as strings,
//!   `integratedTime` `"0"`, `inclusionPromise` `null`, `logId.keyId` the
//!   base64 of the full 32-byte key hash, the inclusion proof against the
//!   new checkpoint, `canonicalizedBody` in base64.
//! - The read side under `/api/v2` as C2SP tlog-tiles (`checkpoint`,
//!   `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, entry bundles of
//!   big-endian `u16` length-prefixed entries), as a deployment whose
//!   storage bucket serves them beside the API; with
//!   [`Options::serve_tiles`] off these answer 501 like rekor-server itself.
//!   `GET /healthz` answers `{"status":"SERVING"}`.
//! - Failures on demand ([`Fault`], [`Server::set_fault`]): pushback (503),
//!   a frozen log (405), slow answers, lost answers, and answers that lie
//!   (bad proof, wrong root, foreign key or origin, another entry, garbage).
//!
//! Not reproduced: x509 certificate verifiers, RSA / P-384 / P-521 keys,
//! DSSE entries (all refused with 400), checkpoint batching (each write
//! gets its own checkpoint, a checkpoint interval of zero), witnesses.
//!
//! ```no_run
//! let server = fake_rekor::Server::start(fake_rekor::Options::default())?;
//! println!("POST {}/api/v2/log/entries, log key {}", server.url(), server.log_key());
//! # Ok::<(), std::io::Error>(())
//! ```

mod conn;
pub mod jcs;
mod log;
pub mod request;
pub mod tsa;
pub mod v1;
mod v2;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use base64ct::{Base64, Encoding};

pub use crate::log::key_hash;
pub use crate::request::ED25519_SPKI_PREFIX;
pub use crate::v2::{FROZEN_MESSAGE, MAX_REQUEST};

/// How to run a server.
#[derive(Clone, Debug)]
pub struct Options {
    /// The log's origin: checkpoint first line and log key name
    /// (no spaces, no `+`). Default `rekor.test`.
    pub origin: String,
    /// The Ed25519 seed of the log's checkpoint key; `None`: a fresh random key.
    pub seed: Option<[u8; 32]>,
    /// Serve the tiles, entry bundles and checkpoint under `/api/v2`
    /// (default on); off, these answer 501 as rekor-server does.
    pub serve_tiles: bool,
    /// Where to listen. Default `127.0.0.1:0` (a free loopback port).
    pub listen: SocketAddr,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            origin: "rekor.test".into(),
            seed: None,
            serve_tiles: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A way for the server to misbehave, for negative tests. Set with
/// [`Server::set_fault`] (until [`Server::clear_fault`]) or
/// [`Server::set_fault_times`] (for the next N requests). Faults apply only
/// to `POST /api/v2/log/entries`, and every such request counts, whatever
/// its outcome; reads are never faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 503 with `{"code":14,"message":"reached max pushback; retry","details":[]}`;
    /// nothing is logged.
    Pushback,
    /// 405 with the plain-text body [`FROZEN_MESSAGE`], as a frozen
    /// (read-only) shard answers; nothing is logged.
    Frozen,
    /// The request is handled as usual (logged when valid), and the answer
    /// sent after this long, as a Rekor write that waits for its checkpoint:
    /// a client that times out finds the entry logged (409) when it retries.
    Delay(Duration),
    /// The request is handled as usual (logged when valid), then the
    /// connection is closed without an answer: a lost response; the
    /// client's retry gets 409 with the index.
    DropConnection,
    /// One inclusion proof hash has a bit flipped (a one-entry tree, whose
    /// proof is empty, gets one bogus hash instead).
    CorruptProof,
    /// The answer's checkpoint (and `inclusionProof.rootHash`) commits to
    /// another root, validly signed by the log key.
    WrongRoot,
    /// The answer's checkpoint is signed by another Ed25519 key under the
    /// log's origin (so its key ID differs from the log key's).
    OtherKey,
    /// The answer's checkpoint has the origin `other.<origin>`, signed by the
    /// log's key under that name.
    OtherOrigin,
    /// The log records (and proves, under a valid checkpoint) an entry whose
    /// digest differs from the request's (its first byte flipped): only a
    /// client that compares the body with what it sent notices.
    OtherBody,
    /// The 201 answer writes the int64 fields as JSON numbers instead of
    /// strings: still a valid answer, which protojson readers accept.
    NumbersAsNumbers,
    /// 201 with a body that is not JSON; the entry is logged.
    Garbage,
}

/// A fault in force and how many more requests it applies to (`None`: until cleared).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Armed {
    fault: Fault,
    remaining: Option<usize>,
}

/// A running server, on a thread of its own with its own tokio runtime (so
/// blocking code and tests can use it). Dropping it stops it.
pub struct Server {
    url: String,
    shared: Arc<v2::Shared>,
    verifier: note::Verifier,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

/// The seed of the key that signs [`Fault::OtherKey`] checkpoints.
const OTHER_KEY_SEED: [u8; 32] = [0x0f; 32];

/// Every route of the server. Another API with its own state merges here
/// in one line (the Rekor v1 one: `mod v1;` and `.merge(v1::router())`).
fn app(shared: Arc<v2::Shared>) -> Router {
    Router::new().route("/healthz", get(healthz)).merge(v2::router(shared)).merge(v1::router())
}

async fn healthz() -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"SERVING"}"#).into_response()
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

impl Server {
    /// Binds `options.listen` and starts serving.
    pub fn start(options: Options) -> io::Result<Server> {
        let seed = match options.seed {
            Some(s) => s,
            None => random_seed()?,
        };
        let signer = note::Signer::from_seed(&options.origin, seed)
            .map_err(|e| invalid(format_args!("log key for origin {:?}: {e}", options.origin)))?;
        let other_key = note::Signer::from_seed(&options.origin, OTHER_KEY_SEED)
            .map_err(|e| invalid(format_args!("origin {:?}: {e}", options.origin)))?;
        let verifier = signer.verifier();
        let shared = Arc::new(v2::Shared {
            log: Mutex::new(log::Log::new(signer)),
            fault: Mutex::new(None),
            posts: Default::default(),
            serve_tiles: options.serve_tiles,
            other_key,
        });
        let listener = std::net::TcpListener::bind(options.listen)?;
        let url = format!("http://{}", listener.local_addr()?);
        listener.set_nonblocking(true)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = {
            let _in_runtime = rt.enter();
            conn::Listener(tokio::net::TcpListener::from_std(listener)?)
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = app(shared.clone()).into_make_service_with_connect_info::<conn::Conn>();
        let thread = std::thread::Builder::new().name("fake-rekor".into()).spawn(move || {
            rt.block_on(async {
                // Not a graceful shutdown: a delayed answer must not hold up a drop.
                tokio::select! {
                    served = axum::serve(listener, service) => served,
                    _ = stopped => Ok(()),
                }
            })
        })?;
        Ok(Server { url, shared, verifier, stop: Some(stop), thread: Some(thread) })
    }

    /// The base URL, `http://127.0.0.1:PORT` (the API is under `/api/v2`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The log's checkpoint key as a C2SP verifier key,
    /// `origin+hexid+base64(0x01 || public key)`.
    pub fn log_key(&self) -> String {
        self.verifier.to_string()
    }

    /// The log's checkpoint key.
    pub fn log_verifier(&self) -> &note::Verifier {
        &self.verifier
    }

    /// The log's `logId.keyId`: the full 32-byte C2SP key hash.
    pub fn log_id(&self) -> [u8; 32] {
        key_hash(self.verifier.name(), self.verifier.public_key())
    }

    /// The log's public key as a DER SubjectPublicKeyInfo (44 bytes).
    pub fn log_spki_der(&self) -> Vec<u8> {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.verifier.public_key());
        der
    }

    /// The log's public key as a PEM `PUBLIC KEY` (how Rekor publishes it).
    pub fn log_spki_pem(&self) -> String {
        let b64 = Base64::encode_string(&self.log_spki_der());
        // 44 bytes are 60 base64 characters: one line.
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    /// Makes every following write misbehave, until [`Server::clear_fault`].
    pub fn set_fault(&self, fault: Fault) {
        self.arm(Some(Armed { fault, remaining: None }));
    }

    /// Makes the next `n` writes misbehave (`n` = 0 clears the fault).
    pub fn set_fault_times(&self, fault: Fault, n: usize) {
        self.arm((n > 0).then_some(Armed { fault, remaining: Some(n) }));
    }

    /// Back to normal answers.
    pub fn clear_fault(&self) {
        self.arm(None);
    }

    fn arm(&self, armed: Option<Armed>) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = armed;
    }

    /// How many `POST /api/v2/log/entries` requests arrived (any outcome).
    pub fn posts(&self) -> usize {
        self.shared.posts.load(Ordering::SeqCst)
    }

    /// Number of entries in the log.
    pub fn size(&self) -> u64 {
        self.shared.log().size()
    }

    /// The latest signed checkpoint note.
    pub fn checkpoint(&self) -> String {
        self.shared.log().checkpoint().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn random_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io::Error::other(format!("random key: {e}")))?;
    Ok(seed)
}
