//! The service-fs disk format (version 1; `docs/disk.md` specifies it).
//!
//! A disk is a superblock (magic, version, block size, namespace table)
//! and one fixed extent per namespace, so no namespace can reach
//! another's space. Each extent holds two checkpoint slots and an
//! append-only log of write-once objects (tile path → bytes), each record
//! checksummed and numbered; a partial tile is stored as the bytes it adds
//! to the one before it. The checkpoint is written last, to alternating
//! slots, so a torn checkpoint write leaves the previous one valid; opening
//! a namespace scans its log, checks every record, and discards a torn
//! tail beyond the checkpoint.
//!
//! Everything here is plain `no_std` Rust over a [`BlockDevice`]: psdb runs
//! it over the block driver's queues (or over memory), `fsctl disk` over an
//! image file.
#![cfg_attr(not(feature = "std"), no_std)]

pub mod crc;
pub mod device;
pub mod format;
pub mod index;
pub mod namespace;
pub mod store;
pub mod superblock;

#[cfg(feature = "std")]
pub mod file;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "std")]
pub mod model;

pub use device::{BlockDevice, RamDevice};
pub use namespace::{Fault, Namespace, Opened, Source, Stopped};
pub use store::Store;
pub use superblock::{DiskError, Spec, Superblock};
