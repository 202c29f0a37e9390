//! Power cuts at every write and flush of a workload (the first boot's
//! format included), each resolved several ways by the power-loss model:
//! the disk always reopens to its last checkpoint, with every acknowledged
//! record and every acknowledged read's audit record, verifies, and takes
//! new appends. A device that acknowledges flushes it never performs loses
//! acknowledged records under the same test: the test can fail.

mod common;

use std::cell::RefCell;

use common::*;
use disk::image::{PartSource, with_image};
use disk::model::{ModelDevice, PowerLoss};
use ledger::Ledger;

/// What the workload was told was done before the power went.
#[derive(Default, Debug)]
struct Acked {
    records: Vec<Vec<u8>>,
    /// Reads answered (each one audit record).
    reads: u64,
}

fn batches() -> Vec<Vec<Vec<u8>>> {
    let sizes = [1u64, 2, 1, 40, 1, 220, 3, 1, 1];
    let mut i = 0;
    sizes
        .iter()
        .map(|&n| {
            let b = (i..i + n).map(record).collect();
            i += n;
            b
        })
        .collect()
}

/// Runs the workload until the device fails; reopens the disk between batches.
fn workload(dev: &RefCell<ModelDevice>, acked: &mut Acked) {
    for batch in batches() {
        let ok = with_engine(dev, |e, _| {
            let Ok(e) = e else { return false };
            if e.append_batch(batch.iter().map(|r| r.as_slice())).is_err() {
                return false;
            }
            acked.records.extend(batch.iter().cloned());
            if read_all(e).is_err() {
                return false;
            }
            acked.reads += 1;
            true
        });
        if !ok {
            return;
        }
    }
}

/// After the cut: what must hold. `Err` says what did not.
fn check(dev: &RefCell<ModelDevice>, acked: &Acked) -> Result<(), String> {
    let all: Vec<Vec<u8>> = batches().concat();
    with_engine(dev, |e, _| {
        let e = e?;
        let records = read_all(e)?;
        if records.len() < acked.records.len()
            || records[..acked.records.len()] != acked.records[..]
        {
            return Err(format!(
                "{} records acknowledged, {} found",
                acked.records.len(),
                records.len()
            ));
        }
        if records[..] != all[..records.len()] {
            return Err("a record that was never appended".into());
        }
        // The read just made is audited too: earlier ones must all be there.
        if e.audit_size() < acked.reads + 1 {
            return Err(format!(
                "{} reads acknowledged, {} audited",
                acked.reads,
                e.audit_size() - 1
            ));
        }
        e.append(b"after the power came back").map_err(|e| format!("append after the cut: {e}"))?;
        Ok(())
    })?;
    let image = dev.borrow().image();
    with_image(disk::RamDevice::new(&mut image.clone()), |img| {
        for (part, key) in [(0, verifier()), (1, audit_key())] {
            let src = PartSource { dev: &img.dev, part: &img.parts[part] };
            verify::verify(&src, &key).map_err(|d| format!("verify: {d}"))?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

fn audit_key() -> note::Verifier {
    ledger::engine::audit_signer::<()>(&signer()).unwrap().verifier()
}

/// Cuts the power after each of the workload's operations, resolving the
/// unflushed writes with each seed; returns the failures.
fn cut_everywhere(lie: bool, seeds: u64) -> (usize, Vec<String>) {
    let full = RefCell::new(ModelDevice::new(DISK, 512));
    workload(&full, &mut Acked::default());
    let ops = full.borrow().ops.len() as u64;
    let mut failures = Vec::new();
    let mut runs = 0;
    for k in 0..=ops {
        for seed in 0..seeds {
            let mut d = ModelDevice::new(DISK, 512);
            d.lie_about_flush = lie;
            d.cut_after = Some(k);
            let dev = RefCell::new(d);
            let mut acked = Acked::default();
            workload(&dev, &mut acked);
            dev.borrow_mut().power_cut(&mut PowerLoss::new(seed * 7919 + k));
            dev.borrow_mut().lie_about_flush = false;
            runs += 1;
            if let Err(why) = check(&dev, &acked) {
                failures.push(format!("cut after op {k}/{ops}, seed {seed}: {why}"));
            }
        }
    }
    (runs, failures)
}

#[test]
fn a_power_cut_anywhere_loses_nothing_acknowledged() {
    let (runs, failures) = cut_everywhere(false, 8);
    assert!(runs > 400, "only {runs} cut points");
    assert!(failures.is_empty(), "{} of {runs} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_device_that_does_not_flush_loses_acknowledged_records() {
    let (runs, failures) = cut_everywhere(true, 2);
    assert!(
        failures.len() > runs / 20,
        "only {} of {runs} cuts noticed a device that never flushes",
        failures.len()
    );
}
