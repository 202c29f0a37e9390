//! The POSIX envelope's storage: an L1 [`TileStore`] over a directory laid
//! out exactly as C2SP tlog-tiles (servable as-is by a static web server),
//! with its commit intent and spare partial tiles beside it. The ledger
//! root that holds one directory per tenant (keys, locks, a record and an
//! audit store each) is the `tenant` crate's.
//!
//! [`TileStore`]: ledger::TileStore

mod spare;
mod store;

pub use store::{
    IoError, PosixStore, create_fresh, install_checkpoint, observe_syncs, read_intent,
    write_durably, write_idle_intent,
};

/// Mode of the files service-fs creates (before the umask, which can only
/// make it stricter): no one but the owner and its group reads a ledger,
/// and only the owner writes it. The signing key is 0600.
pub const FILE_MODE: u32 = 0o640;
/// Mode of the directories service-fs creates.
pub const DIR_MODE: u32 = 0o750;

/// Creates directories at [`DIR_MODE`] (`recursive`: with missing parents).
pub fn dir_builder(recursive: bool) -> std::fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut b = std::fs::DirBuilder::new();
    b.recursive(recursive).mode(DIR_MODE);
    b
}
