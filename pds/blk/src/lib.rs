//! The blk protection domain: serves psdb's block request queue
//! (`abi::blk`) from a [`Device`], one request at a time, in order.
//!
//! At start it publishes the device's geometry in the configuration region
//! (or why it will serve nothing); then each notification from psdb, and
//! each interrupt of the device, moves the queue on: a request is checked
//! (its blocks on the device, its bytes in the data region), started, and
//! answered when the device completes it. Requests run one after another,
//! so a FLUSH starts only once every earlier WRITE has completed, and a
//! BARRIER has nothing left to wait for.
//!
//! The seL4 program drives virtio-blk ([`virtio`]); the simulator runs the
//! same logic over a host file.
#![no_std]

pub mod virtio;

use core::fmt::Write;

use abi::blk::{
    Config, FLAG_DURABLE, FLAG_READ_ONLY, Queue, Request, Response, code, state, status,
};
use platform::{Channel, ChannelSet, Console, Pd, Platform, Program, Regions, SharedRegion};
use system::blk as sym;

/// What a device tells the driver about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks on the device.
    pub blocks: u64,
    /// FLUSH makes completed writes durable.
    pub durable: bool,
    /// Writes are refused.
    pub read_only: bool,
}

/// How starting a request went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// Finished: a status and the blocks transferred.
    Done(u32, u32),
    /// The device completes it later (an interrupt follows).
    Pending,
}

/// A block device the driver serves from.
pub trait Device {
    /// Its geometry.
    fn geometry(&self) -> Geometry;
    /// Starts `req`, already checked: a READ or WRITE of blocks on the
    /// device to or from the data region at `req.offset`, or a FLUSH.
    fn start(&mut self, req: &Request, data: &mut SharedRegion) -> Started;
    /// The started request's outcome, once the device has finished it.
    fn complete(&mut self, data: &mut SharedRegion) -> Option<(u32, u32)>;
    /// An interrupt arrived: acknowledge it at the device.
    fn interrupt(&mut self) {}
}

/// The driver PD.
pub struct Driver<P, D> {
    p: P,
    serving: Option<Serving<D>>,
}

struct Serving<D> {
    device: D,
    geometry: Geometry,
    requests: Queue<Request>,
    responses: Queue<Response>,
    data: SharedRegion,
    /// Started, not yet completed.
    pending: Option<Request>,
    /// Completed, waiting for room in the response queue.
    unsent: Option<Response>,
}

/// Why the driver could not start at all.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// A region the system description should map is missing.
    MissingRegion(&'static str),
}

fn channel(id: u8) -> Channel {
    Channel::new(id).unwrap_or_else(|| unreachable!("blk channel ids are below 62"))
}

/// A disk backend the driver opens by itself, from its PD's regions: one
/// type per backend ([`virtio::Virtio`] on seL4, a host file in the
/// simulator), so that the driver over each is a [`Program`] like every
/// other PD (`Driver<P, Virtio>`), and the program list names it by type.
pub trait Open: Device + Sized {
    /// Opens the device; `data` is psdb's data region, for devices that
    /// read and write it in place. `Err` says why it cannot serve.
    fn open<P: Platform>(
        p: P,
        regions: &mut dyn Regions,
        data: &SharedRegion,
    ) -> Result<Self, &'static str>;
}

impl<P: Platform, D: Open> Program<P> for Driver<P, D> {
    type Error = InitError;

    /// Starts the driver over the device `D` opens.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, InitError> {
        Driver::with_device(p, regions, |r, data| D::open(p, r, data))
    }
}

impl<P: Platform, D: Device> Driver<P, D> {
    /// Starts the driver: takes the queue regions, opens the device with
    /// `open` (given the data region, for drivers that hand it to the device
    /// in place), publishes its configuration, and refuses to serve a device
    /// whose writes cannot be made durable. [`Program::init`] opens an
    /// [`Open`] device; tests hand in a model.
    pub fn with_device(
        p: P,
        regions: &mut dyn Regions,
        open: impl FnOnce(&mut dyn Regions, &SharedRegion) -> Result<D, &'static str>,
    ) -> Result<Self, InitError> {
        let region =
            |r: &mut dyn Regions, s: &'static str| r.shared(s).ok_or(InitError::MissingRegion(s));
        let mut config = region(regions, sym::CONFIG)?;
        let requests = Queue::new(region(regions, sym::REQUESTS)?)
            .ok_or(InitError::MissingRegion(sym::REQUESTS))?;
        let responses = Queue::new(region(regions, sym::RESPONSES)?)
            .ok_or(InitError::MissingRegion(sym::RESPONSES))?;
        let data = region(regions, sym::DATA)?;
        let say = |args: core::fmt::Arguments| {
            let _ = writeln!(Console(p), "blk: {args}");
        };
        let device = match open(regions, &data) {
            Ok(d) if !d.geometry().durable => {
                Err("no VIRTIO_BLK_F_FLUSH: the device cannot flush its write cache")
            }
            other => other,
        };
        let serving = match device {
            Ok(device) => {
                let g = device.geometry();
                let mut flags = FLAG_DURABLE;
                if g.read_only {
                    flags |= FLAG_READ_ONLY;
                }
                let _ = abi::blk::write_config(
                    &mut config,
                    &Config::new(state::READY, g.block_size, g.blocks, flags),
                );
                say(format_args!(
                    "ready: {} blocks of {} bytes ({} MiB){}, flushes reach the medium",
                    g.blocks,
                    g.block_size,
                    (g.blocks * u64::from(g.block_size)) >> 20,
                    if g.read_only { ", read-only" } else { "" }
                ));
                Some(Serving {
                    device,
                    geometry: g,
                    requests,
                    responses,
                    data,
                    pending: None,
                    unsent: None,
                })
            }
            Err(why) => {
                let _ = abi::blk::write_config(&mut config, &Config::failed(why));
                say(format_args!("{why}: refusing to serve durable storage"));
                None
            }
        };
        Ok(Driver { p, serving })
    }

    /// Whether it serves requests.
    pub fn serving(&self) -> bool {
        self.serving.is_some()
    }
}

impl<D: Device> Serving<D> {
    /// Checks a request against the device and the data region: `Err`
    /// is the status to answer with.
    fn check(&self, r: &Request) -> Result<(), u32> {
        let g = &self.geometry;
        match r.code {
            code::READ | code::WRITE => {
                let bytes = u64::from(r.count) * u64::from(g.block_size);
                let in_data =
                    r.offset.checked_add(bytes).is_some_and(|end| end <= self.data.len() as u64);
                if r.count == 0 || !in_data {
                    return Err(status::BAD_REQUEST);
                }
                if r.block.checked_add(u64::from(r.count)).is_none_or(|end| end > g.blocks) {
                    return Err(status::SEEK_ERROR);
                }
                if r.code == code::WRITE && g.read_only {
                    return Err(status::UNSUPPORTED);
                }
                Ok(())
            }
            code::FLUSH | code::BARRIER => Ok(()),
            _ => Err(status::BAD_REQUEST),
        }
    }

    /// Answers `req`; `false` if the response queue is full (kept for later).
    fn answer(&mut self, req: &Request, status: u32, count: u32) -> bool {
        let r = Response { status, count, id: req.id };
        if self.responses.push(&r) {
            true
        } else {
            self.unsent = Some(r);
            false
        }
    }

    /// Moves the queue on as far as it can; whether anything was answered.
    fn pump(&mut self) -> bool {
        let mut answered = false;
        if let Some(r) = self.unsent {
            if !self.responses.push(&r) {
                return false;
            }
            self.unsent = None;
            answered = true;
        }
        loop {
            if let Some(req) = self.pending {
                let Some((st, n)) = self.device.complete(&mut self.data) else { break };
                self.pending = None;
                answered = true;
                if !self.answer(&req, st, n) {
                    break;
                }
            }
            let Some(req) = self.requests.pop() else { break };
            let outcome = match self.check(&req) {
                Err(st) => Started::Done(st, 0),
                // In order, one at a time: nothing earlier is outstanding.
                Ok(()) if req.code == code::BARRIER => Started::Done(status::OK, 0),
                Ok(()) => self.device.start(&req, &mut self.data),
            };
            match outcome {
                Started::Done(st, n) => {
                    answered = true;
                    if !self.answer(&req, st, n) {
                        break;
                    }
                }
                Started::Pending => self.pending = Some(req),
            }
        }
        answered
    }
}

impl<P: Platform, D: Device> Pd for Driver<P, D> {
    fn notified(&mut self, channels: ChannelSet) {
        let Some(s) = &mut self.serving else { return };
        if channels.contains(channel(sym::DRIVER_IRQ)) {
            s.device.interrupt();
            self.p.irq_ack(channel(sym::DRIVER_IRQ));
        }
        if s.pump() {
            self.p.notify(channel(sym::DRIVER_PSDB));
        }
    }
}
