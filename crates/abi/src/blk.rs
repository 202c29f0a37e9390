//! `psdb` ↔ block driver: a block protocol in the style of the seL4 Device
//! Driver Framework's (sDDF) — a request queue and a response queue in
//! shared memory, a data region the requests point into, a configuration
//! region the driver fills in, and a notification each way. `psdb` knows
//! nothing of the device; the driver knows nothing of tiles. Any driver
//! that speaks this (`docs/abi.md`) can take the `blk` PD's place.
//!
//! Structures are `#[repr(C)]` in the machine's byte order (little-endian
//! on every Microkit target). Each queue is a single-producer,
//! single-consumer ring: a 64-byte header (`head` at 0, `tail` at 4, both
//! free-running `u32`s) and then its entries; the producer writes entries
//! and then `tail`, the consumer reads them and then advances `head`, each
//! index stored with release and read with acquire ordering.

use core::marker::PhantomData;

use platform::SharedRegion;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// How the generated system wires a block driver to psdb: channel ids, and
/// the symbols of the regions they share (the same names in both PDs).
pub mod system {
    /// In `blk`: the channel to psdb.
    pub const DRIVER_PSDB: u8 = 0;
    /// In `blk`: the device's interrupt.
    pub const DRIVER_IRQ: u8 = 1;
    /// In `psdb`: the channel to `blk` (above every namespace's).
    pub const PSDB_DRIVER: u8 = 61;
    /// The configuration the driver publishes.
    pub const CONFIG: &str = "sfs_blk_config";
    /// psdb's requests.
    pub const REQUESTS: &str = "sfs_blk_requests";
    /// The driver's responses.
    pub const RESPONSES: &str = "sfs_blk_responses";
    /// The data region requests point into.
    pub const DATA: &str = "sfs_blk_data";
    /// In `blk`: the device's registers.
    pub const REGS: &str = "sfs_blk_regs";
    /// In `blk`: memory for the device's queue.
    pub const DMA: &str = "sfs_blk_dma";
    /// In `blk`: the DMA region's physical address.
    pub const DMA_PADDR: &str = "sfs_blk_dma_paddr";
    /// In `blk`: the data region's physical address.
    pub const DATA_PADDR: &str = "sfs_blk_data_paddr";
}

/// Request codes.
pub mod code {
    /// Read `count` blocks from `block` into the data region at `offset`.
    pub const READ: u32 = 0;
    /// Write `count` blocks from the data region at `offset` to `block`.
    pub const WRITE: u32 = 1;
    /// Answered once every WRITE answered before this request was submitted
    /// is on stable storage (a real flush of the device's cache).
    pub const FLUSH: u32 = 2;
    /// Answered once every request submitted before it has been answered;
    /// no request after it starts before.
    pub const BARRIER: u32 = 3;
}

/// Response statuses.
pub mod status {
    /// Done: `count` blocks transferred (0 for FLUSH and BARRIER).
    pub const OK: u32 = 0;
    /// `block + count` lies beyond the device.
    pub const SEEK_ERROR: u32 = 1;
    /// The device failed the request.
    pub const IO_ERROR: u32 = 2;
    /// A malformed request: unknown code, zero count, or a data range
    /// beyond the data region.
    pub const BAD_REQUEST: u32 = 3;
    /// The device cannot do it (a write to a read-only device).
    pub const UNSUPPORTED: u32 = 4;
}

/// A request (32 bytes).
#[derive(
    FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[repr(C)]
pub struct Request {
    /// A [`code`].
    pub code: u32,
    /// Blocks to transfer (READ, WRITE).
    pub count: u32,
    /// First block on the device.
    pub block: u64,
    /// Byte offset into the data region.
    pub offset: u64,
    /// Chosen by the client; the response carries it back.
    pub id: u64,
}

/// A response (16 bytes).
#[derive(
    FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[repr(C)]
pub struct Response {
    /// A [`status`].
    pub status: u32,
    /// Blocks transferred.
    pub count: u32,
    /// The request's id.
    pub id: u64,
}

/// Driver states in [`Config::state`].
pub mod state {
    /// The driver has not finished starting.
    pub const STARTING: u32 = 0;
    /// The device serves requests.
    pub const READY: u32 = 1;
    /// The driver will serve nothing; [`super::Config::reason`] says why.
    pub const FAILED: u32 = 2;
}

/// [`Config::flags`]: the device performs FLUSH (it has a volatile write
/// cache it can flush, or none): writes can be made durable.
pub const FLAG_DURABLE: u32 = 1;
/// [`Config::flags`]: the device refuses writes.
pub const FLAG_READ_ONLY: u32 = 2;

/// The configuration region, written by the driver (128 bytes). `state`
/// is stored last, with release ordering; the client waits for it.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Config {
    /// [`CONFIG_MAGIC`].
    pub magic: u32,
    /// [`VERSION`].
    pub version: u32,
    /// A [`state`].
    pub state: u32,
    /// Bytes per block (a power of two).
    pub block_size: u32,
    /// Blocks on the device.
    pub blocks: u64,
    /// [`FLAG_DURABLE`], [`FLAG_READ_ONLY`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
    /// Why the driver failed (UTF-8, zero-padded).
    pub reason: [u8; 96],
}

/// `"SFSB"` in the configuration region's first word.
pub const CONFIG_MAGIC: u32 = u32::from_le_bytes(*b"SFSB");
/// This protocol's version.
pub const VERSION: u32 = 1;
/// Offset of `state` in [`Config`].
pub const STATE_OFFSET: usize = core::mem::offset_of!(Config, state);
// docs/abi.md gives the offsets: the structure must keep them.
const _: () = assert!(STATE_OFFSET == 8 && size_of::<Config>() == 128);

/// Bytes of a queue's header.
pub const QUEUE_HEADER: usize = 64;
const HEAD: usize = 0;
const TAIL: usize = 4;

/// One end of a queue of `T`s in a shared region. Both ends compute the
/// capacity from the region's size: the largest power of two of entries
/// that fits after the header.
pub struct Queue<T> {
    region: SharedRegion,
    capacity: u32,
    _entries: PhantomData<T>,
}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout + Copy> Queue<T> {
    /// The queue in `region`; `None` if not even two entries fit.
    pub fn new(region: SharedRegion) -> Option<Queue<T>> {
        let fit = region.len().checked_sub(QUEUE_HEADER)? / size_of::<T>();
        let capacity = u32::try_from(1usize << fit.checked_ilog2()?).ok()?;
        (capacity >= 2).then_some(Queue { region, capacity, _entries: PhantomData })
    }

    /// Entries it holds at most.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    fn index(&self, at: usize) -> u32 {
        self.region.load_u32(at).unwrap_or(0)
    }

    fn slot(&self, i: u32) -> usize {
        QUEUE_HEADER + (i % self.capacity) as usize * size_of::<T>()
    }

    /// Entries waiting (as this end sees it).
    pub fn len(&self) -> u32 {
        self.index(TAIL).wrapping_sub(self.index(HEAD))
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Producer: adds `e`; `false` if the queue is full (or the other end
    /// left its indices inconsistent).
    pub fn push(&mut self, e: &T) -> bool {
        let tail = self.index(TAIL);
        if tail.wrapping_sub(self.index(HEAD)) >= self.capacity {
            return false;
        }
        let at = self.slot(tail);
        self.region.write(at, e.as_bytes()).is_some()
            && self.region.store_u32(TAIL, tail.wrapping_add(1)).is_some()
    }

    /// Consumer: takes the oldest entry.
    pub fn pop(&mut self) -> Option<T> {
        let head = self.index(HEAD);
        let waiting = self.index(TAIL).wrapping_sub(head);
        if waiting == 0 || waiting > self.capacity {
            return None;
        }
        let mut raw = [0u8; 64];
        let raw = raw.get_mut(..size_of::<T>())?;
        self.region.read(self.slot(head), raw)?;
        let e = T::read_from_bytes(raw).ok()?;
        self.region.store_u32(HEAD, head.wrapping_add(1))?;
        Some(e)
    }
}

/// Reads the configuration the driver published; `None` until it has.
pub fn read_config(region: &SharedRegion) -> Option<Config> {
    if region.load_u32(STATE_OFFSET)? == state::STARTING {
        return None;
    }
    let mut raw = [0u8; size_of::<Config>()];
    region.read(0, &mut raw)?;
    Config::read_from_bytes(&raw).ok().filter(|c| c.magic == CONFIG_MAGIC)
}

/// Publishes `config` (its `state` last).
pub fn write_config(region: &mut SharedRegion, config: &Config) -> Option<()> {
    let bytes = config.as_bytes();
    region.write(0, &bytes[..STATE_OFFSET])?;
    region.write(STATE_OFFSET + 4, &bytes[STATE_OFFSET + 4..])?;
    region.store_u32(STATE_OFFSET, config.state)
}

impl Config {
    /// A configuration in `state` with the device's geometry.
    pub fn new(state: u32, block_size: u32, blocks: u64, flags: u32) -> Config {
        Config {
            magic: CONFIG_MAGIC,
            version: VERSION,
            state,
            block_size,
            blocks,
            flags,
            reserved: 0,
            reason: [0; 96],
        }
    }

    /// A failed driver's configuration, saying why.
    pub fn failed(reason: &str) -> Config {
        let mut c = Config::new(state::FAILED, 0, 0, 0);
        let n = reason.len().min(c.reason.len());
        c.reason[..n].copy_from_slice(&reason.as_bytes()[..n]);
        c
    }

    /// The reason, as text.
    pub fn reason(&self) -> &str {
        let end = self.reason.iter().position(|&b| b == 0).unwrap_or(self.reason.len());
        core::str::from_utf8(&self.reason[..end]).unwrap_or("(not UTF-8)")
    }
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests {
    use super::*;
    use platform::host::{leak, view};

    #[test]
    fn layouts_have_the_documented_sizes() {
        assert_eq!(size_of::<Request>(), 32);
        assert_eq!(size_of::<Response>(), 16);
        assert_eq!(size_of::<Config>(), 128);
    }

    #[test]
    fn a_queue_carries_entries_in_order_and_says_when_full() {
        let mem: &'static [u8] = leak(4096);
        let mut producer = Queue::<Request>::new(view(mem)).unwrap();
        let mut consumer = Queue::<Request>::new(view(mem)).unwrap();
        assert_eq!(producer.capacity(), 64);
        for round in 0..3u64 {
            for i in 0..64 {
                assert!(producer.push(&Request { id: round * 100 + i, ..Request::default() }));
            }
            assert!(!producer.push(&Request::default()));
            for i in 0..64 {
                assert_eq!(consumer.pop().map(|r| r.id), Some(round * 100 + i));
            }
            assert_eq!(consumer.pop(), None);
        }
        // Indices another side corrupted make the queue refuse, not misread.
        let mut raw = view(mem);
        raw.store_u32(4, 0xFFFF_0000).unwrap();
        assert_eq!(consumer.pop(), None);
        assert!(!producer.push(&Request::default()));
    }

    #[test]
    fn the_config_is_published_state_last() {
        let mut r = view(leak(4096));
        assert_eq!(read_config(&r), None);
        let c = Config::new(state::READY, 512, 2048, FLAG_DURABLE);
        write_config(&mut r, &c).unwrap();
        assert_eq!(read_config(&r), Some(c));
        let f = Config::failed("no flush");
        write_config(&mut r, &f).unwrap();
        assert_eq!(read_config(&r).unwrap().reason(), "no flush");
    }
}
