//! The Rekor v2 (rekor-tiles) HTTP API: `POST /api/v2/log/entries` and the
//! C2SP tlog-tiles read side under `/api/v2`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64ct::{Base64, Encoding};
use note::Signer;
use serde_json::{Value, json};

use crate::conn::Conn;
use crate::log::{Log, key_hash, sign_checkpoint};
use crate::request::{self, Accepted, Reject};
use crate::{Armed, Fault};

/// The largest request body taken (larger: 413, as `http.MaxBytesHandler`).
pub const MAX_REQUEST: usize = 64 * 1024;

/// rekor-tiles' answer to a write on a frozen log (plain text).
pub const FROZEN_MESSAGE: &str = "This log has been frozen, please switch to the latest log.\n";

/// What the handlers share.
pub struct Shared {
    pub(crate) log: Mutex<Log>,
    pub(crate) fault: Mutex<Option<Armed>>,
    pub(crate) posts: AtomicUsize,
    pub(crate) serve_tiles: bool,
    /// Signs the checkpoint of [`Fault::OtherKey`]: another key, the same origin.
    pub(crate) other_key: Signer,
}

impl Shared {
    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        // A panic elsewhere leaves the log consistent (appends do not unwind midway).
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault for this request, counting it down.
    fn take_fault(&self) -> Option<Fault> {
        let mut armed = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let a = armed.as_mut()?;
        let fault = a.fault;
        if let Some(n) = a.remaining.as_mut() {
            *n -= 1;
            if *n == 0 {
                *armed = None;
            }
        }
        Some(fault)
    }
}

/// The v2 routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/log/entries", post(create_entry))
        .route("/api/v2/checkpoint", get(checkpoint))
        .route("/api/v2/tile/{*path}", get(tile))
        .with_state(shared)
}

/// A grpc-gateway error answer: `{"code":N,"message":"…","details":[]}`.
fn grpc_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "details": []});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn create_entry(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    shared.posts.fetch_add(1, Ordering::SeqCst);
    let fault = shared.take_fault();
    let conn = req.extensions().get::<ConnectInfo<Conn>>().map(|c| c.0.clone());
    match fault {
        Some(Fault::Pushback) => {
            return grpc_error(StatusCode::SERVICE_UNAVAILABLE, 14, "reached max pushback; retry");
        }
        Some(Fault::Frozen) => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                FROZEN_MESSAGE,
            )
                .into_response();
        }
        _ => {}
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_REQUEST).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
        }
    };
    let answer = match request::parse(&body) {
        Ok(accepted) => append(&shared, accepted, fault),
        Err(reject) => {
            if let Reject::Invalid(why) = &reject {
                tracing::info!(why, "invalid hashedrekord request");
            }
            grpc_error(StatusCode::BAD_REQUEST, 3, &reject.message())
        }
    };
    match fault {
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::DropConnection) => {
            if let Some(c) = conn {
                c.cut();
            }
        }
        _ => {}
    }
    answer
}

/// Logs an accepted request (or finds it logged) and builds the answer.
fn append(shared: &Shared, mut accepted: Accepted, fault: Option<Fault>) -> Response {
    if fault == Some(Fault::OtherBody) {
        // A log that records something other than what it was sent.
        accepted.digest[0] ^= 0xff;
    }
    let Some(body) = crate::jcs::canonical(&accepted.entry()) else {
        return grpc_error(StatusCode::INTERNAL_SERVER_ERROR, 2, "failed to canonicalize entry");
    };
    let leaf = tlog::leaf_hash(&body);
    let mut log = shared.log();
    if let Some(index) = log.find(&leaf) {
        return duplicate(index);
    }
    let index = log.append(body.clone());
    let size = log.size();
    let mut root = log.root();
    let mut proof: Vec<Value> =
        log.inclusion(index).iter().map(|h| json!(Base64::encode_string(&h.0))).collect();
    let signer = log.signer();
    let envelope = match fault {
        Some(Fault::WrongRoot) => {
            root.0[0] ^= 1;
            sign_checkpoint(signer, size, &root)
        }
        Some(Fault::OtherKey) => sign_checkpoint(&shared.other_key, size, &root),
        Some(Fault::OtherOrigin) => {
            let other = format!("other.{}", signer.name());
            match signer.renamed(&other) {
                Ok(s) => sign_checkpoint(&s, size, &root),
                Err(_) => log.checkpoint().to_string(),
            }
        }
        _ => log.checkpoint().to_string(),
    };
    if fault == Some(Fault::CorruptProof) {
        corrupt(&mut proof);
    }
    let key_id = key_hash(signer.name(), signer.verifier().public_key());
    drop(log);
    if fault == Some(Fault::Garbage) {
        return (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], "<html>oops")
            .into_response();
    }
    let int = |n: u64| {
        if fault == Some(Fault::NumbersAsNumbers) { json!(n) } else { json!(n.to_string()) }
    };
    // protojson with EmitUnpopulated, in TransparencyLogEntry's field order.
    let tle = json!({
        "logIndex": int(index),
        "logId": { "keyId": Base64::encode_string(&key_id) },
        "kindVersion": { "kind": "hashedrekord", "version": "0.0.2" },
        "integratedTime": int(0),
        "inclusionPromise": null,
        "inclusionProof": {
            "logIndex": int(index),
            "rootHash": Base64::encode_string(&root.0),
            "treeSize": int(size),
            "hashes": proof,
            "checkpoint": { "envelope": envelope },
        },
        "canonicalizedBody": Base64::encode_string(&body),
    });
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], tle.to_string())
        .into_response()
}

/// Flips a bit of the first proof hash; a proof with no hashes (a
/// one-entry tree) gets a bogus one, which no verifier accepts either.
fn corrupt(proof: &mut Vec<Value>) {
    let mut bytes = proof
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Base64::decode_vec(s).ok())
        .unwrap_or_else(|| vec![0; 32]);
    bytes[0] ^= 1;
    let bad = json!(Base64::encode_string(&bytes));
    match proof.first_mut() {
        Some(first) => *first = bad,
        None => proof.push(bad),
    }
}

/// 409 for an entry already logged: rekor-tiles' AlreadyExists, with the
/// index in `x-log-index` and no proof.
fn duplicate(index: u64) -> Response {
    let message =
        format!("an equivalent entry already exists in the transparency log with index {index}");
    let mut r = grpc_error(StatusCode::CONFLICT, 6, &message);
    r.headers_mut().insert("x-log-index", HeaderValue::from(index));
    r
}

/// rekor-server's own answer to a read: the storage serves tiles, not it.
fn unimplemented(method: &str) -> Response {
    grpc_error(StatusCode::NOT_IMPLEMENTED, 12, &format!("method {method} not implemented"))
}

async fn checkpoint(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.serve_tiles {
        return unimplemented("GetCheckpoint");
    }
    let text = shared.log().checkpoint().to_string();
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn tile(State(shared): State<Arc<Shared>>, Path(path): Path<String>) -> Response {
    if !shared.serve_tiles {
        let entries = path.starts_with("entries/");
        return unimplemented(if entries { "GetEntryBundle" } else { "GetTile" });
    }
    let found = tlog::Tile::parse(&format!("tile/{path}")).and_then(|t| shared.log().tile(t));
    match found {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], Body::from(bytes))
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such tile\n").into_response(),
    }
}
