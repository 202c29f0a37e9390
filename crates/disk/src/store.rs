//! A namespace as an L1 [`TileStore`], for the engine where it runs in
//! one place with its store (a host, a benchmark): the namespace, and the
//! disk it shares with the other namespaces.

use core::cell::RefCell;

use ledger::store::{Recovery, StoreError, TileStore};
use tlog::{Tile, TileKind};

use crate::device::BlockDevice;
use crate::namespace::{Error, Fault, Namespace};

/// Bytes of the first `t.width` hashes or entries of an object of `len`
/// bytes that starts with them, reading its bytes with `at` (offset, two
/// bytes out). `None` if the object does not hold that many.
pub fn prefix_len(
    t: &Tile,
    len: usize,
    mut at: impl FnMut(usize, &mut [u8; 2]) -> bool,
) -> Option<usize> {
    let n = match t.kind {
        TileKind::Hashes { .. } => usize::from(t.width) * tlog::HASH_SIZE,
        TileKind::Entries => {
            let mut off = 0usize;
            for _ in 0..t.width {
                let mut l = [0u8; 2];
                if !at(off, &mut l) {
                    return None;
                }
                off = off.checked_add(2 + usize::from(u16::from_be_bytes(l)))?;
            }
            off
        }
    };
    (n <= len).then_some(n)
}

/// A namespace on a device, as a tile store.
pub struct Store<'a, 'm, D> {
    /// The namespace.
    pub ns: &'a mut Namespace<'m>,
    /// Its disk, shared with the other namespaces.
    pub dev: &'a RefCell<D>,
}

impl<D: BlockDevice> TileStore for Store<'_, '_, D> {
    type Error = Fault<D::Error>;

    fn get(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<Option<usize>, Error<D::Error>> {
        let Some((i, exact)) = self.ns.find(tile) else { return Ok(None) };
        let len = self.ns.object_len(i).unwrap_or(0);
        if exact && buf.len() < len {
            return Err(StoreError::TooSmall { needed: len });
        }
        let mut fits = true;
        self.ns.read(&mut *self.dev.borrow_mut(), i, &mut |at, b| {
            let end = (at + b.len()).min(buf.len());
            if at < end {
                buf[at..end].copy_from_slice(&b[..end - at]);
            }
            fits &= at + b.len() <= buf.len();
            true
        })?;
        if exact {
            return Ok(Some(len));
        }
        let n = prefix_len(tile, len.min(buf.len()), |at, out| {
            buf.get(at..at + 2).map(|b| out.copy_from_slice(b)).is_some()
        });
        match n {
            Some(n) => Ok(Some(n)),
            None if !fits => Err(StoreError::TooSmall { needed: len }),
            None => Err(StoreError::Corrupt),
        }
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<(), Error<D::Error>> {
        self.ns.put(&mut *self.dev.borrow_mut(), tile, data)
    }

    fn sync(&mut self) -> Result<(), Error<D::Error>> {
        self.ns.sync(&mut *self.dev.borrow_mut())
    }

    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error<D::Error>> {
        if let Some(s) = self.ns.stopped() {
            return Err(StoreError::Backend(Fault::Stopped(s)));
        }
        let Some(cp) = self.ns.checkpoint() else { return Ok(None) };
        let dst = buf.get_mut(..cp.len()).ok_or(StoreError::TooSmall { needed: cp.len() })?;
        dst.copy_from_slice(cp);
        Ok(Some(cp.len()))
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<(), Error<D::Error>> {
        self.ns.replace_checkpoint(&mut *self.dev.borrow_mut(), expected, new)
    }

    fn recover(&mut self, size: u64) -> Result<Recovery, Error<D::Error>> {
        self.ns.recover(size)
    }
}
