//! A model of power loss, for tests: a write not followed by a completed
//! flush is volatile, and a power cut loses it, writes it whole, or tears
//! it (some of its 512-byte sectors written, one perhaps left as garbage).

use std::fmt;

use crate::device::BlockDevice;

/// The device lost power (after [`ModelDevice::cut_after`] operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerOff;

impl fmt::Display for PowerOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the device lost power")
    }
}

/// A write or a flush, as the device saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A write of `len` bytes at byte offset `at`.
    Write {
        /// Byte offset.
        at: u64,
        /// Bytes.
        len: usize,
    },
    /// A flush.
    Flush,
}

/// Sector size the model tears writes at.
pub const SECTOR: usize = 512;

/// A seeded choice of what a power cut does to each volatile write.
pub struct PowerLoss {
    state: u64,
}

impl PowerLoss {
    /// A model whose choices follow from `seed`.
    pub fn new(seed: u64) -> PowerLoss {
        PowerLoss { state: seed ^ 0x9E37_79B9_7F4A_7C15 }
    }

    /// The next pseudo-random number (SplitMix64).
    pub fn draw(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Decides the fate of a volatile write of `data` at byte offset `at`,
    /// calling `write(offset, bytes)` for whatever reaches the medium.
    pub fn resolve(&mut self, at: u64, data: &[u8], mut write: impl FnMut(u64, &[u8])) {
        match self.draw() % 4 {
            0 => {}               // lost
            1 => write(at, data), // written whole
            _ => {
                // Torn: each sector written or not; one may be garbage.
                let garbage = self
                    .draw()
                    .is_multiple_of(2)
                    .then(|| self.draw() as usize % data.len().div_ceil(SECTOR));
                for (k, sector) in data.chunks(SECTOR).enumerate() {
                    let off = at + (k * SECTOR) as u64;
                    if garbage == Some(k) {
                        let junk: Vec<u8> = (0..sector.len()).map(|_| self.draw() as u8).collect();
                        write(off, &junk);
                    } else if self.draw().is_multiple_of(2) {
                        write(off, sector);
                    }
                }
            }
        }
    }
}

/// A device in memory with a volatile write cache: reads see every write,
/// a flush makes them durable, a [`power_cut`](ModelDevice::power_cut)
/// resolves the ones not flushed with a [`PowerLoss`].
#[derive(Clone)]
pub struct ModelDevice {
    durable: Vec<u8>,
    volatile: Vec<(u64, Vec<u8>)>,
    block: usize,
    /// Acknowledge flushes without doing them (as sDDF's virtio driver
    /// does): the test of tests, which must then find acknowledged data lost.
    pub lie_about_flush: bool,
    /// Writes and flushes so far.
    pub writes: u64,
    /// Flushes so far.
    pub flushes: u64,
    /// Bytes written so far.
    pub bytes_written: u64,
    /// Fail every write and flush after this many (the power went off).
    pub cut_after: Option<u64>,
    /// Every write and flush, in order.
    pub ops: Vec<Op>,
}

impl ModelDevice {
    /// A blank device of `bytes` (a multiple of `block`).
    pub fn new(bytes: usize, block: usize) -> ModelDevice {
        ModelDevice {
            durable: vec![0; bytes],
            volatile: Vec::new(),
            block,
            lie_about_flush: false,
            writes: 0,
            flushes: 0,
            bytes_written: 0,
            cut_after: None,
            ops: Vec::new(),
        }
    }

    fn powered(&mut self, op: Op) -> Result<(), PowerOff> {
        if self.cut_after.is_some_and(|n| self.ops.len() as u64 >= n) {
            return Err(PowerOff);
        }
        self.ops.push(op);
        Ok(())
    }

    /// Cuts the power: every volatile write is lost, written or torn;
    /// then the power is back.
    pub fn power_cut(&mut self, model: &mut PowerLoss) {
        self.cut_after = None;
        for (at, data) in std::mem::take(&mut self.volatile) {
            let durable = &mut self.durable;
            model.resolve(at, &data, |off, b| {
                durable[off as usize..off as usize + b.len()].copy_from_slice(b)
            });
        }
    }

    /// The durable bytes.
    pub fn durable(&self) -> &[u8] {
        &self.durable
    }

    /// Bytes as a read would see them now.
    pub fn image(&self) -> Vec<u8> {
        let mut out = self.durable.clone();
        for (at, data) in &self.volatile {
            out[*at as usize..*at as usize + data.len()].copy_from_slice(data);
        }
        out
    }

    /// Changes durable bytes (to model damage on the medium).
    pub fn durable_mut(&mut self) -> &mut [u8] {
        &mut self.durable
    }
}

impl BlockDevice for ModelDevice {
    type Error = PowerOff;

    fn block_size(&self) -> usize {
        self.block
    }

    fn blocks(&self) -> u64 {
        (self.durable.len() / self.block) as u64
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), PowerOff> {
        if self.cut_after.is_some_and(|n| self.ops.len() as u64 >= n) {
            return Err(PowerOff);
        }
        let at = block as usize * self.block;
        buf.copy_from_slice(&self.durable[at..at + buf.len()]);
        for (w, data) in &self.volatile {
            let (w, end) = (*w as usize, *w as usize + data.len());
            let (lo, hi) = (w.max(at), end.min(at + buf.len()));
            if lo < hi {
                buf[lo - at..hi - at].copy_from_slice(&data[lo - w..hi - w]);
            }
        }
        Ok(())
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), PowerOff> {
        assert!(data.len().is_multiple_of(self.block), "unaligned write");
        assert!(
            block as usize * self.block + data.len() <= self.durable.len(),
            "write beyond the device"
        );
        self.powered(Op::Write { at: block * self.block as u64, len: data.len() })?;
        self.writes += 1;
        self.bytes_written += data.len() as u64;
        self.volatile.push((block * self.block as u64, data.to_vec()));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PowerOff> {
        self.powered(Op::Flush)?;
        self.flushes += 1;
        if !self.lie_about_flush {
            for (at, data) in std::mem::take(&mut self.volatile) {
                self.durable[at as usize..at as usize + data.len()].copy_from_slice(&data);
            }
        }
        Ok(())
    }
}

/// Edits both copies of a disk image's superblock with `edit` (given each
/// copy from its first byte) and seals each again with its CRC, as someone
/// forging a disk would: for tests of what readers do with such disks.
pub fn edit_superblock(image: &mut [u8], mut edit: impl FnMut(&mut [u8])) {
    for copy in [0, crate::superblock::BACKUP as usize] {
        let sb = &mut image[copy..copy + crate::format::SUPERBLOCK_AREA as usize / 2];
        edit(sb);
        let count = u32::from_le_bytes(sb[16..20].try_into().unwrap_or_default()) as usize;
        let len = 64 + 64 * count.min(crate::format::MAX_NAMESPACES);
        let crc = crate::crc::crc32c(&sb[..len]);
        sb[len..len + 4].copy_from_slice(&crc.to_le_bytes());
    }
}
