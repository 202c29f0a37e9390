//! The service-fs ABI between protection domains. `docs/abi.md` is the
//! specification (enough to write a client in C); this crate is its Rust form.
//!
//! Every call is a Microkit protected procedure call: a label, up to
//! [`MAX_MRS`] message registers, and bulk data in a memory region shared by
//! exactly the two PDs of the channel. The reply's label is a status code.
//!
//! - [`client`]: client PDs → `wire` (the only door).
//! - [`ledger`]: `wire` → `ledger_<tenant>` (the caller's identity, from wire).
//! - [`psdb`]: `ledger_<tenant>` → `psdb` (the tile store).
//! - [`blk`]: `psdb` ↔ the block driver (queues, not calls).
#![no_std]

pub mod blk;
pub mod client;
pub mod ledger;
pub mod psdb;
pub mod records;

/// The ABI version `STATUS` reports.
pub const VERSION: u64 = 1;

pub use platform::{MAX_MRS, Msg};
