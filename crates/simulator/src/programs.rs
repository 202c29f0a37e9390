//! The programs a system description may name, by image file name: the
//! simulator runs the PD crates' logic where seL4 would load an ELF. Every
//! PD type runs on [`SimPlatform`], and the block driver serves a host file
//! ([`FileDisk`]).

use platform::Regions;

use sim_pd::{BoxedPd, SimPlatform, start as run};

use crate::disk::FileDisk;

type Start = fn(SimPlatform, &mut dyn Regions) -> Result<BoxedPd, String>;

type P = SimPlatform;

/// Every program, by the file name of its image.
pub const PROGRAMS: &[(&str, Start)] = &[
    ("psdb.elf", run::<psdb::Psdb<P>>),
    ("blk.elf", run::<blk::Driver<P, FileDisk>>),
    ("ledger.elf", run::<ledger_pd::LedgerPd<P>>),
    ("wire.elf", run::<wire::Wire<P>>),
    ("client.elf", run::<client_pd::ClientPd<P>>),
    ("harness.elf", run::<harness::Harness<P>>),
    ("faulty.elf", run::<faulty::Faulty<P>>),
    ("bench.elf", run::<harness::bench::Bench<P>>),
];

/// The file name of an image path.
pub fn name(image: &str) -> &str {
    image.rsplit('/').next().unwrap_or(image)
}

/// Starts the program `image`.
pub fn start(image: &str, p: SimPlatform, r: &mut dyn Regions) -> Result<BoxedPd, String> {
    match PROGRAMS.iter().find(|(n, _)| *n == name(image)) {
        Some((_, start)) => start(p, r),
        None => Err(format!("no program {:?} in the simulator", name(image))),
    }
}
