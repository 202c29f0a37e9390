//! wire alone on the in-process call bus: the committed system's
//! configuration and channels, fake client PDs calling it, and fake ledger
//! PDs that record what reached them and reply as a ledger would (or as
//! the test tells them to).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use abi::client::{
    Appended, NoteReply, ProofReply, ReadReply, Reply, Request, Status, label, required_right,
};
use abi::ledger::{CALLER_BYTES, DATA_OFFSET, LedgerStatus, read_caller};
use platform::host::{Bus, BusPlatform, HostRegions, leak, view};
use platform::{Access, Channel, Msg, Pd, Platform, Program, SharedRegion};
use wire::Wire;

/// The committed system: what `tenants.toml` generates (`system.xml`).
fn sys() -> &'static sysgen::Generated {
    static SYS: std::sync::OnceLock<sysgen::Generated> = std::sync::OnceLock::new();
    SYS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        sysgen::generate_for(&root, sysgen::DEFAULT_BOARD, None).unwrap()
    })
}

/// wire's configuration, as it reads it.
fn wire_config() -> system::Wire<'static> {
    let bytes = &sys().configs.iter().find(|(pd, _)| pd == "wire").unwrap().1;
    let bytes: &'static [u8] = Box::leak(bytes.clone().into_boxed_slice());
    match system::Config::parse(bytes, "wire").unwrap().kind {
        system::Kind::Wire(w) => w,
        _ => panic!("not wire's configuration"),
    }
}

/// The memory of every region, shared by the PDs that map it.
type Memory = BTreeMap<String, &'static [u8]>;

/// `pd`'s regions as the description maps them (its configuration, its
/// private memory, the regions it shares, over `mem`).
fn regions(pd: &str, mem: &mut Memory) -> HostRegions {
    let system = &sys().system;
    let mut r = HostRegions::new();
    for m in &system.pd(pd).unwrap().maps {
        let Some(symbol) = m.setvar_vaddr.as_deref() else { continue };
        let size = system.memory_region(&m.mr).unwrap().size as usize;
        let mappers =
            system.all_pds().iter().filter(|p| p.maps.iter().any(|x| x.mr == m.mr)).count();
        if symbol == system::CONFIG_SYMBOL {
            r = r.with_config(&sys().configs.iter().find(|(p, _)| p == pd).unwrap().1);
        } else if mappers == 1 {
            r = r.private_region(symbol, size);
        } else {
            let access = if m.perms.write { Access::ReadWrite } else { Access::ReadOnly };
            let memory: &'static [u8] = mem.entry(m.mr.clone()).or_insert_with(|| leak(size));
            r = r.share(symbol, memory, access);
        }
    }
    r
}

/// The memory region `pd` maps at `symbol`.
fn region_of(pd: &str, symbol: &str, mem: &Memory) -> &'static [u8] {
    let maps = &sys().system.pd(pd).unwrap().maps;
    let m = maps.iter().find(|m| m.setvar_vaddr.as_deref() == Some(symbol)).unwrap();
    mem[&m.mr]
}

/// What reached a fake ledger: one request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    ch: u8,
    msg: Msg,
    module: String,
    credential: String,
    request: u64,
    /// An append's records, as they arrived after the header.
    data: Vec<u8>,
}

/// A fake ledger's log, and what it answers next.
#[derive(Default)]
struct Book {
    seen: Vec<Seen>,
    /// The next reply and the data it leaves after the header, instead of
    /// a ledger's.
    next: Option<(Msg, Vec<u8>)>,
    size: u64,
}

/// A tenant's ledger PD, faked: records each request and replies as a
/// ledger would (or with `Book::next`).
struct FakeLedger {
    buf: SharedRegion,
    book: Rc<RefCell<Book>>,
}

/// Bytes a fake read returns: two framed records.
const RECORDS: &[u8] = b"\x00\x03one\x00\x03two";
/// A fake checkpoint.
const NOTE: &[u8] = b"service-fs/acme\n2\nroot\n\n\xe2\x80\x94 sig\n";

impl FakeLedger {
    fn answer(&mut self, msg: &Msg) -> (Msg, Vec<u8>) {
        let mut book = self.book.borrow_mut();
        if let Some(next) = book.next.take() {
            return next;
        }
        let Ok(request) = Request::decode(msg) else {
            return (Status::UnknownLabel.reply(), vec![]);
        };
        let reply = |r: Reply, data: &[u8]| (r.encode(), data.to_vec());
        match request {
            Request::Append { count, .. } => {
                book.size += count;
                reply(Reply::Appended(Appended { first: book.size - count, count }), &[])
            }
            Request::ReadSince { .. } | Request::ReadAudit { .. } => {
                let bytes = RECORDS.len() as u64;
                reply(
                    Reply::Read(ReadReply { count: 2, bytes, tree_size: 2, audit_seq: 9 }),
                    RECORDS,
                )
            }
            Request::Checkpoint | Request::AuditCheckpoint => {
                reply(Reply::Note(NoteReply { bytes: NOTE.len() as u64, tree_size: 2 }), NOTE)
            }
            Request::ProveInclusion { .. } | Request::ProveConsistency { .. } => {
                reply(Reply::Proof(ProofReply { hashes: 1, tree_size: 2, audit_seq: 9 }), &[7; 96])
            }
            Request::Status => {
                let status = LedgerStatus { size: book.size, audit_size: 9, version: abi::VERSION };
                (status.encode(), vec![])
            }
        }
    }
}

impl Pd for FakeLedger {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        let mut header = [0u8; CALLER_BYTES];
        self.buf.read(0, &mut header).unwrap();
        let (module, credential, request) = read_caller(&header).expect("a caller header");
        let bytes = match Request::decode(&msg) {
            Ok(Request::Append { bytes, .. }) => bytes as usize,
            _ => 0,
        };
        let mut data = vec![0; bytes];
        self.buf.read(DATA_OFFSET, &mut data).unwrap();
        let seen = Seen {
            ch: ch.id(),
            msg,
            module: module.into(),
            credential: credential.into(),
            request,
            data,
        };
        self.book.borrow_mut().seen.push(seen);
        let (reply, data) = self.answer(&msg);
        self.buf.write(DATA_OFFSET, &data).unwrap();
        reply
    }
}

/// A client PD, faked: one identity's channel into wire and its buffer.
struct Client {
    p: BusPlatform,
    ch: Channel,
    buf: SharedRegion,
    /// The channel's id in wire.
    wire_ch: u8,
}

impl Client {
    fn call(&self, label: u64, mrs: &[u64]) -> Msg {
        self.p.ppcall(self.ch, Msg::new(label, mrs))
    }

    /// Frames `records` into the buffer and appends them.
    fn append(&mut self, records: &[&[u8]]) -> Msg {
        let framed = frame(records);
        self.buf.write(0, &framed).unwrap();
        self.call(label::APPEND, &[records.len() as u64, framed.len() as u64])
    }

    fn buffer(&self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.buf.read(0, &mut out).unwrap();
        out
    }
}

/// Records framed as a client frames them (`abi::records::Writer`).
fn frame(records: &[&[u8]]) -> Vec<u8> {
    let len = records.iter().map(|r| tlog::bundle::encoded_len(r.len())).sum();
    let mut out = vec![0; len];
    let mut w = abi::records::Writer::new(&mut out);
    assert!(records.iter().all(|r| w.push(r)), "a record too long to frame");
    out
}

/// wire on a bus with the system's channels, a fake ledger per tenant.
struct Rig {
    bus: Bus,
    mem: Memory,
    books: BTreeMap<String, Rc<RefCell<Book>>>,
    config: system::Wire<'static>,
}

impl Rig {
    fn new() -> Rig {
        let bus = Bus::new();
        for c in &sys().system.channels {
            let [a, b] = &c.ends;
            bus.connect((&a.pd, a.id), (&b.pd, b.id));
        }
        let mut mem = Memory::new();
        let config = wire_config();
        let wire = Wire::init(bus.platform("wire"), &mut regions("wire", &mut mem)).unwrap();
        bus.register("wire", Box::new(wire));
        let mut books = BTreeMap::new();
        for l in &config.ledgers {
            let (pd, ch) = bus.peer("wire", l.channel).unwrap();
            let buf = view(region_of(pd, system::buffer_symbol(ch).unwrap(), &mem));
            let book = Rc::new(RefCell::new(Book::default()));
            bus.register(pd, Box::new(FakeLedger { buf, book: book.clone() }));
            books.insert(l.tenant.to_string(), book);
        }
        Rig { bus, mem, books, config }
    }

    /// The client PD holding `module` (`<tenant>.<module>`).
    fn client(&self, module: &str) -> Client {
        let id = self.config.clients.iter().find(|c| c.module == module).unwrap();
        let (pd, ch) = self.bus.peer("wire", id.channel).unwrap();
        let buf = view(region_of("wire", system::buffer_symbol(id.channel).unwrap(), &self.mem));
        Client { p: self.bus.platform(pd), ch: Channel::new(ch).unwrap(), buf, wire_ch: id.channel }
    }

    fn book(&self, tenant: &str) -> std::cell::RefMut<'_, Book> {
        self.books[tenant].borrow_mut()
    }

    /// Everything that reached any ledger, taken.
    fn reached(&self) -> Vec<(String, Seen)> {
        let mut out = vec![];
        for (tenant, book) in &self.books {
            out.extend(book.borrow_mut().seen.drain(..).map(|s| (tenant.clone(), s)));
        }
        out
    }

    /// The bytes of every wire–ledger buffer.
    fn ledger_buffers(&self) -> Vec<Vec<u8>> {
        let lbufs = self.mem.iter().filter(|(name, _)| name.starts_with("lbuf_"));
        lbufs.map(|(_, m)| m.to_vec()).collect()
    }
}

fn status(m: &Msg) -> Status {
    Status::from_label(m.label)
}

#[test]
fn wire_starts_with_every_identity_and_tenant_of_the_system() {
    let rig = Rig::new();
    let (clients, ledgers) = (rig.config.clients.len(), rig.config.ledgers.len());
    let peers: Vec<_> = sys().system.ends_of("wire").map(|(_, far)| far.pd.as_str()).collect();
    let to_ledgers = peers.iter().filter(|pd| pd.starts_with("ledger_")).count();
    assert_eq!((clients, ledgers), (peers.len() - to_ledgers, to_ledgers), "{peers:?}");
    assert!(ledgers >= 2, "a system of several tenants");
    let said = rig.bus.prints("wire");
    assert_eq!(said, format!("wire: {clients} module identities, {ledgers} tenants\n"));
}

#[test]
fn a_good_append_reaches_its_tenants_ledger_with_the_caller_header_and_the_records_unchanged() {
    let rig = Rig::new();
    let mut c = rig.client("acme.identity");
    let max = vec![b'x'; rig.config.max_record as usize];
    let records: [&[u8]; 3] = [b"first", &[0u8, 255, 10, 13], &max];
    let reply = c.append(&records);
    assert_eq!(reply, Msg::new(0, &[0, 3]), "the ledger's reply, passed on");
    let framed = frame(&records);
    let seen = rig.reached();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (tenant, s) = &seen[0];
    assert_eq!(tenant, "acme");
    assert_eq!(s.msg, Msg::new(label::APPEND, &[3, framed.len() as u64]));
    assert_eq!((s.module.as_str(), s.request), ("acme.identity", 1));
    assert_eq!(s.credential, format!("channel:{}", c.wire_ch));
    assert_eq!(s.data, framed, "the records, unchanged");
    assert_eq!(c.buffer(framed.len()), framed, "the client's buffer is left alone");
    // Another tenant's writer reaches its own ledger; requests are numbered.
    let mut g = rig.client("globex.payments");
    assert_eq!(g.append(&[b"g"]), Msg::new(0, &[0, 1]));
    let seen = rig.reached();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].0.as_str(), seen[0].1.request), ("globex", 2));
    assert_eq!(seen[0].1.module, "globex.payments");
    assert_eq!(seen[0].1.credential, format!("channel:{}", g.wire_ch));
}

/// Appends refused for their sizes and framing: (what, count, bytes in
/// the buffer, MR1, status).
fn bad_appends(max: usize, buffer: u64) -> Vec<(&'static str, u64, Vec<u8>, u64, Status)> {
    let two = frame(&[b"ab", b"c"]);
    let n = two.len() as u64;
    let big = vec![b'b'; max + 1];
    let mut trailing = two.clone();
    trailing.extend_from_slice(b"zz");
    vec![
        ("count above the records", 3, two.clone(), n, Status::BadBuffer),
        ("count below the records", 1, two.clone(), n, Status::BadBuffer),
        ("bytes short of the framing", 2, two.clone(), n - 1, Status::BadBuffer),
        ("bytes beyond the framing", 2, trailing, n + 2, Status::BadBuffer),
        ("bytes beyond the buffer", 1, two.clone(), buffer + 1, Status::BadBuffer),
        ("bytes beyond any size", 1, two.clone(), u64::MAX, Status::BadBuffer),
        ("a huge count", u64::MAX, two.clone(), n, Status::BadBuffer),
        ("a length cut short", 1, vec![0, 9, b'a'], 3, Status::BadBuffer),
        ("zero records", 0, two.clone(), n, Status::NoRecords),
        ("zero records, zero bytes", 0, vec![], 0, Status::NoRecords),
        ("an empty record", 2, frame(&[b"a", b""]), 5, Status::EmptyRecord),
        ("a record over max_record", 1, frame(&[&big]), max as u64 + 3, Status::RecordTooLarge),
        (
            "over max_record after a good one",
            2,
            frame(&[b"a", &big]),
            max as u64 + 6,
            Status::RecordTooLarge,
        ),
    ]
}

#[test]
fn bad_appends_are_refused_change_nothing_and_never_reach_a_ledger() {
    let rig = Rig::new();
    let mut c = rig.client("acme.identity");
    let max = rig.config.max_record as usize;
    let ledgers = rig.ledger_buffers();
    for (what, count, bytes, mr1, want) in bad_appends(max, c.buf.len() as u64) {
        c.buf.write(0, &bytes).unwrap();
        let reply = c.call(label::APPEND, &[count, mr1]);
        assert_eq!(reply, Msg::new(want as u64, &[]), "{what}");
        assert_eq!(c.buffer(bytes.len()), bytes, "{what}: the client's buffer");
        assert!(rig.reached().is_empty(), "{what}: reached a ledger");
        assert!(rig.ledger_buffers() == ledgers, "{what}: a ledger's buffer changed");
    }
    // Too few registers.
    assert_eq!(status(&c.call(label::APPEND, &[1])), Status::BadArgument);
    assert!(rig.reached().is_empty());
    // None of them counted: the next good append is request 1.
    assert_eq!(c.append(&[b"ok"]).label, 0);
    assert_eq!(rig.reached()[0].1.request, 1);
}

#[test]
fn each_identity_may_do_what_its_role_allows_and_nothing_else() {
    let rig = Rig::new();
    let args = |l: u64| match l {
        label::APPEND => vec![1, 3],
        label::READ_SINCE | label::READ_AUDIT => vec![0, 0],
        label::PROVE_INCLUSION | label::PROVE_CONSISTENCY => vec![1, 0],
        _ => vec![],
    };
    for id in &rig.config.clients {
        let mut c = rig.client(id.module);
        let tenant = rig.config.ledgers[usize::from(id.ledger)].tenant;
        assert!(id.module.starts_with(&format!("{tenant}.")), "{}", id.module);
        for l in label::APPEND..=label::STATUS {
            c.buf.write(0, b"\x00\x01r").unwrap();
            let reply = c.call(l, &args(l));
            let seen = rig.reached();
            let allowed =
                id.role.rights() & required_right(l).unwrap() == required_right(l).unwrap();
            if allowed {
                assert_eq!(status(&reply), Status::Ok, "{} label {l}", id.module);
                assert_eq!(seen.len(), 1, "{} label {l}", id.module);
                assert_eq!(seen[0].0, tenant, "{}: only its own tenant's ledger", id.module);
                assert_eq!(seen[0].1.module, id.module);
            } else {
                assert_eq!(
                    reply,
                    Msg::new(Status::Forbidden as u64, &[]),
                    "{} label {l}",
                    id.module
                );
                assert!(seen.is_empty(), "{} label {l} reached {seen:?}", id.module);
            }
        }
    }
}

#[test]
fn unknown_labels_are_refused_and_never_reach_a_ledger() {
    let rig = Rig::new();
    for module in ["acme.identity", "acme.reports", "globex.auditor"] {
        let c = rig.client(module);
        for l in [0, 9, 10, 100, 1 << 40, platform::MAX_LABEL] {
            assert_eq!(c.call(l, &[0, 0, 0, 0]), Msg::new(Status::UnknownLabel as u64, &[]), "{l}");
        }
    }
    assert!(rig.reached().is_empty());
}

#[test]
fn only_client_channels_may_call_wire() {
    let rig = Rig::new();
    let ledger_ch = rig.config.ledgers[0].channel;
    let unused = (0..62).find(|ch| rig.bus.peer("wire", *ch).is_none()).unwrap();
    for ch in [ledger_ch, unused] {
        let reply = rig.bus.protected("wire", ch, Msg::new(label::STATUS, &[]));
        assert_eq!(reply, Msg::new(Status::Forbidden as u64, &[]), "channel {ch}");
    }
    assert!(rig.reached().is_empty());
}

#[test]
fn reads_are_forwarded_with_the_identity_and_their_replies_passed_back() {
    let rig = Rig::new();
    let reader = rig.client("acme.reports");
    let reply = reader.call(label::READ_SINCE, &[5, 10]);
    assert_eq!(reply, Msg::new(0, &[2, RECORDS.len() as u64, 2, 9]));
    assert_eq!(reader.buffer(RECORDS.len()), RECORDS);
    let seen = rig.reached();
    assert_eq!(seen.len(), 1);
    let (tenant, s) = &seen[0];
    assert_eq!((tenant.as_str(), s.msg), ("acme", Msg::new(label::READ_SINCE, &[5, 10])));
    assert_eq!((s.module.as_str(), s.request), ("acme.reports", 1));
    assert_eq!(s.credential, format!("channel:{}", reader.wire_ch));
    assert_eq!(s.ch, 0, "on the ledger's channel from wire");

    let reply = reader.call(label::CHECKPOINT, &[]);
    assert_eq!(
        (reply, reader.buffer(NOTE.len())),
        (Msg::new(0, &[NOTE.len() as u64, 2]), NOTE.to_vec())
    );
    let reply = reader.call(label::PROVE_INCLUSION, &[1, 2]);
    assert_eq!((reply, reader.buffer(96)), (Msg::new(0, &[1, 2, 9]), vec![7; 96]));
    let auditor = rig.client("globex.auditor");
    assert_eq!(auditor.call(label::READ_AUDIT, &[3, 1]).label, 0);
    assert_eq!(auditor.buffer(RECORDS.len()), RECORDS);
    let seen = rig.reached();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].0, "globex");
    assert_eq!(seen[2].1.msg, Msg::new(label::READ_AUDIT, &[3, 1]));
    assert_eq!(seen[2].1.module, "globex.auditor");
}

#[test]
fn ledger_errors_are_passed_back_as_they_are() {
    let rig = Rig::new();
    let mut c = rig.client("acme.identity");
    for code in [Status::Full, Status::Unavailable, Status::Corrupt, Status::OutOfRange] {
        rig.book("acme").next = Some((Msg::new(code as u64, &[1, 2]), vec![]));
        assert_eq!(c.append(&[b"r"]), Msg::new(code as u64, &[]), "{code:?}");
    }
    // A status the ABI has no name for is passed on, not rewritten.
    rig.book("acme").next = Some((Msg::new(77, &[]), vec![]));
    assert_eq!(c.append(&[b"r"]).label, 77);
    assert_eq!(rig.reached().len(), 5);
}

#[test]
fn a_ledger_reply_naming_more_data_than_the_client_can_take_is_an_internal_error() {
    let rig = Rig::new();
    let reader = rig.client("acme.reports");
    let before = reader.buffer(64);
    let over = reader.buf.len() as u64 + 1;
    rig.book("acme").next = Some((Msg::new(0, &[1, over, 1, 1]), vec![]));
    assert_eq!(reader.call(label::READ_SINCE, &[0, 0]), Msg::new(Status::Internal as u64, &[]));
    rig.book("acme").next = Some((Msg::new(0, &[u64::MAX, 1, 1]), vec![]));
    assert_eq!(
        reader.call(label::PROVE_INCLUSION, &[0, 0]),
        Msg::new(Status::Internal as u64, &[])
    );
    assert_eq!(reader.buffer(64), before, "nothing copied");
}

#[test]
fn status_says_the_callers_rights_and_max_record() {
    let rig = Rig::new();
    for module in ["acme.identity", "acme.reports", "acme.auditor"] {
        let id = rig.config.clients.iter().find(|c| c.module == module).unwrap();
        let reply = rig.client(module).call(label::STATUS, &[]);
        let max = u64::from(rig.config.max_record);
        assert_eq!(reply, Msg::new(0, &[0, 9, id.role.rights(), abi::VERSION, max]), "{module}");
    }
}
