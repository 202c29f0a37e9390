//! Host stand-ins for tests of PD logic: regions in leaked heap memory, and
//! a platform whose calls go to a function.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use crate::{Access, Channel, Msg, Platform, Regions, SharedRegion, Time};

/// Regions backed by host memory. Shared regions can be opened from two
/// sides (two `HostRegions` built with [`HostRegions::share`]).
#[derive(Default)]
pub struct HostRegions {
    shared: BTreeMap<String, (NonNull<u8>, usize, Access)>,
    private: BTreeMap<String, &'static mut [u8]>,
    config: Option<&'static [u8]>,
}

/// A block of leaked, zeroed memory.
pub fn leak(size: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; size].into_boxed_slice())
}

impl HostRegions {
    /// No regions.
    pub fn new() -> HostRegions {
        HostRegions::default()
    }

    /// Gives the PD a configuration (`Regions::config`).
    pub fn with_config(mut self, bytes: &[u8]) -> Self {
        self.config = Some(Box::leak(bytes.to_vec().into_boxed_slice()));
        self
    }

    /// Adds a private region of `size` bytes.
    pub fn private_region(mut self, symbol: &str, size: usize) -> Self {
        self.private.insert(symbol.into(), leak(size));
        self
    }

    /// Adds a shared region over `mem` (e.g. from [`leak`], also given to
    /// the other side).
    pub fn share(mut self, symbol: &str, mem: &'static [u8], access: Access) -> Self {
        let base = NonNull::new(mem.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
        self.shared.insert(symbol.into(), (base, mem.len(), access));
        self
    }
}

impl Regions for HostRegions {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let (base, len, access) = self.shared.remove(symbol)?;
        // SAFETY: leaked memory lives forever; each symbol is taken once.
        #[allow(unsafe_code)]
        Some(unsafe { SharedRegion::new(base, len, access) })
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        self.private.remove(symbol)
    }

    fn config(&mut self) -> Option<&'static [u8]> {
        self.config
    }
}

/// A shared region over the same memory, for the test's side.
pub fn view(mem: &'static [u8]) -> SharedRegion {
    let base = NonNull::new(mem.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
    // SAFETY: leaked memory lives forever; tests use the view and the PD in turn.
    #[allow(unsafe_code)]
    unsafe {
        SharedRegion::new(base, mem.len(), Access::ReadWrite)
    }
}

/// A platform for tests: `ppcall` goes to `call`, prints go to stderr.
#[derive(Clone, Copy)]
pub struct HostPlatform {
    /// The PD's name.
    pub name: &'static str,
    /// Handles protected calls.
    pub call: fn(Channel, Msg) -> Msg,
}

impl Platform for HostPlatform {
    fn pd_name(&self) -> &str {
        self.name
    }
    fn notify(&self, _: Channel) {}
    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg {
        (self.call)(ch, msg)
    }
    fn print(&self, s: &str) {
        eprint!("[{}] {s}", self.name);
    }
    fn time(&self) -> Time {
        Time { unix_ms: None, source: "none" }
    }
    fn irq_ack(&self, _: Channel) {}
}
