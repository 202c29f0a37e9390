//! The psdb protection domain (L1): a write-once tile store in memory.
//!
//! Each channel from a ledger is one namespace with its own partition of the
//! store and its own shared buffer; a request can only reach the namespace of
//! the channel it arrived on. Objects are written once (a second write must
//! be identical); the checkpoint is replaced only by compare-and-swap with a
//! larger tree. A full partition answers `FULL` and keeps everything stored.
#![no_std]

pub mod partition;

use abi::psdb::{decode_tile, label, status};
use core::fmt::Write;
use ledger::store::{StoreError, TileStore};

use platform::{Channel, Console, Msg, Pd, Platform, Regions, SharedRegion};

pub use partition::Partition;

/// Most namespaces psdb serves (one per channel).
pub const MAX_NAMESPACES: usize = 62;

struct Namespace {
    channel: Channel,
    part: Partition<'static>,
    buf: SharedRegion,
}

/// The psdb PD.
pub struct Psdb<P> {
    p: P,
    namespaces: heapless::Vec<Namespace, MAX_NAMESPACES>,
}

/// Why psdb could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// A region the system description should map is missing.
    MissingRegion(&'static str),
    /// The store is too small to split into the namespaces.
    StoreTooSmall,
}

impl<P: Platform> Psdb<P> {
    /// Starts psdb: splits the store evenly between the namespaces of
    /// `system::PSDB_NAMESPACES` (formatting each if new).
    pub fn init(p: P, regions: &mut dyn Regions) -> Result<Self, InitError> {
        let store = regions
            .private(system::PSDB_STORE_SYMBOL)
            .ok_or(InitError::MissingRegion(system::PSDB_STORE_SYMBOL))?;
        let count = system::PSDB_NAMESPACES.len();
        let share = (store.len() / count.max(1)) & !0xFFF;
        let mut namespaces = heapless::Vec::new();
        let mut rest = store;
        for ns in system::PSDB_NAMESPACES {
            let (mine, more) = rest.split_at_mut(share);
            rest = more;
            let part = Partition::open(mine).ok_or(InitError::StoreTooSmall)?;
            let buf = regions.shared(ns.symbol).ok_or(InitError::MissingRegion(ns.symbol))?;
            let channel = Channel::new(ns.channel).ok_or(InitError::MissingRegion(ns.symbol))?;
            if namespaces.push(Namespace { channel, part, buf }).is_err() {
                return Err(InitError::StoreTooSmall);
            }
        }
        Ok(Psdb { p, namespaces })
    }

    /// Bytes of objects stored in the namespace of `ch`.
    pub fn used(&self, ch: Channel) -> Option<usize> {
        self.namespaces.iter().find(|n| n.channel == ch).map(|n| n.part.used())
    }
}

fn reply(code: u64, mrs: &[u64]) -> Msg {
    Msg::new(code, mrs)
}

fn store_status(e: StoreError<core::convert::Infallible>) -> Msg {
    match e {
        StoreError::Conflict => reply(status::CONFLICT, &[]),
        StoreError::CheckpointChanged => reply(status::CHECKPOINT_CHANGED, &[]),
        StoreError::NotLarger { stored, offered } => reply(status::NOT_LARGER, &[stored, offered]),
        StoreError::BadCheckpoint => reply(status::BAD_CHECKPOINT, &[]),
        StoreError::Full => reply(status::FULL, &[]),
        StoreError::TooSmall { needed } => reply(status::TOO_SMALL, &[needed as u64]),
        StoreError::NoCheckpoint => reply(status::NO_CHECKPOINT, &[]),
        StoreError::Corrupt => reply(status::BAD_REQUEST, &[]),
        StoreError::Backend(never) => match never {},
    }
}

impl Namespace {
    fn handle(&mut self, msg: Msg) -> Msg {
        let tile = || decode_tile([msg.mr(0), msg.mr(1), msg.mr(2)]);
        let bad = reply(status::BAD_REQUEST, &[]);
        match msg.label {
            label::GET => {
                let Some(t) = tile() else { return bad };
                let Some(loc) = self.part.find(&t) else { return reply(status::NOT_FOUND, &[]) };
                if loc.1 > self.buf.len() {
                    return reply(status::TOO_SMALL, &[loc.1 as u64]);
                }
                let _ = self.buf.write(0, self.part.bytes(loc));
                reply(status::OK, &[loc.1 as u64])
            }
            label::PUT => {
                let Some(t) = tile() else { return bad };
                let len = msg.mr(3) as usize;
                if len > self.buf.len() {
                    return bad;
                }
                let buf = &self.buf;
                let r = self.part.put_with(&t, len, |new| buf.read(0, new).is_some());
                r.map_or_else(store_status, |()| reply(status::OK, &[]))
            }
            label::SYNC => reply(status::OK, &[]),
            label::GET_CHECKPOINT => match self.part.checkpoint() {
                None => reply(status::NOT_FOUND, &[]),
                Some(cp) if cp.len() > self.buf.len() => {
                    reply(status::TOO_SMALL, &[cp.len() as u64])
                }
                Some(cp) => {
                    let len = cp.len();
                    let _ = self.buf.write(0, cp);
                    reply(status::OK, &[len as u64])
                }
            },
            label::REPLACE_CHECKPOINT => self.replace_checkpoint(msg.mr(0), msg.mr(1)),
            label::RECOVER => match self.part.recover(msg.mr(0)) {
                Ok(r) => reply(status::OK, &[r.removed_objects, r.orphan_extent]),
                Err(e) => store_status(e),
            },
            _ => bad,
        }
    }

    fn replace_checkpoint(&mut self, expected_len: u64, new_len: u64) -> Msg {
        let max = partition::CHECKPOINT_MAX as u64;
        if expected_len > max || new_len > max {
            return reply(status::BAD_REQUEST, &[]);
        }
        let (e, n) = (expected_len as usize, new_len as usize);
        let mut expected = [0u8; partition::CHECKPOINT_MAX];
        let mut new = [0u8; partition::CHECKPOINT_MAX];
        if self.buf.read(0, &mut expected[..e]).is_none()
            || self.buf.read(e, &mut new[..n]).is_none()
        {
            return reply(status::BAD_REQUEST, &[]);
        }
        match self.part.replace_checkpoint(&expected[..e], &new[..n]) {
            Ok(()) => reply(status::OK, &[]),
            Err(err) => store_status(err),
        }
    }
}

impl<P: Platform> Pd for Psdb<P> {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        match self.namespaces.iter_mut().find(|n| n.channel == ch) {
            Some(ns) => {
                let r = ns.handle(msg);
                if r.label == status::FULL {
                    let _ =
                        writeln!(Console(self.p), "psdb: namespace of channel {} is full", ch.id());
                }
                r
            }
            // The kernel only delivers calls on channels the system grants;
            // a call on any other is refused, never served from a namespace.
            None => reply(status::BAD_REQUEST, &[]),
        }
    }
}
