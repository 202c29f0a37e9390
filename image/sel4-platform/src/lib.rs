//! service-fs protection domains on seL4 Microkit.
//!
//! The PD crates (`pds/*`) are written against [`platform::Platform`],
//! [`platform::Regions`] and [`platform::Pd`]; this crate implements them
//! with rust-sel4's `sel4-microkit`, as the simulator does with processes.
//! A program is one line naming its PD type, a [`platform::Program`]:
//! `sel4_platform::program!(psdb::Psdb<Sel4>);` (service-fs's own are
//! `image/programs/src/bin/*.rs`).
//!
//! What the system description does not grant stops the PD, as the
//! platform contract says: `sel4-microkit` panics on a channel without the
//! right, and a panic here ends in a fault the PD's parent (or the monitor)
//! sees.
#![no_std]
#![feature(used_with_arg)]

mod regions;
mod symbols;

use core::convert::Infallible;

use platform::{Channel, ChannelSet, Child, MAX_MRS, Msg, Pd, Platform, Program, Ticks, Time};
use sel4_microkit::{Handler, MessageInfo};

pub use regions::Sel4Regions;

/// The seL4 platform: Microkit's calls are global to the PD, so this is a
/// zero-sized handle.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sel4;

fn microkit_channel(ch: Channel) -> sel4_microkit::Channel {
    sel4_microkit::Channel::new(ch.id().into())
}

/// The message the kernel delivered: its label and registers. Registers
/// beyond [`MAX_MRS`] are not part of any service-fs request; they are
/// dropped, and the PD logic sees the count it can hold.
fn received(info: &MessageInfo) -> Msg {
    let count = info.count().min(MAX_MRS);
    let mut mrs = [0u64; MAX_MRS];
    for (i, mr) in mrs.iter_mut().enumerate().take(count) {
        *mr = sel4_microkit::get_mr(i);
    }
    Msg::new(info.label(), &mrs[..count])
}

/// Puts `msg` in the message registers; the `MessageInfo` that sends it.
fn to_send(msg: &Msg) -> MessageInfo {
    let count = msg.count.min(MAX_MRS);
    for (i, mr) in msg.mrs.iter().enumerate().take(count) {
        sel4_microkit::set_mr(i, *mr);
    }
    MessageInfo::new(msg.label, count)
}

impl Platform for Sel4 {
    fn pd_name(&self) -> &str {
        sel4_microkit::pd_name().unwrap_or("?")
    }

    fn notify(&self, ch: Channel) {
        microkit_channel(ch).notify();
    }

    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg {
        received(&microkit_channel(ch).pp_call(to_send(&msg)))
    }

    fn print(&self, s: &str) {
        // A no-op in kernels built without printing (Microkit's release config).
        sel4_microkit::debug_print!("{s}");
    }

    fn time(&self) -> Time {
        // No wall clock without a time source in the system: never invent one.
        Time { unix_ms: None, source: "none" }
    }

    fn ticks(&self) -> Option<Ticks> {
        counter()
    }

    fn irq_ack(&self, ch: Channel) {
        // Fails only for a channel without an IRQ: the description's error.
        if microkit_channel(ch).irq_ack().is_err() {
            panic!("channel {} has no IRQ to acknowledge", ch.id());
        }
    }
}

/// The generic timer's physical count, which seL4 lets PDs read
/// (`KernelArmExportPCNTUser`, set in Microkit's ARM configurations).
#[cfg(target_arch = "aarch64")]
fn counter() -> Option<Ticks> {
    let (count, per_second): (u64, u64);
    // SAFETY: reads of two EL0-readable system registers; `isb` keeps the
    // count from being read ahead of the code it times.
    unsafe {
        core::arch::asm!("isb", "mrs {c}, cntpct_el0", c = out(reg) count, options(nostack));
        core::arch::asm!("mrs {f}, cntfrq_el0", f = out(reg) per_second, options(nomem, nostack));
    }
    Some(Ticks { count, per_second })
}

#[cfg(not(target_arch = "aarch64"))]
fn counter() -> Option<Ticks> {
    None
}

/// Runs a PD's logic as a Microkit protection domain.
pub struct PdHandler<T>(T);

impl<T: Pd> Handler for PdHandler<T> {
    type Error = Infallible;

    fn notified(&mut self, channels: sel4_microkit::ChannelSet) -> Result<(), Infallible> {
        let bits = channels.iter().fold(0u64, |b, c| b | 1 << c.index());
        self.0.notified(ChannelSet(bits));
        Ok(())
    }

    fn protected(
        &mut self,
        ch: sel4_microkit::Channel,
        info: MessageInfo,
    ) -> Result<MessageInfo, Infallible> {
        let msg = received(&info);
        let reply = match u8::try_from(ch.index()).ok().and_then(Channel::new) {
            Some(ch) => self.0.protected(ch, msg),
            None => unreachable!("Microkit channel ids are below 62"),
        };
        Ok(to_send(&reply))
    }

    fn fault(
        &mut self,
        child: sel4_microkit::Child,
        info: MessageInfo,
    ) -> Result<Option<MessageInfo>, Infallible> {
        let id = u8::try_from(child.index()).unwrap_or(u8::MAX);
        let reply = self.0.fault(Child(id), received(&info));
        if reply.is_none() {
            // The child stays stopped: suspend it (as libmicrokit's
            // `microkit_pd_stop`), which also drops its pending reply.
            let _ = child.tcb().tcb_suspend();
        }
        Ok(reply.as_ref().map(to_send))
    }
}

/// Starts the PD type `T`: its [`Program::init`] with this platform and
/// the PD's regions. A PD that cannot start says why and stops (a fault
/// its parent or the monitor reports).
pub fn start<T: Program<Sel4>>() -> PdHandler<T> {
    let mut regions = Sel4Regions::new(Sel4.pd_name());
    match T::init(Sel4, &mut regions) {
        Ok(pd) => PdHandler(pd),
        Err(e) => panic!("cannot start: {e:?}"),
    }
}

/// Declares a program image running the PD type `$pd` (a
/// [`platform::Program<Sel4>`]): `program!(psdb::Psdb<Sel4>)`.
#[macro_export]
macro_rules! program {
    ($pd:ty) => {
        #[sel4_microkit::protection_domain]
        fn init() -> impl sel4_microkit::Handler {
            $crate::start::<$pd>()
        }
    };
}

/// Declares every setvar symbol (`sfs_*`, from `symbols.rs`, which `make
/// system` writes: the same for every system), `SYMBOLS` (how many) and
/// `lookup`, which reads what the tool patched.
macro_rules! declare_symbols {
    ($($vaddr:ident, $size:ident;)*) => {
        /// How many setvar symbols every program declares.
        pub(crate) const SYMBOLS: usize = [$(stringify!($vaddr)),*].len();

        /// The index of `symbol` among the declared ones, and the address
        /// and size the microkit tool patched for it (zero where this PD
        /// does not map it); `None` for a symbol no system names.
        pub(crate) fn lookup(symbol: &str) -> Option<(usize, usize, usize)> {
            let mut i = 0;
            $(
                if symbol == stringify!($vaddr) {
                    return Some((
                        i,
                        *sel4_microkit::var!(#[used(linker)] $vaddr: usize = 0),
                        *sel4_microkit::var!(#[used(linker)] $size: usize = 0),
                    ));
                }
                i += 1;
            )*
            let _ = i;
            None
        }
    };
}
use declare_symbols;

/// Declares every physical-address symbol (`setvar region_paddr`, from
/// `symbols.rs`) and `lookup_paddr`, which reads what the tool patched.
macro_rules! declare_paddrs {
    ($($paddr:ident;)*) => {
        /// The physical address the tool patched for `symbol`: zero where
        /// this PD has no such setvar, `None` for a symbol the system
        /// description never names.
        pub(crate) fn lookup_paddr(symbol: &str) -> Option<usize> {
            $(
                if symbol == stringify!($paddr) {
                    return Some(*sel4_microkit::var!(#[used(linker)] $paddr: usize = 0));
                }
            )*
            None
        }
    };
}
use declare_paddrs;
