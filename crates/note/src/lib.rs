//! [C2SP signed notes] with Ed25519 keys, and [C2SP tlog-checkpoint] bodies.
//!
//! Signing and verifying need no allocation: notes are written into and
//! parsed from caller-provided buffers, so this runs in a `no_std` ledger
//! protection domain as well as in host tools.
//!
//! - [`Signer`] / [`Verifier`]: keys, with the standard encodings
//!   (`PRIVATE+KEY+name+id+base64` and `name+id+base64`).
//! - [`sign`] / [`open`]: signed notes with one or many signatures; unknown
//!   signatures are ignored, a bad signature by a known key rejects the note.
//! - [`Checkpoint`]: the origin / size / root hash body of a log checkpoint.
//! - [`Cosigner`] / [`CosignatureVerifier`] / [`cosigned_at`]: C2SP
//!   tlog-cosignature v1, a witness's timestamped cosignature of a checkpoint.
//!
//! [C2SP signed notes]: https://c2sp.org/signed-note
//! [C2SP tlog-checkpoint]: https://c2sp.org/tlog-checkpoint
#![no_std]

mod checkpoint;
mod cosignature;
mod key;
mod signed;

pub use checkpoint::{Checkpoint, CheckpointError, MAX_CHECKPOINT_TEXT};
pub use cosignature::{ALG_COSIGNATURE_V1, CosignatureVerifier, Cosigner, cosigned_at};
pub use key::{ALG_ED25519, KeyError, MAX_NAME_LEN, Name, Signer, Verifier, key_id, valid_name};
pub use signed::{MAX_SIGNATURES, NoteError, Opened, open, sign};
