//! A PD that misbehaves when notified, as byte 0 of its probe region says:
//! `1` writes to the probe region, which it maps read-only (a memory
//! fault); `2` calls a channel it does not have; `3` panics. Whatever it
//! does, only it must stop, and its parent must hear of it.
#![no_std]

use platform::{Channel, ChannelSet, Msg, Pd, Platform, Regions, SharedRegion};

/// Misbehave by writing to a read-only mapping.
pub const WRITE_READ_ONLY: u8 = 1;
/// Misbehave by calling a channel the PD does not have.
pub const UNGRANTED_CALL: u8 = 2;
/// Misbehave by panicking.
pub const PANIC: u8 = 3;

/// The faulty PD.
pub struct Faulty<P> {
    p: P,
    probe: Option<SharedRegion>,
}

impl<P: Platform> Faulty<P> {
    /// Starts; does nothing until notified.
    pub fn init(p: P, regions: &mut dyn Regions) -> Self {
        Faulty { p, probe: regions.shared(system::PROBE_SYMBOL) }
    }
}

impl<P: Platform> Pd for Faulty<P> {
    fn notified(&mut self, _: ChannelSet) {
        let mut mode = [0u8; 1];
        let base = self.probe.as_ref().map(|r| {
            let _ = r.read(0, &mut mode);
            r.base()
        });
        match mode[0] {
            WRITE_READ_ONLY => {
                if let Some(base) = base {
                    // SAFETY: it is not; that is the point. The mapping is
                    // read-only, so the platform stops this PD right here.
                    #[allow(unsafe_code)]
                    unsafe {
                        core::ptr::write_volatile(base.as_ptr(), 0xFF)
                    };
                }
            }
            UNGRANTED_CALL => {
                if let Some(ch) = Channel::new(33) {
                    self.p.ppcall(ch, Msg::new(1, &[]));
                }
            }
            PANIC => panic!("faulty PD: panicking on request"),
            _ => {}
        }
    }
}
