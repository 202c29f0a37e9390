//! `ledger_<tenant>` → `psdb`: the L1 tile store. The namespace of a request
//! is the channel it arrives on; nothing in a request names another.
//!
//! Tile coordinates travel in MR0..MR2 (see [`encode_tile`]); object bytes in
//! the ledger–psdb buffer from offset 0.

use ledger::store::StoreError;
use tlog::{Tile, TileKind};

/// Request labels.
pub mod label {
    /// Read an object. MR0..2 = tile. Reply MR0 = length; bytes in the buffer.
    pub const GET: u64 = 1;
    /// Store an object (write-once). MR0..2 = tile, MR3 = length; bytes in the buffer.
    pub const PUT: u64 = 2;
    /// Read the checkpoint. Reply MR0 = length; bytes in the buffer.
    pub const GET_CHECKPOINT: u64 = 4;
    /// Replace the checkpoint. The buffer holds the expected checkpoint
    /// (MR0 bytes, 0 when none is expected) followed by the new one (MR1
    /// bytes). Every object put before it is made durable first: a commit
    /// is its puts and this one call. (Label 3, a separate sync, is retired.)
    pub const REPLACE_CHECKPOINT: u64 = 5;
    /// Recover to the tree of MR0 entries. Reply MR0 = objects removed,
    /// MR1 = largest tree size a removed object belonged to.
    pub const RECOVER: u64 = 6;
}

/// `MR0` value for entry bundles (hash tiles use their level, 0..=63).
pub const ENTRIES: u64 = 0xFF;

/// Reply status codes.
pub mod status {
    /// Done.
    pub const OK: u64 = 0;
    /// No such object (or no checkpoint).
    pub const NOT_FOUND: u64 = 1;
    /// A different object exists under that name.
    pub const CONFLICT: u64 = 2;
    /// The stored checkpoint is not the expected one.
    pub const CHECKPOINT_CHANGED: u64 = 3;
    /// The new checkpoint is not for a larger tree. MR0 = stored size, MR1 = offered.
    pub const NOT_LARGER: u64 = 4;
    /// A checkpoint without a readable tree size.
    pub const BAD_CHECKPOINT: u64 = 5;
    /// Out of storage.
    pub const FULL: u64 = 6;
    /// The object does not fit the buffer. MR0 = its size.
    pub const TOO_SMALL: u64 = 7;
    /// Objects but no checkpoint.
    pub const NO_CHECKPOINT: u64 = 8;
    /// Malformed request: unknown label, bad tile, length beyond the buffer.
    pub const BAD_REQUEST: u64 = 9;
    /// The stored object failed its checksum: not served. MR0 = the disk
    /// offset of the damaged record (0 if unknown).
    pub const CORRUPT: u64 = 10;
    /// The namespace does not serve: it holds data but no readable
    /// checkpoint, the disk cannot be used, or a device error stopped it
    /// (psdb's console says which).
    pub const UNAVAILABLE: u64 = 11;
}

/// The status and registers (MR0, MR1) psdb replies for a store error
/// whatever its backend; `None` for a backend's own failure, which psdb
/// words itself. The one mapping of errors to statuses; [`error_of`] is
/// its inverse.
pub fn status_of<E>(e: &StoreError<E>) -> Option<(u64, [u64; 2])> {
    Some(match *e {
        StoreError::Conflict => (status::CONFLICT, [0; 2]),
        StoreError::CheckpointChanged => (status::CHECKPOINT_CHANGED, [0; 2]),
        StoreError::NotLarger { stored, offered } => (status::NOT_LARGER, [stored, offered]),
        StoreError::BadCheckpoint => (status::BAD_CHECKPOINT, [0; 2]),
        StoreError::Full => (status::FULL, [0; 2]),
        StoreError::TooSmall { needed } => (status::TOO_SMALL, [needed as u64, 0]),
        StoreError::NoCheckpoint => (status::NO_CHECKPOINT, [0; 2]),
        StoreError::Corrupt => (status::CORRUPT, [0; 2]),
        StoreError::Unexplained { .. } => (status::UNAVAILABLE, [0; 2]),
        StoreError::Backend(_) => return None,
    })
}

/// The store error a reply's status and registers stand for; `None` for
/// `OK` and for statuses that are no store error of their own
/// (`NOT_FOUND`, `BAD_REQUEST`, `UNAVAILABLE`, unknown ones), which the
/// caller words for its backend.
pub fn error_of<E>(status: u64, mrs: [u64; 2]) -> Option<StoreError<E>> {
    Some(match status {
        status::CONFLICT => StoreError::Conflict,
        status::CHECKPOINT_CHANGED => StoreError::CheckpointChanged,
        status::NOT_LARGER => StoreError::NotLarger { stored: mrs[0], offered: mrs[1] },
        status::BAD_CHECKPOINT => StoreError::BadCheckpoint,
        status::FULL => StoreError::Full,
        status::TOO_SMALL => StoreError::TooSmall { needed: usize::try_from(mrs[0]).ok()? },
        status::NO_CHECKPOINT => StoreError::NoCheckpoint,
        status::CORRUPT => StoreError::Corrupt,
        _ => return None,
    })
}

/// The registers naming `tile`.
pub fn encode_tile(tile: &Tile) -> [u64; 3] {
    let kind = match tile.kind {
        TileKind::Hashes { level } => u64::from(level),
        TileKind::Entries => ENTRIES,
    };
    [kind, tile.index, u64::from(tile.width)]
}

/// The tile named by registers; `None` for anything that is not one.
pub fn decode_tile(mrs: [u64; 3]) -> Option<Tile> {
    let kind = match mrs[0] {
        ENTRIES => TileKind::Entries,
        level @ 0..=63 => TileKind::Hashes { level: level as u8 },
        _ => return None,
    };
    let width = u16::try_from(mrs[2]).ok().filter(|w| (1..=256).contains(w))?;
    // Every such tile has a path: any index, level ≤ 63, width 1..=256.
    Some(Tile { kind, index: mrs[1], width })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_round_trip_and_junk_is_refused() {
        for t in [Tile::entries(5, 256), Tile::hashes(3, 1234, 17), Tile::hashes(0, u64::MAX, 1)] {
            assert_eq!(decode_tile(encode_tile(&t)), Some(t));
        }
        assert_eq!(decode_tile([64, 0, 1]), None);
        assert_eq!(decode_tile([0, 0, 0]), None);
        assert_eq!(decode_tile([0, 0, 257]), None);
        assert_eq!(decode_tile([0xFE, 0, 1]), None);
    }

    #[test]
    fn statuses_and_store_errors_map_both_ways() {
        type E = StoreError<()>;
        for e in [
            E::Conflict,
            E::CheckpointChanged,
            E::NotLarger { stored: 7, offered: 3 },
            E::BadCheckpoint,
            E::Full,
            E::TooSmall { needed: 4096 },
            E::NoCheckpoint,
            E::Corrupt,
        ] {
            let (s, mrs) = status_of(&e).unwrap();
            assert_eq!(error_of::<()>(s, mrs), Some(e));
        }
        let (s, _) = status_of(&E::Unexplained { checkpoint: 1, extent: 2 }).unwrap();
        assert_eq!(s, status::UNAVAILABLE);
        assert_eq!(status_of(&E::Backend(())), None);
        for s in [status::OK, status::NOT_FOUND, status::BAD_REQUEST, status::UNAVAILABLE, 99] {
            assert_eq!(error_of::<()>(s, [0; 2]), None);
        }
    }

    #[test]
    fn every_decoded_tile_has_its_canonical_path() {
        for level in [0, 1, 63, ENTRIES] {
            for index in [0, 1, 999, 1000, u64::MAX] {
                for width in [1, 255, 256] {
                    let t = decode_tile([level, index, width]).unwrap();
                    assert_eq!(Tile::parse(&t.path()), Some(t));
                }
            }
        }
    }
}
