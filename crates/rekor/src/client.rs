//! Blocking HTTP to a Rekor log: timeouts, bounded retries with backoff,
//! and recovery of an already-logged entry from the log's tiles.

use std::collections::HashMap;
use std::fmt;
use std::thread;
use std::time::Duration;

use tlog::{HASH_SIZE, Hash, NodeReader, TILE_HEIGHT, TILE_WIDTH, Tile};

use crate::keys::LogKey;
use crate::v2;

/// The largest response body read (entry bundles and tiles are far smaller).
const MAX_BODY: u64 = 16 << 20;
/// How much of an error body an error message quotes.
const QUOTE: usize = 200;

/// How long to wait, and how often to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The whole of one request, connecting to the last byte of the answer.
    /// Rekor v2 answers a write only once a checkpoint covers the entry,
    /// which can take 20 s or more.
    pub timeout: Duration,
    /// Tries in all (at least one).
    pub attempts: u32,
    /// The wait before the first retry; it doubles after each.
    pub backoff: Duration,
    /// The longest wait between tries.
    pub max_backoff: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            timeout: Duration::from_secs(60),
            attempts: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// The wait after failed try number `attempt` (1-based).
    fn wait(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request failed. Each prints as one line naming the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No usable answer after every try: connection errors, timeouts, 429 or 5xx.
    #[error("{url}: unavailable after {attempts} attempts, last: {last}")]
    Unavailable {
        /// The URL.
        url: String,
        /// How many tries were made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The log answered with a status that retrying will not change.
    #[error("{url}: {}", rejected(*status, body))]
    Rejected {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, on one line.
        body: String,
    },
    /// The request could not be made at all (bad URL, TLS setup, …).
    #[error("{url}: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with a success status, but not with what was
    /// asked for (a timestamp reply that does not parse, is not granted,
    /// or answers another request).
    #[error("{url}: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The entry was logged (409) but could not be read back from the tiles.
    #[error("{url}: entry {index} already logged, but reading it back failed: {reason}")]
    Recovery {
        /// The URL that failed, or the read URL.
        url: String,
        /// The entry's index (`x-log-index`).
        index: u64,
        /// What failed.
        reason: String,
    },
}

fn rejected(status: u16, body: &str) -> String {
    match status {
        405 => format!(
            "HTTP 405: the log (shard) is frozen and takes no new entries; switch to the current log URL ({body})"
        ),
        _ => format!("HTTP {status}, not retried: {body}"),
    }
}

/// The start of `body` on one line, for error messages.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut q: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    q = q.trim().to_string();
    if q.chars().count() > QUOTE {
        q = q.chars().take(QUOTE).collect::<String>() + "…";
    }
    if q.is_empty() { "(empty body)".to_string() } else { q }
}

/// A Rekor log at a base URL (e.g. `https://log2025-1.rekor.sigstore.dev`).
#[derive(Clone)]
pub struct Client {
    base: String,
    read: String,
    policy: Policy,
    agent: ureq::Agent,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("read", &self.read)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Whether a status is worth another try: rate limiting and server trouble.
fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Whether a transport failure may go away: connection and timeout trouble,
/// not a bad URL or a TLS certificate.
fn transient(e: &ureq::Error) -> bool {
    use ureq::Error as E;
    matches!(e, E::Io(_) | E::Timeout(_) | E::HostNotFound | E::ConnectionFailed | E::Protocol(_))
}

impl Client {
    /// A client for the log at `base_url`; its tiles are read from
    /// `<base_url>/api/v2` unless [`Client::with_read_url`] says otherwise.
    pub fn new(base_url: &str, policy: Policy) -> Client {
        let base = base_url.trim_end_matches('/').to_string();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Client { read: format!("{base}/api/v2"), base, policy, agent }
    }

    /// Reads the log's checkpoint and tiles (C2SP tlog-tiles) from `url`.
    pub fn with_read_url(mut self, url: &str) -> Client {
        self.read = url.trim_end_matches('/').to_string();
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The tile read URL.
    pub fn read_url(&self) -> &str {
        &self.read
    }

    /// Posts `body` as JSON to `path` under the base URL. Connection errors,
    /// timeouts, 429 and 5xx are retried with backoff; any other status is
    /// returned.
    pub fn post_json(&self, path: &str, body: &[u8]) -> Result<Response, Error> {
        self.with_retries(&format!("{}{path}", self.base), Some(body))
    }

    /// Posts `body` with content type `content_type` to `path` under the
    /// base URL (`""`: the base URL itself), retrying like
    /// [`Client::post_json`].
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Response, Error> {
        let url = format!("{}{path}", self.base);
        self.with_retries_as(&url, Some((content_type, body)))
    }

    /// Gets `path` under the base URL, retrying like [`Client::post_json`].
    pub fn get(&self, path: &str) -> Result<Response, Error> {
        self.with_retries(&format!("{}{path}", self.base), None)
    }

    fn with_retries(&self, url: &str, body: Option<&[u8]>) -> Result<Response, Error> {
        self.with_retries_as(url, body.map(|b| ("application/json", b)))
    }

    fn with_retries_as(&self, url: &str, body: Option<(&str, &[u8])>) -> Result<Response, Error> {
        let attempts = self.policy.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let mut wait = self.policy.wait(attempt);
            match self.once(url, body) {
                Ok(r) if retryable_status(r.status) => {
                    last = format!("HTTP {}: {}", r.status, quote(&r.body));
                    // The server's Retry-After, if longer, within max_backoff.
                    let asked = r.header("retry-after").and_then(|s| s.trim().parse().ok());
                    let asked = Duration::from_secs(asked.unwrap_or(0));
                    wait = wait.max(asked.min(self.policy.max_backoff));
                }
                Ok(r) => return Ok(r),
                Err(e) if transient(&e) => last = e.to_string(),
                Err(e) => return Err(Error::Request { url: url.into(), reason: e.to_string() }),
            }
            if attempt < attempts {
                thread::sleep(wait);
            }
        }
        Err(Error::Unavailable { url: url.into(), attempts, last })
    }

    fn once(&self, url: &str, body: Option<(&str, &[u8])>) -> Result<Response, ureq::Error> {
        let mut resp = match body {
            Some((content_type, b)) => {
                // JSON in, JSON out; a timestamp query wants a timestamp reply.
                let accept = match content_type {
                    "application/timestamp-query" => "application/timestamp-reply",
                    _ => "application/json",
                };
                self.agent.post(url).header("Accept", accept).content_type(content_type).send(b)?
            }
            None => self.agent.get(url).call()?,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let body = resp.body_mut().with_config().limit(MAX_BODY).read_to_vec()?;
        Ok(Response { status, headers, body })
    }

    /// Submits `req` to the Rekor v2 log (`POST /api/v2/log/entries`).
    ///
    /// 201 returns the answer as received. 409 means an earlier try (whose
    /// answer was lost) logged the entry already: the entry at `x-log-index`
    /// is read back from the log's tiles, checked to be ours, and returned
    /// as a `TransparencyLogEntry` rebuilt from the checkpoint, tiles and
    /// entry bundle, verified under `log` (which also gives its `logId`).
    /// Other statuses are [`Error::Rejected`]. The caller still runs
    /// [`v2::verify`] on the response.
    pub fn create_entry_v2(&self, req: &v2::Request, log: &LogKey) -> Result<v2::Created, Error> {
        let url = format!("{}{}", self.base, v2::ENTRIES_PATH);
        let resp = self.with_retries(&url, Some(&req.to_json()))?;
        match resp.status {
            200 | 201 => Ok(v2::Created { response: resp.body, recovered: false }),
            409 => {
                let index = resp.header("x-log-index").and_then(|s| s.trim().parse().ok());
                let Some(index) = index else {
                    let body = format!(
                        "duplicate entry without an x-log-index header: {}",
                        quote(&resp.body)
                    );
                    return Err(Error::Rejected { url, status: 409, body });
                };
                let response = self.recover(index, req, log)?;
                Ok(v2::Created { response, recovered: true })
            }
            status => Err(Error::Rejected { url, status, body: quote(&resp.body) }),
        }
    }

    /// Rebuilds the `TransparencyLogEntry` of entry `index` from the tiles.
    fn recover(&self, index: u64, req: &v2::Request, log: &LogKey) -> Result<Vec<u8>, Error> {
        let fail = |url: &str, reason: String| Error::Recovery { url: url.into(), index, reason };
        let cp_url = format!("{}/checkpoint", self.read);
        let envelope = self.read_ok(&cp_url).map_err(|e| e.into_recovery(index))?;
        let envelope = String::from_utf8(envelope)
            .map_err(|_| fail(&cp_url, "checkpoint is not UTF-8".into()))?;
        let verifier = log.verifier();
        let opened = note::open(envelope.as_bytes(), &[&verifier])
            .map_err(|e| fail(&cp_url, format!("checkpoint does not verify under {log}: {e}")))?;
        let cp = note::Checkpoint::parse(opened.text)
            .map_err(|e| fail(&cp_url, format!("checkpoint: {e}")))?;
        if cp.origin != log.origin() {
            return Err(fail(
                &cp_url,
                format!("checkpoint origin {:?} is not {:?}", cp.origin, log.origin()),
            ));
        }
        if index >= cp.size {
            let why = format!(
                "the published checkpoint (size {}) does not cover it yet; retry later",
                cp.size
            );
            return Err(fail(&cp_url, why));
        }
        let size = cp.size;
        let body = self.entry(index, size).map_err(|e| e.into_recovery(index))?;
        if body != req.entry_body() {
            return Err(fail(&self.read, "the log's entry there is not the entry we sent".into()));
        }
        let mut tiles = TileReader { client: self, size, entry: index, cache: HashMap::new() };
        let path = tlog::proof::prove_inclusion(size, index, &mut tiles).map_err(|e| match e {
            tlog::ProofError::Read(e) => e.into_recovery(index),
            e => fail(&self.read, format!("inclusion proof: {e}")),
        })?;
        let response = v2::entry_json(log, index, &body, (size, &cp.root, &path), &envelope);
        // The tiles must agree with the signed checkpoint.
        v2::verify_entry(&response, log)
            .map_err(|e| fail(&self.read, format!("rebuilt entry does not verify: {e}")))?;
        Ok(response)
    }

    /// Entry `index` of the tree of `size` from its entry bundle.
    fn entry(&self, index: u64, size: u64) -> Result<Vec<u8>, Error> {
        let n = index / TILE_WIDTH;
        let bundle = self.tile(Tile::entries(n, width(0, n, size)))?;
        let at = (index % TILE_WIDTH) as usize;
        let url = format!("{}/{}", self.read, Tile::entries(n, width(0, n, size)).path());
        match tlog::bundle::entries(&bundle).nth(at) {
            Some(Ok(e)) => Ok(e.to_vec()),
            _ => Err(Error::Recovery {
                url,
                index,
                reason: format!("entry bundle has no entry {at}"),
            }),
        }
    }

    /// A tile's data; a partial tile that is gone (the tile has filled up
    /// since) is read from the full tile.
    fn tile(&self, tile: Tile) -> Result<Vec<u8>, Error> {
        let url = format!("{}/{}", self.read, tile.path());
        match self.read_ok(&url) {
            Err(Error::Rejected { status: 404, .. }) if !tile.is_full() => self.tile(tile.full()),
            r => r,
        }
    }

    /// GETs `url`, wanting 200.
    fn read_ok(&self, url: &str) -> Result<Vec<u8>, Error> {
        let r = self.with_retries(url, None)?;
        if r.status != 200 {
            return Err(Error::Rejected {
                url: url.into(),
                status: r.status,
                body: quote(&r.body),
            });
        }
        Ok(r.body)
    }
}

impl Error {
    fn into_recovery(self, index: u64) -> Error {
        match self {
            Error::Recovery { .. } => self,
            Error::Unavailable { ref url, .. }
            | Error::Rejected { ref url, .. }
            | Error::Request { ref url, .. }
            | Error::Invalid { ref url, .. } => {
                let url = url.clone();
                let reason = self.to_string();
                let reason =
                    reason.strip_prefix(&format!("{url}: ")).unwrap_or(&reason).to_string();
                Error::Recovery { url, index, reason }
            }
        }
    }
}

/// The width of tile `n` at `level` in the tree of `size`: full, or the partial edge.
fn width(level: u8, n: u64, size: u64) -> u16 {
    let count = Tile::level_count(level, size);
    if n < count / TILE_WIDTH { TILE_WIDTH as u16 } else { (count % TILE_WIDTH) as u16 }
}

/// Subtree hashes read from the log's hash tiles.
struct TileReader<'a> {
    client: &'a Client,
    size: u64,
    /// The entry being proved, for error messages.
    entry: u64,
    cache: HashMap<(u8, u64), Vec<u8>>,
}

impl NodeReader for TileReader<'_> {
    type Error = Error;

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Error> {
        // Tile level L holds tree level 8L; a node between tile levels is the
        // subtree hash of 2^h hashes of the tile below it.
        let (tile_level, h) = (level / TILE_HEIGHT as u8, u32::from(level) % TILE_HEIGHT);
        let first = index << h;
        let (n, offset, count) = (first / TILE_WIDTH, (first % TILE_WIDTH) as usize, 1usize << h);
        let w = width(tile_level, n, self.size);
        let tile = Tile::hashes(tile_level, n, w);
        if !self.cache.contains_key(&(tile_level, n)) {
            let data = self.client.tile(tile)?;
            self.cache.insert((tile_level, n), data);
        }
        let data = &self.cache[&(tile_level, n)];
        let bytes = data.get(offset * HASH_SIZE..(offset + count) * HASH_SIZE);
        let url = || format!("{}/{}", self.client.read, tile.path());
        let bytes = bytes.ok_or_else(|| Error::Recovery {
            url: url(),
            index: self.entry,
            reason: format!(
                "hash tile has {} bytes, too short for node {level}/{index}",
                data.len()
            ),
        })?;
        Ok(tlog::tile::subtree_hash(bytes))
    }
}
