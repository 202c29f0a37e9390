//! The psdb protection domain (L1): the write-once tile store, on a disk.
//!
//! Each channel from a ledger is one namespace (its configuration, from
//! `make system`, lists them): its own fixed extent of the disk (the
//! format of `crates/disk`, `docs/disk.md`) and its own shared buffer; a
//! request can only reach the namespace of the channel it arrived on. The disk is behind the block driver's queues (`blk`), or in
//! psdb's memory when the system description gives no driver.
//!
//! At boot psdb opens the disk (formatting a blank one, refusing one of
//! another system or version without writing to it) and every namespace,
//! and says on the console what it recovered: records, checkpoint size,
//! bytes of a torn tail discarded, damage found. A commit's objects, then
//! its checkpoint, are flushed to the medium before psdb replies.
#![no_std]

pub mod medium;

use core::fmt::Write;

use abi::psdb::{Done, Object, Recovered, Refusal, Request};
use disk::namespace::{Described, Error, Fault, Namespace, Opened, Stopped};
use disk::superblock::{self, Spec};
use disk::{Source, format::MAX_NOTE, store::prefix_len};
use ledger::store::StoreError;
use platform::{Channel, Console, Msg, Pd, Platform, Program, Regions, SharedRegion};

pub use medium::{BlkClient, Medium, MediumError, Published};

/// Most namespaces psdb serves (one per channel; channel 61 is the driver's).
pub const MAX_NAMESPACES: usize = 61;

/// The namespaces a disk for `config` holds, in table order: each
/// tenant's records and audit ledger, at the sizes `tenants.toml` gives.
pub fn specs<'a>(config: &system::Psdb<'a>) -> heapless::Vec<Spec<'a>, MAX_NAMESPACES> {
    config
        .namespaces
        .iter()
        .take(MAX_NAMESPACES)
        .map(|n| Spec { name: n.name, size: n.size })
        .collect()
}

struct Ns {
    channel: Channel,
    name: &'static str,
    buf: SharedRegion,
    /// The open namespace; `None` when the disk could not be opened.
    store: Option<Namespace<'static>>,
}

/// The psdb PD.
pub struct Psdb<P: Platform> {
    p: P,
    medium: Option<Medium<P>>,
    namespaces: heapless::Vec<Ns, MAX_NAMESPACES>,
}

/// Why psdb could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// A region the system description should map is missing.
    MissingRegion(&'static str),
    /// More namespaces than psdb has channels for.
    TooManyNamespaces,
    /// Its configuration is missing, damaged or not psdb's.
    Config(system::ConfigError),
    /// Its configuration names a channel beyond Microkit's.
    BadChannel(u8),
}

fn say<P: Platform>(p: P, args: core::fmt::Arguments) {
    let _ = writeln!(Console(p), "psdb: {args}");
}

/// The disk, from the block driver or psdb's memory; `None` (said why)
/// when neither serves.
fn open_medium<P: Platform>(
    p: P,
    regions: &mut dyn Regions,
) -> Result<Option<Medium<P>>, InitError> {
    use system::blk as sym;
    if let Some(config) = regions.shared(sym::CONFIG) {
        let missing = InitError::MissingRegion;
        let requests = regions.shared(sym::REQUESTS).ok_or(missing(sym::REQUESTS))?;
        let responses = regions.shared(sym::RESPONSES).ok_or(missing(sym::RESPONSES))?;
        let data = regions.shared(sym::DATA).ok_or(missing(sym::DATA))?;
        let ch = Channel::new(sym::PSDB_DRIVER).ok_or(missing(sym::CONFIG))?;
        return Ok(match BlkClient::connect(p, ch, &config, requests, responses, data) {
            (Published::Ready, Some(c)) => {
                let (blocks, bs) =
                    (disk::BlockDevice::blocks(&c), disk::BlockDevice::block_size(&c));
                say(
                    p,
                    format_args!(
                        "disk: {blocks} blocks of {bs} bytes, behind the block driver (flushes reach the medium)"
                    ),
                );
                Some(Medium::Disk(c))
            }
            (Published::Failed(c), _) => {
                say(
                    p,
                    format_args!(
                        "the block driver serves no durable disk ({}): every namespace is stopped",
                        c.reason()
                    ),
                );
                None
            }
            _ => {
                say(p, format_args!("the block driver never answered: every namespace is stopped"));
                None
            }
        });
    }
    let store = regions
        .private(system::PSDB_STORE_SYMBOL)
        .ok_or(InitError::MissingRegion(system::PSDB_STORE_SYMBOL))?;
    say(
        p,
        format_args!(
            "no disk in this system: the store is {} KiB of memory, lost at reboot",
            store.len() >> 10
        ),
    );
    Ok(Some(Medium::Ram(disk::RamDevice::new(store))))
}

impl<P: Platform> Program<P> for Psdb<P> {
    type Error = InitError;

    /// Starts psdb: opens the disk and every namespace of its
    /// configuration, saying what it found.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, InitError> {
        let config = system::load(regions, p.pd_name()).map_err(InitError::Config)?;
        let system::Kind::Psdb(config) = config.kind else {
            return Err(InitError::Config(system::ConfigError::WrongKind));
        };
        let mem = regions
            .private(system::MEM_SYMBOL)
            .ok_or(InitError::MissingRegion(system::MEM_SYMBOL))?;
        let mut medium = open_medium(p, regions)?;
        if config.namespaces.len() > MAX_NAMESPACES {
            return Err(InitError::TooManyNamespaces);
        }
        let specs = specs(&config);
        let block = medium.as_mut().and_then(|m| open_disk(p, m, &specs));
        let extents: heapless::Vec<(u64, u64), MAX_NAMESPACES> = match superblock::table(&specs) {
            Ok(t) => t.map(|e| (e.start.get(), e.size.get())).collect(),
            Err(_) => heapless::Vec::new(),
        };
        let total: u64 = specs.iter().map(|s| s.size).sum();
        let mut namespaces = heapless::Vec::new();
        let whole = mem.len() as u64;
        let mut rest = mem;
        for (i, ns) in config.namespaces.iter().enumerate() {
            let symbol =
                system::buffer_symbol(ns.channel).ok_or(InitError::BadChannel(ns.channel))?;
            let buf = regions.shared(symbol).ok_or(InitError::MissingRegion(symbol))?;
            let channel = Channel::new(ns.channel).ok_or(InitError::BadChannel(ns.channel))?;
            // Index memory in proportion to the extent.
            let share = (whole * ns.size / total.max(1)) as usize & !7;
            let share = if i + 1 == specs.len() { rest.len() } else { share.min(rest.len()) };
            let (mine, more) = core::mem::take(&mut rest).split_at_mut(share);
            rest = more;
            let store = match (&mut medium, block, extents.get(i)) {
                (Some(m), Some(block), Some(&extent)) => {
                    open_namespace(p, m, i, extent, block, mine, ns.name)
                }
                _ => None,
            };
            namespaces
                .push(Ns { channel, name: ns.name, buf, store })
                .map_err(|_| InitError::TooManyNamespaces)?;
        }
        Ok(Psdb { p, medium, namespaces })
    }
}

impl<P: Platform> Psdb<P> {
    /// Bytes of log in use in the namespace of `ch`.
    pub fn used(&self, ch: Channel) -> Option<u64> {
        self.namespaces.iter().find(|n| n.channel == ch)?.store.as_ref().map(Namespace::used)
    }
}

/// Opens the superblock; the format's block size, or `None` (said why).
fn open_disk<P: Platform>(p: P, m: &mut Medium<P>, specs: &[Spec]) -> Option<u32> {
    let mut buf = [0u8; 8192];
    match superblock::open(m, specs, &mut buf) {
        Ok(sb) => {
            if sb.formatted {
                say(
                    p,
                    format_args!(
                        "formatted a blank disk: {} namespaces in {} KiB",
                        sb.namespaces,
                        sb.disk_bytes >> 10
                    ),
                );
            }
            Some(sb.block_size)
        }
        Err(e) => {
            say(p, format_args!("disk: {e}; nothing was written, and every namespace is stopped"));
            None
        }
    }
}

fn open_namespace<P: Platform>(
    p: P,
    m: &mut Medium<P>,
    i: usize,
    extent: (u64, u64),
    block: u32,
    mem: &'static mut [u8],
    name: &str,
) -> Option<Namespace<'static>> {
    match Namespace::open(m, i as u32, extent, block, mem) {
        Ok((ns, opened)) => {
            report(p, name, &ns, &opened);
            Some(ns)
        }
        Err(e) => {
            say(
                p,
                format_args!("{name}: cannot open: {}; this namespace is stopped", describe(&e)),
            );
            None
        }
    }
}

/// One console line: what opening a namespace found.
fn report<P: Platform>(p: P, name: &str, ns: &Namespace, o: &Opened) {
    let mut line: heapless::String<320> = heapless::String::new();
    let _ = if o.fresh {
        write!(line, "{name}: new (never initialised), {} KiB", ns.capacity() >> 10)
    } else if o.no_checkpoint {
        write!(
            line,
            "{name}: holds data but no readable checkpoint: stopped, its bytes left untouched (no ledger is created over them)"
        )
    } else {
        write!(
            line,
            "{name}: recovered {} records (checkpoint size {}, generation {}; {} objects, {} of {} KiB used); {} bytes discarded",
            o.tree_size,
            o.tree_size,
            o.generation,
            o.records,
            o.log_bytes >> 10,
            ns.capacity() >> 10,
            o.discarded
        )
    };
    if o.torn_slot && !o.no_checkpoint {
        let _ = write!(line, "; a torn checkpoint write was discarded");
    }
    if let Some(at) = o.first_damage {
        let _ = write!(
            line,
            "; DAMAGE: {} records failed their checksum and {} could not be read, the first at disk offset {at:#x} (never served)",
            o.corrupt, o.lost
        );
    }
    say(p, format_args!("{line}"));
}

fn describe(e: &Error<MediumError>) -> Described<'_, MediumError> {
    Described(e)
}

/// The reply for an error, and whether it deserves a console line.
fn error_reply(e: &Error<MediumError>) -> (Msg, bool) {
    if let Some(r) = Refusal::of(e) {
        let loud = matches!(e, StoreError::Full | StoreError::Unexplained { .. });
        return (r.encode(), loud);
    }
    let (r, loud) = match e {
        StoreError::Backend(Fault::Corrupt { offset, .. }) => {
            (Refusal::Corrupt { offset: *offset }, true)
        }
        StoreError::Backend(Fault::Stopped(_)) => (Refusal::Unavailable, false),
        StoreError::Backend(Fault::Device(_)) => (Refusal::Unavailable, true),
        StoreError::Backend(Fault::BadObject(_) | Fault::Sink) => (Refusal::BadRequest, false),
        StoreError::Backend(Fault::IndexFull) => (Refusal::Full, false),
        // Mapped above.
        _ => (Refusal::Unavailable, false),
    };
    (r.encode(), loud)
}

/// An object's bytes in the ledger–psdb buffer.
struct InBuffer<'a> {
    buf: &'a SharedRegion,
    len: usize,
}

impl Source for InBuffer<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, at: usize, out: &mut [u8]) -> bool {
        at + out.len() <= self.len && self.buf.read(at, out).is_some()
    }
}

impl Ns {
    fn handle<P: Platform>(
        &mut self,
        m: &mut Medium<P>,
        msg: Msg,
    ) -> Result<Msg, Error<MediumError>> {
        let Some(ns) = &mut self.store else {
            return Err(StoreError::Backend(Fault::Stopped(Stopped::DeviceFailed)));
        };
        let Ok(request) = Request::decode(&msg) else { return Ok(Refusal::BadRequest.encode()) };
        Ok(match request {
            Request::Get { tile } => {
                let Some((i, exact)) = ns.find(&tile) else {
                    return Ok(Refusal::NotFound.encode());
                };
                let len = ns.object_len(i).unwrap_or(0);
                if len > self.buf.len() {
                    return Ok(Refusal::TooSmall { needed: len as u64 }.encode());
                }
                let buf = &mut self.buf;
                ns.read(m, i, &mut |at, b| buf.write(at, b).is_some())?;
                let n = if exact {
                    Some(len)
                } else {
                    prefix_len(&tile, len, |at, two| self.buf.read(at, two).is_some())
                };
                match n {
                    Some(n) => Object { len: n as u64 }.encode(),
                    None => Refusal::Corrupt { offset: 0 }.encode(),
                }
            }
            Request::Put { tile, len } => {
                if len > self.buf.len() {
                    return Ok(Refusal::BadRequest.encode());
                }
                ns.put(m, &tile, &InBuffer { buf: &self.buf, len })?;
                Done.encode()
            }
            Request::GetCheckpoint => match ns.checkpoint() {
                None => Refusal::NotFound.encode(),
                Some(cp) if cp.len() > self.buf.len() => {
                    Refusal::TooSmall { needed: cp.len() as u64 }.encode()
                }
                Some(cp) => {
                    let len = cp.len();
                    let _ = self.buf.write(0, cp);
                    Object { len: len as u64 }.encode()
                }
            },
            Request::ReplaceCheckpoint { expected: e, new: n } => {
                if e > MAX_NOTE || n > MAX_NOTE {
                    return Ok(Refusal::BadRequest.encode());
                }
                let mut expected = [0u8; MAX_NOTE];
                let mut new = [0u8; MAX_NOTE];
                if self.buf.read(0, &mut expected[..e]).is_none()
                    || self.buf.read(e, &mut new[..n]).is_none()
                {
                    return Ok(Refusal::BadRequest.encode());
                }
                ns.replace_checkpoint(m, &expected[..e], &new[..n])?;
                Done.encode()
            }
            Request::Recover { size } => {
                let r = ns.recover(size)?;
                Recovered { removed_objects: r.removed_objects, orphan_extent: r.orphan_extent }
                    .encode()
            }
        })
    }
}

impl<P: Platform> Pd for Psdb<P> {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        let Some(ns) = self.namespaces.iter_mut().find(|n| n.channel == ch) else {
            // The kernel only delivers calls on channels the system grants;
            // a call on any other is refused, never served from a namespace.
            return Refusal::BadRequest.encode();
        };
        let Some(m) = &mut self.medium else { return Refusal::Unavailable.encode() };
        match ns.handle(m, msg) {
            Ok(r) => r,
            Err(e) => {
                let (r, tell) = error_reply(&e);
                if tell {
                    let name = ns.name;
                    say(self.p, format_args!("{name}: {}", describe(&e)));
                }
                r
            }
        }
    }
}
