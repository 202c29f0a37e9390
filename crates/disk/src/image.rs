//! A whole disk, opened on a host without knowing the system it came from:
//! the superblock's table says which namespaces there are. Read-only
//! unless the device is writable; nothing here writes.

use std::cell::RefCell;
use std::io;

use tlog::Tile;

use crate::device::BlockDevice;
use crate::format::{TableEntry, entry_name};
use crate::namespace::{Error, Fault, Namespace, Opened};
use crate::store::prefix_len;
use crate::superblock::{self, DiskError};

/// A namespace of an open image.
pub struct Part<'m> {
    /// Its table entry.
    pub entry: TableEntry,
    /// What opening it found.
    pub opened: Opened,
    /// The namespace, unless it could not be opened at all.
    pub ns: Result<Namespace<'m>, String>,
}

impl Part<'_> {
    /// Its name (`<tenant>/log`, `<tenant>/audit`).
    pub fn name(&self) -> &str {
        entry_name(&self.entry)
    }
}

/// An open image: its superblock and every namespace.
pub struct OpenImage<'m, D> {
    /// The device.
    pub dev: RefCell<D>,
    /// The superblock.
    pub superblock: crate::format::SuperblockHeader,
    /// The namespaces, in table order.
    pub parts: Vec<RefCell<Part<'m>>>,
}

/// Most memory a host lends one namespace's index (a few million records).
const MAX_HOST_MEMORY: u64 = 1 << 30;

/// Memory for a namespace of `size` bytes on a host: enough for the
/// smallest records to fill it, within [`MAX_HOST_MEMORY`].
fn memory_for(size: u64) -> usize {
    let records = size / 72 + 64;
    (records * crate::index::BYTES_PER_ENTRY as u64 * 2 + 256 * 1024).min(MAX_HOST_MEMORY) as usize
}

/// Opens every namespace of the disk on `dev` and calls `f` with them.
pub fn with_image<D: BlockDevice, R>(
    mut dev: D,
    f: impl FnOnce(&OpenImage<'_, D>) -> R,
) -> Result<R, DiskError<D::Error>> {
    let mut buf = vec![0u8; 8192];
    let mut entries = Vec::new();
    let sb = superblock::read(&mut dev, &mut buf, |_, e| entries.push(*e))?;
    let block = sb.block_size.get();
    if !crate::format::BLOCK_SIZES.contains(&block) || (block as usize) < dev.block_size() {
        return Err(DiskError::BlockSize { disk: block, device: dev.block_size() as u32 });
    }
    // Extents must lie on the device (a table could claim anything).
    let device = dev.blocks().saturating_mul(dev.block_size() as u64);
    let on_device =
        |e: &TableEntry| e.start.get().checked_add(e.size.get()).is_some_and(|end| end <= device);
    let mut mems: Vec<Vec<u64>> = entries
        .iter()
        .map(|e| if on_device(e) { vec![0u64; memory_for(e.size.get()) / 8] } else { Vec::new() })
        .collect();
    let mut parts = Vec::new();
    for (i, (e, mem)) in entries.iter().zip(mems.iter_mut()).enumerate() {
        let bytes = zerocopy::IntoBytes::as_mut_bytes(mem.as_mut_slice());
        let opened = if on_device(e) {
            Namespace::open(&mut dev, i as u32, (e.start.get(), e.size.get()), block, bytes)
                .map_err(|err| describe(&err))
        } else {
            Err(format!("its extent ends beyond the device ({device} bytes)"))
        };
        let (ns, opened) = match opened {
            Ok((ns, opened)) => (Ok(ns), opened),
            Err(why) => (Err(why), Opened::default()),
        };
        parts.push(RefCell::new(Part { entry: *e, opened, ns }));
    }
    let image = OpenImage { dev: RefCell::new(dev), superblock: sb, parts };
    Ok(f(&image))
}

/// A one-line account of a namespace error.
pub fn describe<E: core::fmt::Display>(e: &Error<E>) -> String {
    crate::namespace::Described(e).to_string()
}

impl<'m, D: BlockDevice> OpenImage<'m, D> {
    /// The namespace called `name`.
    pub fn part(&self, name: &str) -> Option<&RefCell<Part<'m>>> {
        self.parts.iter().find(|p| p.borrow().name() == name)
    }
}

/// Reads object `t` of `part` (a prefix of a wider one if need be).
pub fn read_object<D: BlockDevice>(
    dev: &RefCell<D>,
    part: &mut Part<'_>,
    t: &Tile,
) -> Result<Option<Vec<u8>>, String> {
    let ns = part.ns.as_mut().map_err(|e| e.clone())?;
    let Some((i, exact)) = ns.find(t) else { return Ok(None) };
    let mut out = Vec::new();
    ns.read(&mut *dev.borrow_mut(), i, &mut |_, b| {
        out.extend_from_slice(b);
        true
    })
    .map_err(|e| describe(&e))?;
    if !exact {
        let n = prefix_len(t, out.len(), |at, two| {
            out.get(at..at + 2).map(|b| two.copy_from_slice(b)).is_some()
        })
        .ok_or_else(|| format!("{}: shorter than the tile it should start", t.path()))?;
        out.truncate(n);
    }
    Ok(Some(out))
}

/// One namespace as a `verify::Source`: its tiles by their tlog-tiles
/// paths, and its checkpoint.
pub struct PartSource<'a, 'm, D> {
    /// The device.
    pub dev: &'a RefCell<D>,
    /// The namespace.
    pub part: &'a RefCell<Part<'m>>,
}

fn other(e: String) -> io::Error {
    io::Error::other(e)
}

impl<D: BlockDevice> verify::Source for PartSource<'_, '_, D> {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        let mut part = self.part.borrow_mut();
        if path == "checkpoint" {
            let ns = part.ns.as_ref().map_err(|e| other(e.clone()))?;
            return Ok(ns.checkpoint().map(<[u8]>::to_vec));
        }
        let Some(t) = Tile::parse(path) else { return Ok(None) };
        read_object(self.dev, &mut part, &t).map_err(other)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let part = self.part.borrow();
        let ns = part.ns.as_ref().map_err(|e| other(e.clone()))?;
        let mut out: Vec<String> = ns.tiles().map(|(_, t)| t.path().to_string()).collect();
        if ns.checkpoint().is_some() {
            out.push("checkpoint".into());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Why a fault names the disk offset it does (for reports).
pub fn fault_offset<E>(e: &Error<E>) -> Option<u64> {
    match e {
        ledger::store::StoreError::Backend(Fault::Corrupt { offset, .. }) => Some(*offset),
        _ => None,
    }
}

/// What [`export_part`] wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Objects written (older partial tiles included).
    pub objects: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes namespace `part` into the new directory `dir` as a tlog-tiles
/// tree, as the POSIX store lays one out: `checkpoint` and every object at
/// its C2SP path, older partial tiles included. `dir` must not exist.
pub fn export_part<D: BlockDevice>(
    dev: &RefCell<D>,
    part: &RefCell<Part<'_>>,
    dir: &std::path::Path,
) -> io::Result<Exported> {
    std::fs::create_dir(dir)?;
    let src = PartSource { dev, part };
    let mut out = Exported::default();
    for path in verify::Source::list(&src)? {
        let bytes = verify::Source::read(&src, &path)?
            .ok_or_else(|| other(format!("{path}: listed but not readable")))?;
        let file = dir.join(&path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&file)?;
        std::io::Write::write_all(&mut f, &bytes)?;
        f.sync_all()?;
        out.objects += 1;
        out.bytes += bytes.len() as u64;
    }
    Ok(out)
}
