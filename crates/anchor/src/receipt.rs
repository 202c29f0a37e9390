//! The receipt of one anchoring: one JSON object per entry of the anchor
//! sub-ledger, holding everything an auditor needs offline to follow
//! record → tenant checkpoint → Rekor entry → Rekor's signed checkpoint.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tlog::Hash;

/// This format's version, the receipt's `v`.
pub const VERSION: u32 = 1;

/// One anchoring of a tenant checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// The month anchored, `YYYY-MM` (UTC).
    pub month: String,
    /// When the emitter wrote it (Unix seconds, its own clock: informative;
    /// the evidence of time is in [`Receipt::time`]).
    pub emitted_at: u64,
    /// The tenant's signed checkpoint exactly as anchored (the artifact
    /// whose SHA-512 Rekor logged), with any witness cosignatures.
    pub checkpoint: String,
    /// Its tree size.
    pub size: u64,
    /// Its root hash (base64).
    pub root: String,
    /// The checkpoint anchored before this one and the proof that this
    /// one extends it; `None` for the first anchor.
    pub previous: Option<Previous>,
    /// The Rekor entry.
    pub rekor: RekorEntry,
    /// Evidence of when the checkpoint existed.
    pub time: Time,
}

/// The previous anchor, as this one's consistency proof starts from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// Its tree size.
    pub size: u64,
    /// Its root hash (base64).
    pub root: String,
    /// RFC 6962 consistency proof from it to this checkpoint (base64 hashes).
    pub consistency: Vec<String>,
}

/// Which Rekor API logged the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// rekor-tiles (`/api/v2/log/entries`): inclusion proof and a C2SP
    /// checkpoint, no time.
    V2,
    /// The original Rekor (`/api/v1/log/entries`): also a signed entry
    /// timestamp.
    V1,
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Api::V2 => "v2",
            Api::V1 => "v1",
        })
    }
}

/// What Rekor answered, kept byte for byte so that it verifies later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorEntry {
    /// The API.
    pub api: Api,
    /// The log's base URL.
    pub url: String,
    /// The log's identity: v2 its origin, v1 its log ID (hex).
    pub log: String,
    /// The request body as sent.
    pub request: String,
    /// The response body as received (for a retry that found the entry
    /// already logged, one rebuilt from the log's tiles or entry API).
    pub response: String,
    /// Whether `response` was recovered that way.
    pub recovered: bool,
    /// The entry's index in the log.
    pub log_index: u64,
    /// The size of Rekor's checkpoint that includes it.
    pub tree_size: u64,
}

/// Evidence of time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    /// The tenant's witnesses' cosignatures on the anchored checkpoint, with
    /// the time each states (C2SP tlog-cosignature): it existed by then.
    pub witnesses: Vec<WitnessTime>,
    /// Rekor v1's integrated time (Unix seconds), signed in its entry
    /// timestamp. Rekor v2 states none.
    pub rekor_integrated_time: Option<u64>,
    /// An RFC 3161 timestamp authority's token over the anchored checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rfc3161: Option<Rfc3161>,
}

/// An RFC 3161 timestamp of the anchored checkpoint's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfc3161 {
    /// The timestamp authority's URL.
    pub url: String,
    /// The TimeStampToken (CMS SignedData, DER, base64).
    pub token: String,
    /// Its genTime (Unix seconds), as verified when it was kept.
    pub time: u64,
}

/// One witness's cosigned time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessTime {
    /// The witness's cosignature verifier key.
    pub key: String,
    /// The time it cosigned (Unix seconds).
    pub time: u64,
}

impl Receipt {
    /// The JSON bytes stored as an anchor ledger entry.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let bytes = serde_json::to_vec(self).context("encoding the receipt")?;
        if bytes.len() > tlog::bundle::MAX_ENTRY_SIZE {
            bail!(
                "the receipt is {} bytes, more than a ledger entry holds ({}): Rekor's answer is too large",
                bytes.len(),
                tlog::bundle::MAX_ENTRY_SIZE
            );
        }
        Ok(bytes)
    }

    /// Parses an anchor ledger entry.
    pub fn decode(entry: &[u8]) -> Result<Receipt> {
        let r: Receipt = serde_json::from_slice(entry).context("not an anchor receipt")?;
        if r.v != VERSION {
            bail!("anchor receipt version {} (this tool reads {VERSION})", r.v);
        }
        Ok(r)
    }

    /// The root hash.
    pub fn root_hash(&self) -> Result<Hash> {
        parse_hash(&self.root)
    }
}

/// A base64 hash.
pub fn parse_hash(s: &str) -> Result<Hash> {
    Hash::from_base64(s).with_context(|| format!("{s:?} is not a base64 SHA-256 hash"))
}

/// A hash in base64.
pub fn hash_b64(h: &Hash) -> String {
    let mut buf = [0u8; tlog::hash::HASH_BASE64_LEN];
    h.to_base64(&mut buf).to_owned()
}
