//! A PD's memory regions, found by the symbols the microkit tool patched.

use core::ptr::NonNull;

use platform::{Access, Regions, SharedRegion};
use system::{CONFIG_SYMBOL, Config, MAX_MAPPINGS, Mapping};

use crate::symbols::{SYMBOLS, lookup, lookup_paddr};

/// The regions of this PD, at the address and size the tool patched into
/// its image, each handed out once. What each mapping is (writable, the
/// PD's alone) comes from the PD's configuration; a PD without one (a
/// client PD) has only shared, writable buffers.
pub struct Sel4Regions {
    /// The mappings and physical-address symbols of the configuration.
    config: Option<Facts>,
    taken: [bool; MAX_MAPPINGS],
    /// For PDs without a configuration: the symbols taken.
    taken_plain: [bool; SYMBOLS],
}

/// What the configuration says of the PD's regions.
struct Facts {
    mappings: heapless::Vec<Mapping<'static>, MAX_MAPPINGS>,
    paddrs: heapless::Vec<&'static str, 4>,
}

impl Facts {
    fn mapping(&self, symbol: &str) -> Option<&Mapping<'static>> {
        self.mappings.iter().find(|m| m.symbol == symbol)
    }
}

/// Reads the facts, in a frame of its own (the whole configuration is
/// large, and the PD's stack is not).
#[inline(never)]
fn facts(bytes: &'static [u8], pd: &str) -> Facts {
    match Config::parse(bytes, pd) {
        Ok(c) => Facts { mappings: c.mappings, paddrs: c.paddrs },
        Err(e) => panic!("{pd}: its configuration ({CONFIG_SYMBOL}) does not read: {e:?}"),
    }
}

/// The bytes of this PD's configuration region, if it has one.
fn config_bytes() -> Option<&'static [u8]> {
    let (_, vaddr, size) = lookup(CONFIG_SYMBOL).filter(|&(_, a, s)| a != 0 && s != 0)?;
    // SAFETY: the tool maps the configuration read-only into this PD alone
    // (`make system` generates it so; `simulator check` checks it) for its
    // life, filled before the PD starts: nothing writes it.
    Some(unsafe { core::slice::from_raw_parts(vaddr as *const u8, size) })
}

impl Sel4Regions {
    /// The regions of the PD named `pd`; a configuration of another PD,
    /// or one that does not read, stops it.
    pub fn new(pd: &'static str) -> Sel4Regions {
        let config = config_bytes().map(|b| facts(b, pd));
        Sel4Regions { config, taken: [false; MAX_MAPPINGS], taken_plain: [false; SYMBOLS] }
    }

    /// The address and size the tool patched for `symbol`, taken once;
    /// with whether it is writable and the PD's alone.
    fn take(&mut self, symbol: &str) -> Option<(NonNull<u8>, usize, bool, bool)> {
        let (index, vaddr, size) = lookup(symbol)?;
        let base = NonNull::new(vaddr as *mut u8)?;
        let (writable, private) = match &self.config {
            Some(c) => {
                let i = c.mappings.iter().position(|m| m.symbol == symbol)?;
                if core::mem::replace(&mut self.taken[i], true) {
                    return None;
                }
                (c.mappings[i].writable, c.mappings[i].private)
            }
            None => {
                if core::mem::replace(&mut self.taken_plain[index], true) {
                    return None;
                }
                (true, false)
            }
        };
        Some((base, size, writable, private))
    }
}

impl Regions for Sel4Regions {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let (base, size, writable, _) = self.take(symbol)?;
        let access = if writable { Access::ReadWrite } else { Access::ReadOnly };
        // SAFETY: the tool mapped `size` bytes at `base` for the PD's life,
        // with the permissions the configuration records; taken once.
        Some(unsafe { SharedRegion::new(base, size, access) })
    }

    fn paddr(&mut self, symbol: &str) -> Option<u64> {
        self.config.as_ref()?.paddrs.iter().find(|p| **p == symbol)?;
        lookup_paddr(symbol).filter(|&a| a != 0).map(|a| a as u64)
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        let c = self.config.as_ref()?;
        let m = c.mapping(symbol)?;
        if !(m.private && m.writable) {
            return None;
        }
        let (base, size, _, _) = self.take(symbol)?;
        // SAFETY: mapped writable into this PD alone (its configuration
        // says no other PD maps the region), for its life, and taken once:
        // this is the only reference.
        Some(unsafe { core::slice::from_raw_parts_mut(base.as_ptr(), size) })
    }

    fn config(&mut self) -> Option<&'static [u8]> {
        config_bytes()
    }
}
