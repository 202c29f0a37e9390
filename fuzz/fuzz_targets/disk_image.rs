//! The disk format as `fsctl disk` reads an image it is handed
//! (`disk::image::with_image`: superblock and its backup, namespace table,
//! checkpoint slots, the log scan, every record's header and checksum,
//! objects stored as extensions of others), then every object read and the
//! whole ledger verified (`verify::verify`, as `fsctl disk verify`). The
//! input patches a real image (formatted, with a small ledger committed
//! in `t/log`) at any offsets; any image gets an answer, never a panic, and
//! the image as made verifies.
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

fuzz_target!(|data: &[u8]| {
    let mut img = base().to_vec();
    let mut rest = data;
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
