//! Rekor v1 (the `rekor.sigstore.dev` API), where it differs from v2:
//! hashedrekord 0.0.1 requests (hex digest, PEM key), the answer as a map
//! from entry ID to entry, the signed entry timestamp (SET) over the entry's
//! RFC 8785 form, hex proof hashes at the shard's own index, and a
//! checkpoint signed with the log's ECDSA P-256 key under a key hash that is
//! not C2SP's.
//!
//! [`request`] builds what to post, [`create_entry`] posts it (and recovers
//! the entry when a retry finds it already logged), [`verify_entry`] checks
//! an answer against the log key alone and [`verify`] also checks that the
//! entry says exactly what we sent.

use std::fmt;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Digest as _, Sha512 as Sha512Ph};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use serde_json::{Map, Value, json};
use sha2::{Sha256, Sha512};
use tlog::Hash;

use crate::{AnchorKey, Client, Error, Response};

/// Where entries are posted, and fetched by UUID below it.
pub const ENTRIES_PATH: &str = "/api/v1/log/entries";

/// The entry kind and version this module writes and accepts.
pub const KIND: &str = "hashedrekord";
/// See [`KIND`].
pub const API_VERSION: &str = "0.0.1";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410).
const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// A Rekor v1 log's public key: ECDSA P-256, as the public instances use.
#[derive(Clone, Debug)]
pub struct LogKey {
    key: VerifyingKey,
    der: Vec<u8>,
}

/// Why a log key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a PEM `PUBLIC KEY` document.
    #[error("Rekor v1 log key is not a PEM PUBLIC KEY document")]
    NotPem,
    /// The SubjectPublicKeyInfo is not of an ECDSA P-256 key.
    #[error("Rekor v1 log key is not an ECDSA P-256 SubjectPublicKeyInfo")]
    NotP256,
}

impl LogKey {
    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_der(der: &[u8]) -> Result<LogKey, KeyError> {
        let key = VerifyingKey::from_public_key_der(der).map_err(|_| KeyError::NotP256)?;
        // Rekor hashes Go's encoding (uncompressed point); ours is the same.
        let der = key.to_public_key_der().map_err(|_| KeyError::NotP256)?.into_vec();
        Ok(LogKey { key, der })
    }

    /// Reads a PEM `PUBLIC KEY` document (what `GET /api/v1/log/publicKey`
    /// returns).
    pub fn from_pem(pem: &str) -> Result<LogKey, KeyError> {
        LogKey::from_der(&pem_decode(pem).ok_or(KeyError::NotPem)?)
    }

    /// Reads either form: PEM when it has a `-----BEGIN` line, else DER.
    pub fn parse(bytes: &[u8]) -> Result<LogKey, KeyError> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => LogKey::from_pem(text),
            _ => LogKey::from_der(bytes),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.der
    }

    /// The log ID: SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn log_id(&self) -> [u8; 32] {
        <Sha256 as sha2::Digest>::digest(&self.der).into()
    }

    /// The 4-byte key hash on the log's checkpoint signature lines: the log
    /// ID's first bytes, for every key type (not C2SP's key ID rule).
    pub fn key_hash(&self) -> [u8; 4] {
        let id = self.log_id();
        [id[0], id[1], id[2], id[3]]
    }
}

/// A hashedrekord 0.0.1 entry to post: SHA-512 of the artifact, the anchor
/// key's Ed25519ph signature over it, and the key as PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    digest: [u8; 64],
    signature: [u8; 64],
    public_key_pem: String,
}

/// Builds the entry that anchors `artifact` with `key`.
pub fn request(artifact: &[u8], key: &AnchorKey) -> Request {
    Request {
        digest: <Sha512 as sha2::Digest>::digest(artifact).into(),
        signature: key.sign_ph(artifact),
        // PEM as Go writes it: the form Rekor re-encodes keys to before
        // logging, so the body it logs is our JSON byte for byte.
        public_key_pem: pem_encode(&key.spki_der()),
    }
}

impl Request {
    /// SHA-512 of the artifact.
    pub fn digest(&self) -> &[u8; 64] {
        &self.digest
    }

    /// The Ed25519ph signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The anchor key as a PEM `PUBLIC KEY` document.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The ProposedEntry JSON to post, in RFC 8785 form (so it is also the
    /// body Rekor logs).
    pub fn to_json(&self) -> Vec<u8> {
        let entry = json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "spec": {
                "data": { "hash": { "algorithm": "sha512", "value": hex(&self.digest) } },
                "signature": {
                    "content": Base64::encode_string(&self.signature),
                    "publicKey": { "content": Base64::encode_string(self.public_key_pem.as_bytes()) },
                },
            },
        });
        // Serializing a Value of strings and objects cannot fail.
        serde_json_canonicalizer::to_vec(&entry).unwrap_or_default()
    }

    /// The entry's UUID as Rekor will name it: the hex RFC 6962 leaf hash
    /// of the logged body.
    pub fn uuid(&self) -> String {
        hex(&tlog::leaf_hash(&self.to_json()).0)
    }
}

/// A posted entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// Rekor's answer as received: the `{entryID: entry}` map, for
    /// [`verify`].
    pub response: Vec<u8>,
    /// True when the post found the entry already logged (409, a retry
    /// after a lost answer) and the entry was fetched by its UUID instead.
    pub recovered: bool,
}

/// Posts `req` to `/api/v1/log/entries`. A 409 (already logged) fetches the
/// existing entry, by the `Location` header's UUID or else by
/// [`Request::uuid`]. Any other status than 201 is the client's
/// `Rejected` error. The answer is not verified here: see [`verify`].
pub fn create_entry(client: &Client, req: &Request) -> Result<Created, Error> {
    let resp = client.post_json(ENTRIES_PATH, &req.to_json())?;
    match resp.status {
        201 => Ok(Created { response: resp.body, recovered: false }),
        409 => {
            let uuid = location_uuid(&resp).unwrap_or_else(|| req.uuid());
            let path = format!("{ENTRIES_PATH}/{uuid}");
            let got = client.get(&path)?;
            if got.status != 200 {
                return Err(rejected(client, &path, got));
            }
            Ok(Created { response: got.body, recovered: true })
        }
        _ => Err(rejected(client, ENTRIES_PATH, resp)),
    }
}

/// The client's error for an unexpected status: the URL, the status and
/// the start of the body on one line.
fn rejected(client: &Client, path: &str, resp: Response) -> Error {
    let text = String::from_utf8_lossy(&resp.body);
    let body: String =
        text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
    Error::Rejected { url: format!("{}{path}", client.base_url()), status: resp.status, body }
}

/// The UUID (or entry ID) that ends a 409's `Location` header, if it has
/// one that looks like one: `/api/v1/log/entries/<uuid>`, possibly as a
/// full URL.
fn location_uuid(resp: &Response) -> Option<String> {
    let last = resp.header("location")?.trim().trim_end_matches('/').rsplit('/').next()?;
    let hexlike = last.bytes().all(|b| b.is_ascii_hexdigit());
    (hexlike && (last.len() == 64 || last.len() == 80)).then(|| last.to_string())
}

/// What a verified entry says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The entry's index in the log (Rekor's virtual index across shards).
    pub log_index: u64,
    /// The entry's index in its shard: what the inclusion proof is for.
    pub shard_log_index: u64,
    /// When the log integrated the entry (seconds since the epoch), as the
    /// signed entry timestamp promises.
    pub integrated_time: u64,
    /// The size of the shard's tree in the checkpoint.
    pub tree_size: u64,
    /// The checkpoint's root hash.
    pub root: Hash,
    /// The entry's leaf hash, SHA-256(0x00 || body).
    pub leaf: Hash,
    /// The entry ID: the shard's tree ID (16 hex digits, when present) and
    /// the UUID (hex leaf hash).
    pub entry_id: String,
    /// The signed checkpoint note, as received.
    pub checkpoint: String,
}

/// Why a Rekor v1 answer did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The answer is not JSON.
    NotJson(String),
    /// The answer is not an object holding exactly one entry.
    NotOneEntry,
    /// A field is absent.
    Missing(&'static str),
    /// A field has the wrong type or encoding.
    Malformed(&'static str),
    /// The entry is from another log.
    LogId {
        /// The entry's `logID`.
        got: String,
        /// The configured log's ID.
        want: String,
    },
    /// The signed entry timestamp does not verify.
    SignedEntryTimestamp,
    /// The entry ID is not the shard's tree ID and the body's leaf hash.
    EntryId(String),
    /// The checkpoint is not a signed note with a checkpoint body.
    CheckpointFormat(String),
    /// The checkpoint origin is not `<host> - <treeID>`.
    CheckpointOrigin(String),
    /// No signature line of the checkpoint is by the log key.
    CheckpointUnsigned,
    /// The log key's checkpoint signature does not verify.
    CheckpointSignature,
    /// The proof's tree size is not the checkpoint's.
    TreeSize {
        /// `inclusionProof.treeSize`.
        proof: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// The proof's root hash is not the checkpoint's.
    RootHash,
    /// The inclusion proof does not lead from the entry to the root.
    InclusionProof,
    /// The body is not a hashedrekord 0.0.1 entry.
    Body(String),
    /// The body's hash algorithm is not sha512.
    HashAlgorithm(String),
    /// The body's digest is not SHA-512 of the artifact.
    Digest,
    /// The body's public key is not the anchor key.
    PublicKey,
    /// The body's signature is not the anchor key's Ed25519ph signature of
    /// the artifact.
    Signature,
    /// The anchor key given is not an Ed25519 SubjectPublicKeyInfo.
    AnchorKey,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use VerifyError::*;
        match self {
            NotJson(e) => write!(f, "Rekor v1 answer is not JSON: {e}"),
            NotOneEntry => f.write_str("Rekor v1 answer is not an object with exactly one entry"),
            Missing(field) => write!(f, "Rekor v1 entry has no {field}"),
            Malformed(field) => write!(f, "Rekor v1 entry's {field} is malformed"),
            LogId { got, want } => {
                write!(f, "Rekor v1 entry is from log {got:?}, not the configured log {want}")
            }
            SignedEntryTimestamp => {
                f.write_str("Rekor v1 signed entry timestamp does not verify under the log key")
            }
            EntryId(id) => {
                write!(f, "Rekor v1 entry ID {id:?} is not the tree ID and leaf hash of the entry")
            }
            CheckpointFormat(e) => write!(f, "Rekor v1 checkpoint is malformed: {e}"),
            CheckpointOrigin(o) => {
                write!(f, "Rekor v1 checkpoint origin {o:?} is not \"<host> - <tree ID>\"")
            }
            CheckpointUnsigned => {
                f.write_str("Rekor v1 checkpoint has no signature by the log key under its host name")
            }
            CheckpointSignature => {
                f.write_str("Rekor v1 checkpoint signature does not verify under the log key")
            }
            TreeSize { proof, checkpoint } => write!(
                f,
                "Rekor v1 inclusion proof is for tree size {proof}, the checkpoint's is {checkpoint}"
            ),
            RootHash => f.write_str("Rekor v1 inclusion proof's root hash is not the checkpoint's"),
            InclusionProof => f.write_str(
                "Rekor v1 inclusion proof does not lead from the entry to the checkpoint's root",
            ),
            Body(e) => write!(f, "Rekor v1 entry body is not a hashedrekord 0.0.1 entry: {e}"),
            HashAlgorithm(a) => write!(f, "Rekor v1 entry hashes with {a:?}, not sha512"),
            Digest => f.write_str("Rekor v1 entry's digest is not SHA-512 of the artifact"),
            PublicKey => f.write_str("Rekor v1 entry's public key is not the anchor key"),
            Signature => f.write_str(
                "Rekor v1 entry's signature is not the anchor key's Ed25519ph signature of the artifact",
            ),
            AnchorKey => f.write_str("anchor key is not a PEM or DER Ed25519 SubjectPublicKeyInfo"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Verifies a Rekor v1 answer (`{entryID: entry}`, from a post or a get)
/// against the log key alone: the entry's log ID, its signed entry
/// timestamp, its entry ID, the checkpoint's signature and the inclusion
/// proof of its body under that checkpoint. Says nothing about what the
/// body holds: [`verify`] does.
pub fn verify_entry(response: &[u8], log: &LogKey) -> Result<Verified, VerifyError> {
    verify_parts(response, log).map(|(v, _)| v)
}

/// [`verify_entry`], and the body is exactly what [`request`] makes for
/// `artifact`: hashedrekord 0.0.1, sha512 of `artifact`, the anchor key
/// (`anchor_spki`, PEM or DER) and its Ed25519ph signature of `artifact`.
pub fn verify(
    response: &[u8],
    artifact: &[u8],
    anchor_spki: &[u8],
    log: &LogKey,
) -> Result<Verified, VerifyError> {
    let anchor = anchor_der(anchor_spki).ok_or(VerifyError::AnchorKey)?;
    let (verified, body) = verify_parts(response, log)?;
    check_body(&body, artifact, &anchor)?;
    Ok(verified)
}

/// Verifies everything but the body's content; returns the body too.
fn verify_parts(response: &[u8], log: &LogKey) -> Result<(Verified, Vec<u8>), VerifyError> {
    let value: Value =
        serde_json::from_slice(response).map_err(|e| VerifyError::NotJson(e.to_string()))?;
    let (entry_id, entry) = match value.as_object() {
        Some(map) if map.len() == 1 => map.iter().next().ok_or(VerifyError::NotOneEntry)?,
        _ => return Err(VerifyError::NotOneEntry),
    };
    let entry = entry.as_object().ok_or(VerifyError::NotOneEntry)?;
    let fields = Fields::read(entry)?;

    let want = log.log_id();
    if decode_hex(fields.log_id) != Some(want.to_vec()) {
        return Err(VerifyError::LogId { got: fields.log_id.to_string(), want: hex(&want) });
    }
    check_set(&fields, log)?;

    let body = Base64::decode_vec(fields.body).map_err(|_| VerifyError::Malformed("body"))?;
    let leaf = tlog::leaf_hash(&body);
    let cp = open_checkpoint(fields.checkpoint, log)?;
    check_entry_id(entry_id, cp.tree_id, &leaf)?;
    check_proof(&fields, &cp, &leaf)?;

    let verified = Verified {
        log_index: fields.log_index,
        shard_log_index: fields.proof_index,
        integrated_time: fields.integrated_time,
        tree_size: cp.size,
        root: cp.root,
        leaf,
        entry_id: entry_id.clone(),
        checkpoint: fields.checkpoint.to_string(),
    };
    Ok((verified, body))
}

/// The fields of one entry (`LogEntryAnon`).
struct Fields<'a> {
    body: &'a str,
    integrated_time: u64,
    log_id: &'a str,
    log_index: u64,
    set: &'a str,
    checkpoint: &'a str,
    hashes: &'a [Value],
    proof_index: u64,
    root_hash: &'a str,
    tree_size: u64,
}

impl<'a> Fields<'a> {
    fn read(entry: &'a Map<String, Value>) -> Result<Fields<'a>, VerifyError> {
        let verification = object(entry, "verification", "verification")?;
        let proof = object(verification, "inclusionProof", "verification.inclusionProof")?;
        Ok(Fields {
            body: string(entry, "body", "body")?,
            integrated_time: integer(entry, "integratedTime", "integratedTime")?,
            log_id: string(entry, "logID", "logID")?,
            log_index: integer(entry, "logIndex", "logIndex")?,
            set: string(verification, "signedEntryTimestamp", "signedEntryTimestamp")?,
            checkpoint: string(proof, "checkpoint", "inclusionProof.checkpoint")?,
            hashes: field(proof, "hashes", "inclusionProof.hashes")?
                .as_array()
                .ok_or(VerifyError::Malformed("inclusionProof.hashes"))?,
            proof_index: integer(proof, "logIndex", "inclusionProof.logIndex")?,
            root_hash: string(proof, "rootHash", "inclusionProof.rootHash")?,
            tree_size: integer(proof, "treeSize", "inclusionProof.treeSize")?,
        })
    }
}

fn field<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    name: &'static str,
) -> Result<&'a Value, VerifyError> {
    map.get(key).filter(|v| !v.is_null()).ok_or(VerifyError::Missing(name))
}

fn object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    name: &'static str,
) -> Result<&'a Map<String, Value>, VerifyError> {
    field(map, key, name)?.as_object().ok_or(VerifyError::Malformed(name))
}

fn string<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    name: &'static str,
) -> Result<&'a str, VerifyError> {
    field(map, key, name)?.as_str().ok_or(VerifyError::Malformed(name))
}

fn integer(map: &Map<String, Value>, key: &str, name: &'static str) -> Result<u64, VerifyError> {
    field(map, key, name)?.as_u64().ok_or(VerifyError::Malformed(name))
}

/// The SET: the log's signature over the RFC 8785 form of
/// `{body, integratedTime, logID, logIndex}`.
fn check_set(fields: &Fields, log: &LogKey) -> Result<(), VerifyError> {
    let payload = json!({
        "body": fields.body,
        "integratedTime": fields.integrated_time,
        "logID": fields.log_id,
        "logIndex": fields.log_index,
    });
    let payload = serde_json_canonicalizer::to_vec(&payload)
        .map_err(|_| VerifyError::Malformed("signedEntryTimestamp payload"))?;
    let der = Base64::decode_vec(fields.set)
        .map_err(|_| VerifyError::Malformed("signedEntryTimestamp"))?;
    let sig = Signature::from_der(&der).map_err(|_| VerifyError::SignedEntryTimestamp)?;
    log.key.verify(&payload, &sig).map_err(|_| VerifyError::SignedEntryTimestamp)
}

/// A verified v1 checkpoint.
struct Checkpoint {
    tree_id: u64,
    size: u64,
    root: Hash,
}

/// Opens the signed note `<host> - <treeID>\n<size>\n<root>\n[ext]\n\n—
/// <host> base64(keyhash4 || DER ECDSA signature)\n`, the signature over
/// SHA-256 of the text before the blank line.
fn open_checkpoint(note: &str, log: &LogKey) -> Result<Checkpoint, VerifyError> {
    let bad = |e: &str| VerifyError::CheckpointFormat(e.to_string());
    let split = note.find("\n\n").ok_or_else(|| bad("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let body = note::Checkpoint::parse(text).map_err(|e| bad(&e.to_string()))?;
    let (host, tree_id) = body
        .origin
        .rsplit_once(" - ")
        .and_then(|(host, id)| Some((host, decimal(id)?)))
        .filter(|(host, _)| !host.is_empty() && !host.contains(' '))
        .ok_or_else(|| VerifyError::CheckpointOrigin(body.origin.to_string()))?;
    let sigs = sigs.strip_suffix('\n').ok_or_else(|| bad("signatures do not end in a newline"))?;

    let mut signed = false;
    for line in sigs.split('\n') {
        let (name, b64) = line
            .strip_prefix("\u{2014} ")
            .and_then(|l| l.split_once(' '))
            .ok_or_else(|| bad("a signature line is not \"\u{2014} <name> <base64>\""))?;
        let sig = Base64::decode_vec(b64).map_err(|_| bad("a signature is not base64"))?;
        if name != host || sig.len() < 5 || sig[..4] != log.key_hash() {
            continue;
        }
        let sig = Signature::from_der(&sig[4..]).map_err(|_| VerifyError::CheckpointSignature)?;
        log.key.verify(text.as_bytes(), &sig).map_err(|_| VerifyError::CheckpointSignature)?;
        signed = true;
    }
    if !signed {
        return Err(VerifyError::CheckpointUnsigned);
    }
    Ok(Checkpoint { tree_id, size: body.size, root: body.root })
}

/// An entry ID is the UUID (hex leaf hash), since sharding prefixed with the
/// tree ID as 16 hex digits.
fn check_entry_id(entry_id: &str, tree_id: u64, leaf: &Hash) -> Result<(), VerifyError> {
    let uuid = hex(&leaf.0);
    let ok = match entry_id.len() {
        64 => entry_id.eq_ignore_ascii_case(&uuid),
        80 => entry_id.eq_ignore_ascii_case(&format!("{tree_id:016x}{uuid}")),
        _ => false,
    };
    if ok { Ok(()) } else { Err(VerifyError::EntryId(entry_id.to_string())) }
}

/// The proof (hex hashes, shard index) leads to the checkpoint's root.
fn check_proof(fields: &Fields, cp: &Checkpoint, leaf: &Hash) -> Result<(), VerifyError> {
    if fields.tree_size != cp.size {
        return Err(VerifyError::TreeSize { proof: fields.tree_size, checkpoint: cp.size });
    }
    let root =
        hex_hash(fields.root_hash).ok_or(VerifyError::Malformed("inclusionProof.rootHash"))?;
    if root != cp.root {
        return Err(VerifyError::RootHash);
    }
    let hashes = fields
        .hashes
        .iter()
        .map(|h| h.as_str().and_then(hex_hash))
        .collect::<Option<Vec<Hash>>>()
        .ok_or(VerifyError::Malformed("inclusionProof.hashes"))?;
    tlog::proof::verify_inclusion(&hashes, cp.size, &cp.root, fields.proof_index, leaf)
        .map_err(|_| VerifyError::InclusionProof)
}

/// The body is the hashedrekord 0.0.1 entry [`request`] makes for
/// `artifact` and the anchor key.
fn check_body(body: &[u8], artifact: &[u8], anchor: &[u8]) -> Result<(), VerifyError> {
    let bad = |e: &str| VerifyError::Body(e.to_string());
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
    if v["kind"] != KIND || v["apiVersion"] != API_VERSION {
        return Err(bad("kind or apiVersion is not hashedrekord 0.0.1"));
    }
    let hash = &v["spec"]["data"]["hash"];
    let algorithm = hash["algorithm"].as_str().ok_or_else(|| bad("no data.hash.algorithm"))?;
    if algorithm != "sha512" {
        return Err(VerifyError::HashAlgorithm(algorithm.to_string()));
    }
    let digest: [u8; 64] = <Sha512 as sha2::Digest>::digest(artifact).into();
    let value = hash["value"].as_str().ok_or_else(|| bad("no data.hash.value"))?;
    if decode_hex(value) != Some(digest.to_vec()) {
        return Err(VerifyError::Digest);
    }
    let sig = &v["spec"]["signature"];
    let pem = sig["publicKey"]["content"]
        .as_str()
        .and_then(|b| Base64::decode_vec(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("signature.publicKey.content is not base64 of text"))?;
    if pem_decode(&pem).as_deref() != Some(anchor) {
        return Err(VerifyError::PublicKey);
    }
    let content = sig["content"]
        .as_str()
        .and_then(|b| Base64::decode_vec(b).ok())
        .ok_or_else(|| bad("signature.content is not base64"))?;
    check_ed25519ph(anchor, artifact, &content)
}

/// `sig` is the Ed25519ph signature of `artifact` under the Ed25519 SPKI
/// `anchor` (what Rekor verifies for an Ed25519 key in hashedrekord).
fn check_ed25519ph(anchor: &[u8], artifact: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
    let raw: [u8; 32] =
        anchor[ED25519_SPKI_PREFIX.len()..].try_into().map_err(|_| VerifyError::AnchorKey)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| VerifyError::AnchorKey)?;
    let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| VerifyError::Signature)?;
    key.verify_prehashed(Sha512Ph::new().chain_update(artifact), None, &sig)
        .map_err(|_| VerifyError::Signature)
}

/// The anchor key's DER SPKI from PEM or DER; it must be Ed25519.
fn anchor_der(spki: &[u8]) -> Option<Vec<u8>> {
    let der = match std::str::from_utf8(spki) {
        Ok(text) if text.contains("-----BEGIN") => pem_decode(text)?,
        _ => spki.to_vec(),
    };
    (der.len() == 44 && der.starts_with(&ED25519_SPKI_PREFIX)).then_some(der)
}

/// A `PUBLIC KEY` PEM document as Go's `pem.EncodeToMemory` writes it:
/// 64-column base64 lines, a final newline.
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

/// The DER inside a `PUBLIC KEY` PEM document (surrounding whitespace and
/// indented lines allowed).
fn pem_decode(pem: &str) -> Option<Vec<u8>> {
    let mut lines = pem.lines().map(str::trim).skip_while(|l| l.is_empty());
    if lines.next()? != "-----BEGIN PUBLIC KEY-----" {
        return None;
    }
    let mut b64 = String::new();
    for line in lines.by_ref() {
        if line == "-----END PUBLIC KEY-----" {
            return Base64::decode_vec(&b64).ok();
        }
        b64.push_str(line);
    }
    None
}

/// A canonical decimal (no sign, no leading zeros).
fn decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse().ok().filter(|_| canonical)
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex of either case.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

fn hex_hash(s: &str) -> Option<Hash> {
    Hash::from_slice(&decode_hex(s)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_location(value: &str) -> Response {
        Response { status: 409, headers: vec![("location".into(), value.into())], body: vec![] }
    }

    #[test]
    fn location_uuid_from_path_url_or_nothing() {
        let uuid = "ab".repeat(32);
        let id = format!("{:016x}{uuid}", 42);
        let path = format!("/api/v1/log/entries/{uuid}");
        assert_eq!(location_uuid(&with_location(&path)), Some(uuid.clone()));
        let url = format!("https://rekor.example/api/v1/log/entries/{id}/");
        assert_eq!(location_uuid(&with_location(&url)), Some(id));
        assert_eq!(location_uuid(&with_location("/api/v1/log/entries/xyz")), None);
        let none = Response { status: 409, headers: vec![], body: vec![] };
        assert_eq!(location_uuid(&none), None);
    }

    #[test]
    fn pem_round_trip_and_hex() {
        let der: Vec<u8> = (0..91).collect();
        let pem = pem_encode(&der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_decode(&pem), Some(der));
        assert_eq!(decode_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("+a"), None);
        assert_eq!(decimal("007"), None);
        assert_eq!(decimal("0"), Some(0));
    }
}
