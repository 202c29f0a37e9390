//! The programs a system description may name, by image file name: the
//! simulator runs the PD crates' logic where seL4 would load an ELF.

use platform::{Platform, Regions};

use sim_pd::{BoxedPd, SimPlatform};

type Start = fn(SimPlatform, &mut dyn Regions) -> Result<BoxedPd, String>;

fn boxed<T: platform::Pd + 'static, E: std::fmt::Debug>(
    r: Result<T, E>,
) -> Result<BoxedPd, String> {
    r.map(|pd| Box::new(pd) as BoxedPd).map_err(|e| format!("{e:?}"))
}

/// Every program, by the file name of its image.
pub const PROGRAMS: &[(&str, Start)] = &[
    ("psdb.elf", |p, r| boxed(psdb::Psdb::init(p, r))),
    ("blk.elf", |p, r| {
        boxed(blk::Driver::init(p, r, |r, _| {
            let bytes = match system::load(r, p.pd_name()).map(|c| c.kind) {
                Ok(system::Kind::Blk(b)) => b.disk_bytes,
                _ => return Err("no block driver configuration (sfs_config)"),
            };
            // The driver's reason must outlive the call: leak the message.
            crate::disk::FileDisk::from_env(bytes).map_err(|e| &*Box::leak(e.into_boxed_str()))
        }))
    }),
    ("ledger.elf", |p, r| boxed(ledger_pd::LedgerPd::init(p, r))),
    ("wire.elf", |p, r| boxed(wire::Wire::init(p, r))),
    ("client.elf", |p, r| boxed(Ok::<_, ()>(client_pd::ClientPd::init(p, r)))),
    ("harness.elf", |p, r| boxed(harness::Harness::init(p, r))),
    ("faulty.elf", |p, r| boxed(Ok::<_, ()>(faulty::Faulty::init(p, r)))),
    ("bench.elf", |p, r| boxed(Ok::<_, ()>(harness::bench::Bench::init(p, r)))),
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
