//! RFC 6962 Merkle trees stored in the [C2SP tlog-tiles] layout.
//!
//! Everything here is `no_std` and allocation-free so that the same code runs
//! in a Linux daemon and inside a seL4 protection domain:
//!
//! - [`hash`]: leaf and node hashing (RFC 6962 §2.1).
//! - [`tree`]: tree hashes over any [`NodeReader`], the Go-compatible
//!   stored-hash ordering, and [`tree::Builder`], the incremental append
//!   algorithm that also yields the tile contents.
//! - [`proof`]: inclusion and consistency proofs and their verification
//!   (RFC 6962 §2.1.1–2.1.2, verification as in RFC 9162 §2.1.3–2.1.4).
//! - [`tile`]: tile coordinates and paths (`tile/<L>/<N>[.p/<W>]`, the
//!   `x001/234` index encoding, `tile/entries/…`).
//! - [`bundle`]: entry bundles (big-endian `uint16` length-prefixed entries).
//!
//! [C2SP tlog-tiles]: https://c2sp.org/tlog-tiles
#![no_std]

pub mod batch;
pub mod bundle;
pub mod hash;
pub mod proof;
pub mod tile;
pub mod tree;

pub use hash::{EMPTY_ROOT, HASH_SIZE, Hash, leaf_hash, node_hash};
pub use proof::{MAX_PROOF_LEN, Proof, ProofError};
pub use tile::{TILE_HEIGHT, TILE_WIDTH, Tile, TileKind};
pub use tree::{Builder, NodeReader};
