//! What opening a disk or a namespace does with every state it can find:
//! blank, ours, another version, another system, too small, not ours, a
//! torn format, a namespace with data but no readable checkpoint, a torn
//! first or later checkpoint, a torn tail. Bad input changes nothing.

mod common;

use std::cell::RefCell;

use common::*;
use disk::format::{LOG_START, SLOT_SIZE, SUPERBLOCK_AREA};
use disk::model::ModelDevice;
use disk::namespace::{Fault, Namespace, Stopped};
use disk::superblock::{self, BACKUP, DiskError, Spec};
use disk::{BlockDevice, RamDevice};
use ledger::Ledger;
use ledger::store::StoreError;
use zerocopy::IntoBytes;

fn open(
    image: &mut [u8],
    specs: &[Spec],
) -> Result<superblock::Superblock, DiskError<disk::device::OutOfRange>> {
    let mut dev = RamDevice::new(image);
    superblock::open(&mut dev, specs, &mut [0u8; 8192])
}

/// A disk with a few records in both namespaces.
fn used_disk() -> Vec<u8> {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        e.append_batch((0..10).map(record).collect::<Vec<_>>().iter().map(|r| r.as_slice()))
            .unwrap();
        read_all(e).unwrap();
    });
    dev.borrow().durable().to_vec()
}

fn log_extent() -> u64 {
    SUPERBLOCK_AREA
}

#[test]
fn a_blank_disk_is_formatted_once() {
    let mut image = vec![0u8; DISK];
    let sb = open(&mut image, &SPECS).unwrap();
    assert!(sb.formatted);
    assert_eq!(sb.block_size, 512);
    assert_eq!(sb.disk_bytes, DISK as u64);
    let copy = image.clone();
    let sb = open(&mut image, &SPECS).unwrap();
    assert!(!sb.formatted);
    assert_eq!(image, copy, "opening a formatted disk writes nothing");
}

#[test]
fn bad_disks_are_refused_and_left_as_they_were() {
    let used = used_disk();
    type Expect = fn(&DiskError<disk::device::OutOfRange>) -> bool;
    let cases: Vec<(&str, Vec<u8>, Vec<Spec>, Expect)> = vec![
        (
            "too small",
            vec![0u8; DISK - 512],
            SPECS.to_vec(),
            |e| matches!(e, DiskError::TooSmall { need, have } if *need == DISK as u64 && *have == DISK as u64 - 512),
        ),
        (
            "another system: a namespace resized",
            used.clone(),
            vec![SPECS[0], Spec { size: 128 << 10, ..SPECS[1] }],
            |e| matches!(e, DiskError::OtherSystem { entry: 1 }),
        ),
        (
            "another system: a namespace renamed",
            used.clone(),
            vec![Spec { name: "globex/log", ..SPECS[0] }, SPECS[1]],
            |e| matches!(e, DiskError::OtherSystem { entry: 0 }),
        ),
        (
            "another system: one more namespace",
            [used.clone(), vec![0u8; 64 << 10]].concat(),
            vec![SPECS[0], SPECS[1], Spec { name: "x/log", size: 64 << 10 }],
            |e| matches!(e, DiskError::OtherSystem { .. }),
        ),
        (
            "not a service-fs disk",
            {
                let mut d = vec![0u8; DISK];
                d[..4].copy_from_slice(b"\x7fELF");
                d
            },
            SPECS.to_vec(),
            |e| matches!(e, DiskError::NotServiceFs),
        ),
        (
            "another format version",
            {
                let mut d = used.clone();
                disk::model::edit_superblock(&mut d, |sb| {
                    sb[8..12].copy_from_slice(&2u32.to_le_bytes())
                });
                d
            },
            SPECS.to_vec(),
            |e| matches!(e, DiskError::Version(2)),
        ),
        (
            "both superblock copies damaged over data",
            {
                let mut d = used.clone();
                d[70] ^= 1;
                d[BACKUP as usize + 70] ^= 1;
                d
            },
            SPECS.to_vec(),
            |e| matches!(e, DiskError::Unreadable),
        ),
        (
            "no superblock over data",
            {
                let mut d = used.clone();
                d[..SUPERBLOCK_AREA as usize].fill(0);
                d
            },
            SPECS.to_vec(),
            |e| matches!(e, DiskError::NoSuperblock),
        ),
    ];
    for (what, mut image, specs, expect) in cases {
        let before = image.clone();
        let err = open(&mut image, &specs).expect_err(what);
        assert!(expect(&err), "{what}: {err:?}");
        assert!(!err.to_string().is_empty());
        assert!(image == before, "{what}: the disk changed");
    }
}

#[test]
fn a_damaged_first_superblock_is_read_from_its_backup() {
    let mut image = used_disk();
    image[70] ^= 1;
    let before = image.clone();
    assert!(!open(&mut image, &SPECS).unwrap().formatted);
    assert!(image == before);
    let mut zeroed = used_disk();
    zeroed[..512].fill(0);
    assert!(!open(&mut zeroed, &SPECS).unwrap().formatted);
}

fn open_ns(image: &mut [u8], mem: &mut [u64]) -> (disk::Opened, Option<Stopped>) {
    let mut dev = RamDevice::new(image);
    let sb = superblock::open(&mut dev, &SPECS, &mut [0u8; 8192]).unwrap();
    let e = superblock::table(&SPECS).unwrap().next().unwrap();
    let (ns, opened) = Namespace::open(
        &mut dev,
        0,
        (e.start.get(), e.size.get()),
        sb.block_size,
        mem.as_mut_bytes(),
    )
    .unwrap();
    (opened, ns.stopped())
}

#[test]
fn a_namespace_with_data_but_no_readable_checkpoint_stops_and_is_left_alone() {
    let mut image = used_disk();
    let log = log_extent() as usize;
    for slot in [0, SLOT_SIZE as usize] {
        image[log + slot + 20] ^= 0xFF;
    }
    let before = image.clone();
    let (opened, stopped) = open_ns(&mut image, &mut memory());
    assert!(opened.no_checkpoint && !opened.fresh);
    assert_eq!(stopped, Some(Stopped::NoReadableCheckpoint));
    // The engine does not open (no new ledger over the data), and nothing changed.
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    dev.borrow_mut().durable_mut().copy_from_slice(&image);
    with_engine(&dev, |e, _| {
        let err = e.err().expect("the engine must not open");
        assert!(err.contains("no readable checkpoint"), "{err}");
    });
    assert!(dev.borrow().image() == before);
    // Every request is refused.
    let mut dev2 = RamDevice::new(&mut image);
    let e = superblock::table(&SPECS).unwrap().next().unwrap();
    let mut mem = memory();
    let (mut ns, _) =
        Namespace::open(&mut dev2, 0, (e.start.get(), e.size.get()), 512, mem.as_mut_bytes())
            .unwrap();
    let refused = |r: Result<(), StoreError<Fault<_>>>| {
        matches!(r, Err(StoreError::Backend(Fault::Stopped(Stopped::NoReadableCheckpoint))))
    };
    assert!(refused(ns.put(&mut dev2, &tlog::Tile::hashes(0, 0, 1), &[0u8; 32][..])));
    assert!(refused(ns.sync(&mut dev2)));
    assert!(refused(ns.recover(0).map(drop)));
    assert!(image == before);
}

#[test]
fn a_torn_first_checkpoint_leaves_the_namespace_new() {
    let mut image = vec![0u8; DISK];
    open(&mut image, &SPECS).unwrap();
    let slot1 = log_extent() as usize + SLOT_SIZE as usize;
    for (i, b) in image[slot1..slot1 + 512].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let (opened, stopped) = open_ns(&mut image, &mut memory());
    assert!(opened.fresh && opened.torn_slot, "{opened:?}");
    assert_eq!(stopped, None);
}

#[test]
fn a_torn_later_checkpoint_falls_back_and_the_tail_is_discarded() {
    // Cut the power between a commit's two flushes: its records are on the
    // disk, its checkpoint is not.
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        e.append_batch([b"one".as_slice(), b"two"]).unwrap();
        let ops = dev.borrow().ops.len() as u64;
        e.append(b"three").unwrap();
        // Count this commit's operations, to cut before its checkpoint.
        let commit = dev.borrow().ops.len() as u64 - ops;
        let now = dev.borrow().ops.len() as u64;
        dev.borrow_mut().cut_after = Some(now + commit - 2);
        assert!(e.append(b"four").is_err());
    });
    dev.borrow_mut().cut_after = None;
    let mut image = dev.borrow().durable().to_vec();
    let (opened, _) = open_ns(&mut image, &mut memory());
    assert_eq!(opened.tree_size, 3);
    assert!(opened.discarded >= 512, "{opened:?}");
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        assert_eq!(read_all(e).unwrap(), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        e.append(b"four again").unwrap();
    });
    with_engine(&dev, |e, opened| {
        assert_eq!(opened[0].discarded, 0);
        assert_eq!(e.unwrap().size(), 4);
    });
    // And a checkpoint slot torn mid-write falls back to the other one.
    let mut image = dev.borrow().durable().to_vec();
    let (newest, _) = open_ns(&mut image.clone(), &mut memory());
    let slot = log_extent() as usize + (newest.generation % 2) as usize * SLOT_SIZE as usize;
    image[slot..slot + 512].iter_mut().for_each(|b| *b = 0x5A);
    let (opened, _) = open_ns(&mut image, &mut memory());
    assert!(opened.torn_slot);
    assert_eq!(opened.generation, newest.generation - 1);
    assert!(opened.discarded > 0);
}

#[test]
fn the_log_starts_after_the_slots() {
    let mut image = used_disk();
    let log = log_extent() as usize;
    assert!(image[log + LOG_START as usize..][..8] == *b"SVCFSREC");
    let dev = RamDevice::new(&mut image);
    assert_eq!(dev.block_size(), 512);
}

#[test]
fn a_log_larger_than_its_index_memory_says_so() {
    let dev = RefCell::new(ModelDevice::new(DISK, 512));
    with_engine(&dev, |e, _| {
        let e = e.unwrap();
        for i in 0..1500 {
            e.append(&record(i)).unwrap();
        }
    });
    let mut image = dev.borrow().durable().to_vec();
    let mut rdev = RamDevice::new(&mut image);
    let e = superblock::table(&SPECS).unwrap().next().unwrap();
    let mut small = vec![0u64; disk::namespace::MIN_MEMORY / 8];
    let err =
        Namespace::open(&mut rdev, 0, (e.start.get(), e.size.get()), 512, small.as_mut_bytes())
            .err()
            .expect("too little memory to index 3000 records");
    assert_eq!(err, StoreError::Backend(Fault::IndexFull));
    assert!(disk::image::describe(&err).contains("psdb_memory"));
}
