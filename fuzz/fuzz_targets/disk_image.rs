//! The disk format as `fsctl disk` reads an image it is handed
//! (`disk::image::with_image`: superblock and its backup, namespace table,
//! checkpoint slots, the log scan, every record's header and checksum,
//! objects stored as extensions of others), then every object read and the
//! whole ledger verified (`verify::verify`, as `fsctl disk verify`). The
//! input patches a real image (formatted, with a small ledger committed
//! in `t/log`) at any offsets; its first byte says which checksums to
//! make right again after patching (so that damage reaches the code behind
//! them): bit 0 every record's header and payload CRC, bit 1 the
//! superblock's, bit 2 the checkpoint slots', bit 3 a whole object's CRC
//! for records that are not extensions. Any image gets an answer, never a
//! panic, and the image as made verifies.
#![no_main]

#[path = "common.rs"]
mod common;

use disk::image::{PartSource, read_object, with_image};
use disk::{Namespace, RamDevice, Spec, superblock};
use libfuzzer_sys::fuzz_target;
use tlog::Tile;

const SPECS: [Spec; 2] =
    [Spec { name: "t/log", size: 64 * 1024 }, Spec { name: "t/audit", size: 64 * 1024 }];

/// The image: formatted, 5 entries committed in `t/log`, the audit empty.
fn base() -> &'static [u8] {
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let mut img = vec![0u8; superblock::disk_bytes(&SPECS).unwrap() as usize];
        let mut dev = RamDevice::new(&mut img);
        let mut buf = vec![0u8; 8192];
        let sb = superblock::open(&mut dev, &SPECS, &mut buf).unwrap();
        let e = superblock::table(&SPECS).unwrap().next().unwrap();
        let mut mem = vec![0u64; 64 * 1024 / 8 * 2];
        let mem = zerocopy_bytes(&mut mem);
        let (mut ns, _) =
            Namespace::open(&mut dev, 0, (e.start.get(), e.size.get()), sb.block_size, mem)
                .unwrap();
        let (objects, note) = common::ledger(5);
        for (t, b) in &objects {
            ns.put(&mut dev, t, b.as_slice()).unwrap();
        }
        ns.replace_checkpoint(&mut dev, &[], &note).unwrap();
        img
    })
}

fn zerocopy_bytes(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: any bytes are valid u8s; u64 alignment satisfies the index.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 8) }
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Makes the checksums `flags` names right for the bytes as they are.
fn reseal(img: &mut [u8], flags: u8) {
    use disk::crc::{Crc32c, crc32c};
    use disk::format::{
        LOG_START, MAX_NAMESPACES, RECORD_HEADER, RECORD_MAGIC, SLOT_MAGIC, SLOT_SIZE,
    };
    use disk::superblock::BACKUP;
    if flags & 2 != 0 {
        for copy in [0, BACKUP as usize] {
            let count = le32(img, copy + 16);
            if (1..=MAX_NAMESPACES).contains(&count) {
                let end = copy + 64 + 64 * count;
                let crc = crc32c(&img[copy..end]);
                put32(img, end, crc);
            }
        }
    }
    for e in superblock::table(&SPECS).unwrap() {
        let (start, size) = (e.start.get() as usize, e.size.get() as usize);
        let extent = &mut img[start..start + size];
        if flags & 4 != 0 {
            for slot in [0, SLOT_SIZE as usize] {
                let s = &mut extent[slot..slot + SLOT_SIZE as usize];
                let n = le32(s, 36);
                if s[..8] == SLOT_MAGIC && n <= SLOT_SIZE as usize - 48 {
                    let mut c = Crc32c::new();
                    c.update(&s[..44]);
                    c.update(&s[48..48 + n]);
                    put32(s, 44, c.finish());
                }
            }
        }
        if flags & 9 != 0 {
            for at in (LOG_START as usize..size - RECORD_HEADER).step_by(8) {
                if extent[at..at + 8] != RECORD_MAGIC {
                    continue;
                }
                let len = le32(extent, at + 36).min(size - at - RECORD_HEADER);
                let payload = crc32c(&extent[at + RECORD_HEADER..at + RECORD_HEADER + len]);
                let base = u64::from_le_bytes(extent[at + 24..at + 32].try_into().unwrap());
                if flags & 8 != 0 && base == 0 {
                    put32(extent, at + 44, payload);
                }
                if flags & 1 != 0 {
                    put32(extent, at + 48, payload);
                    let header = crc32c(&extent[at..at + 60]);
                    put32(extent, at + 60, header);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut img = base().to_vec();
    let (flags, mut rest) = data.split_first().map_or((0, data), |(f, r)| (*f, r));
    let mut patched = false;
    while rest.len() >= 4 {
        let at = u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize % img.len();
        let len = usize::from(rest[3]);
        let bytes = &rest[4..(4 + len).min(rest.len())];
        rest = &rest[(4 + len).min(rest.len())..];
        let end = (at + bytes.len()).min(img.len());
        img[at..end].copy_from_slice(&bytes[..end - at]);
        patched = true;
    }
    reseal(&mut img, flags);
    let key = common::signer().verifier();
    let r = with_image(RamDevice::new(&mut img), |image| {
        let mut verified = Vec::new();
        for part in &image.parts {
            let tiles: Vec<Tile> = match &part.borrow().ns {
                Ok(ns) => ns.tiles().map(|(_, t)| t).collect(),
                Err(_) => continue,
            };
            for t in &tiles {
                let _ = read_object(&image.dev, &mut part.borrow_mut(), t);
            }
            let src = PartSource { dev: &image.dev, part };
            verified.push(verify::verify(&src, &key).map(|r| r.size));
        }
        verified
    });
    if !patched {
        let r = r.expect("the image as made opens");
        assert_eq!(r.first(), Some(&Ok(5)), "the ledger as made verifies");
    }
});
