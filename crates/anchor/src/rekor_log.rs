//! The Rekor logs an anchor goes to, over the `rekor` crate: submitting a
//! checkpoint and checking what Rekor answered, now or years later.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use base64ct::Encoding;
use note::{Signer, Verifier};

use crate::receipt::{Api, RekorEntry};

/// A Rekor log's public key, which names the log.
#[derive(Clone, Debug)]
pub enum RekorKey {
    /// A rekor-tiles (v2) log: its origin and Ed25519 checkpoint key.
    V2(rekor::LogKey),
    /// A Rekor v1 log: its ECDSA P-256 key.
    V1(rekor::v1::LogKey),
}

impl RekorKey {
    /// Parses a key as given on a command line: a C2SP verifier key
    /// (`origin+hexid+base64`, a v2 log), or a PEM public key (a v1 log);
    /// either inline or in a file.
    pub fn parse(arg: &str) -> Result<RekorKey> {
        let text = if Path::new(arg).is_file() {
            fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?
        } else {
            arg.to_owned()
        };
        let text = text.trim();
        if text.contains("-----BEGIN") {
            let key = rekor::v1::LogKey::from_pem(text)
                .map_err(|e| anyhow!("{arg}: not a Rekor v1 (ECDSA P-256) public key: {e}"))?;
            return Ok(RekorKey::V1(key));
        }
        let key = rekor::LogKey::parse(text).map_err(|e| {
            anyhow!("{arg}: not a Rekor key (a v2 log's origin+hexid+base64 key, or a v1 log's PEM): {e}")
        })?;
        Ok(RekorKey::V2(key))
    }

    /// The API the log speaks.
    pub fn api(&self) -> Api {
        match self {
            RekorKey::V2(_) => Api::V2,
            RekorKey::V1(_) => Api::V1,
        }
    }

    /// The log's identity as a receipt names it: v2 its origin, v1 its log
    /// ID in hex.
    pub fn log_name(&self) -> String {
        match self {
            RekorKey::V2(k) => k.origin().to_owned(),
            RekorKey::V1(k) => hex(&k.log_id()),
        }
    }
}

/// What a Rekor entry proves, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The entry's index.
    pub log_index: u64,
    /// The size of Rekor's signed checkpoint that includes it.
    pub tree_size: u64,
    /// Rekor v1's signed integrated time.
    pub integrated_time: Option<u64>,
}

/// An RFC 3161 timestamp authority: where to ask, and the certificates
/// its tokens must chain to.
pub struct Tsa {
    /// Its timestamp URL (e.g. `https://timestamp.sigstore.dev/api/v1/timestamp`).
    pub url: String,
    /// Its trust anchors.
    pub authority: rekor::tsa::Authority,
    /// Timeouts and retries.
    pub policy: rekor::Policy,
}

impl Tsa {
    /// A token over `message`, verified; and its time.
    pub fn stamp(&self, message: &[u8]) -> Result<crate::receipt::Rfc3161> {
        let token = rekor::tsa::timestamp(&self.url, &rekor::tsa::request(message), &self.policy)?;
        let v = rekor::tsa::verify(&token, message, &self.authority)
            .map_err(|e| anyhow!("{}: the timestamp does not verify: {e}", self.url))?;
        Ok(crate::receipt::Rfc3161 {
            url: self.url.clone(),
            token: base64ct::Base64::encode_string(&token),
            time: v.time,
        })
    }
}

/// Checks a kept timestamp against the authority: it verifies over
/// `message` and states the time the receipt says.
pub fn check_timestamp(
    t: &crate::receipt::Rfc3161,
    message: &[u8],
    authority: &rekor::tsa::Authority,
) -> Result<u64> {
    let token = base64ct::Base64::decode_vec(&t.token)
        .map_err(|_| anyhow!("its RFC 3161 token is not base64"))?;
    let v = rekor::tsa::verify(&token, message, authority)
        .map_err(|e| anyhow!("its RFC 3161 timestamp does not verify: {e}"))?;
    if v.time != t.time {
        bail!("its RFC 3161 token says {}, the receipt {}", v.time, t.time);
    }
    Ok(v.time)
}

/// A Rekor log to submit to.
pub struct RekorLog {
    url: String,
    key: RekorKey,
    client: rekor::Client,
}

impl RekorLog {
    /// The log at `url` with key `key`, retrying as `policy` says.
    pub fn new(url: &str, key: RekorKey, policy: rekor::Policy) -> RekorLog {
        RekorLog {
            url: url.trim_end_matches('/').into(),
            client: rekor::Client::new(url, policy),
            key,
        }
    }

    /// The log's key.
    pub fn key(&self) -> &RekorKey {
        &self.key
    }

    /// Submits `artifact` (a signed checkpoint) signed with Ed25519ph by the
    /// tenant's key, and checks the answer before returning it.
    pub fn submit(&self, artifact: &[u8], tenant: &Signer) -> Result<(RekorEntry, Checked)> {
        let key = rekor::AnchorKey::from_seed(*tenant.seed());
        let (request, response, recovered) = match &self.key {
            RekorKey::V2(log) => {
                let req = rekor::v2::request(artifact, &key);
                let created = self.client.create_entry_v2(&req, log)?;
                (req.to_json(), created.response, created.recovered)
            }
            RekorKey::V1(_) => {
                let req = rekor::v1::request(artifact, &key);
                let created = rekor::v1::create_entry(&self.client, &req)?;
                (req.to_json(), created.response, created.recovered)
            }
        };
        let text = |b: Vec<u8>, what| {
            String::from_utf8(b).map_err(|_| anyhow!("{}: the {what} is not UTF-8", self.url))
        };
        let mut entry = RekorEntry {
            api: self.key.api(),
            url: self.url.clone(),
            log: self.key.log_name(),
            request: text(request, "request")?,
            response: text(response, "answer")?,
            recovered,
            log_index: 0,
            tree_size: 0,
        };
        let checked = check(&entry, artifact, &tenant.verifier(), &self.key)
            .with_context(|| format!("{}: Rekor's answer does not verify", self.url))?;
        entry.log_index = checked.log_index;
        entry.tree_size = checked.tree_size;
        Ok((entry, checked))
    }
}

/// Checks a Rekor entry offline: the response verifies under the log's key
/// (inclusion proof, Rekor's signed checkpoint, v1's entry timestamp), and
/// logs exactly `artifact` signed by the tenant's key.
pub fn check(
    entry: &RekorEntry,
    artifact: &[u8],
    tenant: &Verifier,
    key: &RekorKey,
) -> Result<Checked> {
    if entry.api != key.api() {
        bail!("the entry is in a Rekor {} log but the key given is for {}", entry.api, key.api());
    }
    let spki = ed25519_spki(tenant.public_key());
    let response = entry.response.as_bytes();
    match key {
        RekorKey::V2(log) => {
            let v = rekor::v2::verify(response, artifact, &spki, log)?;
            Ok(Checked { log_index: v.log_index, tree_size: v.tree_size, integrated_time: None })
        }
        RekorKey::V1(log) => {
            let v = rekor::v1::verify(response, artifact, &spki, log)?;
            Ok(Checked {
                log_index: v.log_index,
                tree_size: v.tree_size,
                integrated_time: Some(v.integrated_time),
            })
        }
    }
}

/// The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410).
pub fn ed25519_spki(key: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    der.extend_from_slice(key);
    der
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
