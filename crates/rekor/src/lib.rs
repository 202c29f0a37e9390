//! Sigstore Rekor client: hashedrekord requests and offline verification of
//! Rekor's answers.
//!
//! On this branch only the Rekor v1 part ([`v1`]) is real; [`standin`] holds
//! minimal stand-ins for the crate's shared types (the anchor key and the
//! HTTP client), replaced at merge by the real ones with the same names.

pub mod standin;
pub mod v1;

pub use standin::{AnchorKey, Client, Error, Policy, Response};
