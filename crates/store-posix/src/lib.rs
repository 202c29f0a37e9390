//! The POSIX envelope's storage: an L1 [`TileStore`] over a directory laid
//! out exactly as C2SP tlog-tiles (servable as-is by a static web server),
//! and the ledger root directory that holds one directory per tenant.
//!
//! [`TileStore`]: ledger::TileStore

mod store;
pub mod tenant;

pub use store::{IoError, PosixStore};
pub use tenant::{HostEngine, Root, SystemClock, Tenant, TenantError};
