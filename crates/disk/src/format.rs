//! The on-disk structures, byte for byte (`docs/disk.md` is their
//! specification). Every integer is little-endian; every structure is a
//! `#[repr(C)]` type with no padding, read and written with `zerocopy`.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::crc::crc32c;

/// The format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Bytes reserved for the superblock at the start of the disk.
pub const SUPERBLOCK_AREA: u64 = 64 * 1024;
/// Bytes of each of a namespace's two checkpoint slots.
pub const SLOT_SIZE: u64 = 4096;
/// Where a namespace's log starts, relative to its extent.
pub const LOG_START: u64 = 2 * SLOT_SIZE;
/// Alignment of extents and of their sizes.
pub const EXTENT_ALIGN: u64 = 4096;
/// Longest namespace name in the table.
pub const NAME_LEN: usize = 40;
/// Most namespaces a superblock describes (each of its two copies has
/// half the superblock area).
pub const MAX_NAMESPACES: usize =
    (SUPERBLOCK_AREA as usize / 2 - size_of::<SuperblockHeader>() - 4) / size_of::<TableEntry>();
/// Largest signed checkpoint a slot holds.
pub const MAX_NOTE: usize = SLOT_SIZE as usize - size_of::<SlotHeader>();
/// Bytes of a record header.
pub const RECORD_HEADER: usize = size_of::<RecordHeader>();
/// Records start at multiples of this, relative to the extent.
pub const RECORD_ALIGN: u64 = 8;
/// Block sizes the format may use (`block_size` in the superblock).
pub const BLOCK_SIZES: [u32; 4] = [512, 1024, 2048, 4096];

/// The superblock's magic.
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"SVCFSDSK";
/// A checkpoint slot's magic.
pub const SLOT_MAGIC: [u8; 8] = *b"SVCFSCKP";
/// A record's magic.
pub const RECORD_MAGIC: [u8; 8] = *b"SVCFSREC";

/// `kind` of a record holding a hash tile.
pub const KIND_HASHES: u8 = 0;
/// `kind` of a record holding an entry bundle.
pub const KIND_ENTRIES: u8 = 1;

/// The fixed start of the superblock (64 bytes); the namespace table
/// follows, then a CRC-32C of everything before it.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct SuperblockHeader {
    /// [`SUPERBLOCK_MAGIC`].
    pub magic: [u8; 8],
    /// [`VERSION`].
    pub version: U32,
    /// Bytes per block: the unit every write is aligned to.
    pub block_size: U32,
    /// Entries in the namespace table.
    pub namespaces: U32,
    /// Zero.
    pub reserved: U32,
    /// End of the last extent: the disk must be at least this large.
    pub disk_bytes: U64,
    /// Zero.
    pub reserved2: [u8; 32],
}

/// One namespace in the superblock's table (64 bytes).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TableEntry {
    /// UTF-8 name (`<tenant>/log`, `<tenant>/audit`), zero-padded.
    pub name: [u8; NAME_LEN],
    /// Byte offset of the extent on the disk.
    pub start: U64,
    /// Bytes in the extent.
    pub size: U64,
    /// Zero.
    pub reserved: U64,
}

/// The start of a checkpoint slot (48 bytes); the signed note follows.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug)]
#[repr(C)]
pub struct SlotHeader {
    /// [`SLOT_MAGIC`].
    pub magic: [u8; 8],
    /// Counts checkpoint writes from 1; generation `g` lives in slot `g % 2`.
    pub generation: U64,
    /// Extent offset where the committed log ends (a block boundary).
    pub log_end: U64,
    /// Records in the committed log: the sequence number of the last.
    pub records: U64,
    /// The namespace's position in the table.
    pub namespace: U32,
    /// Bytes of the note that follows.
    pub note_len: U32,
    /// Zero.
    pub reserved: U32,
    /// CRC-32C of bytes 0..44 followed by the note.
    pub crc: U32,
}

/// The header of a log record (64 bytes); `length` payload bytes follow.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RecordHeader {
    /// [`RECORD_MAGIC`].
    pub magic: [u8; 8],
    /// Sequence number in the namespace: 1, 2, 3, … in log order.
    pub seq: U64,
    /// The tile's index `N`.
    pub index: U64,
    /// Sequence number of the record this one extends (0: none, the
    /// payload is the whole object).
    pub base: U64,
    /// [`KIND_HASHES`] or [`KIND_ENTRIES`].
    pub kind: u8,
    /// The hash tile's level `L` (0 for bundles).
    pub level: u8,
    /// The tile's width `W`, 1..=256.
    pub width: U16,
    /// Payload bytes.
    pub length: U32,
    /// Bytes of the whole object.
    pub object_len: U32,
    /// CRC-32C of the whole object.
    pub object_crc: U32,
    /// CRC-32C of the payload.
    pub payload_crc: U32,
    /// The namespace's position in the table.
    pub namespace: U32,
    /// Zero.
    pub reserved: U32,
    /// CRC-32C of bytes 0..60.
    pub header_crc: U32,
}

impl SlotHeader {
    /// The CRC this header should carry for `note`.
    pub fn compute_crc(&self, note: &[u8]) -> u32 {
        let mut d = crate::crc::Crc32c::new();
        d.update(&self.as_bytes()[..44]);
        d.update(note);
        d.finish()
    }
}

impl RecordHeader {
    /// The CRC of bytes 0..60.
    pub fn compute_crc(&self) -> u32 {
        crc32c(&self.as_bytes()[..60])
    }

    /// Whether the magic and the header CRC are right.
    pub fn intact(&self) -> bool {
        self.magic == RECORD_MAGIC && self.header_crc.get() == self.compute_crc()
    }
}

/// `v` rounded up to a multiple of `to` (a power of two).
pub const fn align_up(v: u64, to: u64) -> u64 {
    (v + to - 1) & !(to - 1)
}

/// Where the record after one at `at` with `length` payload bytes starts.
pub const fn next_record(at: u64, length: u32) -> u64 {
    align_up(at + RECORD_HEADER as u64 + length as u64, RECORD_ALIGN)
}

/// A namespace name as the table stores it; `None` if it does not fit.
pub fn table_name(name: &str) -> Option<[u8; NAME_LEN]> {
    let mut out = [0u8; NAME_LEN];
    if name.is_empty() || name.len() > NAME_LEN || name.bytes().any(|b| b == 0) {
        return None;
    }
    out[..name.len()].copy_from_slice(name.as_bytes());
    Some(out)
}

/// The name in a table entry, up to its first zero byte.
pub fn entry_name(e: &TableEntry) -> &str {
    let end = e.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    core::str::from_utf8(&e.name[..end]).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_documented_sizes() {
        assert_eq!(size_of::<SuperblockHeader>(), 64);
        assert_eq!(size_of::<TableEntry>(), 64);
        assert_eq!(size_of::<SlotHeader>(), 48);
        assert_eq!(size_of::<RecordHeader>(), 64);
        assert_eq!(MAX_NOTE, 4048);
        assert_eq!(MAX_NAMESPACES, 510);
    }

    #[test]
    fn names_fit_or_are_refused() {
        assert!(table_name("acme/log").is_some());
        assert!(table_name("").is_none());
        assert!(table_name(&"x".repeat(41)).is_none());
        let e = TableEntry {
            name: table_name("acme/audit").unwrap(),
            start: 0.into(),
            size: 0.into(),
            reserved: 0.into(),
        };
        assert_eq!(entry_name(&e), "acme/audit");
    }
}
