//! Systems that run the bench program in the harness's place (same
//! identities), its workload prefilled into the probe region; and what a
//! crash workload leaves on a disk, checked from the image alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use disk::file::FileDevice;
use disk::image::{PartSource, read_object, with_image};
use scenarios::bench::{self as markers, crash_record};
use tlog::{Tile, bundle};

use sysgen::Described;

use crate::checkpoints::verifier;

/// The file the probe region is prefilled from, beside the system.
pub const WORKLOAD_FILE: &str = "workload.cfg";

/// Writes `dir/system.xml` (and its configurations): `system` with the
/// bench program in the harness's place and `cfg` prefilled into the probe
/// region. Returns its path.
pub fn write_system(dir: &Path, system: &sysgen::Generated, cfg: &[u8]) -> Result<PathBuf> {
    let probe = "<memory_region name=\"harness_probe\" size=\"0x1000\" />";
    let xml = &system.xml;
    ensure!(
        xml.contains(probe) && xml.contains("harness.elf"),
        "the system has no harness to replace"
    );
    let xml = xml.replace("harness.elf", "bench.elf").replace(
        probe,
        &format!("<memory_region name=\"harness_probe\" size=\"0x1000\" prefill_path=\"{WORKLOAD_FILE}\" />"),
    );
    let bench =
        sysgen::Generated { xml, system: system.system.clone(), configs: system.configs.clone() };
    let path = dir.join("system.xml");
    sysgen::write_generated(&path, &bench)?;
    std::fs::write(dir.join(WORKLOAD_FILE), cfg)?;
    Ok(path)
}

/// A benchmark: records, records per append, record size, status calls.
pub fn bench_cfg(records: u64, batch: u64, size: u64, status_calls: u64) -> Vec<u8> {
    scenarios::bench::workload(records, batch, size, status_calls).to_vec()
}

/// A crash workload: records per append, record size, appends per read.
pub fn crash_cfg(batch: u64, size: u64, read_every: u64) -> Vec<u8> {
    scenarios::bench::crash_workload(batch, size, read_every).to_vec()
}

/// An acknowledged append of a crash workload: records `first..=last`,
/// holding the bytes the workload makes for records `made…`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acked {
    /// The first record's index.
    pub first: u64,
    /// The last record's index.
    pub last: u64,
    /// The index the first record's bytes were made for.
    pub made: u64,
}

/// The records a crash workload's console says were acknowledged; and
/// whether it said the ledger filled up.
pub fn acked(console: &str) -> (Vec<Acked>, bool) {
    let mut ranges = Vec::new();
    let mut full = false;
    for line in console.lines() {
        let line = line.trim_end_matches('\r');
        let line = line.rsplit_once("] ").map_or(line, |(_, l)| l);
        let Some(said) = line.strip_prefix(markers::PREFIX) else { continue };
        if let Some(rest) = said.strip_prefix(markers::ACK).and_then(|r| r.strip_prefix(' ')) {
            let mut it = rest.split(' ').map(str::parse::<u64>);
            if let (Some(Ok(first)), Some(Ok(last)), Some(Ok(made))) =
                (it.next(), it.next(), it.next())
                && first <= last
            {
                ranges.push(Acked { first, last, made });
            }
        }
        full |= said == markers::FULL;
    }
    (ranges, full)
}

/// What a disk left by a crash workload holds, checked from the image
/// alone: every namespace readable and undamaged, each ledger verifying
/// with its tenant's key (from `keys`), and every record of the first
/// tenant in an `acked` range there with the bytes the workload gave it
/// (others may have written records too). Returns the records ledger's size.
pub fn check_crash_disk(
    image: &Path,
    system: &Described,
    keys: &Path,
    acked: &[Acked],
    size: usize,
) -> Result<u64> {
    let acked_end = acked.iter().map(|a| a.last + 1).max().unwrap_or(0);
    // The index the bytes of acknowledged record `i` were made for.
    let made_for = |i: u64| {
        acked.iter().find(|a| (a.first..=a.last).contains(&i)).map(|a| a.made + (i - a.first))
    };
    let dev = FileDevice::open_read_only(image).with_context(|| format!("{}", image.display()))?;
    with_image(dev, |img| -> Result<u64> {
        for part in &img.parts {
            let name = part.borrow().name().to_string();
            let p = part.borrow();
            if let Err(e) = &p.ns {
                bail!("{name}: {e}");
            }
            if p.opened.no_checkpoint || p.opened.first_damage.is_some() {
                bail!("{name}: {:?}", p.opened);
            }
        }
        for t in &system.tenants {
            for (which, kind) in [("log", "records"), ("audit", "audit")] {
                let name = format!("{}/{which}", t.name);
                let part = img.part(&name).with_context(|| format!("no namespace {name}"))?;
                if part.borrow().opened.fresh {
                    continue;
                }
                let key = verifier(keys, t, kind)?;
                verify::verify(&PartSource { dev: &img.dev, part }, &key)
                    .map_err(|d| anyhow::anyhow!("{name}: {d}"))?;
            }
        }
        // The workload writes as the harness's first tenant.
        let first = system.harness.first().context("the system has no harness")?;
        let name = format!("{first}/log");
        let part = img.part(&name).with_context(|| format!("no namespace {name}"))?;
        let cp = part.borrow().ns.as_ref().ok().and_then(|ns| ns.checkpoint().map(<[u8]>::to_vec));
        let have = cp.as_deref().and_then(note::Checkpoint::peek_size).unwrap_or(0);
        ensure!(
            have >= acked_end,
            "{name}: records up to {acked_end} were acknowledged, the disk's checkpoint has {have}"
        );
        let mut want = [0u8; 256];
        for k in 0..have.div_ceil(256) {
            let w = (have - k * 256).min(256) as u16;
            let t = Tile::entries(k, w);
            let bytes = read_object(&img.dev, &mut part.borrow_mut(), &t)
                .map_err(anyhow::Error::msg)?
                .with_context(|| format!("{name}: {} missing", t.path()))?;
            for (j, e) in bundle::entries(&bytes).enumerate() {
                let i = k * 256 + j as u64;
                let e = e.map_err(|_| anyhow::anyhow!("{name}: {} malformed", t.path()))?;
                if let Some(made) = made_for(i) {
                    let n = crash_record(made, size, &mut want);
                    ensure!(
                        e == &want[..n],
                        "{name}: acknowledged record {i} is not what the workload wrote"
                    );
                }
            }
        }
        Ok(have)
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", image.display()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_are_read_from_any_console() {
        let log = "[harness] bench: ACK 0 7 0\r\nbench: READ 0\nbench: ACK 10 17 8\n[blk] x\nbench: ACK 16 1 16";
        let a = |first, last, made| Acked { first, last, made };
        assert_eq!(acked(log), (vec![a(0, 7, 0), a(10, 17, 8)], false));
        assert_eq!(acked("bench: ACK 2 3 2\nbench: FULL\n"), (vec![a(2, 3, 2)], true));
        assert_eq!(acked("nothing"), (vec![], false));
    }
}
