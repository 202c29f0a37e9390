//! The simulator's block device: the `blk` PD's driver logic (`pds/blk`)
//! over a host file, where seL4 has virtio-blk.
//!
//! - By default every write goes to the file when it completes and a FLUSH
//!   is an `fdatasync`: killing the simulated machine (or the `blk`
//!   process) keeps every completed write, as a disk without a volatile
//!   cache would.
//! - With a power-loss seed the device has a volatile write cache: writes
//!   are kept in a journal beside the image (`<image>.volatile`) and reach
//!   the image only at a FLUSH. If the machine stops before, the next boot
//!   finds the journal and resolves it as a power cut would: each write
//!   that was never flushed is lost, written whole, or torn (some sectors
//!   written, one perhaps garbage), chosen by the seed.
//!
//! The kernel passes the image and the seed in the environment.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use abi::blk::{Request, code, status};
use blk::{Device, Geometry, Started};
use disk::model::PowerLoss;
use platform::{Platform, Regions, SharedRegion};

/// The disk image (`simulator boot --disk`).
pub const DISK_ENV: &str = "SERVICE_FS_SIM_DISK";
/// The power-loss seed (`simulator boot --power-loss`).
pub const POWER_LOSS_ENV: &str = "SERVICE_FS_SIM_POWER_LOSS";

const BLOCK: u32 = 512;

/// A disk image file as the `blk` PD's device.
pub struct FileDisk {
    file: File,
    blocks: u64,
    /// Power-loss mode: unflushed writes, and the journal they are kept in.
    volatile: Option<Volatile>,
}

struct Volatile {
    /// Opened to append: truncating it empties it.
    journal: File,
    /// Block → its latest unflushed bytes (what reads must see).
    blocks: BTreeMap<u64, Vec<u8>>,
}

/// A journal entry's offset that marks a completed flush: every entry
/// before it is on the medium.
const FLUSHED: u64 = u64::MAX;

fn journal_path(image: &Path) -> PathBuf {
    let mut p = image.as_os_str().to_owned();
    p.push(".volatile");
    PathBuf::from(p)
}

/// The simulator's disk backend (`blk::Driver<P, FileDisk>`): the image
/// the environment names, at the size the driver's configuration gives.
impl blk::Open for FileDisk {
    fn open<P: Platform>(
        p: P,
        regions: &mut dyn Regions,
        _: &SharedRegion,
    ) -> Result<Self, &'static str> {
        let bytes = match system::load(regions, p.pd_name()).map(|c| c.kind) {
            Ok(system::Kind::Blk(b)) => b.disk_bytes,
            _ => return Err("no block driver configuration (sfs_config)"),
        };
        // The driver's reason must outlive the call: leak the message (once,
        // in a driver that then serves nothing).
        FileDisk::from_env(bytes).map_err(|e| &*Box::leak(e.into_boxed_str()))
    }
}

impl FileDisk {
    /// The device the environment names: the image (created at `bytes`,
    /// the system's size, when missing) or a temporary one; `Err` says why
    /// not.
    pub fn from_env(bytes: u64) -> Result<FileDisk, String> {
        let seed = std::env::var(POWER_LOSS_ENV).ok().map(|s| s.parse::<u64>()).transpose();
        let seed = seed.map_err(|_| format!("{POWER_LOSS_ENV} is not a number"))?;
        let Some(path) = std::env::var_os(DISK_ENV).map(PathBuf::from) else {
            if seed.is_some() {
                return Err("the power-loss model needs --disk: a temporary disk does not \
                            outlive the simulator, so there is no next boot to lose writes in"
                    .into());
            }
            return FileDisk::temporary(bytes).map_err(|e| format!("temporary disk: {e}"));
        };
        FileDisk::open(&path, bytes, seed)
            .map_err(|e| format!("disk image {}: {e}", path.display()))
    }

    /// An unnamed image: nothing is left behind however the simulator ends,
    /// and no later run can open it.
    fn temporary(bytes: u64) -> io::Result<FileDisk> {
        let file = tempfile::tempfile()?;
        file.set_len(bytes)?;
        println!("blk: no --disk given: a temporary disk, gone when the simulator stops");
        Ok(FileDisk { file, blocks: bytes / u64::from(BLOCK), volatile: None })
    }

    fn open(path: &Path, bytes: u64, seed: Option<u64>) -> io::Result<FileDisk> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        if file.metadata()?.len() == 0 {
            file.set_len(bytes)?;
        }
        let blocks = file.metadata()?.len() / u64::from(BLOCK);
        let journal = journal_path(path);
        let mut volatile = None;
        if let Some(seed) = seed {
            let cut = resolve_power_cut(&file, &journal, seed)?;
            if cut > 0 {
                println!(
                    "blk: a power cut took {cut} writes that were never flushed: each lost, written or torn (seed {seed})"
                );
            }
            let journal = OpenOptions::new().append(true).create(true).open(&journal)?;
            volatile = Some(Volatile { journal, blocks: BTreeMap::new() });
        } else if journal.exists() {
            // A journal without the power-loss model: resolve it the kind
            // way (all written), so no acknowledged write is missing.
            resolve_power_cut(&file, &journal, u64::MAX)?;
        }
        Ok(FileDisk { file, blocks, volatile })
    }

    fn write_at(&mut self, block: u64, data: &[u8]) -> io::Result<()> {
        let Some(v) = &mut self.volatile else {
            return self.file.write_all_at(data, block * u64::from(BLOCK));
        };
        // Journal first (a crash keeps it for the next boot to resolve).
        journal_entry(&mut v.journal, block * u64::from(BLOCK), data)?;
        for (k, sector) in data.chunks(BLOCK as usize).enumerate() {
            v.blocks.insert(block + k as u64, sector.to_vec());
        }
        Ok(())
    }

    fn read_at(&mut self, block: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, block * u64::from(BLOCK))?;
        if let Some(v) = &self.volatile {
            for (k, sector) in buf.chunks_mut(BLOCK as usize).enumerate() {
                if let Some(b) = v.blocks.get(&(block + k as u64)) {
                    sector.copy_from_slice(b);
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(v) = &mut self.volatile {
            // The flush is done once its mark is in the journal: a stop
            // after that leaves writes the next boot applies whole.
            journal_entry(&mut v.journal, FLUSHED, &[])?;
            for (b, data) in std::mem::take(&mut v.blocks) {
                self.file.write_all_at(&data, b * u64::from(BLOCK))?;
            }
            self.file.sync_data()?;
            v.journal.set_len(0)?;
            return Ok(());
        }
        self.file.sync_data()
    }
}

/// Appends one entry (offset, length, bytes) to the journal in one write.
fn journal_entry(journal: &mut File, off: u64, data: &[u8]) -> io::Result<()> {
    let mut entry = Vec::with_capacity(12 + data.len());
    entry.extend_from_slice(&off.to_le_bytes());
    entry.extend_from_slice(&(data.len() as u32).to_le_bytes());
    entry.extend_from_slice(data);
    journal.write_all(&entry)
}

/// Applies the journal left by a machine that stopped without flushing:
/// writes before its last flush mark whole, each later one as `seed`
/// chooses (`u64::MAX`: all whole). Returns how many were never flushed.
fn resolve_power_cut(image: &File, journal: &Path, seed: u64) -> io::Result<usize> {
    let mut bytes = Vec::new();
    match File::open(journal) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    let mut at = 0;
    // A torn last entry (the process died writing it) never completed.
    while at + 12 <= bytes.len() {
        let off = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let len =
            u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap_or_default()) as usize;
        let Some(data) = bytes.get(at + 12..at + 12 + len) else { break };
        entries.push((off, data));
        at += 12 + len;
    }
    let flushed = entries.iter().rposition(|(off, _)| *off == FLUSHED).map_or(0, |i| i + 1);
    let mut model = PowerLoss::new(seed);
    let mut n = 0;
    for (k, &(off, data)) in entries.iter().enumerate() {
        if off == FLUSHED {
            continue;
        }
        if seed == u64::MAX || k < flushed {
            image.write_all_at(data, off)?;
        } else {
            let mut failed = Ok(());
            model.resolve(off, data, |o, b| {
                if failed.is_ok() {
                    failed = image.write_all_at(b, o);
                }
            });
            failed?;
            n += 1;
        }
    }
    image.sync_data()?;
    std::fs::remove_file(journal)?;
    Ok(n)
}

fn io_status(r: io::Result<()>, count: u32) -> Started {
    match r {
        Ok(()) => Started::Done(status::OK, count),
        Err(e) => {
            eprintln!("blk: I/O error: {e}");
            Started::Done(status::IO_ERROR, 0)
        }
    }
}

impl Device for FileDisk {
    fn geometry(&self) -> Geometry {
        Geometry { block_size: BLOCK, blocks: self.blocks, durable: true, read_only: false }
    }

    fn start(&mut self, req: &Request, data: &mut SharedRegion) -> Started {
        let len = req.count as usize * BLOCK as usize;
        let mut buf = vec![0u8; len];
        match req.code {
            code::READ => {
                let r = self.read_at(req.block, &mut buf).and_then(|()| {
                    data.write(req.offset as usize, &buf)
                        .ok_or_else(|| io::Error::other("data region"))
                });
                io_status(r, req.count)
            }
            code::WRITE => {
                let r = data
                    .read(req.offset as usize, &mut buf)
                    .ok_or_else(|| io::Error::other("data region"))
                    .and_then(|()| self.write_at(req.block, &buf));
                io_status(r, req.count)
            }
            code::FLUSH => io_status(self.flush(), 0),
            _ => Started::Done(status::BAD_REQUEST, 0),
        }
    }

    fn complete(&mut self, _: &mut SharedRegion) -> Option<(u32, u32)> {
        None // every request completes when it starts
    }
}
