//! The platform of a service-fs protection domain.
//!
//! PD logic is written against [`Pd`] (Microkit's entry points) and
//! [`Platform`] (what a PD may do: notify, call, print, read the clock); the
//! seL4 glue implements them with `sel4-microkit`, the host simulator with
//! processes and shared mappings. The logic never learns which.
#![cfg_attr(not(feature = "host"), no_std)]

mod region;

#[cfg(feature = "host")]
pub mod host;

pub use region::{Access, SharedRegion};

/// Channel ids a PD may use (Microkit: 0..=61).
pub const MAX_CHANNELS: u8 = 62;
/// Message registers a message carries at most here (Microkit allows 64).
pub const MAX_MRS: usize = 8;
/// The largest message label: seL4 carries 52 bits of label on 64-bit
/// machines, and refuses to build a message with more.
pub const MAX_LABEL: u64 = (1 << 52) - 1;

/// A Microkit channel id, as the system description gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(u8);

impl Channel {
    /// A channel id; `None` beyond [`MAX_CHANNELS`].
    pub const fn new(id: u8) -> Option<Channel> {
        if id < MAX_CHANNELS { Some(Channel(id)) } else { None }
    }

    /// The id.
    pub const fn id(self) -> u8 {
        self.0
    }
}

/// The channels a notification arrived on (Microkit delivers a whole badge).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelSet(pub u64);

impl ChannelSet {
    /// Whether `ch` is in the set.
    pub fn contains(self, ch: Channel) -> bool {
        self.0 >> ch.id() & 1 == 1
    }

    /// The channels in the set.
    pub fn iter(self) -> impl Iterator<Item = Channel> {
        (0..MAX_CHANNELS).filter_map(Channel::new).filter(move |c| self.contains(*c))
    }
}

/// A child PD (Microkit `id` of a nested protection domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child(pub u8);

/// A message: label (at most [`MAX_LABEL`]) and message registers (`count`
/// of them used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Request label, or reply status.
    pub label: u64,
    /// Message registers used.
    pub count: usize,
    /// Their values; registers at or beyond `count` are zero.
    pub mrs: [u64; MAX_MRS],
}

impl Msg {
    /// A message with the given label and registers (at most [`MAX_MRS`]).
    pub fn new(label: u64, mrs: &[u64]) -> Msg {
        let mut m = Msg { label, count: mrs.len().min(MAX_MRS), mrs: [0; MAX_MRS] };
        m.mrs[..m.count].copy_from_slice(&mrs[..m.count]);
        m
    }

    /// Register `i`, zero when not sent.
    pub fn mr(&self, i: usize) -> u64 {
        if i < self.count { self.mrs[i] } else { 0 }
    }
}

/// Wall-clock time, and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Time {
    /// Milliseconds since the Unix epoch, if the source knows wall-clock time.
    pub unix_ms: Option<u64>,
    /// The source, e.g. `host-realtime` or `none`.
    pub source: &'static str,
}

/// A reading of a free-running counter: for timing intervals, never for
/// telling the time (it says nothing about the wall clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticks {
    /// The counter.
    pub count: u64,
    /// How fast it counts.
    pub per_second: u64,
}

impl Ticks {
    /// Microseconds from `earlier` to this reading.
    pub fn micros_since(self, earlier: Ticks) -> u64 {
        let ticks = u128::from(self.count.wrapping_sub(earlier.count));
        (ticks * 1_000_000 / u128::from(self.per_second.max(1))) as u64
    }
}

/// What a PD may ask of where it runs: a cheap handle (on seL4 the calls are
/// global, in the simulator the connection is the process's), so PD logic
/// keeps a copy wherever it needs one. Anything the system description does
/// not grant (a channel without `notify`, a call without `pp`) stops the PD.
pub trait Platform: Copy {
    /// The PD's name in the system description.
    fn pd_name(&self) -> &str;
    /// Notifies the PD at the other end of `ch`.
    fn notify(&self, ch: Channel);
    /// Protected procedure call to the PD at the other end of `ch` (which
    /// has a higher priority); returns its reply.
    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg;
    /// Writes to the debug console.
    fn print(&self, s: &str);
    /// The time, if this platform has a clock.
    fn time(&self) -> Time;
    /// A free-running counter, if this platform has one (for benchmarks).
    fn ticks(&self) -> Option<Ticks> {
        None
    }

    /// Called while waiting for another PD to make progress in shared
    /// memory (a higher-priority driver answering a queue): a spin-loop
    /// hint where that PD preempts this one (seL4), a yield of the CPU
    /// where both run at once (the simulator's processes).
    fn relax(&self) {
        core::hint::spin_loop();
    }

    /// Acknowledges the interrupt delivered on channel `ch`, so the kernel
    /// delivers the next one. Only a PD the system description gives an
    /// `irq` calls it.
    fn irq_ack(&self, ch: Channel);
}

/// Formats to a platform's console: `write!(Console(p), …)`.
pub struct Console<P>(pub P);

impl<P: Platform> core::fmt::Write for Console<P> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.print(s);
        Ok(())
    }
}

/// A protection domain's logic: Microkit's event handlers. How it starts
/// is [`Program::init`].
pub trait Pd {
    /// A notification arrived on `channels`.
    fn notified(&mut self, channels: ChannelSet) {
        let _ = channels;
    }

    /// A protected procedure call arrived on `ch`; returns the reply.
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        let _ = (ch, msg);
        Msg::new(MAX_LABEL, &[])
    }

    /// A child PD faulted; `Some` replies to (resumes) it.
    fn fault(&mut self, child: Child, msg: Msg) -> Option<Msg> {
        let _ = (child, msg);
        None
    }
}

/// A PD that starts from a program image: Microkit's `init`, the one way
/// every PD type starts on every platform. The seL4 glue and the simulator
/// start any PD through it, so a program is named by its type alone (the
/// simulator's table, the image's binaries, an integrator's crate:
/// docs/abi.md).
///
/// Implemented for each platform `P` the PD can run on (every PD here is
/// generic over it); a PD that cannot fail says so with
/// [`core::convert::Infallible`].
pub trait Program<P: Platform>: Pd + Sized {
    /// Why the PD cannot start: the glue prints it and stops the PD (a
    /// fault its parent or the monitor sees; in the simulator, the boot
    /// fails naming it).
    type Error: core::fmt::Debug;

    /// Starts the PD on `p` with the regions its system description maps.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, Self::Error>;
}

/// Where a PD finds its memory regions: by the symbol the system
/// description's `setvar_vaddr` names for each mapping.
pub trait Regions {
    /// A region shared with another PD, taken (a second take is `None`).
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion>;
    /// A region mapped into this PD alone, writable, as plain memory;
    /// taken (a second take is `None`).
    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]>;
    /// The physical address the system description's `setvar
    /// region_paddr` symbol `symbol` holds (for a driver's DMA). `None`
    /// where memory has no physical address to give (the simulator).
    fn paddr(&mut self, symbol: &str) -> Option<u64> {
        let _ = symbol;
        None
    }
    /// The PD's configuration: the bytes of the region at `sfs_config`,
    /// mapped read-only into this PD alone (`None`: it has none).
    fn config(&mut self) -> Option<&'static [u8]> {
        None
    }
}
