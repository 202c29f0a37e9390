//! The ledger PD alone on the in-process call bus: the test calls it as
//! `wire` does (caller header, then data, in the wire–ledger buffer), and
//! the real psdb, over memory, serves its namespaces — behind a switch
//! that makes psdb answer errors, to see the ledger stop and reopen.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use abi::client::{NoteReply, ProofReply, ReadReply, Status, label};
use abi::ledger::{DATA_OFFSET, LedgerStatus, write_caller};
use ledger_pd::LedgerPd;
use note::{Checkpoint, Signer};
use platform::host::{Bus, BusPlatform, HostRegions, leak, view};
use platform::{Access, Channel, Msg, Pd, Platform, Program, SharedRegion, Time};
use psdb::Psdb;
use tlog::{Builder, Hash, leaf_hash};

/// The committed system of the harness's tenants, as psdb.rs boots it.
fn sys() -> &'static sysgen::Generated {
    static SYS: std::sync::OnceLock<sysgen::Generated> = std::sync::OnceLock::new();
    SYS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        sysgen::generate_harness_only(&root, sysgen::DEFAULT_BOARD, None).unwrap()
    })
}

fn config_bytes(pd: &str) -> &'static [u8] {
    &sys().configs.iter().find(|(p, _)| p == pd).unwrap().1
}

/// Acme's ledger configuration, changed by `edit`, encoded.
fn ledger_config(edit: impl FnOnce(&mut system::Ledger)) -> Vec<u8> {
    let mut config = system::Config::parse(config_bytes(PD), PD).unwrap();
    let system::Kind::Ledger(l) = &mut config.kind else { panic!("not a ledger's") };
    edit(l);
    config.encode()
}

/// Acme's ledger's configuration, as committed.
fn committed() -> system::Ledger<'static> {
    match system::Config::parse(config_bytes(PD), PD).unwrap().kind {
        system::Kind::Ledger(l) => l,
        _ => panic!("not a ledger's configuration"),
    }
}

fn max_record() -> usize {
    committed().max_record as usize
}

fn client_buffer() -> usize {
    committed().client_buffer as usize
}

/// The bytes of psdb's memory store: every namespace's extent (the
/// driver's configuration says how many).
fn disk_bytes() -> usize {
    match system::Config::parse(config_bytes("blk"), "blk").unwrap().kind {
        system::Kind::Blk(b) => b.disk_bytes as usize,
        _ => panic!("not blk's configuration"),
    }
}

const PD: &str = "ledger_acme";
const ORIGIN: &str = "service-fs/acme";
const SEED: [u8; 32] = [7; 32];
const CLOCK: Time = Time { unix_ms: Some(1_795_640_612_221), source: "test-clock" };

/// The memory of every shared region, by name.
type Memory = BTreeMap<String, &'static [u8]>;

/// `pd`'s regions as the description maps them, over `mem`, with
/// `config`; the key region holds [`SEED`], and psdb has a memory store
/// instead of the block driver's regions.
fn regions(pd: &str, config: &[u8], mem: &mut Memory) -> HostRegions {
    let system = &sys().system;
    let mut r = HostRegions::new().with_config(config);
    for m in &system.pd(pd).unwrap().maps {
        let Some(symbol) = m.setvar_vaddr.as_deref() else { continue };
        let size = system.memory_region(&m.mr).unwrap().size as usize;
        let mappers =
            system.all_pds().iter().filter(|p| p.maps.iter().any(|x| x.mr == m.mr)).count();
        if symbol == system::CONFIG_SYMBOL || symbol.starts_with("sfs_blk_") {
            continue;
        } else if symbol == system::KEY_SYMBOL {
            let key: &'static [u8] = mem.entry(m.mr.clone()).or_insert_with(|| {
                let key = leak(size);
                key[..32].copy_from_slice(&SEED);
                key
            });
            r = r.share(symbol, key, Access::ReadOnly);
        } else if mappers == 1 {
            r = r.private_region(symbol, size);
        } else {
            let memory: &'static [u8] = mem.entry(m.mr.clone()).or_insert_with(|| leak(size));
            r = r.share(symbol, memory, Access::ReadWrite);
        }
    }
    if pd == "psdb" {
        r = r.private_region(system::PSDB_STORE_SYMBOL, disk_bytes());
    }
    r
}

/// The memory region `pd` maps at `symbol`.
fn region_of(pd: &str, symbol: &str, mem: &Memory) -> &'static [u8] {
    let maps = &sys().system.pd(pd).unwrap().maps;
    let m = maps.iter().find(|m| m.setvar_vaddr.as_deref() == Some(symbol)).unwrap();
    mem[&m.mr]
}

/// A psdb failure to stage: psdb answers `status` to every call with
/// `label` (any label: 0), instead of serving it.
type Fault = Rc<Cell<Option<(u64, u64)>>>;

/// psdb, behind a switch.
struct FlakyPsdb {
    psdb: Psdb<BusPlatform>,
    fault: Fault,
}

impl Pd for FlakyPsdb {
    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        match self.fault.get() {
            Some((l, status)) if l == 0 || l == msg.label => Msg::new(status, &[u64::MAX, 7]),
            _ => self.psdb.protected(ch, msg),
        }
    }
}

/// Who is calling, as wire says it: module, credential, request ID.
type Who = (&'static str, &'static str, u64);

const WRITER: Who = ("acme.identity", "channel:0", 1);
const READER: Who = ("acme.reports", "channel:1", 2);
const AUDITOR: Who = ("acme.auditor", "channel:2", 3);

/// The ledger PD over psdb, called from wire's end of its channel.
struct Rig {
    bus: Bus,
    mem: Memory,
    fault: Fault,
    wire: Channel,
    buf: SharedRegion,
}

impl Rig {
    fn new() -> Rig {
        let bus = Bus::new();
        bus.set_time(CLOCK);
        for c in &sys().system.channels {
            let [a, b] = &c.ends;
            bus.connect((&a.pd, a.id), (&b.pd, b.id));
        }
        let mut mem = Memory::new();
        let psdb =
            Psdb::init(bus.platform("psdb"), &mut regions("psdb", config_bytes("psdb"), &mut mem));
        let fault = Fault::default();
        bus.register("psdb", Box::new(FlakyPsdb { psdb: psdb.unwrap(), fault: fault.clone() }));
        // The test calls as wire does, on the ledger's first wire channel.
        let first = committed().wires[0];
        let (wire_pd, wire_ch) = bus.peer(PD, first).unwrap();
        assert_eq!(wire_pd, "wire");
        let wire = Channel::new(wire_ch).unwrap();
        let mut rig = Rig { bus, mem, fault, wire, buf: view(leak(0)) };
        rig.boot(|_| {});
        rig.buf = view(region_of(PD, system::buffer_symbol(first).unwrap(), &rig.mem));
        rig
    }

    /// (Re)boots the ledger PD with its configuration changed by `edit`;
    /// psdb keeps what it holds.
    fn boot(&mut self, edit: impl FnOnce(&mut system::Ledger)) {
        let config = ledger_config(edit);
        let mut r = regions(PD, &config, &mut self.mem);
        let pd = LedgerPd::init(self.bus.platform(PD), &mut r).unwrap();
        self.bus.register(PD, Box::new(pd));
    }

    /// A request as wire forwards it: header, data, call.
    fn call(&mut self, who: Who, label: u64, mrs: &[u64], data: &[u8]) -> Msg {
        let mut header = [0u8; DATA_OFFSET];
        assert!(write_caller(&mut header, who.0, who.1, who.2));
        self.buf.write(0, &header).unwrap();
        self.buf.write(DATA_OFFSET, data).unwrap();
        self.bus.platform("wire").ppcall(self.wire, Msg::new(label, mrs))
    }

    fn append(&mut self, records: &[&[u8]]) -> Msg {
        let framed = frame(records);
        self.call(WRITER, label::APPEND, &[records.len() as u64, framed.len() as u64], &framed)
    }

    /// The reply data after the header.
    fn data(&self, len: u64) -> Vec<u8> {
        let mut out = vec![0; len as usize];
        self.buf.read(DATA_OFFSET, &mut out).unwrap();
        out
    }

    /// Reads records (or audit records) from `from`: their bytes, unframed.
    fn read(&mut self, who: Who, l: u64, from: u64) -> Vec<Vec<u8>> {
        let r = self.call(who, l, &[from, 0], &[]);
        let r = ReadReply::decode(&r).unwrap_or_else(|e| panic!("read from {from}: {e:?}"));
        unframe(&self.data(r.bytes))
    }

    /// (ledger size, audit size), as STATUS says.
    fn sizes(&mut self) -> (u64, u64) {
        let r = LedgerStatus::decode(&self.call(READER, label::STATUS, &[], &[])).unwrap();
        (r.size, r.audit_size)
    }

    fn checkpoint(&mut self, l: u64) -> Vec<u8> {
        let r = NoteReply::decode(&self.call(READER, l, &[], &[])).unwrap();
        self.data(r.bytes)
    }
}

fn status(m: &Msg) -> Status {
    Status::from_label(m.label)
}

/// Records framed as a client frames them (`abi::records::Writer`).
fn frame(records: &[&[u8]]) -> Vec<u8> {
    let len = records.iter().map(|r| tlog::bundle::encoded_len(r.len())).sum();
    let mut out = vec![0; len];
    let mut w = abi::records::Writer::new(&mut out);
    assert!(records.iter().all(|r| w.push(r)), "a record too long to frame");
    out
}

fn unframe(b: &[u8]) -> Vec<Vec<u8>> {
    let entries = tlog::bundle::entries(b).map(|e| e.map(<[u8]>::to_vec));
    entries.collect::<Result<_, _>>().expect("framing cut short")
}

fn root(records: &[&[u8]]) -> Hash {
    let mut b = Builder::new();
    for r in records {
        b.push(leaf_hash(r)).unwrap();
    }
    b.root()
}

/// Opens a signed checkpoint with acme's key (named `name`).
fn open(note: &[u8], name: &str) -> (String, u64, Hash) {
    let signer = Signer::from_seed(name, SEED).unwrap();
    let opened = note::open(note, &[&signer.verifier()]).expect("signed with the tenant's key");
    let c = Checkpoint::parse(opened.text).unwrap();
    (c.origin.to_string(), c.size, c.root)
}

const RECORDS: [&[u8]; 3] = [b"first", b"\x00\xff binary", b"third record"];

#[test]
fn the_ledger_opens_over_psdb_and_says_its_verifier_key() {
    let rig = Rig::new();
    let said = rig.bus.prints(PD);
    let key = Signer::from_seed(ORIGIN, SEED).unwrap().verifier();
    let key = format!("{key}");
    assert!(
        said.contains(&format!(
            "{PD}: ledger open: 0 records, 0 audit records; verifier key {key}"
        )),
        "{said}"
    );
}

#[test]
fn append_then_read_back() {
    let mut rig = Rig::new();
    assert_eq!(rig.append(&RECORDS), Msg::new(0, &[0, 3]));
    let max = vec![b'm'; max_record()];
    assert_eq!(rig.append(&[&max]), Msg::new(0, &[3, 1]), "a max_record record");
    let reply = ReadReply::decode(&rig.call(READER, label::READ_SINCE, &[0, 0], &[])).unwrap();
    assert_eq!((reply.count, reply.tree_size), (4, 4), "records, ledger size");
    let mut all = RECORDS.map(<[u8]>::to_vec).to_vec();
    all.push(max);
    assert_eq!(unframe(&rig.data(reply.bytes)), all);
    // At most one, from 1; at the size, none.
    let reply = ReadReply::decode(&rig.call(READER, label::READ_SINCE, &[1, 1], &[])).unwrap();
    assert_eq!((reply.count, unframe(&rig.data(reply.bytes))), (1, vec![RECORDS[1].to_vec()]));
    assert!(rig.read(READER, label::READ_SINCE, 4).is_empty());
    // After a reboot, psdb gives the ledger back as it was.
    rig.boot(|_| {});
    assert!(rig.bus.prints(PD).contains("ledger open: 4 records, 3 audit records"));
    assert_eq!(rig.read(READER, label::READ_SINCE, 0), all);
}

#[test]
fn checkpoints_verify_with_the_tenants_key() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    let (origin, size, root_hash) = open(&rig.checkpoint(label::CHECKPOINT), ORIGIN);
    assert_eq!((origin.as_str(), size, root_hash), (ORIGIN, 3, root(&RECORDS)));
    // An inclusion proof checks against it.
    let r = rig.call(READER, label::PROVE_INCLUSION, &[1, 0], &[]);
    let r = ProofReply::decode(&r).unwrap();
    assert_eq!(r.tree_size, 3);
    let hashes = rig.data(r.bytes().unwrap());
    let hashes: Vec<Hash> = hashes.chunks(32).map(|h| Hash::from_slice(h).unwrap()).collect();
    assert_eq!((hashes[0], hashes[1]), (leaf_hash(RECORDS[1]), root_hash));
    tlog::proof::verify_inclusion(&hashes[2..], 3, &root_hash, 1, &hashes[0]).unwrap();
    // The audit ledger's, under <origin>/audit with the same key.
    let audit = format!("{ORIGIN}/audit");
    let (origin, size, _) = open(&rig.checkpoint(label::AUDIT_CHECKPOINT), &audit);
    assert_eq!((origin, size), (audit, 1), "the proof was audited");
    // A key of another tenant does not open it.
    let other = Signer::from_seed(ORIGIN, [8; 32]).unwrap().verifier();
    assert!(note::open(&rig.checkpoint(label::CHECKPOINT), &[&other]).is_err());
}

#[test]
fn every_read_is_in_the_audit_ledger_with_the_identity_wire_passed() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    let readers: [Who; 3] =
        [READER, ("acme.reports", "channel:1", 41), ("acme.harness-ring2", "channel:4", 42)];
    rig.call(readers[0], label::READ_SINCE, &[0, 2], &[]);
    rig.call(readers[1], label::PROVE_INCLUSION, &[2, 3], &[]);
    rig.call(readers[2], label::PROVE_CONSISTENCY, &[1, 0], &[]);
    assert_eq!(rig.sizes(), (3, 3), "three reads, three audit records (STATUS is none)");
    let audit = rig.read(AUDITOR, label::READ_AUDIT, 0);
    let line = |seq: u64, op: &str, who: Who, from: u64, count: u64, size: u64| {
        let (module, credential, request) = who;
        format!(
            "{{\"v\":1,\"seq\":{seq},\"op\":\"{op}\",\"module\":\"{module}\",\"credential\":\"{credential}\",\"from\":{from},\"count\":{count},\"tree_size\":{size},\"request\":{request},\"time_ms\":{},\"time_source\":\"test-clock\"}}",
            CLOCK.unix_ms.unwrap()
        )
    };
    let want = [
        line(0, "read_since", readers[0], 0, 2, 3),
        line(1, "prove_inclusion", readers[1], 2, 1, 3),
        line(2, "prove_consistency", readers[2], 1, 2, 3),
        // A read of the audit ledger is recorded before it is served, and
        // serves the ledger as it was before it.
        line(3, "read_audit", AUDITOR, 0, 3, 3),
    ];
    let text = |records: Vec<Vec<u8>>| -> Vec<String> {
        records.into_iter().map(|r| String::from_utf8(r).unwrap()).collect()
    };
    assert_eq!(text(audit), want[..3]);
    let reply = ReadReply::decode(&rig.call(AUDITOR, label::READ_AUDIT, &[3, 0], &[])).unwrap();
    assert_eq!(reply.audit_seq, 4, "the audit record this read added");
    assert_eq!(text(unframe(&rig.data(reply.bytes))), want[3..]);
}

/// A request the ledger refuses: what it is, caller, label, registers,
/// data, status.
type Bad = (&'static str, Who, u64, Vec<u64>, Vec<u8>, Status);

fn bad_requests() -> Vec<Bad> {
    let two = frame(&[b"ab", b"c"]);
    let n = two.len() as u64;
    let big = frame(&[&vec![b'b'; max_record() + 1]]);
    let big_len = big.len() as u64;
    vec![
        ("read beyond the size", READER, label::READ_SINCE, vec![4, 0], vec![], Status::OutOfRange),
        ("audit read beyond", AUDITOR, label::READ_AUDIT, vec![99, 0], vec![], Status::OutOfRange),
        (
            "proof of a record beyond",
            READER,
            label::PROVE_INCLUSION,
            vec![3, 0],
            vec![],
            Status::OutOfRange,
        ),
        (
            "proof in a tree beyond",
            READER,
            label::PROVE_INCLUSION,
            vec![0, 4],
            vec![],
            Status::OutOfRange,
        ),
        (
            "consistency from size 0",
            READER,
            label::PROVE_CONSISTENCY,
            vec![0, 0],
            vec![],
            Status::BadArgument,
        ),
        (
            "consistency from beyond",
            READER,
            label::PROVE_CONSISTENCY,
            vec![4, 0],
            vec![],
            Status::OutOfRange,
        ),
        (
            "a caller without a module",
            ("", "channel:1", 5),
            label::READ_SINCE,
            vec![0, 0],
            vec![],
            Status::BadArgument,
        ),
        (
            "records cut short",
            WRITER,
            label::APPEND,
            vec![2, n - 1],
            two.clone(),
            Status::BadBuffer,
        ),
        (
            "more records than framed",
            WRITER,
            label::APPEND,
            vec![3, n],
            two.clone(),
            Status::BadBuffer,
        ),
        (
            "fewer records than framed",
            WRITER,
            label::APPEND,
            vec![1, n],
            two.clone(),
            Status::BadBuffer,
        ),
        (
            "a length beyond the bytes",
            WRITER,
            label::APPEND,
            vec![1, 3],
            vec![0, 9, b'x'],
            Status::BadBuffer,
        ),
        (
            "bytes beyond the buffer",
            WRITER,
            label::APPEND,
            vec![1, client_buffer() as u64 + 1],
            two.clone(),
            Status::BadBuffer,
        ),
        (
            "an empty record",
            WRITER,
            label::APPEND,
            vec![2, 5],
            frame(&[b"a", b""]),
            Status::EmptyRecord,
        ),
        (
            "a record over max_record",
            WRITER,
            label::APPEND,
            vec![1, big_len],
            big,
            Status::RecordTooLarge,
        ),
        ("no records", WRITER, label::APPEND, vec![0, 0], vec![], Status::NoRecords),
        ("an unknown label", READER, 99, vec![], vec![], Status::UnknownLabel),
    ]
}

#[test]
fn bad_requests_are_refused_with_their_status_and_change_nothing() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    let before =
        (rig.sizes(), rig.checkpoint(label::CHECKPOINT), rig.checkpoint(label::AUDIT_CHECKPOINT));
    for (what, who, l, mrs, data, want) in bad_requests() {
        let reply = rig.call(who, l, &mrs, &data);
        assert_eq!(reply, Msg::new(want as u64, &[]), "{what}");
        let now = (
            rig.sizes(),
            rig.checkpoint(label::CHECKPOINT),
            rig.checkpoint(label::AUDIT_CHECKPOINT),
        );
        assert!(now == before, "{what}: changed the ledger: {:?} → {:?}", before.0, now.0);
    }
    let all: Vec<Vec<u8>> = RECORDS.map(<[u8]>::to_vec).to_vec();
    assert_eq!(rig.read(READER, label::READ_SINCE, 0), all);
}

#[test]
fn a_damaged_caller_header_is_refused_and_not_audited() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    for (what, at, byte) in
        [("a module length over 63", 0, 64), ("a credential not UTF-8", 65, 0xff)]
    {
        let mut header = [0u8; DATA_OFFSET];
        write_caller(&mut header, READER.0, READER.1, 9);
        header[at] = byte;
        rig.buf.write(0, &header).unwrap();
        let reply = rig.bus.platform("wire").ppcall(rig.wire, Msg::new(label::READ_SINCE, &[0, 0]));
        assert_eq!(reply, Msg::new(Status::BadArgument as u64, &[]), "{what}");
        assert_eq!(rig.sizes(), (3, 0), "{what}: audited");
    }
}

#[test]
fn only_its_wires_may_call_the_ledger() {
    let mut rig = Rig::new();
    let unused = (0..62).find(|ch| rig.bus.peer(PD, *ch).is_none()).unwrap();
    for ch in [system::ledger_channels::PSDB_LOG, unused] {
        let reply = rig.bus.protected(PD, ch, Msg::new(label::STATUS, &[]));
        assert_eq!(reply, Msg::new(Status::Forbidden as u64, &[]), "channel {ch}");
    }
    assert_eq!(rig.sizes(), (0, 0));
}

#[test]
fn a_read_that_does_not_fit_the_clients_buffer_is_refused_and_not_audited() {
    let mut rig = Rig::new();
    rig.append(&[b"small", &vec![b'L'; max_record()]]);
    // The same ledger, its clients' buffers now smaller than a record.
    rig.boot(|l| l.client_buffer = l.max_record / 2);
    let reply = rig.call(READER, label::READ_SINCE, &[1, 0], &[]);
    assert_eq!(reply, Msg::new(Status::BufferTooSmall as u64, &[]));
    assert_eq!(rig.sizes(), (2, 0), "not audited");
    // What fits is served.
    assert_eq!(rig.read(READER, label::READ_SINCE, 0), vec![b"small".to_vec()]);
}

#[test]
fn a_psdb_failure_is_an_error_and_the_ledger_reopens_at_the_next_request() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    let cases = [
        ("psdb unavailable", (0, abi::psdb::status::UNAVAILABLE)),
        ("a status psdb has no name for", (0, 200)),
        (
            "garbage from psdb's checkpoint swap",
            (abi::psdb::label::REPLACE_CHECKPOINT, platform::MAX_LABEL),
        ),
        ("psdb full", (abi::psdb::label::PUT, abi::psdb::status::FULL)),
    ];
    let mut acked: Vec<Vec<u8>> = RECORDS.map(<[u8]>::to_vec).to_vec();
    for (i, (what, fault)) in cases.into_iter().enumerate() {
        let _ = rig.bus.prints(PD);
        rig.fault.set(Some(fault));
        let reply = rig.append(&[format!("lost {i}").as_bytes()]);
        let want =
            if fault.1 == abi::psdb::status::FULL { Status::Full } else { Status::Unavailable };
        assert_eq!(reply, Msg::new(want as u64, &[]), "{what}");
        rig.fault.set(None);
        if want == Status::Unavailable {
            let said = rig.bus.prints(PD);
            assert!(
                said.contains(
                    "a storage failure stopped the ledger; it reopens at the next request"
                ),
                "{what}: {said}"
            );
        }
        // The next request reopens it, at what was acknowledged.
        let record = format!("kept {i}");
        let n = acked.len() as u64;
        assert_eq!(rig.append(&[record.as_bytes()]), Msg::new(0, &[n, 1]), "{what}");
        acked.push(record.into_bytes());
        assert_eq!(rig.read(READER, label::READ_SINCE, 0), acked, "{what}");
    }
    let acked: Vec<&[u8]> = acked.iter().map(Vec::as_slice).collect();
    let (_, size, root_hash) = open(&rig.checkpoint(label::CHECKPOINT), ORIGIN);
    assert_eq!((size, root_hash), (acked.len() as u64, root(&acked)));
}

/// What the ABI says of `UNAVAILABLE` ("reopens at the next request")
/// holds when psdb is still down at that next request too: a reopen that
/// psdb did not answer is tried again at the one after.
#[test]
fn a_ledger_whose_reopen_failed_reopens_once_psdb_is_back() {
    let mut rig = Rig::new();
    rig.append(&RECORDS);
    rig.fault.set(Some((0, abi::psdb::status::UNAVAILABLE)));
    assert_eq!(status(&rig.append(&[b"lost"])), Status::Unavailable);
    assert_eq!(status(&rig.append(&[b"lost too"])), Status::Unavailable, "psdb still down");
    rig.fault.set(None);
    assert_eq!(rig.append(&[b"kept"]), Msg::new(0, &[3, 1]), "{}", rig.bus.prints(PD));
}
