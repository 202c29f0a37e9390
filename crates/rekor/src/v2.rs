//! Rekor v2 (rekor-tiles): hashedrekord v0.0.2 requests, and offline
//! verification of the `TransparencyLogEntry` a log returns.
//!
//! A request carries `SHA-512(artifact)`, an Ed25519ph signature over it and
//! the anchor key as DER SPKI. The log stores the entry's RFC 8785 (JCS)
//! canonical JSON (`canonicalizedBody`) as an RFC 6962 leaf and answers with
//! an inclusion proof and its signed C2SP checkpoint, which is everything
//! needed to check the entry later without the log.

use std::fmt;

use base64ct::{Base64, Encoding};
use serde::Deserialize;
use serde_json::{Value, json};
use tlog::Hash;

use crate::json::{b64, canonical, u64_lenient, vec_lenient};
use crate::keys::{AnchorKey, LogKey, ed25519_from_spki, sha512, spki_from_pem, verify_ph};

/// The path entries are posted to, under the log's base URL.
pub const ENTRIES_PATH: &str = "/api/v2/log/entries";
/// The entry kind.
pub const KIND: &str = "hashedrekord";
/// The entry version.
pub const API_VERSION: &str = "0.0.2";
/// The signature algorithm: Ed25519ph over SHA-512.
pub const KEY_DETAILS: &str = "PKIX_ED25519_PH";
/// The digest algorithm `PKIX_ED25519_PH` implies.
pub const ALGORITHM: &str = "SHA2_512";

/// A hashedrekord v0.0.2 entry to submit (`CreateEntryRequest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// SHA-512 of the artifact.
    pub digest: [u8; 64],
    /// Ed25519ph signature over the artifact.
    pub signature: [u8; 64],
    /// The anchor key as a DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

/// The request that logs `artifact`, signed by `key`.
pub fn request(artifact: &[u8], key: &AnchorKey) -> Request {
    Request { digest: sha512(artifact), signature: key.sign_ph(artifact), spki: key.spki_der() }
}

impl Request {
    /// The `CreateEntryRequest` JSON to post (protojson: camelCase names,
    /// bytes as standard base64 with padding).
    pub fn to_json(&self) -> Vec<u8> {
        let v = json!({
            "hashedRekordRequestV002": {
                "digest": Base64::encode_string(&self.digest),
                "signature": {
                    "content": Base64::encode_string(&self.signature),
                    "verifier": {
                        "publicKey": { "rawBytes": Base64::encode_string(&self.spki) },
                        "keyDetails": KEY_DETAILS,
                    },
                },
            },
        });
        v.to_string().into_bytes()
    }

    /// The entry the log stores for this request: the JCS canonical JSON
    /// that is the response's `canonicalizedBody` and the Merkle leaf.
    pub fn entry_body(&self) -> Vec<u8> {
        let v = json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "spec": { "hashedRekordV002": {
                "data": { "algorithm": ALGORITHM, "digest": Base64::encode_string(&self.digest) },
                "signature": {
                    "content": Base64::encode_string(&self.signature),
                    "verifier": {
                        "keyDetails": KEY_DETAILS,
                        "publicKey": { "rawBytes": Base64::encode_string(&self.spki) },
                    },
                },
            }},
        });
        // Only strings and objects: always canonicalizable.
        canonical(&v).unwrap_or_default()
    }

    /// The RFC 6962 leaf hash of [`Request::entry_body`].
    pub fn leaf_hash(&self) -> Hash {
        tlog::leaf_hash(&self.entry_body())
    }
}

/// What a verified response says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The entry's index in the log.
    pub log_index: u64,
    /// The size of the tree the proof and checkpoint are for.
    pub tree_size: u64,
    /// That tree's root hash.
    pub root: Hash,
    /// The entry's leaf hash, SHA-256(0x00 || canonicalizedBody).
    pub leaf: Hash,
    /// The log's signed checkpoint (the note envelope, as received).
    pub checkpoint: String,
}

/// An entry the log has accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The `TransparencyLogEntry` JSON: the body of the 201 as received, or
    /// one rebuilt from the log's tiles when `recovered`.
    pub response: Vec<u8>,
    /// The entry had been logged already (409 after a lost answer) and was
    /// read back from the log's tiles.
    pub recovered: bool,
}

/// Why a response does not prove that the log holds our entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a `TransparencyLogEntry` JSON object.
    #[error("response is not TransparencyLogEntry JSON: {0}")]
    Json(String),
    /// A required field is absent or null.
    #[error("response has no {0}")]
    Missing(&'static str),
    /// A field does not decode (bad base64, wrong length, …).
    #[error("response field {field} is malformed: {why}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// `kindVersion` is not hashedrekord 0.0.2.
    #[error("entry is {kind:?} {version:?}, not hashedrekord 0.0.2")]
    KindVersion {
        /// The kind it names.
        kind: String,
        /// The version it names.
        version: String,
    },
    /// `logId.keyId` is not the configured log key's hash.
    #[error("logId {got:?} is not the configured log key's ID {want}")]
    LogId {
        /// The response's log ID (base64).
        got: String,
        /// The configured key's (base64).
        want: String,
    },
    /// The checkpoint is not signed by the log key (or is not a signed note).
    #[error("checkpoint does not verify under the log key {key}: {why}")]
    CheckpointSignature {
        /// The log's verifier key.
        key: String,
        /// What failed.
        why: note::NoteError,
    },
    /// The signed checkpoint's text is not a checkpoint.
    #[error("checkpoint text is malformed: {0}")]
    CheckpointBody(note::CheckpointError),
    /// The checkpoint is for another log.
    #[error("checkpoint origin {got:?} is not the log's origin {want:?}")]
    CheckpointOrigin {
        /// The checkpoint's origin line.
        got: String,
        /// The configured origin.
        want: String,
    },
    /// The proof is for a tree size other than the checkpoint's.
    #[error("inclusion proof is for tree size {proof}, the checkpoint for {checkpoint}")]
    TreeSize {
        /// `inclusionProof.treeSize`.
        proof: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// The proof's root hash is not the checkpoint's.
    #[error("inclusion proof root {proof} is not the checkpoint's root {checkpoint}")]
    RootHash {
        /// `inclusionProof.rootHash`.
        proof: Hash,
        /// The checkpoint's root.
        checkpoint: Hash,
    },
    /// The entry's index and the proof's index differ.
    #[error("entry log index {entry} differs from the inclusion proof's {proof}")]
    LogIndex {
        /// `logIndex`.
        entry: u64,
        /// `inclusionProof.logIndex`.
        proof: u64,
    },
    /// The index is not in the checkpoint's tree.
    #[error("log index {index} is beyond the checkpoint's tree of size {size}")]
    IndexBeyondTree {
        /// The entry's index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The audit path does not lead from the body's leaf to the root.
    #[error("inclusion proof of entry {index} does not lead to the checkpoint's root")]
    InclusionProof {
        /// The entry's index.
        index: u64,
    },
    /// The body is not JSON.
    #[error("canonicalizedBody is not JSON: {0}")]
    BodyJson(String),
    /// The body is JSON but not in RFC 8785 canonical form.
    #[error("canonicalizedBody is not RFC 8785 canonical JSON")]
    BodyNotCanonical,
    /// The body is not a hashedrekord 0.0.2 entry.
    #[error("body is {kind:?} {api_version:?}, not hashedrekord 0.0.2")]
    BodyKind {
        /// Its `kind`.
        kind: String,
        /// Its `apiVersion`.
        api_version: String,
    },
    /// A field we sent is not in the body.
    #[error("body has no {0}")]
    BodyMissing(&'static str),
    /// The body's digest algorithm is not SHA-512.
    #[error("body digest algorithm is {0:?}, not SHA2_512")]
    BodyAlgorithm(String),
    /// The body's digest is not SHA-512 of the artifact.
    #[error("body digest is not SHA-512 of the artifact")]
    BodyDigest,
    /// The body's signature algorithm is not Ed25519ph.
    #[error("body key details are {0:?}, not PKIX_ED25519_PH")]
    BodyKeyDetails(String),
    /// The body's verifier is not the anchor key.
    #[error("body's verifier is not the anchor public key")]
    BodyKey,
    /// The body's signature is not the anchor key's over the artifact.
    #[error("body's signature is not an Ed25519ph signature of the artifact by the anchor key")]
    BodySignature,
    /// The body has the right fields but is not exactly the entry we sent.
    #[error("body is not exactly the entry we sent (extra or changed fields)")]
    BodyDiffers,
    /// The anchor key given to [`verify`] is not an Ed25519 SPKI.
    #[error("anchor key is not an Ed25519 SubjectPublicKeyInfo (DER or PEM)")]
    AnchorKey,
}

// The TransparencyLogEntry, read leniently: unknown fields are ignored,
// int64 may be a string or a number, messages may be null, proto3 defaults
// (0, empty) may be omitted, snake_case names are accepted as protojson does.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tle {
    #[serde(default, deserialize_with = "u64_lenient", alias = "log_index")]
    log_index: Option<u64>,
    #[serde(default, alias = "log_id")]
    log_id: Option<LogId>,
    #[serde(default, alias = "kind_version")]
    kind_version: Option<KindVersion>,
    #[serde(default, alias = "inclusion_proof")]
    inclusion_proof: Option<InclusionProof>,
    #[serde(default, alias = "canonicalized_body")]
    canonicalized_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    #[serde(default, alias = "key_id")]
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct KindVersion {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProof {
    #[serde(default, deserialize_with = "u64_lenient", alias = "log_index")]
    log_index: Option<u64>,
    #[serde(default, alias = "root_hash")]
    root_hash: Option<String>,
    #[serde(default, deserialize_with = "u64_lenient", alias = "tree_size")]
    tree_size: Option<u64>,
    #[serde(default, deserialize_with = "vec_lenient")]
    hashes: Vec<String>,
    #[serde(default)]
    checkpoint: Option<CheckpointMsg>,
}

#[derive(Deserialize)]
struct CheckpointMsg {
    #[serde(default)]
    envelope: Option<String>,
}

fn malformed(field: &'static str, why: impl fmt::Display) -> VerifyError {
    VerifyError::Malformed { field, why: why.to_string() }
}

fn hash_field(field: &'static str, s: &str) -> Result<Hash, VerifyError> {
    let raw = b64(s).ok_or_else(|| malformed(field, "not base64"))?;
    Hash::from_slice(&raw).ok_or_else(|| malformed(field, format!("{} bytes, not 32", raw.len())))
}

/// Checks the log's side of `response` (a `TransparencyLogEntry` JSON):
/// `logId` is `log`'s key ID; the checkpoint is signed by `log`, with its
/// origin; the inclusion proof of SHA-256(0x00 || canonicalizedBody) at
/// `logIndex` leads to the checkpoint's root at the checkpoint's size; the
/// body is RFC 8785 canonical JSON. It does not look at what the body
/// says: [`verify`] does.
pub fn verify_entry(response: &[u8], log: &LogKey) -> Result<Verified, VerifyError> {
    verify_log_side(response, log).map(|(v, _)| v)
}

/// [`verify_entry`], returning the body as well.
fn verify_log_side(response: &[u8], log: &LogKey) -> Result<(Verified, Vec<u8>), VerifyError> {
    let tle: Tle =
        serde_json::from_slice(response).map_err(|e| VerifyError::Json(e.to_string()))?;
    if let Some(kv) = &tle.kind_version {
        let (kind, version) = (kv.kind.clone().unwrap_or_default(), kv.version.clone());
        let version = version.unwrap_or_default();
        if kind != KIND || version != API_VERSION {
            return Err(VerifyError::KindVersion { kind, version });
        }
    }
    check_log_id(&tle, log)?;
    let proof = tle.inclusion_proof.as_ref().ok_or(VerifyError::Missing("inclusionProof"))?;
    let (checkpoint, size, root) = check_checkpoint(proof, log)?;
    let proof_size = proof.tree_size.unwrap_or(0);
    if proof_size != size {
        return Err(VerifyError::TreeSize { proof: proof_size, checkpoint: size });
    }
    let proof_root =
        hash_field("inclusionProof.rootHash", proof.root_hash.as_deref().unwrap_or(""))?;
    if proof_root != root {
        return Err(VerifyError::RootHash { proof: proof_root, checkpoint: root });
    }
    // proto3 omits zero: an absent index is entry 0.
    let (index, proof_index) = (tle.log_index.unwrap_or(0), proof.log_index.unwrap_or(0));
    if index != proof_index {
        return Err(VerifyError::LogIndex { entry: index, proof: proof_index });
    }
    if index >= size {
        return Err(VerifyError::IndexBeyondTree { index, size });
    }
    let body = tle.canonicalized_body.as_deref().filter(|b| !b.is_empty());
    let body = body.ok_or(VerifyError::Missing("canonicalizedBody"))?;
    let body = b64(body).ok_or_else(|| malformed("canonicalizedBody", "not base64"))?;
    let leaf = tlog::leaf_hash(&body);
    if proof.hashes.len() > tlog::MAX_PROOF_LEN {
        return Err(malformed("inclusionProof.hashes", "more than 64 hashes"));
    }
    let path: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| hash_field("inclusionProof.hashes", h))
        .collect::<Result<_, _>>()?;
    tlog::proof::verify_inclusion(&path, size, &root, index, &leaf)
        .map_err(|_| VerifyError::InclusionProof { index })?;
    check_canonical(&body)?;
    Ok((Verified { log_index: index, tree_size: size, root, leaf, checkpoint }, body))
}

fn check_log_id(tle: &Tle, log: &LogKey) -> Result<(), VerifyError> {
    let id = tle.log_id.as_ref().and_then(|l| l.key_id.as_deref()).filter(|s| !s.is_empty());
    let id = id.ok_or(VerifyError::Missing("logId.keyId"))?;
    let raw = b64(id).ok_or_else(|| malformed("logId.keyId", "not base64"))?;
    if raw != log.key_id() {
        let want = Base64::encode_string(&log.key_id());
        return Err(VerifyError::LogId { got: id.to_string(), want });
    }
    Ok(())
}

/// Opens the checkpoint with the log key: (envelope, size, root).
fn check_checkpoint(
    proof: &InclusionProof,
    log: &LogKey,
) -> Result<(String, u64, Hash), VerifyError> {
    let envelope = proof.checkpoint.as_ref().and_then(|c| c.envelope.as_deref());
    let envelope = envelope.filter(|e| !e.is_empty());
    let envelope = envelope.ok_or(VerifyError::Missing("inclusionProof.checkpoint.envelope"))?;
    let verifier = log.verifier();
    let opened = note::open(envelope.as_bytes(), &[&verifier])
        .map_err(|why| VerifyError::CheckpointSignature { key: log.to_string(), why })?;
    let cp = note::Checkpoint::parse(opened.text).map_err(VerifyError::CheckpointBody)?;
    if cp.origin != log.origin() {
        let (got, want) = (cp.origin.to_string(), log.origin().to_string());
        return Err(VerifyError::CheckpointOrigin { got, want });
    }
    Ok((envelope.to_string(), cp.size, cp.root))
}

fn check_canonical(body: &[u8]) -> Result<Value, VerifyError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| VerifyError::BodyJson(e.to_string()))?;
    if canonical(&v).as_deref() != Some(body) {
        return Err(VerifyError::BodyNotCanonical);
    }
    Ok(v)
}

// The canonicalized body of a hashedrekord v0.0.2 entry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    spec: Option<Spec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    hashed_rekord_v002: Option<HashedRekord>,
}

#[derive(Deserialize)]
struct HashedRekord {
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    signature: Option<BodySignature>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    digest: String,
}

#[derive(Deserialize)]
struct BodySignature {
    #[serde(default)]
    content: String,
    #[serde(default)]
    verifier: Option<BodyVerifier>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BodyVerifier {
    #[serde(default)]
    public_key: Option<RawBytes>,
    #[serde(default)]
    key_details: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    #[serde(default)]
    raw_bytes: String,
}

/// Checks `response` like [`verify_entry`], and that its body is exactly the
/// entry [`request`] made for `artifact` with the anchor key whose DER (or
/// PEM) SPKI is `anchor_spki`: hashedrekord 0.0.2, SHA2_512 digest of
/// `artifact`, `PKIX_ED25519_PH`, our key, and a signature by it over
/// `artifact`.
pub fn verify(
    response: &[u8],
    artifact: &[u8],
    anchor_spki: &[u8],
    log: &LogKey,
) -> Result<Verified, VerifyError> {
    let spki = anchor_der(anchor_spki)?;
    let key = ed25519_from_spki(&spki).ok_or(VerifyError::AnchorKey)?;
    let (verified, body) = verify_log_side(response, log)?;
    let sent = check_body(&body, artifact, &spki, &key)?;
    // Field by field it is ours; byte for byte it must be too.
    if sent.entry_body() != body {
        return Err(VerifyError::BodyDiffers);
    }
    Ok(verified)
}

fn anchor_der(anchor_spki: &[u8]) -> Result<Vec<u8>, VerifyError> {
    match std::str::from_utf8(anchor_spki) {
        Ok(pem) if pem.trim_start().starts_with("-----BEGIN") => {
            spki_from_pem(pem).map_err(|_| VerifyError::AnchorKey)
        }
        _ => Ok(anchor_spki.to_vec()),
    }
}

/// Checks what the body says, returning the request it records.
fn check_body(
    body: &[u8],
    artifact: &[u8],
    spki: &[u8],
    key: &[u8; 32],
) -> Result<Request, VerifyError> {
    let b: Body = serde_json::from_slice(body).map_err(|e| VerifyError::BodyJson(e.to_string()))?;
    if b.kind != KIND || b.api_version != API_VERSION {
        return Err(VerifyError::BodyKind { kind: b.kind, api_version: b.api_version });
    }
    let spec = b.spec.and_then(|s| s.hashed_rekord_v002);
    let spec = spec.ok_or(VerifyError::BodyMissing("spec.hashedRekordV002"))?;
    let data = spec.data.ok_or(VerifyError::BodyMissing("spec.hashedRekordV002.data"))?;
    if data.algorithm != ALGORITHM {
        return Err(VerifyError::BodyAlgorithm(data.algorithm));
    }
    let digest = sha512(artifact);
    if b64(&data.digest).as_deref() != Some(&digest[..]) {
        return Err(VerifyError::BodyDigest);
    }
    let sig = spec.signature.ok_or(VerifyError::BodyMissing("spec.hashedRekordV002.signature"))?;
    let verifier = sig.verifier.ok_or(VerifyError::BodyMissing("signature.verifier"))?;
    if verifier.key_details != KEY_DETAILS {
        return Err(VerifyError::BodyKeyDetails(verifier.key_details));
    }
    let public_key = verifier.public_key.and_then(|k| b64(&k.raw_bytes));
    if public_key.as_deref() != Some(spki) {
        return Err(VerifyError::BodyKey);
    }
    let signature = b64(&sig.content).and_then(|s| <[u8; 64]>::try_from(s).ok());
    let signature = signature.filter(|s| verify_ph(key, artifact, s));
    let signature = signature.ok_or(VerifyError::BodySignature)?;
    Ok(Request { digest, signature, spki: spki.to_vec() })
}

/// A `TransparencyLogEntry` JSON for entry `index` with `body`, proved by
/// `path` in the tree of `checkpoint` (size `size`, root `root`), shaped as
/// rekor-tiles writes it (int64 as strings, `integratedTime` 0, no promise).
pub(crate) fn entry_json(
    log: &LogKey,
    index: u64,
    body: &[u8],
    (size, root, path): (u64, &Hash, &[Hash]),
    checkpoint: &str,
) -> Vec<u8> {
    let hashes: Vec<String> = path.iter().map(|h| Base64::encode_string(&h.0)).collect();
    let v = json!({
        "logIndex": index.to_string(),
        "logId": { "keyId": Base64::encode_string(&log.key_id()) },
        "kindVersion": { "kind": KIND, "version": API_VERSION },
        "integratedTime": "0",
        "inclusionPromise": null,
        "inclusionProof": {
            "logIndex": index.to_string(),
            "rootHash": Base64::encode_string(&root.0),
            "treeSize": size.to_string(),
            "hashes": hashes,
            "checkpoint": { "envelope": checkpoint },
        },
        "canonicalizedBody": Base64::encode_string(body),
    });
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_json_shape() {
        let key = AnchorKey::from_seed([5; 32]);
        let req = request(b"checkpoint\n", &key);
        let v: Value = serde_json::from_slice(&req.to_json()).unwrap();
        let r = &v["hashedRekordRequestV002"];
        assert_eq!(r["digest"], Base64::encode_string(&sha512(b"checkpoint\n")));
        assert_eq!(r["signature"]["verifier"]["keyDetails"], "PKIX_ED25519_PH");
        assert_eq!(
            r["signature"]["verifier"]["publicKey"]["rawBytes"],
            Base64::encode_string(&key.spki_der())
        );
        let sig = b64(r["signature"]["content"].as_str().unwrap()).unwrap();
        assert!(verify_ph(&key.public_key(), b"checkpoint\n", &sig));
        assert_eq!(v.as_object().unwrap().len(), 1);
    }

    #[test]
    fn entry_body_is_canonical_and_checks() {
        let key = AnchorKey::from_seed([5; 32]);
        let req = request(b"a", &key);
        let body = req.entry_body();
        assert!(body.starts_with(br#"{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_512","digest":""#));
        check_canonical(&body).unwrap();
        let spki = key.spki_der();
        assert_eq!(check_body(&body, b"a", &spki, &key.public_key()).unwrap(), req);
        assert_eq!(check_body(&body, b"b", &spki, &key.public_key()), Err(VerifyError::BodyDigest));
    }
}
