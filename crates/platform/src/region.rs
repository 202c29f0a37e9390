//! Shared memory regions.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

/// How a PD may access a region, as its `map` element's `perms` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `perms="r"`.
    ReadOnly,
    /// `perms="rw"`.
    ReadWrite,
}

/// Memory shared with another PD. The other side may change it at any time,
/// so it is never lent out as a Rust reference: bytes are copied in and out,
/// bounds-checked, at the moments the protocol says the other side is idle.
#[derive(Debug)]
pub struct SharedRegion {
    base: NonNull<u8>,
    len: usize,
    access: Access,
}

impl SharedRegion {
    /// Wraps a mapping.
    ///
    /// # Safety
    /// `base..base + len` must stay mapped (writable if `access` is
    /// `ReadWrite`) for the life of the PD, and no other `SharedRegion` in
    /// this PD may cover it.
    #[allow(unsafe_code)]
    pub unsafe fn new(base: NonNull<u8>, len: usize, access: Access) -> SharedRegion {
        SharedRegion { base, len, access }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the mapping starts (for glue, and for a test PD that must
    /// misbehave; PD logic uses the checked copies).
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// The access the mapping grants.
    pub fn access(&self) -> Access {
        self.access
    }

    fn check(&self, offset: usize, len: usize) -> Option<()> {
        (offset.checked_add(len)? <= self.len).then_some(())
    }

    /// Copies `out.len()` bytes from `offset`; `None` if beyond the region.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> Option<()> {
        self.check(offset, out.len())?;
        // SAFETY: in bounds (checked) of a mapping valid for the PD's life;
        // `out` is private memory, so the ranges cannot overlap.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        Some(())
    }

    /// Copies `data` to `offset`; `None` if beyond the region or read-only.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> Option<()> {
        if self.access != Access::ReadWrite {
            return None;
        }
        self.check(offset, data.len())?;
        // SAFETY: in bounds of a writable mapping (checked); `data` is
        // private memory.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.base.as_ptr().add(offset),
                data.len(),
            )
        };
        Some(())
    }

    /// Reads a little-endian `u64` at `offset`.
    pub fn read_u64(&self, offset: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b)?;
        Some(u64::from_le_bytes(b))
    }

    /// The `u32` at `offset` (4-byte aligned), read with acquire ordering:
    /// what the other side wrote before it released the value is visible.
    /// For indices of queues the other side updates while this one polls.
    pub fn load_u32(&self, offset: usize) -> Option<u32> {
        self.atomic_u32(offset).map(|a| a.load(Ordering::Acquire))
    }

    /// Stores `v` at `offset` (4-byte aligned) with release ordering: what
    /// this side wrote before is visible to the other once it sees `v`.
    /// `None` if beyond the region, unaligned or read-only.
    pub fn store_u32(&mut self, offset: usize, v: u32) -> Option<()> {
        if self.access != Access::ReadWrite {
            return None;
        }
        self.atomic_u32(offset).map(|a| a.store(v, Ordering::Release))
    }

    fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        self.check(offset, 4)?;
        // SAFETY: in bounds (checked) of a mapping valid for the PD's life;
        // aligned (checked below); another PD may write it concurrently,
        // which is what atomics are for. A read-only mapping is only ever
        // loaded from.
        #[allow(unsafe_code)]
        unsafe {
            let p = self.base.as_ptr().add(offset);
            (p.align_offset(4) == 0).then(|| AtomicU32::from_ptr(p.cast()))
        }
    }

    /// Copies `len` bytes from `from` in this region to `to` in `dst`.
    pub fn copy_to(
        &self,
        from: usize,
        dst: &mut SharedRegion,
        to: usize,
        len: usize,
    ) -> Option<()> {
        self.check(from, len)?;
        if dst.access != Access::ReadWrite {
            return None;
        }
        dst.check(to, len)?;
        // SAFETY: both ranges in bounds (checked); distinct regions of this
        // PD never overlap (constructor contract), and `copy` tolerates it anyway.
        #[allow(unsafe_code)]
        unsafe {
            core::ptr::copy(self.base.as_ptr().add(from), dst.base.as_ptr().add(to), len)
        };
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn bounds_and_access_are_checked() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 8];
        let mut ra = unsafe {
            SharedRegion::new(NonNull::new(a.as_mut_ptr()).unwrap(), 16, Access::ReadWrite)
        };
        let mut rb = unsafe {
            SharedRegion::new(NonNull::new(b.as_mut_ptr()).unwrap(), 8, Access::ReadOnly)
        };
        assert!(ra.write(12, b"abcd").is_some());
        assert!(ra.write(13, b"abcd").is_none());
        assert!(ra.write(usize::MAX, b"a").is_none());
        let mut out = [0u8; 4];
        assert!(ra.read(12, &mut out).is_some());
        assert_eq!(&out, b"abcd");
        assert!(rb.write(0, b"x").is_none());
        assert!(ra.copy_to(12, &mut rb, 0, 4).is_none());
        assert!(rb.copy_to(0, &mut ra, 0, 8).is_some());
        assert!(rb.copy_to(4, &mut ra, 0, 8).is_none());
    }

    #[test]
    #[allow(unsafe_code)]
    fn atomics_are_checked_for_bounds_alignment_and_access() {
        let mut a = [0u32; 4];
        let base = NonNull::new(a.as_mut_ptr().cast::<u8>()).unwrap();
        let mut rw = unsafe { SharedRegion::new(base, 16, Access::ReadWrite) };
        assert_eq!(rw.store_u32(12, 7), Some(()));
        assert_eq!(rw.load_u32(12), Some(7));
        assert_eq!(rw.load_u32(13), None);
        assert_eq!(rw.load_u32(16), None);
        let mut ro = unsafe { SharedRegion::new(base, 16, Access::ReadOnly) };
        assert_eq!(ro.store_u32(0, 1), None);
        assert_eq!(ro.load_u32(12), Some(7));
    }
}
