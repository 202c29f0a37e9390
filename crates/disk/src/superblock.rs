//! The disk as a whole: where each namespace's extent lies, and the
//! superblock that records it. A blank disk is formatted; any other disk
//! must carry exactly the namespace table this system expects, or nothing
//! is written to it.

use zerocopy::{FromBytes, IntoBytes};

use crate::crc::Crc32c;
use crate::device::BlockDevice;
use crate::format::{
    BLOCK_SIZES, EXTENT_ALIGN, LOG_START, MAX_NAMESPACES, SLOT_SIZE, SUPERBLOCK_AREA,
    SUPERBLOCK_MAGIC, SuperblockHeader, TableEntry, VERSION, entry_name, table_name,
};

/// A namespace the system expects: its name and extent size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec<'a> {
    /// `<tenant>/log` or `<tenant>/audit`.
    pub name: &'a str,
    /// Bytes of its extent: a multiple of 4096, at least [`MIN_EXTENT`].
    pub size: u64,
}

/// Smallest extent: the slots and a few blocks of log.
pub const MIN_EXTENT: u64 = 64 * 1024;

/// Why a disk cannot be used. Nothing was written in any of these cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError<E> {
    /// The device failed.
    Device(E),
    /// The system's namespaces cannot be laid out (a name or size).
    BadLayout(&'static str),
    /// The disk is smaller than the system's namespaces need.
    TooSmall {
        /// Bytes the layout needs.
        need: u64,
        /// Bytes the device has.
        have: u64,
    },
    /// The disk holds data that is not a service-fs superblock.
    NotServiceFs,
    /// A service-fs disk in another format version.
    Version(u32),
    /// A block size this device cannot write, or that is not one of the format's.
    BlockSize {
        /// The disk's block size.
        disk: u32,
        /// The device's.
        device: u32,
    },
    /// The disk belongs to another system: its namespace table differs.
    OtherSystem {
        /// The first table entry that differs (or the count, if that does).
        entry: usize,
    },
    /// The superblock fails its checksum and the namespaces hold data.
    Unreadable,
    /// There is no superblock, but the namespaces' places hold data.
    NoSuperblock,
}

impl<E: core::fmt::Display> core::fmt::Display for DiskError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DiskError::Device(e) => write!(f, "device: {e}"),
            DiskError::BadLayout(why) => f.write_str(why),
            DiskError::TooSmall { need, have } => {
                write!(f, "the disk has {have} bytes; this system's namespaces need {need}")
            }
            DiskError::NotServiceFs => {
                f.write_str("the disk holds data that is not a service-fs disk")
            }
            DiskError::Version(v) => {
                write!(f, "the disk is in format version {v}; this system reads version {VERSION}")
            }
            DiskError::BlockSize { disk, device } => write!(
                f,
                "the disk's format uses {disk}-byte blocks, which this {device}-byte-block device cannot write"
            ),
            DiskError::OtherSystem { entry } => write!(
                f,
                "the disk belongs to another system: its namespace table differs from this system's at entry {entry}"
            ),
            DiskError::Unreadable => {
                f.write_str("the superblock fails its checksum and the namespaces hold data")
            }
            DiskError::NoSuperblock => {
                f.write_str("the disk has no superblock, yet the namespaces' extents hold data")
            }
        }
    }
}

/// What opening the disk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// The format's block size.
    pub block_size: u32,
    /// Namespaces in the table.
    pub namespaces: u32,
    /// Bytes the layout covers.
    pub disk_bytes: u64,
    /// The disk was blank (or its first format was torn) and was formatted now.
    pub formatted: bool,
}

/// Checks `specs` and returns the table entry of each, in order: extents
/// follow the superblock area and one another.
pub fn table<'s>(
    specs: &'s [Spec<'s>],
) -> Result<impl Iterator<Item = TableEntry> + 's, &'static str> {
    if specs.is_empty() || specs.len() > MAX_NAMESPACES {
        return Err("a disk holds 1 to 510 namespaces");
    }
    let mut end = SUPERBLOCK_AREA;
    for s in specs {
        table_name(s.name).ok_or("a namespace name is empty or longer than 40 bytes")?;
        if s.size < MIN_EXTENT || !s.size.is_multiple_of(EXTENT_ALIGN) {
            return Err("a namespace's size must be a multiple of 4096, at least 64 KiB");
        }
        end = end.checked_add(s.size).ok_or("the namespaces do not fit a disk")?;
    }
    let mut start = SUPERBLOCK_AREA;
    Ok(specs.iter().map(move |s| {
        let e = TableEntry {
            name: table_name(s.name).unwrap_or([0; 40]),
            start: start.into(),
            size: s.size.into(),
            reserved: 0.into(),
        };
        start += s.size;
        e
    }))
}

/// Bytes a disk for `specs` needs.
pub fn disk_bytes(specs: &[Spec]) -> Result<u64, &'static str> {
    Ok(table(specs)?.last().map_or(SUPERBLOCK_AREA, |e| e.start.get() + e.size.get()))
}

fn superblock_len(count: usize) -> usize {
    size_of::<SuperblockHeader>() + count * size_of::<TableEntry>() + 4
}

/// Why a copy of the superblock could not be read.
enum CopyError<E> {
    Device(E),
    /// No superblock magic.
    NoMagic,
    /// The magic, but the count or the checksum is wrong.
    Damaged,
}

/// Reads the copy of the superblock at byte `at`, checking its magic and
/// checksum, and calls `each` with every table entry.
fn read_copy<D: BlockDevice>(
    dev: &mut D,
    at: u64,
    buf: &mut [u8],
    mut each: impl FnMut(usize, &TableEntry),
) -> Result<SuperblockHeader, CopyError<D::Error>> {
    let bs = dev.block_size();
    let chunk = buf.len() / bs * bs;
    let first = at / bs as u64;
    dev.read(first, &mut buf[..bs]).map_err(CopyError::Device)?;
    let h = SuperblockHeader::read_from_prefix(&buf[..bs])
        .map(|(h, _)| h)
        .map_err(|_| CopyError::NoMagic)?;
    if h.magic != SUPERBLOCK_MAGIC {
        return Err(CopyError::NoMagic);
    }
    let count = h.namespaces.get() as usize;
    if count == 0 || count > MAX_NAMESPACES {
        return Err(CopyError::Damaged);
    }
    // Stream it through `buf`, a chunk at a time; entries are passed on
    // only once the checksum holds.
    let total = superblock_len(count);
    let mut crc = Crc32c::new();
    let mut stored = [0u8; 4];
    let mut off = 0usize;
    while off < total {
        let n = chunk.min(total.div_ceil(bs) * bs - off);
        dev.read(first + (off / bs) as u64, &mut buf[..n]).map_err(CopyError::Device)?;
        let body = (total - 4).saturating_sub(off).min(n);
        crc.update(&buf[..body]);
        for (k, &b) in buf[..n].iter().enumerate().take(total - off).skip(body) {
            stored[off + k - (total - 4)] = b;
        }
        off += n;
    }
    if crc.finish() != u32::from_le_bytes(stored) {
        return Err(CopyError::Damaged);
    }
    let header = size_of::<SuperblockHeader>();
    let mut entry = [0u8; size_of::<TableEntry>()];
    for i in 0..count {
        let pos = header + i * entry.len();
        let block = pos / bs;
        dev.read(first + block as u64, &mut buf[..2 * bs]).map_err(CopyError::Device)?;
        let from = pos - block * bs;
        entry.copy_from_slice(&buf[from..from + size_of::<TableEntry>()]);
        let e = TableEntry::read_from_bytes(&entry).map_err(|_| CopyError::Damaged)?;
        each(i, &e);
    }
    Ok(h)
}

/// Reads the superblock (its backup copy if the first is damaged), checks
/// its magic, checksum and version, and calls `each` with every table
/// entry. `buf` holds at least two blocks.
pub fn read<D: BlockDevice>(
    dev: &mut D,
    buf: &mut [u8],
    mut each: impl FnMut(usize, &TableEntry),
) -> Result<SuperblockHeader, DiskError<D::Error>> {
    if buf.len() < 2 * dev.block_size() {
        return Err(DiskError::BadLayout("no room to read the superblock"));
    }
    let h = match read_copy(dev, 0, buf, &mut each) {
        Ok(h) => h,
        Err(CopyError::Device(e)) => return Err(DiskError::Device(e)),
        Err(first) => match read_copy(dev, BACKUP, buf, &mut each) {
            Ok(h) => h,
            Err(CopyError::Device(e)) => return Err(DiskError::Device(e)),
            Err(_) if matches!(first, CopyError::NoMagic) => return Err(DiskError::NotServiceFs),
            Err(_) => return Err(DiskError::Unreadable),
        },
    };
    if h.version.get() != VERSION {
        return Err(DiskError::Version(h.version.get()));
    }
    Ok(h)
}

/// Where the superblock's backup copy starts.
pub const BACKUP: u64 = SUPERBLOCK_AREA / 2;

/// Opens the disk for `specs`: formats it if it is blank, and otherwise
/// checks that it is a service-fs disk of this format version whose
/// namespace table is exactly this system's. `buf` holds at least two
/// blocks (8192 bytes is enough for any device).
pub fn open<D: BlockDevice>(
    dev: &mut D,
    specs: &[Spec],
    buf: &mut [u8],
) -> Result<Superblock, DiskError<D::Error>> {
    let need = disk_bytes(specs).map_err(DiskError::BadLayout)?;
    let device_bs = dev.block_size();
    let have = dev.blocks().saturating_mul(device_bs as u64);
    if have < need {
        return Err(DiskError::TooSmall { need, have });
    }
    if !device_bs.is_power_of_two() || device_bs > 4096 {
        return Err(DiskError::BadLayout(
            "the device's block size must be a power of two up to 4096",
        ));
    }
    if buf.len() < 2 * device_bs {
        return Err(DiskError::BadLayout("no room to read the superblock"));
    }
    let mut differs = None;
    let mut expected = table(specs).map_err(DiskError::BadLayout)?;
    let h = match read(dev, buf, |i, e| {
        if differs.is_none() && expected.next().as_ref() != Some(e) {
            differs = Some(i);
        }
    }) {
        Ok(h) => h,
        // Blank: the first copy is zero (formatting writes it last) and so
        // are the namespaces' places.
        Err(DiskError::NotServiceFs) if block_blank(dev, 0, buf)? => {
            if !namespaces_blank(dev, specs, buf)? {
                return Err(DiskError::NoSuperblock);
            }
            return format(dev, specs, buf);
        }
        Err(e) => return Err(e),
    };
    let block = h.block_size.get();
    if !BLOCK_SIZES.contains(&block) || (block as usize) < device_bs {
        return Err(DiskError::BlockSize { disk: block, device: device_bs as u32 });
    }
    if h.namespaces.get() as usize != specs.len() {
        let entry = differs.unwrap_or(specs.len().min(h.namespaces.get() as usize));
        return Err(DiskError::OtherSystem { entry });
    }
    if let Some(entry) = differs {
        return Err(DiskError::OtherSystem { entry });
    }
    Ok(Superblock {
        block_size: block,
        namespaces: h.namespaces.get(),
        disk_bytes: h.disk_bytes.get(),
        formatted: false,
    })
}

/// Whether block `block` of the device is all zero.
fn block_blank<D: BlockDevice>(
    dev: &mut D,
    block: u64,
    buf: &mut [u8],
) -> Result<bool, DiskError<D::Error>> {
    let bs = dev.block_size();
    dev.read(block, &mut buf[..bs]).map_err(DiskError::Device)?;
    Ok(buf[..bs].iter().all(|&b| b == 0))
}

/// Whether the first block of each namespace's slots and log is zero.
fn namespaces_blank<D: BlockDevice>(
    dev: &mut D,
    specs: &[Spec],
    buf: &mut [u8],
) -> Result<bool, DiskError<D::Error>> {
    let bs = dev.block_size() as u64;
    for e in table(specs).map_err(DiskError::BadLayout)? {
        for at in [0, SLOT_SIZE, LOG_START] {
            if !block_blank(dev, (e.start.get() + at) / bs, buf)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Writes the superblock for `specs` and flushes.
fn format<D: BlockDevice>(
    dev: &mut D,
    specs: &[Spec],
    buf: &mut [u8],
) -> Result<Superblock, DiskError<D::Error>> {
    let bs = dev.block_size();
    let block = (bs as u32).max(512);
    let disk = disk_bytes(specs).map_err(DiskError::BadLayout)?;
    let header = SuperblockHeader {
        magic: SUPERBLOCK_MAGIC,
        version: VERSION.into(),
        block_size: block.into(),
        namespaces: (specs.len() as u32).into(),
        reserved: 0.into(),
        disk_bytes: disk.into(),
        reserved2: [0; 32],
    };
    let mut crc = Crc32c::new();
    crc.update(header.as_bytes());
    for e in table(specs).map_err(DiskError::BadLayout)? {
        crc.update(e.as_bytes());
    }
    let crc = crc.finish().to_le_bytes();
    let total = superblock_len(specs.len());
    let padded = total.div_ceil(block as usize) * block as usize;
    // The backup first: a cut while writing it leaves the first copy
    // blank, a cut while writing the first copy leaves the backup whole.
    for copy in [BACKUP, 0] {
        let chunk = buf.len() / bs * bs;
        let mut at = 0;
        while at < padded {
            let n = chunk.min(padded - at);
            let out = &mut buf[..n];
            out.fill(0);
            let mut put = |from: usize, bytes: &[u8]| {
                for (k, &b) in bytes.iter().enumerate() {
                    if (at..at + n).contains(&(from + k)) {
                        out[from + k - at] = b;
                    }
                }
            };
            put(0, header.as_bytes());
            let mut p = size_of::<SuperblockHeader>();
            for e in table(specs).map_err(DiskError::BadLayout)? {
                put(p, e.as_bytes());
                p += size_of::<TableEntry>();
            }
            put(p, &crc);
            dev.write((copy + at as u64) / bs as u64, &buf[..n]).map_err(DiskError::Device)?;
            at += n;
        }
        dev.flush().map_err(DiskError::Device)?;
    }
    Ok(Superblock {
        block_size: block,
        namespaces: specs.len() as u32,
        disk_bytes: disk,
        formatted: true,
    })
}

/// The name of a table entry (for reports).
pub fn name_of(e: &TableEntry) -> &str {
    entry_name(e)
}
