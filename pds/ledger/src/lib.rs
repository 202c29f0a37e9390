//! The ledger protection domain (L2): one per tenant, all from this one
//! program. It finds its tenant in its configuration, its signing key in its
//! key region (the key never leaves this PD), runs the ledger engine over
//! psdb (one namespace for the records, one for the audit log), and serves
//! the requests `wire` forwards, recording every read in the audit ledger
//! under the identity `wire` established.
#![no_std]

mod psdb_client;

use core::fmt::Write;

use abi::client::{Appended, NoteReply, ProofReply, ReadReply, Request, Status};
use abi::ledger::{CALLER_BYTES, DATA_OFFSET, LedgerStatus, read_caller};
use ledger::store::StoreError;
use ledger::{Buffers, Caller, Clock, Engine, Error, Ledger, Limit, Timestamp};
use note::Signer;
use platform::{Channel, Console, Msg, Pd, Platform, Program, Regions, SharedRegion};
use system::{ConfigError, Kind, ledger_channels};
use tlog::HASH_SIZE;

pub use psdb_client::{PsdbClient, PsdbError};

/// Audit time from the platform's clock, with its source.
#[derive(Clone, Copy)]
pub struct PlatformClock<P>(pub P);

impl<P: Platform> Clock for PlatformClock<P> {
    fn now(&mut self) -> Timestamp {
        let t = self.0.time();
        Timestamp { unix_ms: t.unix_ms, source: t.source }
    }
}

type Mem = &'static mut [u8];
type LedgerEngine<P> = Engine<PsdbClient<P>, Mem, PlatformClock<P>>;

/// What the engine is doing.
// No allocator to box the engine: it lives inline, whatever the variant.
#[allow(clippy::large_enum_variant)]
enum State<P: Platform> {
    /// Serving.
    Open(LedgerEngine<P>),
    /// A storage failure stopped it; reopened at the next request.
    Stopped(PsdbClient<P>, PsdbClient<P>, PlatformClock<P>, Buffers<Mem>),
    /// It cannot run (no key, corrupt store); every request is refused.
    Failed,
}

/// The ledger PD.
pub struct LedgerPd<P: Platform> {
    p: P,
    signer: Option<Signer>,
    state: State<P>,
    /// The channels from `wire` PDs, each with its buffer.
    wires: heapless::Vec<(Channel, SharedRegion), { system::MAX_CHANNELS }>,
    /// A private copy of each append's records: validated and used as one.
    scratch: Mem,
    max_record: usize,
    client_buffer: usize,
}

/// Why a ledger PD could not start at all.
#[derive(Debug, PartialEq, Eq)]
pub enum InitError {
    /// Its configuration is missing, damaged or not a ledger's.
    Config(ConfigError),
    /// A region the system description should map is missing or too small.
    MissingRegion(&'static str),
    /// Its configuration names a channel beyond Microkit's.
    BadChannel(u8),
}

fn channel(id: u8) -> Result<Channel, InitError> {
    Channel::new(id).ok_or(InitError::BadChannel(id))
}

/// The buffer shared over channel `ch`.
fn buffer(regions: &mut dyn Regions, ch: u8) -> Result<SharedRegion, InitError> {
    let symbol = system::buffer_symbol(ch).ok_or(InitError::BadChannel(ch))?;
    regions.shared(symbol).ok_or(InitError::MissingRegion(symbol))
}

impl<P: Platform> Program<P> for LedgerPd<P> {
    type Error = InitError;

    /// Starts the PD: finds its tenant and key, and opens (or creates) its
    /// ledger in psdb. A missing key or a ledger that does not open leaves
    /// the PD refusing every request, and says why on the console.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, InitError> {
        let config = system::load(regions, p.pd_name()).map_err(InitError::Config)?;
        let Kind::Ledger(cfg) = config.kind else {
            return Err(InitError::Config(ConfigError::WrongKind));
        };
        let (max_record, client_buffer) = (cfg.max_record as usize, cfg.client_buffer as usize);
        let missing = InitError::MissingRegion;
        let mut wires = heapless::Vec::new();
        for &ch in &cfg.wires {
            let _ = wires.push((channel(ch)?, buffer(regions, ch)?));
        }
        let log = buffer(regions, ledger_channels::PSDB_LOG)?;
        let audit = buffer(regions, ledger_channels::PSDB_AUDIT)?;
        let key = regions.shared(system::KEY_SYMBOL).ok_or(missing(system::KEY_SYMBOL))?;
        let mem = regions.private(system::MEM_SYMBOL).ok_or(missing(system::MEM_SYMBOL))?;
        let (buffers, rest) = Buffers::carve(mem, max_record).ok_or(missing(system::MEM_SYMBOL))?;
        let scratch = rest.get_mut(..client_buffer).ok_or(missing(system::MEM_SYMBOL))?;
        let log = PsdbClient::new(p, channel(ledger_channels::PSDB_LOG)?, log);
        let audit = PsdbClient::new(p, channel(ledger_channels::PSDB_AUDIT)?, audit);
        let mut seed = [0u8; 32];
        let _ = key.read(0, &mut seed);
        let signer = Signer::from_seed(cfg.origin, seed).ok();
        let mut pd = LedgerPd {
            p,
            signer,
            state: State::Stopped(log, audit, PlatformClock(p), buffers),
            wires,
            scratch,
            max_record,
            client_buffer,
        };
        if pd.signer.is_none() {
            pd.say(format_args!(
                "no signing key provisioned (the key region is empty); refusing all requests"
            ));
            pd.state = State::Failed;
        } else {
            pd.reopen();
        }
        Ok(pd)
    }
}

impl<P: Platform> LedgerPd<P> {
    fn say(&self, args: core::fmt::Arguments) {
        let _ = writeln!(Console(self.p), "{}: {args}", self.p.pd_name());
    }

    /// (Re)opens the engine from psdb, recovering it to its last checkpoint.
    fn reopen(&mut self) {
        let State::Stopped(log, audit, clock, buffers) =
            core::mem::replace(&mut self.state, State::Failed)
        else {
            return;
        };
        let Some(signer) = self.signer.clone() else { return };
        match Engine::try_open(log, audit, signer, clock, buffers, self.max_record) {
            Ok((engine, recovered)) => {
                if let Some(s) = &self.signer {
                    self.say(format_args!(
                        "ledger open: {} records, {} audit records; verifier key {}",
                        engine.size(),
                        engine.audit_size(),
                        s.verifier()
                    ));
                }
                for (name, r) in [("records", recovered.log), ("audit", recovered.audit)] {
                    if r.repaired() {
                        self.say(format_args!("{name}: {r}"));
                    }
                }
                self.state = State::Open(engine);
            }
            // psdb did not answer: try again at the next request.
            Err(f) if matches!(f.error, Error::Store(StoreError::Backend(_))) => {
                self.say(format_args!(
                    "cannot open the ledger: {}; retrying at the next request",
                    f.error
                ));
                self.state = State::Stopped(f.log_store, f.audit_store, f.clock, f.buffers);
            }
            Err(f) => {
                self.say(format_args!("cannot open the ledger: {}; refusing all requests", f.error))
            }
        }
    }

    /// Puts the engine aside after a storage failure, to reopen it later.
    fn stop_if_poisoned(&mut self) {
        if let State::Open(engine) = &self.state
            && engine.is_poisoned()
        {
            let State::Open(engine) = core::mem::replace(&mut self.state, State::Failed) else {
                return;
            };
            let (log, audit, clock, buffers) = engine.into_parts();
            self.say(format_args!(
                "a storage failure stopped the ledger; it reopens at the next request"
            ));
            self.state = State::Stopped(log, audit, clock, buffers);
        }
    }

    /// Serves a request that came from the wire at `wires[w]`.
    fn serve(&mut self, w: usize, msg: Msg) -> Msg {
        if matches!(self.state, State::Stopped(..)) {
            self.reopen();
        }
        let State::Open(engine) = &mut self.state else {
            return Status::Unavailable.reply();
        };
        let Some((_, wire)) = self.wires.get_mut(w) else {
            return Status::Internal.reply();
        };
        let mut ids = [0u8; CALLER_BYTES];
        let _ = wire.read(0, &mut ids);
        let Some((module, credential, request)) = read_caller(&ids) else {
            return Status::BadArgument.reply();
        };
        let caller = Caller { module, credential, request: Some(request) };
        let out = Out { buf: wire, at: DATA_OFFSET };
        let room = self.client_buffer;
        let reply = handle(engine, &caller, msg, out, &mut *self.scratch, room);
        self.stop_if_poisoned();
        reply
    }
}

/// Writes reply data into the wire buffer after the caller header.
struct Out<'a> {
    buf: &'a mut SharedRegion,
    at: usize,
}

impl Out<'_> {
    fn room(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }

    fn put(&mut self, bytes: &[u8]) -> bool {
        let ok = self.buf.write(self.at, bytes).is_some();
        self.at += bytes.len();
        ok
    }
}

fn status<E>(e: &Error<E>) -> Status {
    match e {
        Error::EmptyEntry => Status::EmptyRecord,
        Error::EntryTooLarge { .. } => Status::RecordTooLarge,
        Error::NoEntries => Status::NoRecords,
        Error::OutOfRange { .. } => Status::OutOfRange,
        Error::InvalidArgument(_) | Error::BadCaller => Status::BadArgument,
        Error::ReadLimitTooSmall { .. } | Error::BufferTooSmall { .. } => Status::BufferTooSmall,
        Error::TreeFull | Error::Store(StoreError::Full) => Status::Full,
        Error::Corrupt { .. } => Status::Corrupt,
        Error::Poisoned | Error::Missing { .. } | Error::Store(_) => Status::Unavailable,
    }
}

/// A request's answer, or the status refusing it.
type Answer = Result<Msg, Status>;

fn handle<P: Platform>(
    engine: &mut LedgerEngine<P>,
    caller: &Caller<'_>,
    msg: Msg,
    mut out: Out<'_>,
    scratch: &mut [u8],
    client_buffer: usize,
) -> Msg {
    let request = match Request::decode(&msg) {
        Ok(r) => r,
        Err(e) => return Status::from(e).reply(),
    };
    let result = match request {
        Request::Append { count, bytes } => append(engine, count, bytes, &out, scratch),
        Request::ReadSince { from, max } | Request::ReadAudit { from, max } => {
            let max = max.map_or(u64::MAX, |m| m.get());
            // Replies go on to the client's buffer, which may be smaller than ours.
            let limit = Limit { max_entries: max, max_bytes: out.room().min(client_buffer) };
            let start = out.at;
            let mut sink = |_: u64, r: &[u8]| {
                out.put(&(r.len() as u16).to_be_bytes());
                out.put(r);
            };
            let read = if matches!(request, Request::ReadSince { .. }) {
                engine.read_since(caller, from, limit, &mut sink)
            } else {
                engine.read_audit_since(caller, from, limit, &mut sink)
            };
            read.map(|s| {
                let (count, bytes) = (s.count, (out.at - start) as u64);
                Ok(ReadReply { count, bytes, tree_size: s.tree_size, audit_seq: s.audit_seq }
                    .encode())
            })
        }
        Request::Checkpoint | Request::AuditCheckpoint => {
            let (note, tree_size) = if request == Request::Checkpoint {
                let size = engine.size();
                (engine.checkpoint(), size)
            } else {
                let size = engine.audit_size();
                (engine.audit_checkpoint(), size)
            };
            note.map(|n| match out.put(n) {
                true => Ok(NoteReply { bytes: n.len() as u64, tree_size }.encode()),
                false => Err(Status::BufferTooSmall),
            })
        }
        Request::ProveInclusion { .. } | Request::ProveConsistency { .. } => {
            prove(engine, caller, &request, &mut out)
        }
        Request::Status => {
            let (size, audit_size) = (engine.size(), engine.audit_size());
            Ok(Ok(LedgerStatus { size, audit_size, version: abi::VERSION }.encode()))
        }
    };
    match result {
        Ok(Ok(reply)) => reply,
        Ok(Err(refused)) => refused.reply(),
        Err(e) => status(&e).reply(),
    }
}

fn append<P: Platform>(
    engine: &mut LedgerEngine<P>,
    count: u64,
    bytes: u64,
    out: &Out<'_>,
    scratch: &mut [u8],
) -> Result<Answer, Error<PsdbError>> {
    let data = usize::try_from(bytes).ok().and_then(|b| scratch.get_mut(..b));
    let Some(data) = data else { return Ok(Err(Status::BadBuffer)) };
    if out.buf.read(out.at, data).is_none() {
        return Ok(Err(Status::BadBuffer));
    }
    use abi::records::FramingError;
    let records = match abi::records::parse(data, count, bytes, engine.log().max_entry()) {
        Ok(r) => r,
        Err(FramingError::NoRecords) => return Ok(Err(Status::NoRecords)),
        Err(FramingError::Empty) => return Ok(Err(Status::EmptyRecord)),
        Err(FramingError::TooLarge) => return Ok(Err(Status::RecordTooLarge)),
        Err(_) => return Ok(Err(Status::BadBuffer)),
    };
    let range = engine.append_checked(&records)?;
    Ok(Ok(Appended { first: range.start, count: range.end - range.start }.encode()))
}

fn prove<P: Platform>(
    engine: &mut LedgerEngine<P>,
    caller: &Caller<'_>,
    request: &Request,
    out: &mut Out<'_>,
) -> Result<Answer, Error<PsdbError>> {
    let current = engine.size();
    let size = |s: Option<core::num::NonZeroU64>| s.map_or(current, |s| s.get());
    let audit_seq = engine.audit_size();
    let (a, b, proof, tree_size) = match *request {
        Request::ProveInclusion { index, tree_size } => {
            let p = engine.prove_inclusion(caller, index, size(tree_size))?;
            (p.leaf_hash, p.root, p.proof, size(tree_size))
        }
        Request::ProveConsistency { old, tree_size } => {
            let p = engine.prove_consistency(caller, old, size(tree_size))?;
            (p.old_root, p.root, p.proof, size(tree_size))
        }
        _ => return Ok(Err(Status::Internal)),
    };
    if out.room() < (2 + proof.len()) * HASH_SIZE {
        return Ok(Err(Status::BufferTooSmall));
    }
    for h in [a, b].iter().chain(proof.iter()) {
        out.put(&h.0);
    }
    Ok(Ok(ProofReply { hashes: proof.len() as u64, tree_size, audit_seq }.encode()))
}

impl<P: Platform> Pd for LedgerPd<P> {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        // Only the wires of its configuration may call it.
        match self.wires.iter().position(|(c, _)| *c == ch) {
            Some(w) => self.serve(w, msg),
            None => Status::Forbidden.reply(),
        }
    }
}
