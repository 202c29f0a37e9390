//! What the format needs from a disk: fixed-size blocks that can be read,
//! written and flushed. A write is durable only after a later flush
//! completes; until then it may be lost or torn (some of its sectors
//! written, others not).

use core::fmt;

/// A block device.
pub trait BlockDevice {
    /// Why an I/O failed.
    type Error: fmt::Debug + fmt::Display;
    /// Bytes per block (a power of two, at most 4096).
    fn block_size(&self) -> usize;
    /// Blocks on the device.
    fn blocks(&self) -> u64;
    /// Reads `buf.len()` bytes (a multiple of the block size) from block `block` on.
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), Self::Error>;
    /// Writes `data` (a multiple of the block size) from block `block` on.
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), Self::Error>;
    /// Returns once every write completed before it is on stable storage.
    fn flush(&mut self) -> Result<(), Self::Error>;
}

/// Why a memory device refused an I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfRange;

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("I/O beyond the device or not block-aligned")
    }
}

/// A device in memory (psdb without a disk): every write is as durable as
/// the memory holding it, so a flush has nothing to do.
pub struct RamDevice<'a> {
    mem: &'a mut [u8],
    block: usize,
}

impl<'a> RamDevice<'a> {
    /// A device of 512-byte blocks over `mem` (its length rounded down).
    pub fn new(mem: &'a mut [u8]) -> RamDevice<'a> {
        RamDevice { mem, block: 512 }
    }

    /// The memory, as the device's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.mem
    }

    fn range(&self, block: u64, len: usize) -> Result<core::ops::Range<usize>, OutOfRange> {
        let start = usize::try_from(block).ok().and_then(|b| b.checked_mul(self.block));
        let end = start.and_then(|s| s.checked_add(len));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.mem.len() && len.is_multiple_of(self.block) => Ok(s..e),
            _ => Err(OutOfRange),
        }
    }
}

impl BlockDevice for RamDevice<'_> {
    type Error = OutOfRange;

    fn block_size(&self) -> usize {
        self.block
    }

    fn blocks(&self) -> u64 {
        (self.mem.len() / self.block) as u64
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        let r = self.range(block, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), OutOfRange> {
        let r = self.range(block, data.len())?;
        self.mem[r].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OutOfRange> {
        Ok(())
    }
}
