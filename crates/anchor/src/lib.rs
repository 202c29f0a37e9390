//! L4 anchoring: each tenant's signed checkpoint, once a month, in a public
//! Sigstore Rekor log, so that anyone can check years later, offline, that
//! the ledger existed as signed and has only grown since.
//!
//! - [`emit::anchor`]: one tenant's latest checkpoint into Rekor (the
//!   `rekor` crate's client, which checks every answer) and the receipt
//!   into its anchor sub-ledger ([`ledger::AnchorLedger`]).
//! - [`chain::verify`]: the offline check of the whole chain.
//! - [`receipt::Receipt`]: what one anchoring keeps.
//!
//! Rekor logs only `hashedrekord` entries with a prehashed signature, so
//! the tenant's key signs SHA-512 of the exact checkpoint bytes with
//! Ed25519ph (RFC 8032): Rekor's entry names the tenant's own public key,
//! and such signatures can never pass as the key's checkpoint signatures
//! (Ed25519ph signs under a domain prefix that pure Ed25519 does not).

pub mod chain;
pub mod emit;
pub mod ledger;
pub mod month;
pub mod receipt;
pub mod rekor_log;
pub mod tiles;

pub use emit::{Job, Outcome, anchor};
pub use ledger::AnchorLedger;
pub use month::Month;
pub use receipt::Receipt;
pub use rekor_log::{RekorKey, RekorLog, Tsa};
