//! The L1 store as seen from a ledger PD: protected calls to psdb.

use core::fmt;

use abi::DecodeError;
use abi::psdb::{Done, Object, Recovered, Refusal, ReplyError, Request, status};
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
    /// psdb's reply lacks registers its answer has.
    Malformed(DecodeError),
}

impl fmt::Display for PsdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PsdbError::Status(s) => write!(f, "psdb answered status {s}"),
            PsdbError::TooLarge(n) => write!(f, "object of {n} bytes exceeds the psdb buffer"),
            PsdbError::Unavailable => {
                f.write_str("psdb does not serve this namespace (its console says why)")
            }
            PsdbError::Malformed(e) => write!(f, "psdb's reply is malformed: {e:?}"),
        }
    }
}

type Result<T> = core::result::Result<T, StoreError<PsdbError>>;

/// The store error psdb's reply stands for.
fn error(e: ReplyError) -> StoreError<PsdbError> {
    match e {
        // The object does not fit the buffer shared with psdb, whatever
        // the ledger's own buffer could hold.
        ReplyError::Refused(Refusal::TooSmall { needed }) => {
            StoreError::Backend(PsdbError::TooLarge(usize::try_from(needed).unwrap_or(usize::MAX)))
        }
        ReplyError::Refused(Refusal::Unavailable) => StoreError::Backend(PsdbError::Unavailable),
        ReplyError::Refused(r) => {
            r.store_error().unwrap_or(StoreError::Backend(PsdbError::Status(r.status())))
        }
        ReplyError::Malformed(d) => StoreError::Backend(PsdbError::Malformed(d)),
    }
}

/// A `GET` answered `NOT_FOUND`.
fn not_found<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(StoreError::Backend(PsdbError::Status(status::NOT_FOUND))) => Ok(None),
        Err(e) => Err(e),
    }
}

impl<P: Platform> PsdbClient<P> {
    /// A client of the namespace on `ch`.
    pub fn new(p: P, ch: Channel, buf: SharedRegion) -> Self {
        PsdbClient { p, ch, buf }
    }

    /// Makes `request`; its reply, as `decode` reads it.
    fn call<T>(
        &self,
        request: Request,
        decode: fn(&Msg) -> core::result::Result<T, ReplyError>,
    ) -> Result<T> {
        decode(&self.p.ppcall(self.ch, request.encode())).map_err(error)
    }

    /// Reads an object psdb left in the buffer into `out`.
    fn fetch(&self, object: Object, out: &mut [u8]) -> Result<usize> {
        let len = usize::try_from(object.len).unwrap_or(usize::MAX);
        let dst = out.get_mut(..len).ok_or(StoreError::TooSmall { needed: len })?;
        self.buf.read(0, dst).ok_or(StoreError::Backend(PsdbError::TooLarge(len)))?;
        Ok(len)
    }

    fn stage(&mut self, at: usize, data: &[u8]) -> Result<()> {
        self.buf.write(at, data).ok_or(StoreError::Backend(PsdbError::TooLarge(at + data.len())))
    }
}

impl<P: Platform> TileStore for PsdbClient<P> {
    type Error = PsdbError;

    fn get(&mut self, tile: &Tile, out: &mut [u8]) -> Result<Option<usize>> {
        let object = not_found(self.call(Request::Get { tile: *tile }, Object::decode))?;
        object.map(|o| self.fetch(o, out)).transpose()
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<()> {
        self.stage(0, data)?;
        self.call(Request::Put { tile: *tile, len: data.len() }, Done::decode).map(drop)
    }

    /// Nothing to call: psdb's `REPLACE_CHECKPOINT`, which follows every
    /// sync, makes the puts before it durable first (one flush pair a
    /// commit, no extra round trip).
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn get_checkpoint(&mut self, out: &mut [u8]) -> Result<Option<usize>> {
        let object = not_found(self.call(Request::GetCheckpoint, Object::decode))?;
        object.map(|o| self.fetch(o, out)).transpose()
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<()> {
        self.stage(0, expected)?;
        self.stage(expected.len(), new)?;
        let request = Request::ReplaceCheckpoint { expected: expected.len(), new: new.len() };
        self.call(request, Done::decode).map(drop)
    }

    fn recover(&mut self, size: u64) -> Result<Recovery> {
        let r = self.call(Request::Recover { size }, Recovered::decode)?;
        Ok(Recovery {
            size,
            removed_objects: r.removed_objects,
            removed_partial_writes: 0,
            orphan_extent: r.orphan_extent,
        })
    }
}
