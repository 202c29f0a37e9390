//! STAND-IN, deleted at merge: the minimal shape of the crate's shared
//! types that [`crate::v1`] uses (`AnchorKey`, `Client`, `Response`,
//! `Error`), per the issue-13 contract. The real ones live on the
//! `rekor-v2` branch.

use std::time::Duration;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Digest, Sha512, SigningKey};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// The anchoring key: Ed25519, used as Ed25519ph.
pub struct AnchorKey {
    key: SigningKey,
}

impl AnchorKey {
    /// The key of a 32-byte Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> AnchorKey {
        AnchorKey { key: SigningKey::from_bytes(&seed) }
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as a 44-byte DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        [&ED25519_SPKI_PREFIX[..], &self.public_key()].concat()
    }

    /// The public key as a PEM `PUBLIC KEY` document.
    pub fn spki_pem(&self) -> String {
        let b64 = Base64::encode_string(&self.spki_der());
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    /// RFC 8032 Ed25519ph (empty context) over SHA-512(artifact).
    pub fn sign_ph(&self, artifact: &[u8]) -> [u8; 64] {
        let prehash = Sha512::new().chain_update(artifact);
        // Only fails for a context longer than 255 bytes; there is none.
        self.key.sign_prehashed(prehash, None).map(|s| s.to_bytes()).unwrap_or([0; 64])
    }
}

/// Retry policy of [`Client`].
#[derive(Clone, Debug)]
pub struct Policy {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts before giving up.
    pub attempts: u32,
    /// First wait between attempts, doubling.
    pub backoff: Duration,
    /// Longest wait between attempts.
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

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a request to Rekor failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Rekor answered with a status the caller does not accept.
    #[error("Rekor at {url} answered {status}: {body}")]
    Rejected {
        /// The URL asked.
        url: String,
        /// Status code.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// No usable answer after all attempts.
    #[error("Rekor at {url} unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// The URL asked.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// A blocking Rekor HTTP client with retries.
pub struct Client {
    base: String,
    policy: Policy,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the Rekor at `base_url`.
    pub fn new(base_url: &str, policy: Policy) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Client { base: base_url.trim_end_matches('/').to_string(), policy, agent }
    }

    /// The log's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Posts JSON to `path`, retrying transient failures.
    pub fn post_json(&self, path: &str, body: &[u8]) -> Result<Response, Error> {
        self.with_retries(path, |url| {
            self.agent.post(url).content_type("application/json").send(body)
        })
    }

    /// Gets `path`, retrying transient failures.
    pub fn get(&self, path: &str) -> Result<Response, Error> {
        self.with_retries(path, |url| self.agent.get(url).call())
    }

    fn with_retries(
        &self,
        path: &str,
        send: impl Fn(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, Error> {
        let url = format!("{}{path}", self.base);
        let mut wait = self.policy.backoff;
        let mut last = String::new();
        for attempt in 1..=self.policy.attempts.max(1) {
            if attempt > 1 {
                std::thread::sleep(wait);
                wait = (wait * 2).min(self.policy.max_backoff);
            }
            match send(&url) {
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    let headers = r
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let body = match r.body_mut().read_to_vec() {
                        Ok(b) => b,
                        Err(e) => {
                            last = format!("reading the answer: {e}");
                            continue;
                        }
                    };
                    if matches!(status, 429 | 500 | 502 | 503 | 504) {
                        last = format!("status {status}");
                        continue;
                    }
                    return Ok(Response { status, headers, body });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::Unavailable { url, attempts: self.policy.attempts.max(1), last })
    }
}
