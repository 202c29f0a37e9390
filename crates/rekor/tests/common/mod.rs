//! Test helpers: a Rekor v2 log built by hand (RFC 6962 tree, C2SP tiles
//! and checkpoint, TransparencyLogEntry JSON) and a tiny HTTP server.
//!
//! The tree, proofs, leaf hashes, canonical bodies and tile paths are written
//! here from the specifications, not with `tlog` or `rekor`, so that a bug
//! in the crate is not mirrored by its tests. Only the checkpoint signature
//! uses `note` (the golden fixture checks `note` against a real log).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub type H = [u8; 32];

pub fn b64(b: &[u8]) -> String {
    Base64::encode_string(b)
}

fn sha256(parts: &[&[u8]]) -> H {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 6962 leaf hash.
pub fn leaf(body: &[u8]) -> H {
    sha256(&[&[0], body])
}

/// RFC 6962 MTH over leaf hashes.
pub fn mth(leaves: &[H]) -> H {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let k = split(n);
            sha256(&[&[1], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 PATH(m, D[n]).
pub fn path(m: usize, leaves: &[H]) -> Vec<H> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// The JCS body Rekor v2 stores for a hashedrekord v0.0.2 request with a
/// public key (keys in sorted order, compact).
pub fn body_for_request(req: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(req).expect("request JSON");
    let r = &v["hashedRekordRequestV002"];
    let s = |v: &Value| v.as_str().expect("string").to_string();
    format!(
        concat!(
            r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"#,
            r#""data":{{"algorithm":"SHA2_512","digest":"{}"}},"#,
            r#""signature":{{"content":"{}","verifier":{{"keyDetails":"{}","publicKey":{{"rawBytes":"{}"}}}}}}}}}}}}"#
        ),
        s(&r["digest"]),
        s(&r["signature"]["content"]),
        s(&r["signature"]["verifier"]["keyDetails"]),
        s(&r["signature"]["verifier"]["publicKey"]["rawBytes"]),
    )
    .into_bytes()
}

/// A log: entries (bodies), an Ed25519 checkpoint key.
pub struct Log {
    pub origin: String,
    signer: note::Signer,
    pub bodies: Vec<Vec<u8>>,
}

impl Log {
    pub fn new(origin: &str, seed: u8) -> Log {
        let signer = note::Signer::from_seed(origin, [seed; 32]).expect("signer");
        Log { origin: origin.to_string(), signer, bodies: vec![] }
    }

    /// `n` filler entries.
    pub fn with_fillers(mut self, n: usize) -> Log {
        for i in 0..n {
            self.bodies.push(format!("{{\"filler\":{i}}}").into_bytes());
        }
        self
    }

    pub fn vkey(&self) -> String {
        self.signer.verifier().to_string()
    }

    pub fn log_key(&self) -> rekor::LogKey {
        rekor::LogKey::parse(&self.vkey()).expect("log key")
    }

    /// The full 32-byte C2SP key hash of the log key.
    pub fn key_hash(&self) -> H {
        let pk = self.signer.verifier().public_key().to_vec();
        sha256(&[self.origin.as_bytes(), b"\n", &[1], &pk])
    }

    pub fn append(&mut self, body: Vec<u8>) -> usize {
        self.bodies.push(body);
        self.bodies.len() - 1
    }

    pub fn index_of(&self, body: &[u8]) -> Option<usize> {
        self.bodies.iter().position(|b| b == body)
    }

    pub fn leaves(&self) -> Vec<H> {
        self.bodies.iter().map(|b| leaf(b)).collect()
    }

    /// The signed checkpoint of the first `size` entries, with `text` edits.
    pub fn checkpoint_with(&self, origin: &str, size: usize, root: &H) -> String {
        let text = format!("{origin}\n{size}\n{}\n", b64(root));
        let mut out = [0u8; 1024];
        let n = note::sign(&text, &[&self.signer], &mut out).expect("sign");
        String::from_utf8(out[..n].to_vec()).expect("utf-8")
    }

    pub fn checkpoint(&self) -> String {
        let leaves = self.leaves();
        self.checkpoint_with(&self.origin, leaves.len(), &mth(&leaves))
    }

    /// The TransparencyLogEntry for entry `index` in the current tree, as
    /// rekor-tiles writes it.
    pub fn tle(&self, index: usize) -> Value {
        let leaves = self.leaves();
        let hashes: Vec<String> = path(index, &leaves).iter().map(|h| b64(h)).collect();
        json!({
            "logIndex": index.to_string(),
            "logId": { "keyId": b64(&self.key_hash()) },
            "kindVersion": { "kind": "hashedrekord", "version": "0.0.2" },
            "integratedTime": "0",
            "inclusionPromise": null,
            "inclusionProof": {
                "logIndex": index.to_string(),
                "rootHash": b64(&mth(&leaves)),
                "treeSize": leaves.len().to_string(),
                "hashes": hashes,
                "checkpoint": { "envelope": self.checkpoint() },
            },
            "canonicalizedBody": b64(&self.bodies[index]),
        })
    }

    /// The data of tile `path` (`tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]`, C2SP tlog-tiles), if the tree has it.
    pub fn tile(&self, tile_path: &str) -> Option<Vec<u8>> {
        let rest = tile_path.strip_prefix("tile/")?;
        let (level, rest) = rest.split_once('/')?;
        let (n, width) = match rest.split_once(".p/") {
            Some((n, w)) => (n, Some(w.parse::<usize>().ok()?)),
            None => (rest, None),
        };
        let n = parse_index(n)?;
        let width = width.unwrap_or(256);
        if level == "entries" {
            let start = n * 256;
            let entries = self.bodies.get(start..start + width)?;
            let mut out = vec![];
            for e in entries {
                out.extend_from_slice(&(e.len() as u16).to_be_bytes());
                out.extend_from_slice(e);
            }
            return Some(out);
        }
        let level: u32 = level.parse().ok()?;
        let leaves = self.leaves();
        let span = 256usize.pow(level);
        let mut out = vec![];
        for i in 0..width {
            let start = (n * 256 + i) * span;
            let hashes = leaves.get(start..start + span)?;
            out.extend_from_slice(&mth(hashes));
        }
        Some(out)
    }
}

/// `x001/x234/567` → 1234567.
fn parse_index(s: &str) -> Option<usize> {
    let mut n = 0usize;
    for part in s.split('/') {
        let digits = part.strip_prefix('x').unwrap_or(part);
        if digits.len() != 3 {
            return None;
        }
        n = n * 1000 + digits.parse::<usize>().ok()?;
    }
    Some(n)
}

/// One HTTP request as the test server saw it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the server answers: status, extra headers, body; or nothing.
pub enum Reply {
    Http(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Hold the connection without answering.
    Silence,
}

pub fn reply(status: u16, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Http(status, vec![], body.into())
}

type Handler = dyn Fn(usize, &Req) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server; each connection gets one answer and closed.
pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    /// Serves with `handler(n, request)`, `n` counting requests from 0.
    pub fn start(handler: impl Fn(usize, &Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(vec![]));
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (handler, seen, count) = (handler.clone(), s.clone(), count.clone());
                thread::spawn(move || serve(stream, &*handler, &seen, &count));
            }
        });
        Server { url, seen }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }

    pub fn posts(&self) -> usize {
        self.requests().iter().filter(|r| r.method == "POST").count()
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Req>>, count: &AtomicUsize) {
    let Some(req) = read_request(&stream) else { return };
    seen.lock().unwrap().push(req.clone());
    let n = count.fetch_add(1, Ordering::SeqCst);
    match handler(n, &req) {
        Reply::Silence => {
            thread::sleep(Duration::from_secs(10));
        }
        Reply::Http(status, headers, body) => {
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
            out.push_str("Connection: close\r\n");
            for (n, v) in headers {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let mut stream = stream;
            let _ = stream.write_all(out.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Req> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req { method, path, headers, body })
}
