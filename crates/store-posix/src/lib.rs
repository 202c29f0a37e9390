//! The POSIX envelope's storage: an L1 [`TileStore`] over a directory laid
//! out exactly as C2SP tlog-tiles (servable as-is by a static web server),
//! and the ledger root directory that holds one directory per tenant.
//!
//! [`TileStore`]: ledger::TileStore

mod spare;
mod store;
pub mod tenant;

pub use store::{
    IoError, PosixStore, create_fresh, install_checkpoint, observe_syncs, read_intent,
    write_durably,
};
pub use tenant::{HostEngine, Root, SystemClock, Tenant, TenantError};

/// Mode of the files service-fs creates (before the umask, which can only
/// make it stricter): no one but the owner and its group reads a ledger,
/// and only the owner writes it. The signing key is 0600.
pub const FILE_MODE: u32 = 0o640;
/// Mode of the directories service-fs creates.
pub const DIR_MODE: u32 = 0o750;

/// Creates directories at [`DIR_MODE`] (`recursive`: with missing parents).
fn dir_builder(recursive: bool) -> std::fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut b = std::fs::DirBuilder::new();
    b.recursive(recursive).mode(DIR_MODE);
    b
}
