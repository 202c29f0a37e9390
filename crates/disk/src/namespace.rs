//! One namespace: a fixed extent holding two checkpoint slots and an
//! append-only log of write-once objects.
//!
//! A commit's records are staged in memory and written from the log's end;
//! [`Namespace::sync`] pads them to a block boundary, writes them and
//! flushes; [`Namespace::replace_checkpoint`] then writes the next
//! generation's slot and flushes again. A checkpoint covers the log up to
//! its `log_end`; whatever lies beyond is a torn tail that the next open
//! discards. No block holding committed data is ever written again, so a
//! torn write can only damage what was never acknowledged.

use core::convert::Infallible;

use ledger::store::{Recovery, StoreError, check_checkpoint_replace, check_recover_size};
use tlog::{Tile, TileKind};
use zerocopy::{FromBytes, IntoBytes};

use crate::crc::Crc32c;
use crate::device::BlockDevice;
use crate::format::{
    KIND_ENTRIES, KIND_HASHES, LOG_START, MAX_NOTE, RECORD_HEADER, RECORD_MAGIC, RecordHeader,
    SLOT_MAGIC, SLOT_SIZE, SlotHeader, align_up, next_record,
};
use crate::index::{ENTRIES, Entry, FLAG_CORRUPT, FLAG_LOST, Index};

/// What went wrong below the tile store's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault<E> {
    /// The device failed; the namespace stops until the next open.
    Device(E),
    /// Stored bytes failed their checksum or do not say what the index
    /// expects: `offset` is the byte offset on the disk.
    Corrupt {
        /// Disk byte offset of the damaged record or slot.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// The namespace does not serve (see [`Stopped`]).
    Stopped(Stopped),
    /// An object that is empty, larger than the format allows, or not a tile.
    BadObject(&'static str),
    /// The reader's destination refused the bytes.
    Sink,
    /// The log holds more records than the memory lent to the index can
    /// hold: the namespace opens only with more.
    IndexFull,
}

/// Why a namespace does not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It holds data but no checkpoint that can be read: its bytes are
    /// left untouched and no ledger is created over them.
    NoReadableCheckpoint,
    /// A device error interrupted a write: what is durable is read again at
    /// the next open.
    DeviceFailed,
}

impl<E: core::fmt::Display> core::fmt::Display for Fault<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fault::Device(e) => write!(f, "device: {e}"),
            Fault::Corrupt { offset, what } => write!(f, "{what} at disk offset {offset:#x}"),
            Fault::Stopped(Stopped::NoReadableCheckpoint) => {
                f.write_str("the namespace holds data but no readable checkpoint")
            }
            Fault::Stopped(Stopped::DeviceFailed) => {
                f.write_str("a device error stopped the namespace until the next boot")
            }
            Fault::BadObject(why) => f.write_str(why),
            Fault::Sink => f.write_str("the destination cannot hold the object"),
            Fault::IndexFull => f.write_str(
                "more records than the memory lent to the index can hold (give psdb more: psdb_memory in tenants.toml)",
            ),
        }
    }
}

/// Errors of namespace operations: the L1 contract's, with [`Fault`]s as
/// the backend's.
pub type Error<E> = StoreError<Fault<E>>;

/// An [`Error`] in words: the fault itself for the backend's, without the
/// `store:` of the L1 contract's own wording.
pub struct Described<'a, E>(pub &'a Error<E>);

impl<E: core::fmt::Display> core::fmt::Display for Described<'_, E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            StoreError::Backend(fault) => write!(f, "{fault}"),
            other => write!(f, "{other}"),
        }
    }
}
type Result<T, E> = core::result::Result<T, Error<E>>;

fn fault<E>(f: Fault<E>) -> Error<E> {
    StoreError::Backend(f)
}

fn lift<E>(e: StoreError<Infallible>) -> Error<E> {
    e.map_backend(|never| match never {})
}

/// The bytes of an object being stored, wherever they are.
pub trait Source {
    /// Bytes in the object.
    fn len(&self) -> usize;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `out.len()` bytes from `at`; `false` if they are not there.
    fn read(&self, at: usize, out: &mut [u8]) -> bool;
}

impl Source for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read(&self, at: usize, out: &mut [u8]) -> bool {
        match self.get(at..at + out.len()) {
            Some(b) => {
                out.copy_from_slice(b);
                true
            }
            None => false,
        }
    }
}

/// What opening a namespace found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// It was never initialised: a new ledger may start in it.
    pub fresh: bool,
    /// It holds data but no readable checkpoint, and does not serve.
    pub no_checkpoint: bool,
    /// A slot held a checkpoint write that did not complete (discarded).
    pub torn_slot: bool,
    /// The checkpoint's generation (0: none).
    pub generation: u64,
    /// Tree size of the checkpoint (0: none).
    pub tree_size: u64,
    /// Records in the committed log.
    pub records: u64,
    /// Bytes of the committed log.
    pub log_bytes: u64,
    /// Bytes of a torn tail after the checkpoint, discarded.
    pub discarded: u64,
    /// Committed records whose payload failed its checksum.
    pub corrupt: u64,
    /// Committed records that could not be read at all.
    pub lost: u64,
    /// Disk offset of the first damaged record.
    pub first_damage: Option<u64>,
}

/// Smallest memory a namespace opens in.
pub const MIN_MEMORY: usize = 64 * 1024;
/// The staging and read buffers' size, at most.
const BUFFER_MAX: usize = 64 * 1024;
/// Longest chain of extensions an object can have (one per width).
const MAX_CHAIN: usize = 257;

/// An open namespace.
pub struct Namespace<'m> {
    number: u32,
    /// Disk byte offset of the extent, and its size.
    start: u64,
    size: u64,
    /// The format's block size.
    block: u64,
    index: Index<'m>,
    /// Entries in the committed log.
    committed: usize,
    log_end: u64,
    /// Where the next record goes.
    write_end: u64,
    /// Bytes `[stage_at, write_end)`, not yet written to the device; the
    /// rest of `stage` is zero.
    stage: &'m mut [u8],
    stage_at: u64,
    /// Written since the last flush.
    dirty: bool,
    scratch: &'m mut [u8],
    generation: u64,
    /// The stored checkpoint (in the lent memory: the namespace itself stays small).
    note: &'m mut [u8],
    note_len: usize,
    stopped: Option<Stopped>,
    /// A record was cut short after part of it was written out.
    broken: bool,
}

/// A window of the extent in the read buffer.
struct Window {
    at: u64,
    len: usize,
}

fn header_of(bytes: &[u8]) -> RecordHeader {
    RecordHeader::read_from_prefix(bytes).map(|(h, _)| h).unwrap_or_else(|_| {
        RecordHeader::read_from_bytes(&[0u8; RECORD_HEADER]).unwrap_or_else(|_| unreachable!())
    })
}

fn kind_byte(t: &Tile) -> (u8, u8) {
    match t.kind {
        TileKind::Hashes { level } => (KIND_HASHES, level),
        TileKind::Entries => (KIND_ENTRIES, 0),
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

impl<'m> Namespace<'m> {
    /// Opens namespace `number` of a disk in the format of `block`-byte
    /// blocks, whose extent is `size` bytes from disk offset `start`: reads
    /// its checkpoint slots and scans its log, building the index in `mem`
    /// (at least [`MIN_MEMORY`] bytes, 8-byte aligned; more holds more
    /// objects). Nothing is written.
    pub fn open<D: BlockDevice>(
        dev: &mut D,
        number: u32,
        (start, size): (u64, u64),
        block: u32,
        mem: &'m mut [u8],
    ) -> Result<(Namespace<'m>, Opened), D::Error> {
        let mut ns = Namespace::carve(number, start, size, block, mem).map_err(lift)?;
        let opened = ns.scan(dev)?;
        Ok((ns, opened))
    }

    fn carve(
        number: u32,
        start: u64,
        size: u64,
        block: u32,
        mem: &'m mut [u8],
    ) -> core::result::Result<Namespace<'m>, StoreError<Infallible>> {
        let small = StoreError::TooSmall { needed: MIN_MEMORY };
        if mem.len() < MIN_MEMORY || size < LOG_START + 4096 || !block.is_power_of_two() {
            return Err(small);
        }
        let block = u64::from(block);
        let buf = (mem.len() / 8).clamp(16 * 1024, BUFFER_MAX) & !(4096 - 1);
        let (stage, rest) = mem.split_at_mut(buf);
        let (scratch, rest) = rest.split_at_mut(buf);
        let (note, rest) = rest.split_at_mut(MAX_NOTE.next_multiple_of(8));
        let index = Index::new(rest).ok_or(small)?;
        stage.fill(0);
        Ok(Namespace {
            number,
            start,
            size,
            block,
            index,
            committed: 0,
            log_end: LOG_START,
            write_end: LOG_START,
            stage,
            stage_at: LOG_START,
            dirty: false,
            scratch,
            generation: 0,
            note,
            note_len: 0,
            stopped: None,
            broken: false,
        })
    }

    /// The namespace's position in the table.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The stored checkpoint, if any.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        (self.note_len > 0).then_some(&self.note[..self.note_len])
    }

    /// Why it does not serve, if it does not.
    pub fn stopped(&self) -> Option<Stopped> {
        self.stopped
    }

    /// Bytes of the log in use, pending records included.
    pub fn used(&self) -> u64 {
        self.write_end - LOG_START
    }

    /// Bytes the log can hold.
    pub fn capacity(&self) -> u64 {
        self.size - LOG_START
    }

    /// The extent: disk offset and size.
    pub fn extent(&self) -> (u64, u64) {
        (self.start, self.size)
    }

    /// Objects the index holds, and how many it can hold.
    pub fn objects(&self) -> (usize, usize) {
        (self.index.len(), self.index.capacity())
    }

    /// Every stored object's tile, readable or not, in log order.
    pub fn tiles(&self) -> impl Iterator<Item = (usize, Tile)> + '_ {
        self.index
            .iter()
            .enumerate()
            .filter(|(_, e)| e.flags & FLAG_LOST == 0)
            .map(|(i, e)| (i, e.tile()))
    }

    /// Each committed record's disk offset and bytes (header and payload).
    pub fn records(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let start = self.start;
        self.index
            .iter()
            .take(self.committed)
            .filter(|e| e.flags & FLAG_LOST == 0)
            .map(move |e| (start + e.offset, RECORD_HEADER as u64 + u64::from(e.length)))
    }

    /// The extent offset where the committed log ends.
    pub fn log_end(&self) -> u64 {
        self.log_end
    }

    fn serving<E>(&self) -> Result<(), E> {
        match self.stopped {
            Some(s) => Err(fault(Fault::Stopped(s))),
            None => Ok(()),
        }
    }

    fn stop<E>(&mut self, e: E) -> Error<E> {
        self.stopped = Some(Stopped::DeviceFailed);
        fault(Fault::Device(e))
    }

    // ---- device access -------------------------------------------------

    fn dev_read<D: BlockDevice>(
        &self,
        dev: &mut D,
        at: u64,
        buf: &mut [u8],
    ) -> Result<(), D::Error> {
        let bs = dev.block_size() as u64;
        dev.read((self.start + at) / bs, buf).map_err(|e| fault(Fault::Device(e)))
    }

    fn dev_write<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        at: u64,
        len: usize,
        from_stage: bool,
    ) -> Result<(), D::Error> {
        let bs = dev.block_size() as u64;
        let data = if from_stage { &self.stage[..len] } else { &self.scratch[..len] };
        let r = dev.write((self.start + at) / bs, data);
        self.dirty = true;
        r.map_err(|e| self.stop(e))
    }

    fn flush<D: BlockDevice>(&mut self, dev: &mut D) -> Result<(), D::Error> {
        if !self.dirty {
            return Ok(());
        }
        dev.flush().map_err(|e| self.stop(e))?;
        self.dirty = false;
        Ok(())
    }

    /// Makes `[at, at + n)` of the extent available in the read buffer.
    fn window<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        w: &mut Window,
        at: u64,
        n: usize,
    ) -> Result<(), D::Error> {
        if at >= w.at && at + n as u64 <= w.at + w.len as u64 {
            return Ok(());
        }
        let from = at & !(self.block - 1);
        let len = (self.scratch.len() as u64).min(self.size - from) as usize;
        if at + n as u64 > from + len as u64 {
            return Err(fault(Fault::Corrupt {
                offset: self.start + at,
                what: "record runs past the extent",
            }));
        }
        let buf = core::mem::take(&mut self.scratch);
        let r = self.dev_read(dev, from, &mut buf[..len]);
        self.scratch = buf;
        r?;
        *w = Window { at: from, len };
        Ok(())
    }

    fn bytes(&self, w: &Window, at: u64, n: usize) -> &[u8] {
        let off = (at - w.at) as usize;
        &self.scratch[off..off + n]
    }

    /// Feeds the `len` bytes at `at` to `f`, a window at a time.
    fn stream<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        w: &mut Window,
        mut at: u64,
        len: u64,
        mut f: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), D::Error> {
        let end = at + len;
        let chunk = self.scratch.len() - self.block as usize;
        while at < end {
            let n = ((end - at) as usize).min(chunk);
            self.window(dev, w, at, n)?;
            if !f(self.bytes(w, at, n)) {
                return Err(fault(Fault::Sink));
            }
            at += n as u64;
        }
        Ok(())
    }

    // ---- open ----------------------------------------------------------

    fn scan<D: BlockDevice>(&mut self, dev: &mut D) -> Result<Opened, D::Error> {
        let mut opened = Opened::default();
        let Some(slot) = self.read_slots(dev, &mut opened)? else {
            return Ok(opened);
        };
        let (log_end, records) = slot;
        self.log_end = log_end;
        self.scan_log(dev, log_end, records, &mut opened)?;
        self.committed = self.index.len();
        opened.discarded = self.scan_tail(dev, log_end, records)?;
        self.write_end = log_end;
        self.stage_at = log_end;
        opened.records = records;
        opened.log_bytes = log_end - LOG_START;
        opened.generation = self.generation;
        opened.tree_size = self.checkpoint().and_then(note::Checkpoint::peek_size).unwrap_or(0);
        Ok(opened)
    }

    /// Reads both slots and takes the newest valid one: `(log_end,
    /// records)`, or `None` for a fresh namespace or one that stops.
    fn read_slots<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        opened: &mut Opened,
    ) -> Result<Option<(u64, u64)>, D::Error> {
        let mut w = Window { at: 0, len: 0 };
        self.window(dev, &mut w, 0, (LOG_START + self.block) as usize)?;
        let mut best: Option<(SlotHeader, usize)> = None;
        let mut blank = [false; 2];
        for (i, blank) in blank.iter_mut().enumerate() {
            let raw = self.bytes(&w, i as u64 * SLOT_SIZE, SLOT_SIZE as usize);
            *blank = is_zero(raw);
            match self.valid_slot(raw, i) {
                Some(h) if best.is_none_or(|(b, _)| h.generation.get() > b.generation.get()) => {
                    best = Some((h, i))
                }
                Some(_) => {}
                None if !*blank => opened.torn_slot = true,
                None => {}
            }
        }
        let log_blank = is_zero(self.bytes(&w, LOG_START, self.block as usize));
        let Some((h, i)) = best else {
            // Never initialised: an empty log, and at most one slot that
            // holds anything (a first checkpoint write that was torn).
            if log_blank && (blank[0] || blank[1]) {
                opened.fresh = true;
                return Ok(None);
            }
            opened.no_checkpoint = true;
            self.stopped = Some(Stopped::NoReadableCheckpoint);
            return Ok(None);
        };
        // A torn write in the other slot is a later generation that never
        // completed, or garbage over an older one: both are discarded.
        let len = h.note_len.get() as usize;
        let note_at = i as u64 * SLOT_SIZE + size_of::<SlotHeader>() as u64;
        let off = (note_at - w.at) as usize;
        self.note[..len].copy_from_slice(&self.scratch[off..off + len]);
        self.note_len = len;
        self.generation = h.generation.get();
        Ok(Some((h.log_end.get(), h.records.get())))
    }

    fn valid_slot(&self, raw: &[u8], i: usize) -> Option<SlotHeader> {
        let (h, rest) = SlotHeader::read_from_prefix(raw).ok()?;
        let len = h.note_len.get() as usize;
        let log_end = h.log_end.get();
        let ok = h.magic == SLOT_MAGIC
            && h.namespace.get() == self.number
            && len > 0
            && len <= MAX_NOTE
            && h.generation.get() >= 1
            && h.generation.get() % 2 == i as u64
            && (LOG_START..=self.size).contains(&log_end)
            && log_end.is_multiple_of(self.block)
            && h.compute_crc(&rest[..len]) == h.crc.get();
        ok.then_some(h)
    }

    fn damage(&self, opened: &mut Opened, at: u64) {
        opened.first_damage.get_or_insert(self.start + at);
    }

    /// Reads the committed log: every record's header and payload must
    /// check, in sequence; damage is noted and skipped, never trusted.
    fn scan_log<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        log_end: u64,
        records: u64,
        opened: &mut Opened,
    ) -> Result<(), D::Error> {
        let mut w = Window { at: 0, len: 0 };
        let mut at = LOG_START;
        let mut seq = 1u64;
        while seq <= records {
            let (found, bad) = self.next_header(dev, &mut w, at, seq, records, log_end)?;
            let Some((pos, h)) = found else {
                // Nothing readable up to the log's end: the rest is lost.
                self.damage(opened, bad.unwrap_or(at));
                self.lose(seq..records + 1, opened)?;
                break;
            };
            if h.seq.get() > seq {
                self.damage(opened, bad.unwrap_or(at));
                self.lose(seq..h.seq.get(), opened)?;
            }
            seq = h.seq.get();
            let mut crc = Crc32c::new();
            self.stream(dev, &mut w, pos + RECORD_HEADER as u64, u64::from(h.length.get()), |b| {
                crc.update(b);
                true
            })?;
            let mut e = self.entry_of(&h, pos);
            if crc.finish() != h.payload_crc.get() {
                e.flags |= FLAG_CORRUPT;
                opened.corrupt += 1;
                self.damage(opened, pos);
            }
            self.index.push(e).ok_or(fault(Fault::IndexFull))?;
            at = next_record(pos, h.length.get());
            seq += 1;
        }
        Ok(())
    }

    fn lose<E>(&mut self, seqs: core::ops::Range<u64>, opened: &mut Opened) -> Result<(), E> {
        for _ in seqs {
            let lost = Entry { flags: FLAG_LOST, ..Entry::default() };
            self.index.push(lost).ok_or(fault(Fault::IndexFull))?;
            opened.lost += 1;
        }
        Ok(())
    }

    /// The header of record `seq` at `at`, or, if that is padding or
    /// damaged, the first intact header at a later block boundary with a
    /// sequence number in `seq..=last` (records start commits at block
    /// boundaries). `None`: no such header before `limit`. Also says where
    /// the first bytes that were neither padding nor that header were.
    #[allow(clippy::type_complexity)]
    fn next_header<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        w: &mut Window,
        mut at: u64,
        seq: u64,
        last: u64,
        limit: u64,
    ) -> Result<(Option<(u64, RecordHeader)>, Option<u64>), D::Error> {
        let mut exact = true;
        let mut bad = None;
        while at + RECORD_HEADER as u64 <= limit {
            self.window(dev, w, at, RECORD_HEADER)?;
            let raw = self.bytes(w, at, RECORD_HEADER);
            let h = header_of(raw);
            let want = if exact { seq..=seq } else { seq..=last };
            if self.plausible(&h, at, limit) && want.contains(&h.seq.get()) {
                return Ok((Some((at, h)), bad));
            }
            if bad.is_none() && !is_zero(raw) {
                bad = Some(at);
            }
            exact = false;
            at = align_up(at + 1, self.block);
        }
        Ok((None, bad))
    }

    /// Whether `h` is an intact header of this namespace that fits before
    /// `limit` and agrees with what the index holds of its base.
    fn plausible(&self, h: &RecordHeader, at: u64, limit: u64) -> bool {
        let (seq, base, len, olen) =
            (h.seq.get(), h.base.get(), h.length.get(), h.object_len.get());
        let level_ok = match h.kind {
            KIND_HASHES => h.level < 64,
            KIND_ENTRIES => h.level == 0,
            _ => false,
        };
        let base_ok = if base == 0 {
            len == olen
        } else {
            let b = usize::try_from(base - 1).ok().and_then(|i| self.index.get(i));
            base < seq
                && b.is_some_and(|b| {
                    b.flags & FLAG_LOST == 0
                        && b.index == h.index.get()
                        && b.kind == self.index_kind(h)
                        && b.width < h.width.get()
                        && u64::from(b.object_len) + u64::from(len) == u64::from(olen)
                })
        };
        h.intact()
            && h.namespace.get() == self.number
            && seq >= 1
            && level_ok
            && (1..=256).contains(&h.width.get())
            && len >= 1
            && base_ok
            && at + RECORD_HEADER as u64 + u64::from(len) <= limit
    }

    fn index_kind(&self, h: &RecordHeader) -> u8 {
        if h.kind == KIND_ENTRIES { ENTRIES } else { h.level }
    }

    fn entry_of(&self, h: &RecordHeader, at: u64) -> Entry {
        Entry {
            offset: at,
            index: h.index.get(),
            length: h.length.get(),
            object_len: h.object_len.get(),
            object_crc: h.object_crc.get(),
            base: h.base.get() as u32,
            reserved: 0,
            width: h.width.get(),
            kind: self.index_kind(h),
            flags: 0,
        }
    }

    /// Bytes of intact records after the checkpoint (written, never
    /// committed): they are discarded, and the next commit overwrites them.
    fn scan_tail<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        log_end: u64,
        records: u64,
    ) -> Result<u64, D::Error> {
        let mut w = Window { at: 0, len: 0 };
        let (mut at, mut seq, mut end) = (log_end, records + 1, log_end);
        loop {
            let mut found = None;
            for pos in [at, align_up(at, self.block)] {
                if pos + RECORD_HEADER as u64 > self.size {
                    break;
                }
                self.window(dev, &mut w, pos, RECORD_HEADER)?;
                let h = header_of(self.bytes(&w, pos, RECORD_HEADER));
                // Bases in the tail are not indexed: check the header alone.
                let fits = pos + RECORD_HEADER as u64 + u64::from(h.length.get()) <= self.size;
                if h.intact() && h.namespace.get() == self.number && h.seq.get() == seq && fits {
                    found = Some((pos, h));
                    break;
                }
            }
            let Some((pos, h)) = found else { return Ok(align_up(end, self.block) - log_end) };
            at = next_record(pos, h.length.get());
            end = at;
            seq += 1;
        }
    }

    // ---- reads ---------------------------------------------------------

    /// Where `t` is: the entry holding exactly it, or a wider object at the
    /// same coordinates whose start it is (partial objects are prefixes of
    /// their successors): `(entry, exact)`.
    pub fn find(&self, t: &Tile) -> Option<(usize, bool)> {
        if let Some(i) = self.index.exact(t) {
            return Some((i, true));
        }
        let w = self.index.widest(t)?;
        (self.index.get(w)?.width > t.width).then_some((w, false))
    }

    /// Bytes of the object in entry `i`.
    pub fn object_len(&self, i: usize) -> Option<usize> {
        self.index.get(i).map(|e| e.object_len as usize)
    }

    /// Reads the object in entry `i`, passing its bytes to `sink` in order
    /// as `(offset in the object, bytes)`; every record it is built from is
    /// checked (header, payload CRC) and so is the whole object's CRC.
    /// Returns its length.
    pub fn read<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        i: usize,
        sink: &mut dyn FnMut(usize, &[u8]) -> bool,
    ) -> Result<usize, D::Error> {
        self.serving()?;
        let mut chain = [0u32; MAX_CHAIN];
        let depth = self.chain(i, &mut chain)?;
        if chain[..depth]
            .iter()
            .any(|&c| self.index.get(c as usize).is_some_and(|e| e.offset >= self.stage_at))
        {
            self.write_stage(dev)?;
        }
        let mut w = Window { at: 0, len: 0 };
        let mut object = Crc32c::new();
        let mut pos = 0usize;
        for &c in chain[..depth].iter().rev() {
            let e = *self.index.get(c as usize).ok_or(StoreError::Corrupt)?;
            self.window(dev, &mut w, e.offset, RECORD_HEADER)?;
            let h = header_of(self.bytes(&w, e.offset, RECORD_HEADER));
            let offset = self.start + e.offset;
            let damaged = |what| fault(Fault::Corrupt { offset, what });
            if !h.intact() || self.entry_of(&h, e.offset) != e || h.seq.get() != u64::from(c) + 1 {
                return Err(damaged("record header damaged"));
            }
            let mut payload = Crc32c::new();
            self.stream(dev, &mut w, e.offset + RECORD_HEADER as u64, u64::from(e.length), |b| {
                payload.update(b);
                object.update(b);
                let ok = sink(pos, b);
                pos += b.len();
                ok
            })?;
            if payload.finish() != h.payload_crc.get() {
                return Err(damaged("record payload failed its checksum"));
            }
        }
        let e = self.index.get(i).copied().unwrap_or_default();
        if object.finish() != e.object_crc || pos != e.object_len as usize {
            return Err(fault(Fault::Corrupt {
                offset: self.start + e.offset,
                what: "object failed its checksum",
            }));
        }
        Ok(pos)
    }

    /// The entries entry `i` is built from, newest first.
    fn chain<E>(&self, i: usize, out: &mut [u32; MAX_CHAIN]) -> Result<usize, E> {
        let mut depth = 0;
        let mut cur = i;
        loop {
            let e = self.index.get(cur).ok_or(StoreError::Corrupt)?;
            if !e.readable() {
                let what = if e.flags & FLAG_LOST != 0 {
                    "a record this object is built from could not be read"
                } else {
                    "record payload failed its checksum"
                };
                return Err(fault(Fault::Corrupt { offset: self.start + e.offset, what }));
            }
            if depth == MAX_CHAIN {
                return Err(StoreError::Corrupt);
            }
            out[depth] = cur as u32;
            depth += 1;
            match e.base {
                0 => return Ok(depth),
                b => cur = b as usize - 1,
            }
        }
    }

    // ---- writes --------------------------------------------------------

    /// Stores object `t` with the bytes of `src`. Write-once: the same tile
    /// again must be identical; a partial object must extend the widest
    /// one stored at its coordinates (then only the new bytes are written)
    /// or be a prefix of it (then nothing is). Durable after [`sync`].
    ///
    /// [`sync`]: Namespace::sync
    pub fn put<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        t: &Tile,
        src: &(impl Source + ?Sized),
    ) -> Result<(), D::Error> {
        self.serving()?;
        let len = src.len();
        if !(1..=256).contains(&t.width) || Tile::parse(&t.path()) != Some(*t) {
            return Err(fault(Fault::BadObject("not a tile")));
        }
        if len == 0 || u32::try_from(len).is_err() {
            return Err(fault(Fault::BadObject("an object must have 1 to 2^32-1 bytes")));
        }
        let widest = self.index.widest(t).and_then(|i| self.index.get(i).copied().map(|e| (i, e)));
        let base_len =
            widest.filter(|(_, w)| w.width < t.width).map_or(0, |(_, w)| w.object_len as usize);
        let (crc, prefix_crc) = self.checksums(src, base_len.min(len))?;
        if let Some(i) = self.index.exact(t) {
            let e = self.index.get(i).copied().unwrap_or_default();
            let same = e.object_len as usize == len && e.object_crc == crc;
            return if same { Ok(()) } else { Err(StoreError::Conflict) };
        }
        let base = match widest {
            Some((i, w)) if w.width > t.width => return self.check_prefix(dev, i, len, crc),
            Some((_, w)) if prefix_crc != w.object_crc || len <= base_len => {
                return Err(StoreError::Conflict);
            }
            // Full tiles are stored whole: they are read often, partials rarely.
            Some((i, _)) if !t.is_full() => Some(i),
            _ => None,
        };
        let skip = if base.is_some() { base_len } else { 0 };
        self.append(dev, t, src, skip, crc, base)
    }

    /// The CRC of `src`, and of its first `prefix` bytes.
    fn checksums<E>(
        &mut self,
        src: &(impl Source + ?Sized),
        prefix: usize,
    ) -> Result<(u32, u32), E> {
        let mut whole = Crc32c::new();
        self.each_chunk(src, 0..prefix, |_, b| {
            whole.update(b);
            Ok(())
        })?;
        let head = whole.clone().finish();
        self.each_chunk(src, prefix..src.len(), |_, b| {
            whole.update(b);
            Ok(())
        })?;
        Ok((whole.finish(), head))
    }

    /// Feeds the bytes `range` of `src` to `f`, a read buffer at a time
    /// (`f` may use the namespace meanwhile, just not its read buffer).
    fn each_chunk<E>(
        &mut self,
        src: &(impl Source + ?Sized),
        range: core::ops::Range<usize>,
        mut f: impl FnMut(&mut Self, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut off = range.start;
        while off < range.end {
            let n = (range.end - off).min(self.scratch.len());
            let chunk = core::mem::take(&mut self.scratch);
            let r = if src.read(off, &mut chunk[..n]) {
                f(self, &chunk[..n])
            } else {
                Err(fault(Fault::BadObject("the object's bytes are not where it says")))
            };
            self.scratch = chunk;
            r?;
            off += n;
        }
        Ok(())
    }

    /// A partial object narrower than the stored one at `i` is stored only
    /// as that one's prefix: check that it is.
    fn check_prefix<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        i: usize,
        len: usize,
        crc: u32,
    ) -> Result<(), D::Error> {
        let mut c = Crc32c::new();
        self.read(dev, i, &mut |at, b| {
            if at < len {
                c.update(&b[..b.len().min(len - at)]);
            }
            true
        })?;
        if c.finish() == crc { Ok(()) } else { Err(StoreError::Conflict) }
    }

    fn append<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        t: &Tile,
        src: &(impl Source + ?Sized),
        skip: usize,
        object_crc: u32,
        base: Option<usize>,
    ) -> Result<(), D::Error> {
        let length = (src.len() - skip) as u32;
        let at = self.write_end;
        let end = next_record(at, length);
        if align_up(end, self.block) > self.size || self.index.len() == self.index.capacity() {
            return Err(StoreError::Full);
        }
        let payload_crc = self.payload_crc(src, skip)?;
        let (kind, level) = kind_byte(t);
        let mut h = RecordHeader {
            magic: RECORD_MAGIC,
            seq: (self.index.len() as u64 + 1).into(),
            index: t.index.into(),
            base: base.map_or(0, |b| b as u64 + 1).into(),
            kind,
            level,
            width: t.width.into(),
            length: length.into(),
            object_len: (src.len() as u32).into(),
            object_crc: object_crc.into(),
            payload_crc: payload_crc.into(),
            namespace: self.number.into(),
            reserved: 0.into(),
            header_crc: 0.into(),
        };
        h.header_crc = h.compute_crc().into();
        let staged = self.stage_record(dev, &h, src, skip);
        if staged.is_err() {
            self.unstage(at);
            return staged;
        }
        self.write_end = end;
        let e = self.entry_of(&h, at);
        self.index.push(e).ok_or(StoreError::Full)?;
        Ok(())
    }

    fn payload_crc<E>(&mut self, src: &(impl Source + ?Sized), skip: usize) -> Result<u32, E> {
        let mut c = Crc32c::new();
        self.each_chunk(src, skip..src.len(), |_, b| {
            c.update(b);
            Ok(())
        })?;
        Ok(c.finish())
    }

    fn stage_record<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        h: &RecordHeader,
        src: &(impl Source + ?Sized),
        skip: usize,
    ) -> Result<(), D::Error> {
        self.stage_bytes(dev, h.as_bytes())?;
        let mut payload = Crc32c::new();
        self.each_chunk(src, skip..src.len(), |ns, b| {
            payload.update(b);
            ns.stage_bytes(dev, b)
        })?;
        if payload.finish() != h.payload_crc.get() {
            return Err(fault(Fault::BadObject("the object's bytes changed while being stored")));
        }
        Ok(())
    }

    /// Forgets a record staged from `at` on that could not be completed.
    fn unstage(&mut self, at: u64) {
        if at >= self.stage_at {
            let from = (at - self.stage_at) as usize;
            self.stage[from..].fill(0);
            self.write_end = at;
        } else {
            // Part of it reached the device: only recovery may go on.
            self.broken = true;
        }
    }

    /// Appends `bytes` at `write_end`, writing the stage out as it fills
    /// (no flush: it all lies beyond the checkpoint until one is written).
    fn stage_bytes<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        mut bytes: &[u8],
    ) -> Result<(), D::Error> {
        while !bytes.is_empty() {
            let used = (self.write_end - self.stage_at) as usize;
            if used == self.stage.len() {
                self.dev_write(dev, self.stage_at, used, true)?;
                self.stage.fill(0);
                self.stage_at += used as u64;
                continue;
            }
            let n = bytes.len().min(self.stage.len() - used);
            self.stage[used..used + n].copy_from_slice(&bytes[..n]);
            self.write_end += n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Writes the staged bytes (the last block zero-padded) without moving
    /// the stage: the partial block is written again as records follow.
    fn write_stage<D: BlockDevice>(&mut self, dev: &mut D) -> Result<(), D::Error> {
        let len = align_up(self.write_end - self.stage_at, self.block) as usize;
        if len > 0 {
            self.dev_write(dev, self.stage_at, len, true)?;
        }
        Ok(())
    }

    fn writable<E>(&self) -> Result<(), E> {
        self.serving()?;
        if self.broken {
            return Err(fault(Fault::BadObject("an interrupted write must be recovered first")));
        }
        Ok(())
    }

    /// Makes every record stored so far durable: pads them to a block
    /// boundary, writes them and flushes. The next commit starts on a
    /// fresh block.
    pub fn sync<D: BlockDevice>(&mut self, dev: &mut D) -> Result<(), D::Error> {
        self.writable()?;
        self.write_end = align_up(self.write_end, self.block);
        let len = (self.write_end - self.stage_at) as usize;
        if len > 0 {
            self.dev_write(dev, self.stage_at, len, true)?;
            self.stage[..len].fill(0);
            self.stage_at = self.write_end;
        }
        self.flush(dev)
    }

    /// Replaces the checkpoint with `new` if the stored one is `expected`
    /// and `new` is for a larger tree: syncs the records first, then writes
    /// the next generation's slot and flushes. The new checkpoint covers
    /// every record stored so far.
    pub fn replace_checkpoint<D: BlockDevice>(
        &mut self,
        dev: &mut D,
        expected: &[u8],
        new: &[u8],
    ) -> Result<(), D::Error> {
        self.writable()?;
        check_checkpoint_replace(self.checkpoint(), expected, new).map_err(lift)?;
        if new.len() > MAX_NOTE {
            return Err(StoreError::BadCheckpoint);
        }
        self.sync(dev)?;
        let generation = self.generation + 1;
        let mut h = SlotHeader {
            magic: SLOT_MAGIC,
            generation: generation.into(),
            log_end: self.write_end.into(),
            records: (self.index.len() as u64).into(),
            namespace: self.number.into(),
            note_len: (new.len() as u32).into(),
            reserved: 0.into(),
            crc: 0.into(),
        };
        h.crc = h.compute_crc(new).into();
        let hl = size_of::<SlotHeader>();
        let len = align_up((hl + new.len()) as u64, self.block) as usize;
        self.scratch[..len].fill(0);
        self.scratch[..hl].copy_from_slice(h.as_bytes());
        self.scratch[hl..hl + new.len()].copy_from_slice(new);
        self.dev_write(dev, generation % 2 * SLOT_SIZE, len, false)?;
        self.flush(dev)?;
        self.generation = generation;
        self.note[..new.len()].copy_from_slice(new);
        self.note_len = new.len();
        self.log_end = self.write_end;
        self.committed = self.index.len();
        Ok(())
    }

    /// Forgets every record after the checkpoint (of tree size `size`,
    /// which the caller verified): they were never committed.
    pub fn recover<E>(&mut self, size: u64) -> Result<Recovery, E> {
        self.serving()?;
        check_recover_size(self.checkpoint(), size).map_err(lift)?;
        let mut rec = Recovery { size, ..Recovery::default() };
        for e in self.index.iter().skip(self.committed) {
            rec.removed(&e.tile());
        }
        self.index.truncate(self.committed);
        self.write_end = self.log_end;
        self.stage_at = self.log_end;
        self.stage.fill(0);
        self.broken = false;
        Ok(rec)
    }
}
