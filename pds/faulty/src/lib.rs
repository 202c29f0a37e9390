//! A PD that misbehaves when notified, as byte 0 of its probe region says:
//! `1` writes to the probe region, which it maps read-only (a memory
//! fault); `2` makes a protected call on channel 0 without the right to;
//! `3` panics; `4` notifies on channel 0 without the right to. With bit
//! `0x80` set it misbehaves at once, in `init`. Whatever it does, only it
//! must stop, and its parent (if any) must hear of it. The codes are the
//! `scenarios` crate's (`scenarios::faulty`), which those who ask use.
#![no_std]

use core::convert::Infallible;

use platform::{Channel, ChannelSet, Msg, Pd, Platform, Program, Regions, SharedRegion};
use scenarios::faulty::{AT_ONCE, PANIC, UNGRANTED_CALL, UNGRANTED_NOTIFY, WRITE_READ_ONLY};

/// The faulty PD.
pub struct Faulty<P> {
    p: P,
    probe: Option<SharedRegion>,
}

impl<P: Platform> Program<P> for Faulty<P> {
    type Error = Infallible;

    /// Starts; misbehaves now if the probe says so, else when notified.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, Infallible> {
        let f = Faulty { p, probe: regions.shared(system::PROBE_SYMBOL) };
        if f.mode() & AT_ONCE != 0 {
            f.misbehave();
        }
        Ok(f)
    }
}

impl<P: Platform> Faulty<P> {
    fn mode(&self) -> u8 {
        let mut mode = [0u8; 1];
        if let Some(r) = &self.probe {
            let _ = r.read(0, &mut mode);
        }
        mode[0]
    }

    fn misbehave(&self) {
        let base = self.probe.as_ref().map(SharedRegion::base);
        match self.mode() & !AT_ONCE {
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
                if let Some(ch) = Channel::new(0) {
                    self.p.ppcall(ch, Msg::new(1, &[]));
                }
            }
            PANIC => panic!("faulty PD: panicking on request"),
            UNGRANTED_NOTIFY => {
                if let Some(ch) = Channel::new(0) {
                    self.p.notify(ch);
                }
            }
            _ => {}
        }
    }
}

impl<P: Platform> Pd for Faulty<P> {
    fn notified(&mut self, _: ChannelSet) {
        self.misbehave();
    }
}
