//! The ledger engine over disk namespaces: the same ledger as over memory,
//! byte for byte; what `verify` checks passes straight from the disk; the
//! write-once rules; a full namespace; one flush pair per commit, in order.

mod common;

use std::cell::RefCell;

use common::*;
use disk::format::{LOG_START, SLOT_SIZE, SUPERBLOCK_AREA};
use disk::image::{PartSource, with_image};
use disk::model::{ModelDevice, Op};
use disk::namespace::{Fault, Namespace};
use disk::{RamDevice, Store};
use ledger::store::{StoreError, TileStore};
use ledger::{Engine, Ledger, NoClock};
use store_mem::MemStore;
use tlog::Tile;
use zerocopy::IntoBytes;

/// Batches of records: single records, batches crossing tile boundaries,
/// records of many sizes.
fn batches() -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0u64;
    for size in [1usize, 1, 3, 250, 7, 1, 300, 1, 64, 1, 1, 600] {
        out.push((i..i + size as u64).map(record).collect());
        i += size as u64;
    }
    out
}

#[test]
fn the_engine_on_disk_writes_the_ledger_it_writes_in_memory() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    let (mem_log, mem_audit) = (MemStore::new(), MemStore::new());
    let (mut mem, _) = Engine::open(
        mem_log,
        mem_audit,
        signer(),
        NoClock,
        ledger::Buffers::<Vec<u8>>::default(),
        MAX_RECORD,
    )
    .unwrap();
    let mut all = Vec::new();
    for (k, batch) in batches().into_iter().enumerate() {
        // Reopen the disk between batches: the ledger resumes from its checkpoint.
        with_engine(&dev, |e, opened| {
            let e = e.unwrap();
            assert!(opened.iter().all(|o| o.discarded == 0 && o.corrupt == 0 && o.lost == 0));
            assert_eq!(opened[0].fresh, k == 0);
            let r = e.append_batch(batch.iter().map(|r| r.as_slice())).unwrap();
            mem.append_batch(batch.iter().map(|r| r.as_slice())).unwrap();
            all.extend(batch.iter().cloned());
            assert_eq!(r.end, all.len() as u64);
            assert_eq!(e.checkpoint().unwrap(), mem.checkpoint().unwrap());
            assert_eq!(read_all(e).unwrap(), all);
            read_all(&mut mem).unwrap();
            assert_eq!(e.audit_checkpoint().unwrap(), mem.audit_checkpoint().unwrap());
        });
    }
    // Every object memory holds is on the disk (partial ones as prefixes).
    let (mem_log, mem_audit) = mem.into_stores();
    let image = dev.borrow().image();
    with_image(RamDevice::new(&mut image.clone()), |img| {
        for (part, store) in [(0, &mem_log), (1, &mem_audit)] {
            let p = &img.parts[part];
            for (t, bytes) in store.objects() {
                let got = disk::image::read_object(&img.dev, &mut p.borrow_mut(), t).unwrap();
                assert_eq!(got.as_deref(), Some(bytes), "{}", t.path());
            }
            assert_eq!(p.borrow().ns.as_ref().unwrap().checkpoint(), store.checkpoint());
        }
    })
    .unwrap();
}

#[test]
fn verify_passes_straight_from_the_disk_and_fails_on_a_changed_object() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    for batch in batches() {
        with_engine(&dev, |e, _| {
            let e = e.unwrap();
            e.append_batch(batch.iter().map(|r| r.as_slice())).unwrap();
            read_all(e).unwrap();
        });
    }
    let image = dev.borrow().image();
    let report = |image: &mut Vec<u8>, part: usize| {
        with_image(RamDevice::new(image), |img| {
            let src = PartSource { dev: &img.dev, part: &img.parts[part] };
            let key = if part == 0 { verifier() } else { audit_verifier() };
            verify::verify(&src, &key).map(|r| r.size).map_err(|d| d.to_string())
        })
        .unwrap()
    };
    let total: usize = batches().iter().map(Vec::len).sum();
    assert_eq!(report(&mut image.clone(), 0), Ok(total as u64));
    assert_eq!(report(&mut image.clone(), 1), Ok(batches().len() as u64));
    // A changed byte in the middle of the records' log: the object holding
    // it is reported, never served.
    let mut bad = image.clone();
    let at = SUPERBLOCK_AREA as usize + LOG_START as usize + 5000;
    bad[at] ^= 0x10;
    let err = report(&mut bad, 0).unwrap_err();
    assert!(err.contains("disk offset") || err.contains("checksum"), "{err}");
}

fn audit_verifier() -> note::Verifier {
    ledger::engine::audit_signer::<()>(&signer()).unwrap().verifier()
}

#[test]
fn a_commit_is_its_records_then_a_flush_then_the_checkpoint_then_a_flush() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        for n in [1usize, 5, 300] {
            let batch: Vec<Vec<u8>> = (0..n as u64).map(record).collect();
            dev.borrow_mut().ops.clear();
            e.append_batch(batch.iter().map(|r| r.as_slice())).unwrap();
            let ops = dev.borrow().ops.clone();
            let flushes: Vec<usize> =
                ops.iter().enumerate().filter(|(_, o)| **o == Op::Flush).map(|(i, _)| i).collect();
            assert_eq!(flushes.len(), 2, "one flush pair per commit: {ops:?}");
            let log = SUPERBLOCK_AREA;
            let slot = |at: u64| at == log || at == log + SLOT_SIZE;
            for (i, op) in ops.iter().enumerate() {
                if let Op::Write { at, .. } = op {
                    if i < flushes[0] {
                        assert!(
                            !slot(*at) && *at >= log + LOG_START,
                            "record write {op:?} before the first flush"
                        );
                    } else {
                        assert!(
                            i < flushes[1] && slot(*at),
                            "only the checkpoint between the flushes: {ops:?}"
                        );
                    }
                }
            }
            assert_eq!(ops.last(), Some(&Op::Flush), "acknowledged only after the second flush");
        }
    });
}

#[test]
fn write_once_rules_hold_on_disk() {
    let mut image = vec![0u8; DISK];
    let mut dev = RamDevice::new(&mut image);
    let mut buf = vec![0u8; 8192];
    let sb = disk::superblock::open(&mut dev, &SPECS, &mut buf).unwrap();
    let e = disk::superblock::table(&SPECS).unwrap().next().unwrap();
    let mut mem = memory();
    let (mut ns, _) = Namespace::open(
        &mut dev,
        0,
        (e.start.get(), e.size.get()),
        sb.block_size,
        mem.as_mut_bytes(),
    )
    .unwrap();
    let dev = RefCell::new(dev);
    let mut s = Store { ns: &mut ns, dev: &dev };
    let t3 = Tile::hashes(0, 0, 3);
    let h = |n: usize| (0..n * 32).map(|i| i as u8).collect::<Vec<u8>>();
    s.put(&t3, &h(3)).unwrap();
    s.put(&t3, &h(3)).unwrap(); // identical again: fine
    let mut other = h(3);
    other[5] ^= 1;
    assert_eq!(s.put(&t3, &other), Err(StoreError::Conflict));
    // A wider partial must extend it; a narrower one must be its prefix.
    let mut wrong = h(5);
    wrong[2] ^= 1;
    assert_eq!(s.put(&Tile::hashes(0, 0, 5), &wrong), Err(StoreError::Conflict));
    s.put(&Tile::hashes(0, 0, 5), &h(5)).unwrap();
    s.put(&Tile::hashes(0, 0, 2), &h(2)).unwrap();
    assert_eq!(
        s.put(&Tile::hashes(0, 0, 4), &other[..32 * 3].repeat(2)[..128]),
        Err(StoreError::Conflict)
    );
    let mut out = vec![0u8; 8192];
    assert_eq!(s.get(&Tile::hashes(0, 0, 4), &mut out), Ok(Some(128)));
    assert_eq!(&out[..128], &h(4)[..]);
    assert_eq!(s.get(&Tile::hashes(0, 0, 6), &mut out), Ok(None));
    // The extension stored only the new bytes.
    assert!(s.ns.used() < 3 * 32 + 5 * 32 + 4 * 64);
    // Bad objects change nothing.
    let used = s.ns.used();
    assert!(matches!(
        s.put(&Tile::hashes(0, 1, 1), &[]),
        Err(StoreError::Backend(Fault::BadObject(_)))
    ));
    assert!(matches!(
        s.put(&Tile { width: 0, ..Tile::hashes(0, 1, 1) }, &h(1)),
        Err(StoreError::Backend(Fault::BadObject(_)))
    ));
    assert_eq!(s.ns.used(), used);
}

#[test]
fn a_full_namespace_says_full_and_keeps_everything_acknowledged() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    let mut acked = Vec::new();
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        let big = vec![b'f'; 3000];
        loop {
            let batch = vec![big.clone(); 8];
            match e.append_batch(batch.iter().map(|r| r.as_slice())) {
                Ok(_) => acked.extend(batch),
                Err(ledger::Error::Store(StoreError::Full)) => break,
                Err(other) => panic!("filling ended with {other}"),
            }
        }
    });
    assert!(acked.len() > 200, "the namespace filled after {} records", acked.len());
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        assert_eq!(e.size(), acked.len() as u64);
        assert_eq!(read_all(e).unwrap(), acked);
        assert!(e.append_batch([&[0u8; 3000][..]; 8].into_iter()).is_err());
        assert_eq!(e.size(), acked.len() as u64);
    });
}

#[test]
fn small_commits_cost_a_block_and_deltas_not_whole_partial_tiles() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        let before = dev.borrow().bytes_written;
        for i in 0..200 {
            e.append(format!("{i:040}").as_bytes()).unwrap();
        }
        let per = (dev.borrow().bytes_written - before) / 200;
        // One block of records (bundle and tile deltas) and one of checkpoint.
        assert!(per <= 1024, "{per} bytes written per single-record commit");
    });
}
