//! Fault injection: a store that fails at a chosen write point.

use core::fmt;

use ledger::store::{Recovery, StoreError, TileStore};
use tlog::Tile;

/// Wraps a store; the `fail_at`-th write (`put`, `sync` or
/// `replace_checkpoint`, counting from 0) fails without effect, and so does
/// every operation after it, as if the process had died there.
pub struct Faulty<S> {
    inner: S,
    writes: u64,
    fail_at: u64,
    failed: bool,
}

/// A store error from [`Faulty`].
#[derive(Debug, PartialEq, Eq)]
pub enum Fault<E> {
    /// The injected failure.
    Injected,
    /// The wrapped store's error.
    Inner(E),
}

impl<E: fmt::Display> fmt::Display for Fault<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Injected => f.write_str("injected fault"),
            Fault::Inner(e) => write!(f, "{e}"),
        }
    }
}

impl<S> Faulty<S> {
    /// Fails write number `fail_at` (and everything after).
    pub fn new(inner: S, fail_at: u64) -> Faulty<S> {
        Faulty { inner, writes: 0, fail_at, failed: false }
    }

    /// Whether the fault was hit.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Writes seen (including the failed one).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// The wrapped store.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

type Result<T, E> = core::result::Result<T, StoreError<Fault<E>>>;

fn lift<T, E>(r: core::result::Result<T, StoreError<E>>) -> Result<T, E> {
    r.map_err(|e| e.map_backend(Fault::Inner))
}

impl<S: TileStore> Faulty<S> {
    fn alive(&self) -> Result<(), S::Error> {
        if self.failed { Err(StoreError::Backend(Fault::Injected)) } else { Ok(()) }
    }

    fn write(&mut self) -> Result<(), S::Error> {
        self.alive()?;
        let n = self.writes;
        self.writes += 1;
        if n == self.fail_at {
            self.failed = true;
            return Err(StoreError::Backend(Fault::Injected));
        }
        Ok(())
    }
}

impl<S: TileStore> TileStore for Faulty<S> {
    type Error = Fault<S::Error>;

    fn get(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<Option<usize>, S::Error> {
        self.alive()?;
        lift(self.inner.get(tile, buf))
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<(), S::Error> {
        self.write()?;
        lift(self.inner.put(tile, data))
    }

    fn sync(&mut self) -> Result<(), S::Error> {
        self.write()?;
        lift(self.inner.sync())
    }

    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>, S::Error> {
        self.alive()?;
        lift(self.inner.get_checkpoint(buf))
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<(), S::Error> {
        self.write()?;
        lift(self.inner.replace_checkpoint(expected, new))
    }

    fn recover(&mut self, size: u64) -> Result<Recovery, S::Error> {
        self.alive()?;
        lift(self.inner.recover(size))
    }
}
