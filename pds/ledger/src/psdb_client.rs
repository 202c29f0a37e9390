//! The L1 store as seen from a ledger PD: protected calls to psdb.

use core::fmt;

use abi::psdb::{encode_tile, label, status};
use ledger::store::{Recovery, StoreError, TileStore};
use platform::{Channel, Msg, Platform, SharedRegion};
use tlog::Tile;

/// A psdb namespace: a channel and its shared buffer.
pub struct PsdbClient<P> {
    p: P,
    ch: Channel,
    buf: SharedRegion,
}

/// psdb answered something the L1 contract has no word for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsdbError {
    /// A status code (e.g. a malformed request).
    Status(u64),
    /// An object larger than the shared buffer.
    TooLarge(usize),
    /// psdb does not serve the namespace (its console says why).
    Unavailable,
}

impl fmt::Display for PsdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PsdbError::Status(s) => write!(f, "psdb answered status {s}"),
            PsdbError::TooLarge(n) => write!(f, "object of {n} bytes exceeds the psdb buffer"),
            PsdbError::Unavailable => {
                f.write_str("psdb does not serve this namespace (its console says why)")
            }
        }
    }
}

type Result<T> = core::result::Result<T, StoreError<PsdbError>>;

fn error(reply: Msg) -> StoreError<PsdbError> {
    match (abi::psdb::error_of(reply.label, [reply.mr(0), reply.mr(1)]), reply.label) {
        // The object does not fit the buffer shared with psdb, whatever
        // the ledger's own buffer could hold.
        (_, status::TOO_SMALL) => StoreError::Backend(PsdbError::TooLarge(reply.mr(0) as usize)),
        (Some(e), _) => e,
        (None, status::UNAVAILABLE) => StoreError::Backend(PsdbError::Unavailable),
        (None, s) => StoreError::Backend(PsdbError::Status(s)),
    }
}

impl<P: Platform> PsdbClient<P> {
    /// A client of the namespace on `ch`.
    pub fn new(p: P, ch: Channel, buf: SharedRegion) -> Self {
        PsdbClient { p, ch, buf }
    }

    fn call(&self, label: u64, mrs: &[u64]) -> Result<Msg> {
        let r = self.p.ppcall(self.ch, Msg::new(label, mrs));
        if r.label == status::OK { Ok(r) } else { Err(error(r)) }
    }

    /// Reads an object psdb left in the buffer into `out`.
    fn fetch(&self, len: usize, out: &mut [u8]) -> Result<Option<usize>> {
        let dst = out.get_mut(..len).ok_or(StoreError::TooSmall { needed: len })?;
        self.buf.read(0, dst).ok_or(StoreError::Backend(PsdbError::TooLarge(len)))?;
        Ok(Some(len))
    }

    fn stage(&mut self, at: usize, data: &[u8]) -> Result<()> {
        self.buf.write(at, data).ok_or(StoreError::Backend(PsdbError::TooLarge(at + data.len())))
    }
}

impl<P: Platform> TileStore for PsdbClient<P> {
    type Error = PsdbError;

    fn get(&mut self, tile: &Tile, out: &mut [u8]) -> Result<Option<usize>> {
        let [a, b, c] = encode_tile(tile);
        match self.call(label::GET, &[a, b, c]) {
            Ok(r) => self.fetch(r.mr(0) as usize, out),
            Err(StoreError::Backend(PsdbError::Status(status::NOT_FOUND))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<()> {
        self.stage(0, data)?;
        let [a, b, c] = encode_tile(tile);
        self.call(label::PUT, &[a, b, c, data.len() as u64]).map(drop)
    }

    /// Nothing to call: psdb's `REPLACE_CHECKPOINT`, which follows every
    /// sync, makes the puts before it durable first (one flush pair a
    /// commit, no extra round trip).
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn get_checkpoint(&mut self, out: &mut [u8]) -> Result<Option<usize>> {
        match self.call(label::GET_CHECKPOINT, &[]) {
            Ok(r) => self.fetch(r.mr(0) as usize, out),
            Err(StoreError::Backend(PsdbError::Status(status::NOT_FOUND))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<()> {
        self.stage(0, expected)?;
        self.stage(expected.len(), new)?;
        self.call(label::REPLACE_CHECKPOINT, &[expected.len() as u64, new.len() as u64]).map(drop)
    }

    fn recover(&mut self, size: u64) -> Result<Recovery> {
        let r = self.call(label::RECOVER, &[size])?;
        Ok(Recovery {
            size,
            removed_objects: r.mr(0),
            removed_partial_writes: 0,
            orphan_extent: r.mr(1),
        })
    }
}
