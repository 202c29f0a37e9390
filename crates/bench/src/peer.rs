//! The Rust peer: `tlog_tiles` (Cloudflare's port of Go's
//! `golang.org/x/mod/sumdb/tlog`), appending records as `x/mod` does:
//! `stored_hashes` for each record against every hash stored so far, kept
//! in memory, as the Go baseline's `StoredHashes` does.

use std::time::Instant;

use tlog_tiles::tlog::{self, Hash, HashReader};

/// Every stored hash, by stored hash index.
#[derive(Default)]
struct Memory(Vec<Hash>);

impl HashReader for Memory {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|&i| self.0.get(usize::try_from(i).ok()?).copied())
            .collect::<Option<_>>()
            .ok_or(tlog::Error::IndexesNotInTree)
    }
}

/// Nanoseconds per record for appending `recs` with
/// `tlog_tiles::tlog::stored_hashes` into memory.
pub fn stored_hashes(recs: &[Vec<u8>]) -> f64 {
    let mut m = Memory::default();
    let start = Instant::now();
    for (n, r) in recs.iter().enumerate() {
        let new =
            tlog::stored_hashes(n as u64, r, &m).unwrap_or_else(|e| panic!("tlog_tiles: {e}"));
        m.0.extend(new);
    }
    start.elapsed().as_nanos() as f64 / recs.len().max(1) as f64
}
