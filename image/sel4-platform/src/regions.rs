//! A PD's memory regions, found by the symbols the microkit tool patched.

use core::ptr::NonNull;

use platform::{Access, Regions, SharedRegion};
use system::{MAPPINGS, PADDRS};

use crate::symbols::{lookup, lookup_paddr};

/// The regions of this PD: what the system tables say it maps, at the
/// address and size the tool patched into its image. Each is handed out
/// once.
pub struct Sel4Regions {
    pd: &'static str,
    taken: [bool; MAPPINGS.len()],
}

impl Sel4Regions {
    /// The regions of the PD named `pd`.
    pub fn new(pd: &'static str) -> Sel4Regions {
        Sel4Regions { pd, taken: [false; MAPPINGS.len()] }
    }

    /// The index in [`MAPPINGS`] of this PD's mapping of `symbol`.
    fn find(&self, symbol: &str) -> Option<usize> {
        MAPPINGS.iter().position(|m| m.pd == self.pd && m.symbol == symbol)
    }

    /// Takes mapping `i`: the address and size the tool patched.
    fn take(&mut self, i: usize) -> Option<(NonNull<u8>, usize)> {
        let (vaddr, size) = lookup(MAPPINGS[i].symbol)?;
        let base = NonNull::new(vaddr as *mut u8)?;
        if core::mem::replace(&mut self.taken[i], true) {
            return None;
        }
        Some((base, size))
    }
}

impl Regions for Sel4Regions {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let i = self.find(symbol)?;
        let (base, size) = self.take(i)?;
        let access = if MAPPINGS[i].writable { Access::ReadWrite } else { Access::ReadOnly };
        // SAFETY: the tool mapped `size` bytes at `base` for the PD's life,
        // with the permissions the table records; taken once.
        Some(unsafe { SharedRegion::new(base, size, access) })
    }

    fn paddr(&mut self, symbol: &str) -> Option<u64> {
        PADDRS.iter().find(|p| p.pd == self.pd && p.symbol == symbol)?;
        lookup_paddr(symbol).filter(|&a| a != 0).map(|a| a as u64)
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        let i = self.find(symbol)?;
        if !(MAPPINGS[i].private && MAPPINGS[i].writable) {
            return None;
        }
        let (base, size) = self.take(i)?;
        // SAFETY: mapped writable into this PD alone (the table says no
        // other PD maps the region), for its life, and taken once: this is
        // the only reference.
        Some(unsafe { core::slice::from_raw_parts_mut(base.as_ptr(), size) })
    }
}
