//! Where psdb's disk is: behind a block driver (the `abi::blk` queues), or
//! in psdb's own memory when the system has no disk.

use core::fmt;

use abi::blk::{
    Config, FLAG_DURABLE, FLAG_READ_ONLY, Queue, Request, Response, code, state, status,
};
use disk::{BlockDevice, RamDevice};
use platform::{Channel, Platform, SharedRegion};

/// How long psdb waits for the driver to answer, where it can tell time.
const PATIENCE_SECS: u64 = 60;

/// Why an I/O failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediumError {
    /// The driver answered with this status.
    Status(u32),
    /// The driver answered another request than the one outstanding.
    WrongAnswer,
    /// The driver did not answer in time.
    NoAnswer,
    /// The request queue had no room (the driver stopped taking requests).
    QueueFull,
    /// An I/O the memory device refused.
    Ram,
}

impl fmt::Display for MediumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediumError::Status(status::SEEK_ERROR) => {
                f.write_str("the driver: blocks beyond the device")
            }
            MediumError::Status(status::IO_ERROR) => {
                f.write_str("the driver: the device failed the request")
            }
            MediumError::Status(s) => write!(f, "the driver answered status {s}"),
            MediumError::WrongAnswer => {
                f.write_str("the driver answered a request psdb did not make")
            }
            MediumError::NoAnswer => {
                write!(f, "the driver did not answer within {PATIENCE_SECS} s")
            }
            MediumError::QueueFull => f.write_str("the driver's request queue is full"),
            MediumError::Ram => f.write_str("I/O beyond psdb's memory store"),
        }
    }
}

/// psdb's side of the block protocol: a [`BlockDevice`] whose I/O goes to
/// the driver, one request at a time through the data region.
pub struct BlkClient<P> {
    p: P,
    ch: Channel,
    requests: Queue<Request>,
    responses: Queue<Response>,
    data: SharedRegion,
    block_size: usize,
    blocks: u64,
    next_id: u64,
}

/// What the driver said at start.
pub enum Published {
    /// It serves a durable device.
    Ready,
    /// It will serve nothing, for this reason.
    Failed(Config),
    /// It never said anything.
    Silent,
}

impl<P: Platform> BlkClient<P> {
    /// Waits for the driver's configuration, and the client if it serves.
    pub fn connect(
        p: P,
        ch: Channel,
        config: &SharedRegion,
        requests: SharedRegion,
        responses: SharedRegion,
        data: SharedRegion,
    ) -> (Published, Option<BlkClient<P>>) {
        let start = p.ticks();
        let c = loop {
            if let Some(c) = abi::blk::read_config(config) {
                break c;
            }
            if timed_out(&p, start) {
                return (Published::Silent, None);
            }
            p.relax();
        };
        let usable = c.state == state::READY
            && c.flags & FLAG_DURABLE != 0
            && c.flags & FLAG_READ_ONLY == 0
            && c.block_size.is_power_of_two()
            && (512..=4096).contains(&c.block_size)
            && data.len() >= c.block_size as usize;
        if !usable {
            return (Published::Failed(c), None);
        }
        let (Some(requests), Some(responses)) = (Queue::new(requests), Queue::new(responses))
        else {
            return (Published::Failed(Config::failed("queues too small")), None);
        };
        let client = BlkClient {
            p,
            ch,
            requests,
            responses,
            data,
            block_size: c.block_size as usize,
            blocks: c.blocks,
            next_id: 1,
        };
        (Published::Ready, Some(client))
    }

    /// Sends one request and waits for its answer.
    fn call(&mut self, code: u32, block: u64, count: u32) -> Result<(), MediumError> {
        let id = self.next_id;
        self.next_id += 1;
        if !self.requests.push(&Request { code, count, block, offset: 0, id }) {
            return Err(MediumError::QueueFull);
        }
        self.p.notify(self.ch);
        let start = self.p.ticks();
        loop {
            if let Some(r) = self.responses.pop() {
                if r.id != id {
                    return Err(MediumError::WrongAnswer);
                }
                return if r.status == status::OK {
                    Ok(())
                } else {
                    Err(MediumError::Status(r.status))
                };
            }
            if timed_out(&self.p, start) {
                return Err(MediumError::NoAnswer);
            }
            self.p.relax();
        }
    }

    /// Bytes per request: the data region, in whole blocks.
    fn chunk(&self) -> usize {
        self.data.len() / self.block_size * self.block_size
    }
}

fn timed_out<P: Platform>(p: &P, start: Option<platform::Ticks>) -> bool {
    match (start, p.ticks()) {
        (Some(s), Some(now)) => now.micros_since(s) > PATIENCE_SECS * 1_000_000,
        _ => false,
    }
}

impl<P: Platform> BlockDevice for BlkClient<P> {
    type Error = MediumError;

    fn block_size(&self) -> usize {
        self.block_size
    }

    fn blocks(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, mut block: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        let chunk = self.chunk();
        for part in buf.chunks_mut(chunk) {
            let count = (part.len() / self.block_size) as u32;
            self.call(code::READ, block, count)?;
            self.data.read(0, part).ok_or(MediumError::Status(status::BAD_REQUEST))?;
            block += u64::from(count);
        }
        Ok(())
    }

    fn write(&mut self, mut block: u64, data: &[u8]) -> Result<(), MediumError> {
        let chunk = self.chunk();
        for part in data.chunks(chunk) {
            let count = (part.len() / self.block_size) as u32;
            self.data.write(0, part).ok_or(MediumError::Status(status::BAD_REQUEST))?;
            self.call(code::WRITE, block, count)?;
            block += u64::from(count);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), MediumError> {
        self.call(code::FLUSH, 0, 0)
    }
}

/// psdb's disk.
pub enum Medium<P> {
    /// Behind the block driver.
    Disk(BlkClient<P>),
    /// In psdb's memory (no disk in the system: not durable).
    Ram(RamDevice<'static>),
}

impl<P: Platform> BlockDevice for Medium<P> {
    type Error = MediumError;

    fn block_size(&self) -> usize {
        match self {
            Medium::Disk(d) => d.block_size(),
            Medium::Ram(r) => r.block_size(),
        }
    }

    fn blocks(&self) -> u64 {
        match self {
            Medium::Disk(d) => d.blocks(),
            Medium::Ram(r) => r.blocks(),
        }
    }

    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), MediumError> {
        match self {
            Medium::Disk(d) => d.read(block, buf),
            Medium::Ram(r) => r.read(block, buf).map_err(|_| MediumError::Ram),
        }
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), MediumError> {
        match self {
            Medium::Disk(d) => d.write(block, data),
            Medium::Ram(r) => r.write(block, data).map_err(|_| MediumError::Ram),
        }
    }

    fn flush(&mut self) -> Result<(), MediumError> {
        match self {
            Medium::Disk(d) => d.flush(),
            Medium::Ram(r) => r.flush().map_err(|_| MediumError::Ram),
        }
    }
}
