//! The service-fs ledger (L2): a tenant's write-once records in a C2SP
//! tlog-tiles log, signed C2SP checkpoints, proofs, and an audit sub-ledger
//! that records every read before it is served.
//!
//! - [`Ledger`]: the contract (`append`, `read_since`, `checkpoint`, proofs).
//! - [`Engine`]: the one implementation, over any L1 [`TileStore`].
//! - [`Log`]: a single tlog-tiles log with crash-safe commits.
//!
//! Plain `no_std` Rust without allocation: the same engine runs in the Linux
//! daemon and in a seL4 protection domain; only the store and the buffers
//! differ.
#![cfg_attr(not(test), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod api;
pub mod audit;
pub mod buffer;
pub mod cache;
pub mod engine;
pub mod error;
pub mod log;
pub mod store;

pub use api::{ConsistencyProof, InclusionProof, Ledger, Limit, ReadSummary};
pub use audit::{Caller, Clock, NoClock, Timestamp};
pub use buffer::Buffer;
pub use engine::{Buffers, Engine, Recovered, Tree};
pub use error::Error;
pub use log::{Log, LogBuffers};
pub use store::{Recovery, StoreError, TileStore};
