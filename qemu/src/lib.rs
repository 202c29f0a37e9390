//! Boots a service-fs seL4 image under QEMU and judges it by its serial
//! log, as `make test-qemu` does; integrators use the same pieces for
//! their own client PDs (see `qemu/README.md`).
//!
//! - [`board`]: a board's QEMU options (`board/<name>/board.toml`);
//! - [`run`]: boots QEMU headless, collects the console with timestamps,
//!   and stops at a marker, a timeout, a hang or QEMU's exit;
//! - [`console`]: reads a console log: scenario markers (`<pd>: PASS
//!   <name>`, `FAIL <name>: <why>`, `DONE …`), printed checkpoints, and
//!   the signs of trouble (monitor errors, kernel warnings);
//! - [`checkpoints`]: verifies each printed checkpoint with the tenant's
//!   verifier key, derived from its provisioned seed, in Rust and in Go;
//! - [`disks`]: the disk image QEMU attaches, and its verification after a
//!   run (`fsctl disk export`, `fsctl verify`, Go's tlog/note);
//! - [`workload`]: systems running the bench program in the harness's
//!   place, and what a crash workload leaves on a disk.

pub mod board;
pub mod checkpoints;
pub mod console;
pub mod disks;
pub mod run;
pub mod workload;
