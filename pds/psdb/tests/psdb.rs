//! psdb: the engine runs over its partitions as over any L1 store; a full
//! partition loses nothing acknowledged; recovery keeps exactly the tree;
//! the PD serves each channel from its own namespace only.

use abi::psdb::{encode_tile, label, status};
use ledger::store::{StoreError, TileStore};
use ledger::{Buffers, Caller, Engine, Error, Ledger, Limit, NoClock};
use note::Signer;
use platform::host::{HostPlatform, HostRegions, leak, view};
use platform::{Access, Channel, Msg, Pd};
use proptest::prelude::*;
use psdb::{Partition, Psdb};
use tlog::Tile;

fn signer() -> Signer {
    Signer::from_seed("service-fs/acme", [1; 32]).unwrap()
}

const R: Caller<'static> = Caller { module: "m", credential: "c", request: None };

type E = Engine<Partition<'static>, Vec<u8>, NoClock>;

fn open(
    log: &'static mut [u8],
    audit: &'static mut [u8],
) -> Result<E, Error<core::convert::Infallible>> {
    let (l, a) = (Partition::open(log).unwrap(), Partition::open(audit).unwrap());
    Engine::open(l, a, signer(), NoClock, Buffers::default(), 1024).map(|(e, _)| e)
}

fn reopen(e: E) -> E {
    let (l, a) = e.into_stores();
    open(l.into_memory(), a.into_memory()).unwrap()
}

fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "y".repeat((i % 300) as usize)).into_bytes()
}

fn read_all(e: &mut E) -> Vec<Vec<u8>> {
    let mut out = vec![];
    e.read_since(&R, 0, Limit::NONE, &mut |_, r| out.push(r.to_vec())).unwrap();
    out
}

#[test]
fn the_engine_runs_over_partitions_and_they_persist() {
    let mut e = open(leak(4 << 20), leak(1 << 20)).unwrap();
    let records: Vec<Vec<u8>> = (0..1000).map(record).collect();
    for chunk in records.chunks(97) {
        e.append_batch(chunk.iter().map(Vec::as_slice)).unwrap();
    }
    let cp = e.checkpoint().unwrap().to_vec();
    let mut e = reopen(e);
    assert_eq!(e.checkpoint().unwrap(), &cp[..]);
    assert_eq!(read_all(&mut e), records);
}

#[test]
fn a_full_partition_loses_nothing_acknowledged() {
    let mut e = open(leak(256 << 10), leak(256 << 10)).unwrap();
    let mut acked = vec![];
    let mut i = 0;
    let err = loop {
        let batch: Vec<Vec<u8>> = (i..i + 7).map(record).collect();
        match e.append_batch(batch.iter().map(Vec::as_slice)) {
            Ok(_) => acked.extend(batch),
            Err(err) => break err,
        }
        i += 7;
    };
    assert_eq!(err, Error::Store(StoreError::Full));
    let mut e = reopen(e);
    assert_eq!(read_all(&mut e), acked);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Recovery keeps exactly the objects within the tree, all still found,
    /// whatever the probe chains (small index, many collisions).
    #[test]
    fn recovery_keeps_exactly_the_tree(widths in prop::collection::vec((0u64..6, 1u16..=256), 1..60), size in 0u64..1600) {
        let mut p = Partition::open(leak(64 << 10)).unwrap();
        let mut tiles = vec![];
        for (i, (index, width)) in widths.iter().enumerate() {
            let t = if i % 2 == 0 { Tile::entries(*index, *width) } else { Tile::hashes(0, *index, *width) };
            if p.put(&t, format!("{t}").as_bytes()).is_ok() {
                tiles.push(t);
            }
        }
        let cp = format!("o\n{size}\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} o AAAAAA==\n");
        p.replace_checkpoint(b"", cp.as_bytes()).unwrap();
        let rec = p.recover(size).unwrap();
        let beyond = tiles.iter().filter(|t| !t.within(size)).collect::<std::collections::BTreeSet<_>>();
        prop_assert_eq!(rec.removed_objects as usize, beyond.len());
        for t in &tiles {
            let mut buf = [0u8; 64];
            let got = p.get(t, &mut buf).unwrap();
            if t.within(size) {
                prop_assert_eq!(got.map(|n| buf[..n].to_vec()), Some(format!("{t}").into_bytes()));
            } else {
                prop_assert_eq!(got, None);
            }
        }
    }
}

fn ns(ch: u8) -> &'static system::Namespace {
    system::PSDB_NAMESPACES.iter().find(|n| n.channel == ch).unwrap()
}

/// A psdb PD over host memory; returns it and the test's views of the buffers.
fn pd() -> (Psdb<HostPlatform>, Vec<platform::SharedRegion>) {
    let mut regions = HostRegions::new().private_region(system::PSDB_STORE_SYMBOL, 8 << 20);
    let mut views = vec![];
    for n in system::PSDB_NAMESPACES {
        let mem: &'static [u8] = leak(64 << 10);
        regions = regions.share(n.symbol, mem, Access::ReadWrite);
        views.push(view(mem));
    }
    let p = HostPlatform { name: "psdb", call: |_, _| Msg::new(0, &[]) };
    (Psdb::init(p, &mut regions).unwrap(), views)
}

fn put(
    pd: &mut Psdb<HostPlatform>,
    bufs: &mut [platform::SharedRegion],
    ch: u8,
    t: &Tile,
    data: &[u8],
) -> u64 {
    bufs[ch as usize].write(0, data).unwrap();
    let [a, b, c] = encode_tile(t);
    pd.protected(Channel::new(ch).unwrap(), Msg::new(label::PUT, &[a, b, c, data.len() as u64]))
        .label
}

fn get(
    pd: &mut Psdb<HostPlatform>,
    bufs: &mut [platform::SharedRegion],
    ch: u8,
    t: &Tile,
) -> Option<Vec<u8>> {
    let [a, b, c] = encode_tile(t);
    let r = pd.protected(Channel::new(ch).unwrap(), Msg::new(label::GET, &[a, b, c]));
    if r.label != status::OK {
        return None;
    }
    let mut out = vec![0; r.mr(0) as usize];
    bufs[ch as usize].read(0, &mut out).unwrap();
    Some(out)
}

#[test]
fn each_channel_reaches_its_own_namespace_only() {
    let (mut pd, mut bufs) = pd();
    let t = Tile::entries(0, 3);
    let (a, b) = (ns(0).channel, ns(2).channel);
    assert_ne!(ns(0).tenant, ns(2).tenant);
    assert_eq!(put(&mut pd, &mut bufs, a, &t, b"acme data"), status::OK);
    assert_eq!(get(&mut pd, &mut bufs, a, &t).as_deref(), Some(&b"acme data"[..]));
    // The same name on another tenant's channel is another object: absent.
    assert_eq!(get(&mut pd, &mut bufs, b, &t), None);
    assert_eq!(put(&mut pd, &mut bufs, b, &t, b"globex"), status::OK);
    assert_eq!(get(&mut pd, &mut bufs, a, &t).as_deref(), Some(&b"acme data"[..]));
    // Write-once within a namespace.
    assert_eq!(put(&mut pd, &mut bufs, a, &t, b"acme data"), status::OK);
    assert_eq!(put(&mut pd, &mut bufs, a, &t, b"changed!!"), status::CONFLICT);
}

#[test]
fn malformed_requests_are_refused() {
    let (mut pd, _bufs) = pd();
    let ch = Channel::new(0).unwrap();
    for msg in [
        Msg::new(label::GET, &[64, 0, 1]),
        Msg::new(label::GET, &[0, 0, 0]),
        Msg::new(label::PUT, &[0, 0, 1, 1 << 20]),
        Msg::new(label::REPLACE_CHECKPOINT, &[4096, 0]),
        Msg::new(99, &[]),
    ] {
        assert_eq!(pd.protected(ch, msg).label, status::BAD_REQUEST, "{msg:?}");
    }
    // A channel with no namespace is refused too.
    assert_eq!(
        pd.protected(Channel::new(60).unwrap(), Msg::new(label::SYNC, &[])).label,
        status::BAD_REQUEST
    );
}

/// One record per commit leaves a trail of superseded partial tiles; psdb
/// compacts them away, so capacity follows the data, not the commits.
#[test]
fn single_record_commits_do_not_exhaust_a_partition() {
    let mem = 512 << 10;
    let mut e = open(leak(mem), leak(mem)).unwrap();
    let mut acked = vec![];
    let err = loop {
        let r = format!("{:0100}", acked.len()).into_bytes();
        match e.append(&r) {
            Ok(_) => acked.push(r),
            Err(err) => break err,
        }
    };
    assert_eq!(err, Error::Store(StoreError::Full));
    // Each record takes its bundle entry and leaf hash (134 bytes) plus a
    // share of the tiles above; most of the partition holds data.
    let floor = mem * 6 / 10 / 134;
    assert!(acked.len() >= floor, "only {} single-record commits fit (want {floor})", acked.len());
    let mut e = reopen(e);
    assert_eq!(read_all(&mut e), acked);
    // Reads are audited one commit each, and do not exhaust the audit log either.
    for _ in 0..2000 {
        e.read_since(&R, 0, Limit::entries(1), &mut |_, _| {}).unwrap();
    }
}

#[test]
fn superseded_partials_are_served_from_their_successors() {
    let mut p = Partition::open(leak(64 << 10)).unwrap();
    let bundle = |n: usize| -> Vec<u8> { (0..n).flat_map(|i| [0u8, 1, b'a' + i as u8]).collect() };
    p.put(&Tile::entries(0, 2), &bundle(2)).unwrap();
    p.put(&Tile::entries(0, 5), &bundle(5)).unwrap();
    // Partial objects must extend each other.
    let mut other = bundle(7);
    other[1] = 9;
    assert_eq!(p.put(&Tile::entries(0, 7), &other), Err(StoreError::Conflict));
    assert_eq!(
        p.put(&Tile::entries(0, 3), &bundle(4)[..9].iter().map(|b| b ^ 1).collect::<Vec<_>>()),
        Err(StoreError::Conflict)
    );
    p.put(&Tile::entries(0, 7), &bundle(7)).unwrap();
    let cp = "o\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} o AAAAAA==\n";
    p.replace_checkpoint(b"", cp.as_bytes()).unwrap();
    assert_eq!(p.compact(), 2, "the widths 2 and 5 are superseded by 7");
    for w in [2usize, 5, 7] {
        let mut buf = [0u8; 64];
        let n = p.get(&Tile::entries(0, w as u16), &mut buf).unwrap().unwrap();
        assert_eq!(&buf[..n], &bundle(w)[..], "width {w}");
    }
}
