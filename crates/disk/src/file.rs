//! A disk image file as a block device (host tools and the simulator).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::device::BlockDevice;

/// Bytes per block of an image file.
pub const BLOCK: usize = 512;

/// An image file; read-only unless opened for writing.
pub struct FileDevice {
    file: File,
    blocks: u64,
    writable: bool,
}

impl FileDevice {
    /// Opens `path` read-only: writes and flushes fail.
    pub fn open_read_only(path: &Path) -> io::Result<FileDevice> {
        let file = File::open(path)?;
        Self::with(file, false)
    }

    /// Opens `path` for reading and writing.
    pub fn open(path: &Path) -> io::Result<FileDevice> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::with(file, true)
    }

    fn with(file: File, writable: bool) -> io::Result<FileDevice> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        Ok(FileDevice { file, blocks: meta.len() / BLOCK as u64, writable })
    }

    fn check(&self, block: u64, len: usize) -> io::Result<u64> {
        let end = block.checked_add((len / BLOCK) as u64);
        if !len.is_multiple_of(BLOCK) || end.is_none_or(|e| e > self.blocks) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "I/O beyond the image"));
        }
        Ok(block * BLOCK as u64)
    }

    fn writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, "the image is open read-only"))
        }
    }
}

impl BlockDevice for FileDevice {
    type Error = io::Error;

    fn block_size(&self) -> usize {
        BLOCK
    }

    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = self.check(block, buf.len())?;
        self.file.read_exact_at(buf, at)
    }

    fn write(&mut self, block: u64, data: &[u8]) -> io::Result<()> {
        self.writable()?;
        let at = self.check(block, data.len())?;
        self.file.write_all_at(data, at)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writable()?;
        self.file.sync_data()
    }
}
