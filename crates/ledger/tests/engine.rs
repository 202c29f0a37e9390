//! The engine over in-memory stores: contract, audit, bad input, tampering,
//! crashes at every write point, and a full store.

use std::cell::Cell;
use std::rc::Rc;

use ledger::store::{Recovery, StoreError, TileStore};
use ledger::{Buffers, Caller, Engine, Error, Ledger, Limit, NoClock, Timestamp};
use note::{Checkpoint, Signer};
use proptest::prelude::*;
use store_mem::{Crash, Faulty, MemStore};
use tlog::proof::{verify_consistency, verify_inclusion};
use tlog::{Builder, Tile, leaf_hash};

const MAX: usize = 4096;

fn signer() -> Signer {
    Signer::from_seed("service-fs/acme", [42; 32]).unwrap()
}

fn buffers() -> Buffers<Vec<u8>> {
    Buffers::default()
}

type Mem = Engine<MemStore, Vec<u8>, NoClock>;

fn open_stores<S: TileStore>(
    log: S,
    audit: S,
) -> Result<Engine<S, Vec<u8>, NoClock>, Error<S::Error>> {
    Engine::open(log, audit, signer(), NoClock, buffers(), MAX).map(|(e, _)| e)
}

fn fresh() -> Mem {
    open_stores(MemStore::new(), MemStore::new()).unwrap()
}

fn reopen(e: Mem) -> Mem {
    let (l, a) = e.into_stores();
    open_stores(l, a).unwrap()
}

const READER: Caller<'static> =
    Caller { module: "acme.reports", credential: "test:1", request: None };

fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn read_all<L: Ledger>(e: &mut L, from: u64) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    e.read_since(&READER, from, Limit::NONE, &mut |i, r| out.push((i, r.to_vec())))
        .map_err(|_| "read failed")
        .unwrap();
    out
}

/// The root of `records`, computed independently of the engine.
fn root_of(records: &[Vec<u8>]) -> tlog::Hash {
    let mut b = Builder::new();
    for r in records {
        b.push(leaf_hash(r)).unwrap();
    }
    b.root()
}

/// The checkpoint opens with the tenant key and its root is the root of the records.
fn check_checkpoint(note: &[u8], records: &[Vec<u8>]) {
    let v = signer().verifier();
    let opened = note::open(note, &[&v]).unwrap();
    let cp = Checkpoint::parse(opened.text).unwrap();
    assert_eq!(cp.origin, "service-fs/acme");
    assert_eq!(cp.size, records.len() as u64);
    assert_eq!(cp.root, root_of(records));
}

#[test]
fn append_read_checkpoint() {
    let mut e = fresh();
    check_checkpoint(e.checkpoint().unwrap(), &[]);
    let records: Vec<Vec<u8>> = (0..1000).map(record).collect();
    assert_eq!(e.append(&records[0]).unwrap(), 0);
    let r = e.append_batch(records[1..600].iter().map(Vec::as_slice)).unwrap();
    assert_eq!(r, 1..600);
    let r = e.append_batch(records[600..].iter().map(Vec::as_slice)).unwrap();
    assert_eq!(r, 600..1000);
    check_checkpoint(e.checkpoint().unwrap(), &records);
    let got = read_all(&mut e, 0);
    assert_eq!(got.len(), 1000);
    for (i, r) in got {
        assert_eq!(r, records[i as usize]);
    }
    // The same after reopening from the stores.
    let mut e = reopen(e);
    check_checkpoint(e.checkpoint().unwrap(), &records);
    assert_eq!(read_all(&mut e, 990).len(), 10);
    assert_eq!(read_all(&mut e, 1000).len(), 0);
    e.append(b"after reopen").unwrap();
    assert_eq!(read_all(&mut e, 1000)[0].1, b"after reopen");
}

#[test]
fn limits_are_honoured() {
    let mut e = fresh();
    e.append_batch([&b"aaaa"[..], b"bb", b"cccccc"]).unwrap();
    let mut got = vec![];
    let s = e
        .read_since(&READER, 0, Limit { max_entries: 10, max_bytes: 6 + 4 }, &mut |i, _| {
            got.push(i)
        })
        .unwrap();
    assert_eq!((s.count, got), (2, vec![0, 1]));
    let s = e.read_since(&READER, 1, Limit::entries(1), &mut |_, _| {}).unwrap();
    assert_eq!((s.from, s.count, s.tree_size), (1, 1, 3));
    let err = e.read_since(&READER, 2, Limit { max_entries: 1, max_bytes: 7 }, &mut |_, _| {});
    assert_eq!(err.unwrap_err(), Error::ReadLimitTooSmall { needed: 8 });
}

#[test]
fn proofs_verify_against_checkpoints() {
    let mut e = fresh();
    let records: Vec<Vec<u8>> = (0..700).map(record).collect();
    e.append_batch(records[..300].iter().map(Vec::as_slice)).unwrap();
    let old_root = root_of(&records[..300]);
    e.append_batch(records[300..].iter().map(Vec::as_slice)).unwrap();
    let root = root_of(&records);
    for i in [0u64, 1, 255, 256, 299, 511, 512, 699] {
        let p = e.prove_inclusion(&READER, i, 700).unwrap();
        assert_eq!((p.root, p.leaf_hash), (root, leaf_hash(&records[i as usize])));
        verify_inclusion(&p.proof, 700, &root, i, &p.leaf_hash).unwrap();
        let j = i.min(299);
        let p = e.prove_inclusion(&READER, j, 300).unwrap();
        verify_inclusion(&p.proof, 300, &old_root, j, &leaf_hash(&records[j as usize])).unwrap();
    }
    let p = e.prove_consistency(&READER, 300, 700).unwrap();
    assert_eq!((p.old_root, p.root), (old_root, root));
    verify_consistency(&p.proof, 700, &root, 300, &old_root).unwrap();
    // Proofs read tiles back from the store after reopening too.
    let mut e = reopen(e);
    let p = e.prove_consistency(&READER, 300, 700).unwrap();
    verify_consistency(&p.proof, 700, &root, 300, &old_root).unwrap();
}

fn audit_records<S: TileStore>(e: &mut Engine<S, Vec<u8>, NoClock>) -> Vec<serde_like::Rec> {
    let auditor = Caller { module: "acme.audit", credential: "test:2", request: None };
    let mut out = vec![];
    e.read_audit_since(&auditor, 0, Limit::NONE, &mut |_, r| out.push(serde_like::parse(r)))
        .unwrap();
    out
}

/// Just enough JSON field extraction for the fixed audit record format.
mod serde_like {
    #[derive(Debug, PartialEq)]
    pub struct Rec {
        pub seq: u64,
        pub op: String,
        pub module: String,
        pub from: u64,
        pub count: u64,
        pub tree_size: u64,
    }
    fn field<'a>(s: &'a str, k: &str) -> &'a str {
        let start = s.find(&format!("\"{k}\":")).unwrap() + k.len() + 3;
        let rest = &s[start..];
        rest[..rest.find([',', '}']).unwrap()].trim_matches('"')
    }
    pub fn parse(r: &[u8]) -> Rec {
        let s = std::str::from_utf8(r).unwrap();
        assert!(s.starts_with("{\"v\":1,") && s.ends_with('}'));
        Rec {
            seq: field(s, "seq").parse().unwrap(),
            op: field(s, "op").into(),
            module: field(s, "module").into(),
            from: field(s, "from").parse().unwrap(),
            count: field(s, "count").parse().unwrap(),
            tree_size: field(s, "tree_size").parse().unwrap(),
        }
    }
}

#[test]
fn every_read_is_audited_once_in_order() {
    let mut e = fresh();
    e.append_batch((0..20).map(record).collect::<Vec<_>>().iter().map(Vec::as_slice)).unwrap();
    read_all(&mut e, 5);
    e.read_since(&READER, 18, Limit::entries(1), &mut |_, _| {}).unwrap();
    e.prove_inclusion(&READER, 3, 20).unwrap();
    e.prove_consistency(&READER, 7, 20).unwrap();
    // Refused requests are not served and not audited.
    assert!(e.read_since(&READER, 21, Limit::NONE, &mut |_, _| {}).is_err());
    assert!(e.prove_inclusion(&READER, 20, 20).is_err());
    let recs = audit_records(&mut e);
    let want = [
        (0, "read_since", 5, 15),
        (1, "read_since", 18, 1),
        (2, "prove_inclusion", 3, 1),
        (3, "prove_consistency", 7, 13),
        (4, "read_audit", 0, 4),
    ];
    assert_eq!(recs.len(), 4, "the audit read returns the records before it");
    for (r, (seq, op, from, count)) in recs.iter().zip(want) {
        assert_eq!(
            (r.seq, r.op.as_str(), r.from, r.count, r.tree_size),
            (seq, op, from, count, 20)
        );
        assert_eq!(r.module, "acme.reports");
    }
    let recs = audit_records(&mut e);
    assert_eq!(recs.len(), 5);
    assert_eq!(
        (recs[4].op.as_str(), recs[4].module.as_str(), recs[4].tree_size),
        ("read_audit", "acme.audit", 4)
    );
    // The audit ledger has its own checkpoint, signed under <origin>/audit.
    let v = ledger::engine::audit_signer::<()>(&signer()).unwrap().verifier();
    let opened = note::open(e.audit_checkpoint().unwrap(), &[&v]).unwrap();
    let cp = Checkpoint::parse(opened.text).unwrap();
    assert_eq!((cp.origin, cp.size), ("service-fs/acme/audit", 6));
}

/// A store that counts audit commits, to see when data is handed out.
struct Counting<S>(S, Rc<Cell<u64>>);

impl<S: TileStore> TileStore for Counting<S> {
    type Error = S::Error;
    fn get(&mut self, t: &Tile, b: &mut [u8]) -> Result<Option<usize>, StoreError<S::Error>> {
        self.0.get(t, b)
    }
    fn put(&mut self, t: &Tile, d: &[u8]) -> Result<(), StoreError<S::Error>> {
        self.0.put(t, d)
    }
    fn sync(&mut self) -> Result<(), StoreError<S::Error>> {
        self.0.sync()
    }
    fn get_checkpoint(&mut self, b: &mut [u8]) -> Result<Option<usize>, StoreError<S::Error>> {
        self.0.get_checkpoint(b)
    }
    fn replace_checkpoint(&mut self, old: &[u8], new: &[u8]) -> Result<(), StoreError<S::Error>> {
        self.1.set(self.1.get() + 1);
        self.0.replace_checkpoint(old, new)
    }
    fn recover(&mut self, size: u64) -> Result<Recovery, StoreError<S::Error>> {
        self.0.recover(size)
    }
}

#[test]
fn audit_is_durable_before_data_is_returned() {
    let (log_commits, audit_commits) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut e = open_stores(
        Counting(MemStore::new(), log_commits.clone()),
        Counting(MemStore::new(), audit_commits.clone()),
    )
    .unwrap();
    e.append_batch([&b"a"[..], b"b", b"c"]).unwrap();
    let before = audit_commits.get();
    let mut seen = vec![];
    e.read_since(&READER, 0, Limit::NONE, &mut |i, _| seen.push((i, audit_commits.get()))).unwrap();
    assert_eq!(seen, vec![(0, before + 1), (1, before + 1), (2, before + 1)]);
}

/// Everything a client can observe, to show a refused request changed nothing.
type State = (u64, Vec<u8>, Vec<(Tile, Vec<u8>)>, u64);

fn state(e: &mut Mem) -> State {
    let cp = e.checkpoint().unwrap().to_vec();
    let objects = e.log().store().objects().map(|(t, d)| (*t, d.to_vec())).collect();
    (e.size(), cp, objects, e.audit_size())
}

#[test]
fn bad_input_changes_nothing() {
    let mut e = fresh();
    e.append_batch([&b"one"[..], b"two"]).unwrap();
    let before = state(&mut e);
    let big = vec![7u8; MAX + 1];
    assert_eq!(e.append(b"").unwrap_err(), Error::EmptyEntry);
    assert_eq!(e.append(&big).unwrap_err(), Error::EntryTooLarge { len: MAX + 1, max: MAX });
    assert_eq!(e.append_batch([&b"ok"[..], b"", b"ok"]).unwrap_err(), Error::EmptyEntry);
    assert_eq!(
        e.append_batch([&b"ok"[..], &big[..]]).unwrap_err(),
        Error::EntryTooLarge { len: MAX + 1, max: MAX }
    );
    assert_eq!(e.append_batch(std::iter::empty()).unwrap_err(), Error::NoEntries);
    assert_eq!(
        e.read_since(&READER, 3, Limit::NONE, &mut |_, _| {}).unwrap_err(),
        Error::OutOfRange { index: 3, size: 2 }
    );
    assert!(matches!(e.prove_inclusion(&READER, 2, 2), Err(Error::OutOfRange { .. })));
    assert!(matches!(e.prove_inclusion(&READER, 0, 3), Err(Error::OutOfRange { .. })));
    assert!(matches!(e.prove_consistency(&READER, 0, 2), Err(Error::InvalidArgument(_))));
    assert!(matches!(e.prove_consistency(&READER, 1, 3), Err(Error::OutOfRange { .. })));
    let bad = Caller { module: "has space", ..READER };
    assert_eq!(e.read_since(&bad, 0, Limit::NONE, &mut |_, _| {}).unwrap_err(), Error::BadCaller);
    assert_eq!(state(&mut e), before);
    assert_eq!(read_all(&mut e, 0).len(), 2);
}

#[test]
fn tampering_is_detected_on_read_and_open() {
    let mut e = fresh();
    let records: Vec<Vec<u8>> = (0..600).map(record).collect();
    e.append_batch(records.iter().map(Vec::as_slice)).unwrap();
    let (mut log, audit) = e.into_stores();
    // A flipped byte in a full bundle: reads of it fail, naming it.
    let full = Tile::entries(1, 256);
    assert!(log.tamper(&full, |d| d[10] ^= 1));
    let mut e = open_stores(log, audit).unwrap();
    let mut n = 0;
    e.read_since(&READER, 0, Limit::entries(256), &mut |_, _| n += 1).unwrap();
    assert_eq!(read_all(&mut e, 512).len() + n, 88 + 256, "untouched bundles still read");
    let err =
        e.read_since(&READER, 300, Limit::entries(1), &mut |_, _| panic!("served tampered data"));
    assert_eq!(
        err.unwrap_err(),
        Error::Corrupt { tile: Some(full), what: "entry does not match its leaf hash" }
    );
    // A flipped byte in a full hash tile.
    let (mut log, audit) = e.into_stores();
    log.tamper(&full, |d| d[10] ^= 1);
    let t0 = Tile::hashes(0, 0, 256);
    log.tamper(&t0, |d| d[0] ^= 1);
    let mut e = open_stores(log, audit).unwrap();
    let err =
        e.read_since(&READER, 0, Limit::entries(1), &mut |_, _| panic!("served tampered data"));
    assert_eq!(
        err.unwrap_err(),
        Error::Corrupt { tile: Some(t0), what: "tile does not hash to the tree" }
    );
    // A partial tile or bundle, or the checkpoint: the ledger does not open.
    let (log, audit) = e.into_stores();
    for (tile, what) in [
        (Tile::hashes(0, 2, 88), "stored partial tiles do not hash to the checkpoint root"),
        (Tile::entries(2, 88), "entry does not match its leaf hash"),
    ] {
        let mut l = log.clone();
        assert!(l.tamper(&tile, |d| d[5] ^= 0x40), "{tile}");
        let err = open_stores(l, audit.clone()).err().unwrap();
        assert!(matches!(err, Error::Corrupt { what: w, .. } if w == what), "{tile}: {err:?}");
    }
    let mut l = log.clone();
    l.tamper_checkpoint(|c| c[20] ^= 1);
    assert!(matches!(
        open_stores(l, audit.clone()).err().unwrap(),
        Error::Corrupt { tile: None, .. }
    ));
}

/// One store seen by two writers, as two processes sharing a directory would.
#[derive(Clone)]
struct Shared(Rc<std::cell::RefCell<MemStore>>);

impl TileStore for Shared {
    type Error = store_mem::Never;
    fn get(&mut self, t: &Tile, b: &mut [u8]) -> Result<Option<usize>, StoreError<Self::Error>> {
        self.0.borrow_mut().get(t, b)
    }
    fn put(&mut self, t: &Tile, d: &[u8]) -> Result<(), StoreError<Self::Error>> {
        self.0.borrow_mut().put(t, d)
    }
    fn sync(&mut self) -> Result<(), StoreError<Self::Error>> {
        self.0.borrow_mut().sync()
    }
    fn get_checkpoint(&mut self, b: &mut [u8]) -> Result<Option<usize>, StoreError<Self::Error>> {
        self.0.borrow_mut().get_checkpoint(b)
    }
    fn replace_checkpoint(
        &mut self,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), StoreError<Self::Error>> {
        self.0.borrow_mut().replace_checkpoint(old, new)
    }
    fn recover(&mut self, size: u64) -> Result<Recovery, StoreError<Self::Error>> {
        self.0.borrow_mut().recover(size)
    }
}

#[test]
fn a_second_writer_cannot_fork_the_ledger() {
    for b_batch in [1usize, 2, 300] {
        let log = Shared(Rc::new(std::cell::RefCell::new(MemStore::new())));
        let audit = Shared(Rc::new(std::cell::RefCell::new(MemStore::new())));
        let mut a = open_stores(log.clone(), audit.clone()).unwrap();
        a.append(b"first").unwrap();
        let mut b = open_stores(log.clone(), audit.clone()).unwrap();
        a.append(b"a's record").unwrap();
        let a_cp = a.checkpoint().unwrap().to_vec();
        // b still believes the ledger has one record: its commit must fail,
        // either on a write-once tile or on the checkpoint compare-and-swap.
        let recs: Vec<Vec<u8>> =
            (0..b_batch as u64).map(|i| format!("b {i}").into_bytes()).collect();
        let err = b.append_batch(recs.iter().map(Vec::as_slice)).unwrap_err();
        assert!(
            matches!(err, Error::Store(StoreError::Conflict | StoreError::CheckpointChanged)),
            "{b_batch}: {err:?}"
        );
        assert_eq!(log.0.borrow().checkpoint().unwrap(), &a_cp[..]);
        drop((a, b));
        let mut e = open_stores(log, audit).unwrap();
        assert_eq!(e.checkpoint().unwrap(), &a_cp[..]);
        let got: Vec<Vec<u8>> = read_all(&mut e, 0).into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, vec![b"first".to_vec(), b"a's record".to_vec()]);
    }
}

/// Crash at every write point of a batch append: the ledger reopens at a
/// consistent state holding every acknowledged record, and keeps working.
#[test]
fn crash_at_every_write_point() {
    let base: Vec<Vec<u8>> = (0..250).map(record).collect();
    let batch: Vec<Vec<u8>> = (250..830).map(record).collect();
    let mut e = fresh();
    e.append_batch(base.iter().map(Vec::as_slice)).unwrap();
    let (log0, audit0) = e.into_stores();
    let mut point = 0;
    loop {
        let mut finished = false;
        for mode in [Crash::LoseUnsynced, Crash::KeepUnsynced, Crash::GarbleUnsynced] {
            let mut e = open_stores(
                Faulty::new(log0.clone(), point),
                Faulty::new(audit0.clone(), u64::MAX),
            )
            .unwrap();
            let acked = e.append_batch(batch.iter().map(Vec::as_slice)).is_ok();
            if acked {
                finished = true;
            } else {
                // Poisoned: nothing more is accepted until reopened.
                assert_eq!(e.append(b"more").unwrap_err(), Error::Poisoned);
            }
            let (l, a) = e.into_stores();
            let (mut l, a) = (l.into_inner(), a.into_inner());
            l.crash(mode);
            let (mut e, rec) = Engine::open(l, a, signer(), NoClock, buffers(), MAX).unwrap();
            let mut want = base.clone();
            if acked {
                want.extend(batch.iter().cloned());
                assert!(!rec.log.repaired());
            } else {
                assert_eq!(rec.log.size, 250, "point {point}");
            }
            check_checkpoint(e.checkpoint().unwrap(), &want);
            let got: Vec<Vec<u8>> = read_all(&mut e, 0).into_iter().map(|(_, r)| r).collect();
            assert_eq!(got, want, "point {point}");
            // The recovered ledger accepts the same batch again.
            e.append_batch(batch.iter().map(Vec::as_slice)).unwrap();
            assert_eq!(e.size(), want.len() as u64 + 580);
        }
        if finished {
            break;
        }
        point += 1;
    }
    assert!(point > 5, "the batch has several write points ({point})");
}

#[test]
fn a_full_store_loses_nothing_acknowledged() {
    let mut e = open_stores(MemStore::with_capacity(64 * 1024), MemStore::new()).unwrap();
    let mut acked = vec![];
    let mut i = 0;
    let err = loop {
        let r = record(i);
        match e.append(&r) {
            Ok(_) => acked.push(r),
            Err(err) => break err,
        }
        i += 1;
    };
    assert_eq!(err, Error::Store(StoreError::Full));
    assert_eq!(e.append(b"x").unwrap_err(), Error::Poisoned);
    let mut e = reopen(e);
    let got: Vec<Vec<u8>> = read_all(&mut e, 0).into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, acked);
    check_checkpoint(e.checkpoint().unwrap(), &acked);
}

#[test]
fn audit_records_carry_the_time_source() {
    struct Fixed;
    impl ledger::Clock for Fixed {
        fn now(&mut self) -> Timestamp {
            Timestamp { unix_ms: Some(1234), source: "test-clock" }
        }
    }
    let (mut e, _) =
        Engine::open(MemStore::new(), MemStore::new(), signer(), Fixed, buffers(), MAX).unwrap();
    e.append(b"x").unwrap();
    read_all(&mut e, 0);
    let mut raw = vec![];
    e.read_audit_since(&READER, 0, Limit::NONE, &mut |_, r| raw.push(r.to_vec())).unwrap();
    let s = String::from_utf8(raw[0].clone()).unwrap();
    assert!(s.contains("\"time_ms\":1234,\"time_source\":\"test-clock\""), "{s}");
    let mut e = fresh();
    e.append(b"x").unwrap();
    read_all(&mut e, 0);
    let mut raw = vec![];
    e.read_audit_since(&READER, 0, Limit::NONE, &mut |_, r| raw.push(r.to_vec())).unwrap();
    assert!(
        String::from_utf8(raw[0].clone())
            .unwrap()
            .contains("\"time_ms\":null,\"time_source\":\"none\"")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// However appends are split into batches (and reopens), the ledger ends
    /// with the same checkpoint.
    #[test]
    fn checkpoint_independent_of_batching(splits in prop::collection::vec(1usize..300, 1..6)) {
        let total: usize = splits.iter().sum();
        let records: Vec<Vec<u8>> = (0..total as u64).map(record).collect();
        let mut one = fresh();
        one.append_batch(records.iter().map(Vec::as_slice)).unwrap();
        let mut many = fresh();
        let mut at = 0;
        for (n, s) in splits.iter().enumerate() {
            many.append_batch(records[at..at + s].iter().map(Vec::as_slice)).unwrap();
            at += s;
            if n % 2 == 1 {
                many = reopen(many);
            }
        }
        prop_assert_eq!(one.checkpoint().unwrap(), many.checkpoint().unwrap());
    }
}

#[test]
fn a_failed_commit_serves_nothing_until_reopened() {
    // The second batch fills bundle 0 (written at once) and then the store is full.
    let mut found = None;
    for cap in (9_000..40_000).step_by(64) {
        let mut e = open_stores(MemStore::with_capacity(cap), MemStore::new()).unwrap();
        let a: Vec<Vec<u8>> = (0..250).map(record).collect();
        if e.append_batch(a.iter().map(Vec::as_slice)).is_err() {
            continue;
        }
        let b: Vec<Vec<u8>> = (250..260).map(record).collect();
        if e.append_batch(b.iter().map(Vec::as_slice)).is_err() && e.log().pending_size() == 260 {
            found = Some((e, a));
            break;
        }
    }
    let (mut e, committed) = found.expect("a capacity that fails mid-batch");
    assert_eq!(e.size(), 250);
    let err =
        e.read_since(&READER, 0, Limit::entries(2), &mut |_, _| panic!("served")).unwrap_err();
    assert_eq!(err, Error::Poisoned);
    assert_eq!(e.prove_inclusion(&READER, 0, 250).unwrap_err(), Error::Poisoned);
    assert_eq!(e.checkpoint().unwrap_err(), Error::Poisoned);
    let mut e = reopen(e);
    let got: Vec<Vec<u8>> = read_all(&mut e, 0).into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, committed);
}

#[test]
fn a_log_refuses_reads_while_appends_are_pending_and_out_of_range_nodes() {
    let (mut log, _) =
        ledger::Log::open(MemStore::new(), signer(), ledger::LogBuffers::<Vec<u8>>::default(), MAX)
            .unwrap();
    for i in 0..250 {
        log.append(&record(i)).unwrap();
    }
    log.commit().unwrap();
    for i in 250..260 {
        log.append(&record(i)).unwrap();
    }
    assert!(matches!(log.walk(0, 1, &mut |_, _| panic!("served")), Err(Error::InvalidArgument(_))));
    log.commit().unwrap();
    let mut first = vec![];
    log.walk(0, 1, &mut |_, r| {
        first.push(r.to_vec());
        true
    })
    .unwrap();
    assert_eq!(first, vec![record(0)]);
    assert!(matches!(log.node(1, (1 << 63) + 3), Err(Error::OutOfRange { .. })));
    assert!(matches!(log.node(60, 0), Err(Error::OutOfRange { .. })));
    assert!(matches!(log.node(0, 260), Err(Error::OutOfRange { .. })));
    assert_eq!(log.node(0, 259).unwrap(), leaf_hash(&record(259)));
}

/// Records streamed one at a time from `records`, into the engine's buffer.
fn stream(
    records: &[Vec<u8>],
) -> impl FnMut(&mut [u8]) -> Result<Option<usize>, &'static str> + '_ {
    let mut it = records.iter();
    move |buf| match it.next() {
        Some(r) if r.len() > buf.len() => Err("too large for the buffer"),
        Some(r) => {
            buf[..r.len()].copy_from_slice(r);
            Ok(Some(r.len()))
        }
        None => Ok(None),
    }
}

#[test]
fn a_stream_of_records_is_one_commit_or_nothing() {
    use ledger::engine::StreamError;
    let mut e = fresh();
    let first: Vec<Vec<u8>> = (0..600).map(record).collect();
    let mut buf = vec![0u8; MAX];
    assert_eq!(e.append_stream(&mut buf, stream(&first)), Ok(0..600));
    check_checkpoint(e.checkpoint().unwrap(), &first);
    // A bad record after 300 good ones: nothing of the stream is committed,
    // and the engine asks to be reopened, which finds the 600.
    let mut bad: Vec<Vec<u8>> = (600..900).map(record).collect();
    bad.push(Vec::new());
    let r = e.append_stream(&mut buf, stream(&bad));
    assert_eq!(r, Err(StreamError::Ledger(Error::EmptyEntry)));
    assert!(e.is_poisoned());
    let mut e = reopen(e);
    assert_eq!(e.size(), 600);
    assert_eq!(read_all(&mut e, 0).len(), 600);
    // The source failing, or yielding nothing, changes nothing either.
    let mut failing = |_: &mut [u8]| Err::<Option<usize>, _>("source failed");
    assert_eq!(e.append_stream(&mut buf, &mut failing), Err(StreamError::Source("source failed")));
    assert!(!e.is_poisoned(), "nothing was appended");
    assert_eq!(e.append_stream(&mut buf, stream(&[])), Err(StreamError::Ledger(Error::NoEntries)));
    assert_eq!(e.size(), 600);
}

/// A witness's cosignature line over `note`'s text.
fn cosign(note: &[u8], seed: u8, time: u64) -> Vec<u8> {
    let w = note::Cosigner::from_seed("witness.example/w", [seed; 32]).unwrap();
    let text = std::str::from_utf8(note).unwrap();
    let text = &text[..text.rfind("\n\n").unwrap() + 1];
    let mut line = [0u8; 512];
    let n = w.cosign(text, time, &mut line).unwrap();
    let mut out = note.to_vec();
    out.extend_from_slice(&line[..n]);
    out
}

#[test]
fn cosignatures_are_kept_with_the_checkpoint_they_sign() {
    let mut e = fresh();
    e.append_batch([b"one".as_slice(), b"two"]).unwrap();
    let plain = e.log().checkpoint().to_vec();
    let cosigned = cosign(&plain, 9, 1_700_000_000);
    e.add_cosignatures(ledger::Tree::Log, &cosigned).unwrap();
    assert_eq!(e.log().checkpoint(), cosigned.as_slice());
    let w = note::Cosigner::from_seed("witness.example/w", [9; 32]).unwrap().verifier();
    // Kept across a reopen, and the next commit replaces it as usual.
    let mut e = reopen(e);
    assert_eq!(e.log().checkpoint(), cosigned.as_slice());
    assert_eq!(note::cosigned_at(e.log().checkpoint(), &w), Ok(Some(1_700_000_000)));
    e.append_batch([b"three".as_slice()]).unwrap();
    assert_eq!(note::cosigned_at(e.log().checkpoint(), &w), Ok(None));
    // The audit ledger takes its own.
    let audit = cosign(e.audit().checkpoint(), 9, 5);
    e.add_cosignatures(ledger::Tree::Audit, &audit).unwrap();
    assert_eq!(e.audit().checkpoint(), audit.as_slice());
}

#[test]
fn only_the_current_checkpoint_signed_by_the_ledger_takes_cosignatures() {
    let mut e = fresh();
    e.append_batch([b"one".as_slice()]).unwrap();
    let old = e.log().checkpoint().to_vec();
    e.append_batch([b"two".as_slice()]).unwrap();
    let current = e.log().checkpoint().to_vec();
    // An older checkpoint, cosigned: refused, nothing changes.
    assert!(e.add_cosignatures(ledger::Tree::Log, &cosign(&old, 9, 1)).is_err());
    // The other ledger's checkpoint.
    assert!(e.add_cosignatures(ledger::Tree::Audit, &cosign(&current, 9, 1)).is_err());
    // Signed by another key.
    let other = Signer::from_seed("service-fs/acme", [7; 32]).unwrap();
    let text = std::str::from_utf8(&current).unwrap();
    let text = &text[..text.rfind("\n\n").unwrap() + 1];
    let mut buf = [0u8; 1024];
    let n = note::sign(text, &[&other], &mut buf).unwrap();
    assert!(e.add_cosignatures(ledger::Tree::Log, &buf[..n]).is_err());
    // Larger than any checkpoint the ledger keeps.
    let mut huge = current.clone();
    for i in 0..20 {
        huge = cosign(&huge, 10 + i, 1);
    }
    assert!(e.add_cosignatures(ledger::Tree::Log, &huge).is_err());
    assert_eq!(e.log().checkpoint(), current.as_slice());
    assert!(!e.is_poisoned());
    let e = reopen(e);
    assert_eq!(e.log().checkpoint(), current.as_slice());
}

#[test]
fn a_batch_of_reads_is_one_audit_commit_and_each_is_served_after_it() {
    use ledger::engine::{Read, Tree};
    let (log_commits, audit_commits) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut e = open_stores(
        Counting(MemStore::new(), log_commits.clone()),
        Counting(MemStore::new(), audit_commits.clone()),
    )
    .unwrap();
    let records: Vec<Vec<u8>> = (0..300).map(record).collect();
    e.append_batch(records.iter().map(Vec::as_slice)).unwrap();
    let reads = [
        Read::Records { tree: Tree::Log, from: 10, limit: Limit::entries(3) },
        Read::Inclusion { index: 7, tree_size: 300 },
        Read::Consistency { old_size: 5, tree_size: 300 },
        Read::Tile { tree: Tree::Log, tile: Tile::entries(1, 44) },
        Read::Tile { tree: Tree::Log, tile: Tile::hashes(0, 0, 256) },
        Read::Tile { tree: Tree::Log, tile: Tile::entries(0, 3) },
    ];
    let mut plans: Vec<_> = reads.iter().map(|r| e.plan(READER, *r).unwrap()).collect();
    // Out of range, beyond the tree, or a bad caller: refused at planning.
    assert!(e.plan(READER, Read::Tile { tree: Tree::Log, tile: Tile::entries(1, 45) }).is_err());
    assert!(e.plan(READER, Read::Inclusion { index: 300, tree_size: 300 }).is_err());
    let bad = Caller { module: "", ..READER };
    assert_eq!(e.plan(bad, reads[0]).unwrap_err(), Error::BadCaller);
    // Nothing is served before it is recorded.
    assert!(e.serve_tile(&plans[3], &mut [0u8; 8192]).is_err());
    let before = audit_commits.get();
    e.record_planned(&mut plans).unwrap();
    assert_eq!(audit_commits.get(), before + 1, "one commit for the whole batch");
    assert_eq!(
        plans.iter().map(|p| p.audit_seq().unwrap()).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    // Recording again records nothing new.
    e.record_planned(&mut plans).unwrap();
    assert_eq!((audit_commits.get(), e.audit_size()), (before + 1, 6));
    let mut got = vec![];
    e.serve_records(&plans[0], &mut |i, r| got.push((i, r.to_vec()))).unwrap();
    assert_eq!(got, (10..13).map(|i| (i, records[i as usize].clone())).collect::<Vec<_>>());
    let p = e.serve_inclusion(&plans[1]).unwrap();
    assert_eq!(p.root, root_of(&records));
    verify_inclusion(&p.proof, 300, &p.root, 7, &leaf_hash(&records[7])).unwrap();
    let c = e.serve_consistency(&plans[2]).unwrap();
    verify_consistency(&c.proof, 300, &c.root, 5, &c.old_root).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let n = e.serve_tile(&plans[3], &mut buf).unwrap();
    let want: Vec<u8> = records[256..300]
        .iter()
        .flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat())
        .collect();
    assert_eq!(&buf[..n], &want[..]);
    assert_eq!(e.serve_tile(&plans[4], &mut buf).unwrap(), 256 * 32);
    // A partial no store holds any more is the prefix of its full tile.
    let n = e.serve_tile(&plans[5], &mut buf).unwrap();
    let want: Vec<u8> = records[..3]
        .iter()
        .flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat())
        .collect();
    assert_eq!(&buf[..n], &want[..]);
    // A partial never stored, narrower than the current one: cut from it.
    let mut p =
        [e.plan(READER, Read::Tile { tree: Tree::Log, tile: Tile::entries(1, 2) }).unwrap()];
    e.record_planned(&mut p).unwrap();
    let n = e.serve_tile(&p[0], &mut buf).unwrap();
    assert_eq!(&buf[..n], &framed_records(&records[256..258])[..]);
    let recs = audit_records(&mut e);
    assert_eq!(
        recs.iter().take(6).map(|r| (r.op.as_str(), r.from, r.count)).collect::<Vec<_>>(),
        [
            ("read_since", 10, 3),
            ("prove_inclusion", 7, 1),
            ("prove_consistency", 5, 295),
            ("read_tile", 1, 44),
            ("read_tile", 0, 256),
            ("read_tile", 0, 3)
        ]
    );
}

fn framed_records(records: &[Vec<u8>]) -> Vec<u8> {
    records.iter().flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat()).collect()
}

#[test]
fn checked_records_append_as_a_batch_does() {
    let records: Vec<Vec<u8>> = (0..300).map(record).collect();
    let framed = framed_records(&records);
    let checked = tlog::bundle::Checked::new(&framed, 300, MAX).unwrap();
    let (mut a, mut b) = (fresh(), fresh());
    assert_eq!(a.append_checked(&checked).unwrap(), 0..300);
    assert_eq!(b.append_batch(records.iter().map(Vec::as_slice)).unwrap(), 0..300);
    assert_eq!(a.checkpoint().unwrap(), b.checkpoint().unwrap());
    assert_eq!(read_all(&mut a, 0), read_all(&mut b, 0));
    // Checked against a larger maximum than the log's: each is checked again.
    let big = vec![b'x'; MAX + 1];
    let framed = framed_records(&[big]);
    let checked = tlog::bundle::Checked::new(&framed, 1, MAX + 1).unwrap();
    let before = state(&mut a);
    assert_eq!(a.append_checked(&checked), Err(Error::EntryTooLarge { len: MAX + 1, max: MAX }));
    assert_eq!(state(&mut a), before, "refused whole, nothing changed");
}
