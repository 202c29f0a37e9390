//! Byte buffers the engine fills: growable on a host, fixed in a PD.

/// A byte buffer that may be able to grow.
pub trait Buffer: AsRef<[u8]> + AsMut<[u8]> {
    /// The most bytes this buffer can ever hold.
    fn max_len(&self) -> usize;
    /// Makes at least `len` bytes available; `false` when it cannot.
    fn reserve(&mut self, len: usize) -> bool;
}

impl Buffer for &mut [u8] {
    fn max_len(&self) -> usize {
        self.len()
    }
    fn reserve(&mut self, len: usize) -> bool {
        len <= self.len()
    }
}

impl<const N: usize> Buffer for [u8; N] {
    fn max_len(&self) -> usize {
        N
    }
    fn reserve(&mut self, len: usize) -> bool {
        len <= N
    }
}

#[cfg(feature = "alloc")]
impl Buffer for alloc::vec::Vec<u8> {
    fn max_len(&self) -> usize {
        usize::MAX
    }
    fn reserve(&mut self, len: usize) -> bool {
        if len > self.len() {
            self.resize(len, 0);
        }
        true
    }
}
