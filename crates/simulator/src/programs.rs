//! The programs a system description may name, by image file name: the
//! simulator runs the PD crates' logic where seL4 would load an ELF.

use platform::Regions;

use crate::pd::{BoxedPd, SimPlatform};

/// Starts the program `image` (its file name matters: `wire.elf`, …).
pub fn start(image: &str, p: SimPlatform, r: &mut dyn Regions) -> Result<BoxedPd, String> {
    let name = image.rsplit('/').next().unwrap_or(image);
    let err = |e: &dyn std::fmt::Debug| format!("{e:?}");
    Ok(match name {
        "psdb.elf" => Box::new(psdb::Psdb::init(p, r).map_err(|e| err(&e))?),
        "ledger.elf" => Box::new(ledger_pd::LedgerPd::init(p, r).map_err(|e| err(&e))?),
        "wire.elf" => Box::new(wire::Wire::init(p, r).map_err(|e| err(&e))?),
        "client.elf" => Box::new(client_pd::ClientPd::init(p, r)),
        "harness.elf" => Box::new(harness::Harness::init(p, r)),
        "faulty.elf" => Box::new(faulty::Faulty::init(p, r)),
        other => return Err(format!("no program {other:?} in the simulator")),
    })
}

/// The program names the simulator knows.
pub const PROGRAMS: [&str; 6] =
    ["psdb.elf", "ledger.elf", "wire.elf", "client.elf", "harness.elf", "faulty.elf"];
