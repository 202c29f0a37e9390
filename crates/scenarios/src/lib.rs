//! The contract between the test PDs and the host tools that judge them.
//!
//! The scenario harness (`pds/harness`), its misbehaving child
//! (`pds/faulty`) and the bench program (`pds/harness`'s `bench`) talk to
//! the outside only through their console and the probe region the system
//! prefills; the simulator's tests, `qemu-runner` and `bench` read what
//! they print. Both sides use this crate, so neither needs the other's
//! code: the host tools depend on no PD crate, and no PD crate on another.
//!
//! - [`markers`]: the console lines a judged PD prints (`<pd>: PASS
//!   <scenario>`, `FAIL`, `DONE`, and the harness's `COVERS`,
//!   `CHECKPOINT`, `RECOVERED`);
//! - [`SCENARIOS`]: the harness's scenarios, in the order they run;
//! - [`faulty`]: what byte 0 of the probe region asks the faulty PD to do;
//! - [`bench`]: the bench program's workloads in the probe region, the
//!   records of a crash workload, and the lines it prints.
#![no_std]

pub mod bench;
pub mod faulty;
pub mod markers;

/// The fault test's name.
pub const FAULT: &str = "fault-stops-only-the-child-and-reaches-its-parent";
/// The storage-full test's name.
pub const FULL: &str = "storage-full-loses-nothing-acknowledged";

/// Every scenario of the harness, in the order they run: the first seven
/// at start, then the fault test when the child's fault arrives, then
/// storage full.
pub const SCENARIOS: [&str; 9] = [
    "append-then-read-back",
    "checkpoint-and-proofs-verify",
    "tenant-isolation",
    "rights-by-role",
    "every-read-audited-in-order",
    "bad-input-refused-ledger-unchanged",
    "reading-past-the-end",
    FAULT,
    FULL,
];

/// The scenarios that run at start, before the fault test.
pub const AT_START: usize = 7;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_and_full_tests_run_last_and_every_name_once() {
        assert_eq!(SCENARIOS[AT_START], FAULT);
        assert_eq!(SCENARIOS[AT_START + 1], FULL);
        for (i, a) in SCENARIOS.iter().enumerate() {
            assert!(!SCENARIOS[..i].contains(a), "{a} twice");
            assert!(!a.contains(' ') && !a.contains(':'), "{a}: markers split on these");
        }
    }
}
