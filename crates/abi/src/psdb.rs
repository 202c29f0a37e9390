//! `ledger_<tenant>` → `psdb`: the L1 tile store. The namespace of a request
//! is the channel it arrives on; nothing in a request names another.
//!
//! [`Request`] is every request; [`Done`], [`Object`], [`Recovered`] and
//! [`Refusal`] the replies, each with one `encode` to a [`Msg`] and one
//! `decode` from it. Tile coordinates travel in MR0..MR2 (see
//! [`encode_tile`]); object bytes in the ledger–psdb buffer from offset 0.

use ledger::store::StoreError;
use tlog::{Tile, TileKind};

use crate::{DecodeError, Msg, registers, to_usize};

/// Request labels.
pub mod label {
    /// Read an object. MR0..2 = tile. Reply MR0 = length; bytes in the buffer.
    pub const GET: u64 = 1;
    /// Store an object (write-once). MR0..2 = tile, MR3 = length; bytes in the buffer.
    pub const PUT: u64 = 2;
    /// Read the checkpoint. Reply MR0 = length; bytes in the buffer.
    pub const GET_CHECKPOINT: u64 = 4;
    /// Replace the checkpoint. The buffer holds the expected checkpoint
    /// (MR0 bytes, 0 when none is expected) followed by the new one (MR1
    /// bytes). Every object put before it is made durable first: a commit
    /// is its puts and this one call. (Label 3, a separate sync, is retired.)
    pub const REPLACE_CHECKPOINT: u64 = 5;
    /// Recover to the tree of MR0 entries. Reply MR0 = objects removed,
    /// MR1 = largest tree size a removed object belonged to.
    pub const RECOVER: u64 = 6;
}

/// `MR0` value for entry bundles (hash tiles use their level, 0..=63).
pub const ENTRIES: u64 = 0xFF;

/// Reply status codes.
pub mod status {
    /// Done.
    pub const OK: u64 = 0;
    /// No such object (or no checkpoint).
    pub const NOT_FOUND: u64 = 1;
    /// A different object exists under that name.
    pub const CONFLICT: u64 = 2;
    /// The stored checkpoint is not the expected one.
    pub const CHECKPOINT_CHANGED: u64 = 3;
    /// The new checkpoint is not for a larger tree. MR0 = stored size, MR1 = offered.
    pub const NOT_LARGER: u64 = 4;
    /// A checkpoint without a readable tree size.
    pub const BAD_CHECKPOINT: u64 = 5;
    /// Out of storage.
    pub const FULL: u64 = 6;
    /// The object does not fit the buffer. MR0 = its size.
    pub const TOO_SMALL: u64 = 7;
    /// Objects but no checkpoint.
    pub const NO_CHECKPOINT: u64 = 8;
    /// Malformed request: unknown label, bad tile, length beyond the buffer.
    pub const BAD_REQUEST: u64 = 9;
    /// The stored object failed its checksum: not served. MR0 = the disk
    /// offset of the damaged record (0 if unknown).
    pub const CORRUPT: u64 = 10;
    /// The namespace does not serve: it holds data but no readable
    /// checkpoint, the disk cannot be used, or a device error stopped it
    /// (psdb's console says which).
    pub const UNAVAILABLE: u64 = 11;
}

/// A request to psdb, for the namespace of the channel it arrives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET`: the object named `tile`.
    Get {
        /// The object.
        tile: Tile,
    },
    /// `PUT`: store the buffer's first `len` bytes as `tile` (write-once).
    Put {
        /// The object.
        tile: Tile,
        /// Its bytes in the buffer.
        len: usize,
    },
    /// `GET_CHECKPOINT`.
    GetCheckpoint,
    /// `REPLACE_CHECKPOINT`: the buffer holds the `expected` bytes of the
    /// checkpoint stored (0: none) and then the `new` bytes of its successor.
    ReplaceCheckpoint {
        /// Bytes of the expected checkpoint.
        expected: usize,
        /// Bytes of the new one.
        new: usize,
    },
    /// `RECOVER`: back to the tree of `size` entries.
    Recover {
        /// The tree size.
        size: u64,
    },
}

impl Request {
    /// Its label.
    pub const fn label(&self) -> u64 {
        match self {
            Request::Get { .. } => label::GET,
            Request::Put { .. } => label::PUT,
            Request::GetCheckpoint => label::GET_CHECKPOINT,
            Request::ReplaceCheckpoint { .. } => label::REPLACE_CHECKPOINT,
            Request::Recover { .. } => label::RECOVER,
        }
    }

    /// The message: its label and exactly the registers it uses.
    pub fn encode(&self) -> Msg {
        let l = self.label();
        match *self {
            Request::Get { tile } => Msg::new(l, &encode_tile(&tile)),
            Request::Put { tile, len } => {
                let [a, b, c] = encode_tile(&tile);
                Msg::new(l, &[a, b, c, len as u64])
            }
            Request::GetCheckpoint => Msg::new(l, &[]),
            Request::ReplaceCheckpoint { expected, new } => {
                Msg::new(l, &[expected as u64, new as u64])
            }
            Request::Recover { size } => Msg::new(l, &[size]),
        }
    }

    /// The request `msg` makes; registers beyond those it uses are ignored.
    /// Label 3, a retired sync, is unknown.
    pub fn decode(msg: &Msg) -> Result<Request, DecodeError> {
        Ok(match msg.label {
            label::GET => Request::Get { tile: tile_of(registers(msg)?)? },
            label::PUT => {
                let [a, b, c, len] = registers(msg)?;
                Request::Put { tile: tile_of([a, b, c])?, len: to_usize(3, len)? }
            }
            label::GET_CHECKPOINT => Request::GetCheckpoint,
            label::REPLACE_CHECKPOINT => {
                let [e, n] = registers(msg)?;
                Request::ReplaceCheckpoint { expected: to_usize(0, e)?, new: to_usize(1, n)? }
            }
            label::RECOVER => Request::Recover { size: registers::<1>(msg)?[0] },
            other => return Err(DecodeError::UnknownLabel(other)),
        })
    }
}

/// The tile registers name, or which register is out of range.
fn tile_of(mrs: [u64; 3]) -> Result<Tile, DecodeError> {
    decode_tile(mrs).ok_or_else(|| {
        let register = if mrs[0] != ENTRIES && mrs[0] > 63 { 0 } else { 2 };
        DecodeError::OutOfRange { register, value: mrs[register] }
    })
}

/// A request psdb did not carry out: the reply's status, and its registers
/// where it has some.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `NOT_FOUND`.
    NotFound,
    /// `CONFLICT`.
    Conflict,
    /// `CHECKPOINT_CHANGED`.
    CheckpointChanged,
    /// `NOT_LARGER`: MR0, MR1.
    NotLarger {
        /// The stored checkpoint's tree size.
        stored: u64,
        /// The offered one's.
        offered: u64,
    },
    /// `BAD_CHECKPOINT`.
    BadCheckpoint,
    /// `FULL`.
    Full,
    /// `TOO_SMALL`: MR0.
    TooSmall {
        /// The object's size.
        needed: u64,
    },
    /// `NO_CHECKPOINT`.
    NoCheckpoint,
    /// `BAD_REQUEST`.
    BadRequest,
    /// `CORRUPT`: MR0.
    Corrupt {
        /// The disk offset of the damaged record (0 if unknown).
        offset: u64,
    },
    /// `UNAVAILABLE`.
    Unavailable,
    /// A status this protocol has no name for (never sent by psdb).
    Other(u64),
}

impl Refusal {
    /// Its status code.
    pub const fn status(&self) -> u64 {
        match self {
            Refusal::NotFound => status::NOT_FOUND,
            Refusal::Conflict => status::CONFLICT,
            Refusal::CheckpointChanged => status::CHECKPOINT_CHANGED,
            Refusal::NotLarger { .. } => status::NOT_LARGER,
            Refusal::BadCheckpoint => status::BAD_CHECKPOINT,
            Refusal::Full => status::FULL,
            Refusal::TooSmall { .. } => status::TOO_SMALL,
            Refusal::NoCheckpoint => status::NO_CHECKPOINT,
            Refusal::BadRequest => status::BAD_REQUEST,
            Refusal::Corrupt { .. } => status::CORRUPT,
            Refusal::Unavailable => status::UNAVAILABLE,
            Refusal::Other(s) => *s,
        }
    }

    /// The reply.
    pub fn encode(&self) -> Msg {
        let s = self.status();
        match *self {
            Refusal::NotLarger { stored, offered } => Msg::new(s, &[stored, offered]),
            Refusal::TooSmall { needed: n } | Refusal::Corrupt { offset: n } => Msg::new(s, &[n]),
            _ => Msg::new(s, &[]),
        }
    }

    /// The refusal a reply that is not `OK` stands for.
    pub fn decode(msg: &Msg) -> Result<Refusal, DecodeError> {
        Ok(match msg.label {
            status::OK => return Err(DecodeError::OutOfRange { register: 0, value: status::OK }),
            status::NOT_FOUND => Refusal::NotFound,
            status::CONFLICT => Refusal::Conflict,
            status::CHECKPOINT_CHANGED => Refusal::CheckpointChanged,
            status::NOT_LARGER => {
                let [stored, offered] = registers(msg)?;
                Refusal::NotLarger { stored, offered }
            }
            status::BAD_CHECKPOINT => Refusal::BadCheckpoint,
            status::FULL => Refusal::Full,
            status::TOO_SMALL => Refusal::TooSmall { needed: registers::<1>(msg)?[0] },
            status::NO_CHECKPOINT => Refusal::NoCheckpoint,
            status::BAD_REQUEST => Refusal::BadRequest,
            status::CORRUPT => Refusal::Corrupt { offset: registers::<1>(msg)?[0] },
            status::UNAVAILABLE => Refusal::Unavailable,
            other => Refusal::Other(other),
        })
    }

    /// The refusal psdb replies for a store error whatever its backend;
    /// `None` for a backend's own failure, which psdb words itself. The one
    /// mapping of errors to statuses; [`Refusal::store_error`] is its inverse.
    pub fn of<E>(e: &StoreError<E>) -> Option<Refusal> {
        Some(match *e {
            StoreError::Conflict => Refusal::Conflict,
            StoreError::CheckpointChanged => Refusal::CheckpointChanged,
            StoreError::NotLarger { stored, offered } => Refusal::NotLarger { stored, offered },
            StoreError::BadCheckpoint => Refusal::BadCheckpoint,
            StoreError::Full => Refusal::Full,
            StoreError::TooSmall { needed } => Refusal::TooSmall { needed: needed as u64 },
            StoreError::NoCheckpoint => Refusal::NoCheckpoint,
            StoreError::Corrupt => Refusal::Corrupt { offset: 0 },
            StoreError::Unexplained { .. } => Refusal::Unavailable,
            StoreError::Backend(_) => return None,
        })
    }

    /// The store error it stands for; `None` for those that are no store
    /// error of their own (`NOT_FOUND`, `BAD_REQUEST`, `UNAVAILABLE`,
    /// unknown ones, a size beyond `usize`), which the caller words for its
    /// backend.
    pub fn store_error<E>(&self) -> Option<StoreError<E>> {
        Some(match *self {
            Refusal::Conflict => StoreError::Conflict,
            Refusal::CheckpointChanged => StoreError::CheckpointChanged,
            Refusal::NotLarger { stored, offered } => StoreError::NotLarger { stored, offered },
            Refusal::BadCheckpoint => StoreError::BadCheckpoint,
            Refusal::Full => StoreError::Full,
            Refusal::TooSmall { needed } => {
                StoreError::TooSmall { needed: usize::try_from(needed).ok()? }
            }
            Refusal::NoCheckpoint => StoreError::NoCheckpoint,
            Refusal::Corrupt { .. } => StoreError::Corrupt,
            Refusal::NotFound | Refusal::BadRequest | Refusal::Unavailable | Refusal::Other(_) => {
                return None;
            }
        })
    }
}

/// Why a reply is not the answer a request expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// psdb refused.
    Refused(Refusal),
    /// The reply lacks registers its status or request's answer has.
    Malformed(DecodeError),
}

/// The first `N` registers of an `OK` reply, or the refusal it is.
fn answer<const N: usize>(msg: &Msg) -> Result<[u64; N], ReplyError> {
    if msg.label != status::OK {
        return Err(ReplyError::Refused(Refusal::decode(msg).map_err(ReplyError::Malformed)?));
    }
    registers(msg).map_err(ReplyError::Malformed)
}

/// `PUT` or `REPLACE_CHECKPOINT` done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done;

impl Done {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        Msg::new(status::OK, &[])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<Done, ReplyError> {
        answer::<0>(msg).map(|_| Done)
    }
}

/// `GET` or `GET_CHECKPOINT` answered: the object is the buffer's first `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its bytes.
    pub len: u64,
}

impl Object {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        Msg::new(status::OK, &[self.len])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<Object, ReplyError> {
        answer(msg).map(|[len]| Object { len })
    }
}

/// `RECOVER` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// Objects removed.
    pub removed_objects: u64,
    /// The largest tree size a removed object belonged to.
    pub orphan_extent: u64,
}

impl Recovered {
    /// The `OK` reply.
    pub fn encode(&self) -> Msg {
        Msg::new(status::OK, &[self.removed_objects, self.orphan_extent])
    }

    /// The reply `msg` is.
    pub fn decode(msg: &Msg) -> Result<Recovered, ReplyError> {
        answer(msg)
            .map(|[removed_objects, orphan_extent]| Recovered { removed_objects, orphan_extent })
    }
}

/// The registers naming `tile`.
pub fn encode_tile(tile: &Tile) -> [u64; 3] {
    let kind = match tile.kind {
        TileKind::Hashes { level } => u64::from(level),
        TileKind::Entries => ENTRIES,
    };
    [kind, tile.index, u64::from(tile.width)]
}

/// The tile named by registers; `None` for anything that is not one.
pub fn decode_tile(mrs: [u64; 3]) -> Option<Tile> {
    let kind = match mrs[0] {
        ENTRIES => TileKind::Entries,
        level @ 0..=63 => TileKind::Hashes { level: level as u8 },
        _ => return None,
    };
    let width = u16::try_from(mrs[2]).ok().filter(|w| (1..=256).contains(w))?;
    // Every such tile has a path: any index, level ≤ 63, width 1..=256.
    Some(Tile { kind, index: mrs[1], width })
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;

    fn tile() -> impl Strategy<Value = Tile> {
        let kind = prop_oneof![
            (0u8..=63).prop_map(|level| TileKind::Hashes { level }),
            Just(TileKind::Entries)
        ];
        (kind, any::<u64>(), 1u16..=256).prop_map(|(kind, index, width)| Tile {
            kind,
            index,
            width,
        })
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            tile().prop_map(|tile| Request::Get { tile }),
            (tile(), any::<usize>()).prop_map(|(tile, len)| Request::Put { tile, len }),
            Just(Request::GetCheckpoint),
            (any::<usize>(), any::<usize>())
                .prop_map(|(expected, new)| Request::ReplaceCheckpoint { expected, new }),
            any::<u64>().prop_map(|size| Request::Recover { size }),
        ]
    }

    fn refusal() -> impl Strategy<Value = Refusal> {
        let w = || any::<u64>();
        prop_oneof![
            Just(Refusal::NotFound),
            Just(Refusal::Conflict),
            Just(Refusal::CheckpointChanged),
            (w(), w()).prop_map(|(stored, offered)| Refusal::NotLarger { stored, offered }),
            Just(Refusal::BadCheckpoint),
            Just(Refusal::Full),
            w().prop_map(|needed| Refusal::TooSmall { needed }),
            Just(Refusal::NoCheckpoint),
            Just(Refusal::BadRequest),
            w().prop_map(|offset| Refusal::Corrupt { offset }),
            Just(Refusal::Unavailable),
            (12u64..).prop_map(Refusal::Other),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in request()) {
            let msg = r.encode();
            prop_assert_eq!(msg.label, r.label());
            prop_assert_eq!(Request::decode(&msg), Ok(r));
        }

        #[test]
        fn refusals_round_trip(r in refusal()) {
            let msg = r.encode();
            prop_assert_eq!(msg.label, r.status());
            prop_assert_eq!(Refusal::decode(&msg), Ok(r));
            prop_assert_eq!(Object::decode(&msg), Err(ReplyError::Refused(r)));
            prop_assert_eq!(Done::decode(&msg), Err(ReplyError::Refused(r)));
        }

        #[test]
        fn answers_round_trip(len in any::<u64>(), removed in any::<u64>(), extent in any::<u64>()) {
            prop_assert_eq!(Object::decode(&Object { len }.encode()), Ok(Object { len }));
            let r = Recovered { removed_objects: removed, orphan_extent: extent };
            prop_assert_eq!(Recovered::decode(&r.encode()), Ok(r));
            prop_assert_eq!(Done::decode(&Done.encode()), Ok(Done));
        }

        #[test]
        fn any_registers_decode_or_are_refused(label in 0u64..8, mrs in any::<[u64; 4]>(), n in 0usize..=4) {
            match Request::decode(&Msg::new(label, &mrs[..n])) {
                Ok(r) => prop_assert_eq!(r.label(), label),
                Err(DecodeError::UnknownLabel(l)) => prop_assert!(matches!(l, 0 | 3 | 7)),
                Err(DecodeError::MissingRegisters { needed, got }) => prop_assert!(got < needed),
                Err(DecodeError::OutOfRange { register, .. }) => {
                    prop_assert!(register == 0 || register == 2)
                }
            }
        }
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        let d = |label, mrs: &[u64]| Request::decode(&Msg::new(label, mrs));
        let missing = |needed, got| Err(DecodeError::MissingRegisters { needed, got });
        assert_eq!(d(3, &[]), Err(DecodeError::UnknownLabel(3)), "the retired sync");
        assert_eq!(d(99, &[0; 4]), Err(DecodeError::UnknownLabel(99)));
        assert_eq!(d(label::GET, &[0, 0]), missing(3, 2));
        assert_eq!(d(label::PUT, &[0, 0, 1]), missing(4, 3));
        assert_eq!(d(label::REPLACE_CHECKPOINT, &[1]), missing(2, 1));
        assert_eq!(d(label::RECOVER, &[]), missing(1, 0));
        let out = |register, value| Err(DecodeError::OutOfRange { register, value });
        assert_eq!(d(label::GET, &[64, 0, 1]), out(0, 64));
        assert_eq!(d(label::GET, &[0xFE, 0, 1]), out(0, 0xFE));
        assert_eq!(d(label::GET, &[0, 0, 0]), out(2, 0));
        assert_eq!(d(label::PUT, &[ENTRIES, 0, 257, 5]), out(2, 257));
    }

    #[test]
    fn short_replies_are_malformed_not_misread() {
        let malformed =
            |needed, got| ReplyError::Malformed(DecodeError::MissingRegisters { needed, got });
        assert_eq!(Object::decode(&Msg::new(status::OK, &[])), Err(malformed(1, 0)));
        assert_eq!(Recovered::decode(&Msg::new(status::OK, &[1])), Err(malformed(2, 1)));
        assert_eq!(Object::decode(&Msg::new(status::NOT_LARGER, &[1])), Err(malformed(2, 1)));
        assert_eq!(Done::decode(&Msg::new(status::TOO_SMALL, &[])), Err(malformed(1, 0)));
        assert_eq!(Done::decode(&Msg::new(status::CORRUPT, &[])), Err(malformed(1, 0)));
        assert!(Refusal::decode(&Done.encode()).is_err(), "OK is no refusal");
    }

    #[test]
    fn tiles_round_trip_and_junk_is_refused() {
        for t in [Tile::entries(5, 256), Tile::hashes(3, 1234, 17), Tile::hashes(0, u64::MAX, 1)] {
            assert_eq!(decode_tile(encode_tile(&t)), Some(t));
        }
        assert_eq!(decode_tile([64, 0, 1]), None);
        assert_eq!(decode_tile([0, 0, 0]), None);
        assert_eq!(decode_tile([0, 0, 257]), None);
        assert_eq!(decode_tile([0xFE, 0, 1]), None);
    }

    #[test]
    fn statuses_and_store_errors_map_both_ways() {
        type E = StoreError<()>;
        for e in [
            E::Conflict,
            E::CheckpointChanged,
            E::NotLarger { stored: 7, offered: 3 },
            E::BadCheckpoint,
            E::Full,
            E::TooSmall { needed: 4096 },
            E::NoCheckpoint,
            E::Corrupt,
        ] {
            let r = Refusal::of(&e).unwrap();
            let back = Refusal::decode(&r.encode()).unwrap();
            assert_eq!(back.store_error::<()>(), Some(e));
        }
        let r = Refusal::of(&E::Unexplained { checkpoint: 1, extent: 2 }).unwrap();
        assert_eq!(r, Refusal::Unavailable);
        assert_eq!(Refusal::of(&E::Backend(())), None);
        for r in [Refusal::NotFound, Refusal::BadRequest, Refusal::Unavailable, Refusal::Other(99)]
        {
            assert_eq!(r.store_error::<()>(), None);
        }
    }

    #[test]
    fn every_decoded_tile_has_its_canonical_path() {
        for level in [0, 1, 63, ENTRIES] {
            for index in [0, 1, 999, 1000, u64::MAX] {
                for width in [1, 255, 256] {
                    let t = decode_tile([level, index, width]).unwrap();
                    assert_eq!(Tile::parse(&t.path()), Some(t));
                }
            }
        }
    }
}
