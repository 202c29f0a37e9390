//! A client for [Sigstore Rekor], for anchoring: it puts a digest of an
//! artifact (here: a tenant's signed checkpoint) into Rekor and checks
//! Rekor's answer offline.
//!
//! - [`AnchorKey`]: the deployment's own Ed25519 key that signs entries.
//!   Rekor's `hashedrekord` entries carry a digest and a signature over
//!   that digest, and Rekor **rejects pure Ed25519** for them (it signs the
//!   whole message, not a digest); so entries are signed with **Ed25519ph**
//!   (RFC 8032 §5.1, Rekor's `PKIX_ED25519_PH`) over SHA-512 of the artifact.
//!   A tenant's checkpoint signature (pure Ed25519, C2SP signed note) cannot
//!   be uploaded as it is.
//! - [`LogKey`]: a Rekor v2 log's Ed25519 checkpoint key and origin.
//! - [`v2`]: Rekor v2 (rekor-tiles): the `POST /api/v2/log/entries` request
//!   (hashedrekord v0.0.2) and verification of the `TransparencyLogEntry` it
//!   returns: the canonicalized body says exactly what was sent, its RFC 6962
//!   leaf is included in the tree of the log's signed C2SP checkpoint, and
//!   the log ID is the configured key's. Rekor v2 gives no timestamp.
//! - [`v1`]: the original Rekor (`POST /api/v1/log/entries`, hashedrekord
//!   v0.0.1), where it differs: PEM keys, hex hashes, ECDSA P-256 log keys
//!   and checkpoints, and the signed entry timestamp (SET) over the RFC 8785
//!   canonical entry, which v1 adds and v2 does not have.
//! - [`tsa`]: RFC 3161 timestamps over the checkpoint, the time evidence
//!   Rekor v2 does not give: the `TimeStampReq`, the query to a timestamp
//!   authority (Sigstore's `/api/v1/timestamp`), and offline verification
//!   of the token (CMS signature, certificate chain to the authority's
//!   anchors, extended key usage, validity at `genTime`).
//! - [`Client`]: blocking HTTP with timeouts and bounded retries
//!   ([`Policy`]); [`Client::create_entry_v2`] also recovers an entry that
//!   was logged by an attempt whose answer was lost (409) from the log's
//!   C2SP tlog-tiles.
//!
//! This is not the `sigstore` crate: that one speaks only Rekor v1, is
//! async, and pulls in about 212 crates (including a C build of AWS-LC);
//! Rekor v2 needs only a few small JSON messages, and the Merkle tree and
//! signed-note code is this workspace's own `tlog` and `note`.
//!
//! [Sigstore Rekor]: https://github.com/sigstore/rekor-tiles

mod client;
mod json;
mod keys;
pub mod tsa;
pub mod v1;
pub mod v2;

pub use client::{Client, Error, Policy, Response};
pub use keys::{
    AnchorKey, ED25519_SPKI_PREFIX, KeyError, LogKey, ed25519_from_spki, ed25519_spki, sha512,
    spki_from_pem, spki_to_pem, verify_ph,
};

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}
