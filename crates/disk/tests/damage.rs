//! A flipped bit anywhere on a disk: a damaged record is detected when it
//! is read (never served), reported with the disk offset of its record,
//! and `verify` fails; whatever is still served is exactly what was
//! written.

mod common;

use std::cell::RefCell;

use common::*;
use disk::RamDevice;
use disk::image::{PartSource, with_image};
use disk::model::ModelDevice;
use ledger::Ledger;

fn audit_key() -> note::Verifier {
    ledger::engine::audit_signer::<()>(&signer()).unwrap().verifier()
}

fn written() -> (Vec<u8>, Vec<Vec<u8>>) {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    let mut all = Vec::new();
    for n in [1u64, 300, 2, 40] {
        with_engine(&dev, |e, _| {
            let e = e.unwrap();
            let batch: Vec<Vec<u8>> =
                (all.len() as u64..all.len() as u64 + n).map(record).collect();
            e.append_batch(batch.iter().map(|r| r.as_slice())).unwrap();
            all.extend(batch);
            read_all(e).unwrap();
        });
    }
    (dev.borrow().durable().to_vec(), all)
}

/// Every committed record of both namespaces: (disk offset, bytes).
fn records(image: &[u8]) -> Vec<(u64, u64)> {
    with_image(RamDevice::new(&mut image.to_vec()), |img| {
        img.parts
            .iter()
            .flat_map(|p| p.borrow().ns.as_ref().unwrap().records().collect::<Vec<_>>())
            .collect()
    })
    .unwrap()
}

/// Verifies both namespaces, as `fsctl disk verify` does: the scan found
/// no damaged record, and the ledger verifies; `Err` names what failed.
fn verify_all(image: &[u8]) -> Result<(), String> {
    with_image(RamDevice::new(&mut image.to_vec()), |img| {
        for (part, key) in [(0, verifier()), (1, audit_key())] {
            if let Some(at) = img.parts[part].borrow().opened.first_damage {
                return Err(format!("damaged record at disk offset {at:#x}"));
            }
            let src = PartSource { dev: &img.dev, part: &img.parts[part] };
            verify::verify(&src, &key).map_err(|d| d.to_string())?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?
}

#[test]
fn a_flipped_bit_in_a_record_is_caught_with_its_offset_and_never_served() {
    let (image, all) = written();
    let recs = records(&image);
    assert!(recs.len() > 10);
    let mut checked = 0;
    for &(at, len) in &recs {
        // The header's first and last byte, and bytes through the payload.
        let mut spots = vec![at, at + 31, at + 63];
        spots.extend((64..len).step_by(97).map(|k| at + k));
        for spot in spots {
            let mut bad = image.clone();
            bad[spot as usize] ^= 0x04;
            let err = verify_all(&bad).expect_err("verify passed a damaged record");
            let record_hex = format!("{at:#x}");
            assert!(
                err.contains(&record_hex) || err.contains("missing") || err.contains("checkpoint"),
                "byte {spot:#x} of the record at {record_hex}: {err}"
            );
            served_is_what_was_written(&bad, &all);
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Whatever the engine still serves equals what was appended.
fn served_is_what_was_written(image: &[u8], all: &[Vec<u8>]) {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    dev.borrow_mut().durable_mut().copy_from_slice(image);
    with_engine(&dev, |e, _| {
        let Ok(e) = e else { return };
        for from in [0, 1, 255, 256, 300] {
            let mut got = Vec::new();
            let r = e.read_since(&READER, from, ledger::Limit::NONE, &mut |i, r| {
                got.push((i, r.to_vec()))
            });
            if r.is_ok() {
                for (i, rec) in got {
                    assert_eq!(rec, all[i as usize], "record {i} served with different bytes");
                }
            }
        }
    });
}

#[test]
fn a_flipped_bit_anywhere_else_never_makes_wrong_data_served() {
    let (image, all) = written();
    for spot in (0..image.len()).step_by(4093) {
        let mut bad = image.clone();
        bad[spot] ^= 0x80;
        // Either everything still verifies (padding, free space, an older
        // slot) or the damage is reported; never are other bytes served.
        let _ = verify_all(&bad);
        served_is_what_was_written(&bad, &all);
    }
}
