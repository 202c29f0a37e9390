//! A Rekor-compatible log on loopback for tests.
//!
//! On this branch only the Rekor v1 part ([`v1`]) is real; the v2 server
//! comes with the `fake-rekor` branch.

pub mod v1;
