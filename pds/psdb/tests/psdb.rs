//! psdb as a PD, in one process on the call bus (`platform::host::Bus`):
//! the ledger's psdb client calls it, it calls the block driver's logic
//! through the queues (the driver runs when psdb notifies it), and the
//! driver serves a model disk that loses or tears unflushed writes at a
//! power cut. Also psdb over memory.

use std::cell::RefCell;

use abi::blk::{Request, code, status as blk_status};
use abi::psdb::{Object, Refusal, ReplyError, Request as PsdbRequest, label, status};
use blk::{Device, Driver, Geometry, Started};
use disk::BlockDevice;
use disk::model::{ModelDevice, PowerLoss};
use ledger::{Buffers, Caller, Engine, Ledger, Limit, NoClock};
use ledger_pd::PsdbClient;
use note::Signer;
use platform::host::{Bus, BusPlatform, HostRegions, leak, view};
use platform::{Access, Channel, Msg, Program, SharedRegion};
use psdb::Psdb;
use tlog::Tile;

const DISK: usize = 64 * 1024 + 0x800000 + 0x200000 + 0x400000 + 0x200000;

/// The committed system (what tenants.toml generates): psdb's
/// configuration, its namespaces' channels, the tenants, and the channels
/// between its PDs.
struct Sys {
    psdb: Vec<u8>,
    channels: Vec<u8>,
    tenants: Vec<sysgen::Tenant>,
    max_record: usize,
    links: Vec<[(String, u8); 2]>,
}

fn sys() -> &'static Sys {
    static SYS: std::sync::OnceLock<Sys> = std::sync::OnceLock::new();
    SYS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let g = sysgen::generate_harness_only(&root, sysgen::DEFAULT_BOARD, None).unwrap();
        let psdb = g.configs.iter().find(|(pd, _)| pd == "psdb").unwrap().1.clone();
        let channels = match system::Config::parse(&psdb, "psdb").unwrap().kind {
            system::Kind::Psdb(p) => p.namespaces.iter().map(|n| n.channel).collect(),
            _ => panic!("not psdb's configuration"),
        };
        let dir = tempfile::tempdir().unwrap();
        sysgen::write_generated(&dir.path().join("system.xml"), &g).unwrap();
        let described = sysgen::describe(&dir.path().join("system.xml")).unwrap();
        let links =
            g.system.channels.iter().map(|c| c.ends.clone().map(|e| (e.pd, e.id))).collect();
        Sys { psdb, channels, tenants: described.tenants, max_record: described.max_record, links }
    })
}

fn buffer(ch: u8) -> &'static str {
    system::buffer_symbol(ch).unwrap()
}

/// The model disk behind the driver, as the driver's device.
struct Model {
    durable: bool,
}

thread_local! {
    static DISKDEV: RefCell<ModelDevice> = RefCell::new(ModelDevice::new(DISK, 512));
}

impl Device for Model {
    fn geometry(&self) -> Geometry {
        let blocks = DISKDEV.with(|d| d.borrow().blocks());
        Geometry { block_size: 512, blocks, durable: self.durable, read_only: false }
    }

    fn start(&mut self, req: &Request, data: &mut SharedRegion) -> Started {
        let mut buf = vec![0u8; req.count as usize * 512];
        let r = DISKDEV.with(|d| {
            let mut d = d.borrow_mut();
            match req.code {
                code::READ => d
                    .read(req.block, &mut buf)
                    .map(|()| data.write(req.offset as usize, &buf))
                    .is_ok(),
                code::WRITE => {
                    data.read(req.offset as usize, &mut buf);
                    d.write(req.block, &buf).is_ok()
                }
                code::FLUSH => d.flush().is_ok(),
                _ => false,
            }
        });
        Started::Done(if r { blk_status::OK } else { blk_status::IO_ERROR }, req.count)
    }

    fn complete(&mut self, _: &mut SharedRegion) -> Option<(u32, u32)> {
        None
    }
}

/// A bus with the system's channels: the rig's PDs go on it.
fn bus() -> Bus {
    let bus = Bus::new();
    for [a, b] in &sys().links {
        bus.connect((&a.0, a.1), (&b.0, b.1));
    }
    bus
}

/// What psdb and the driver printed since the last look.
fn console(bus: Bus) -> String {
    bus.prints("blk") + &bus.prints("psdb")
}

/// The rig's bus, and the ledger–psdb buffers, seen from the test (the
/// ledgers' side).
struct Buffers4 {
    bus: Bus,
    mems: Vec<&'static [u8]>,
    views: Vec<SharedRegion>,
}

impl Buffers4 {
    fn new(bus: Bus, mems: Vec<&'static [u8]>) -> Buffers4 {
        Buffers4 { bus, views: mems.iter().map(|m| view(m)).collect(), mems }
    }
}

/// Boots the driver (over the model disk, able to flush or not) and psdb.
fn boot(durable: bool) -> Buffers4 {
    let shared = |r: HostRegions, sym, size| {
        let mem: &'static [u8] = leak(size);
        (r.share(sym, mem, Access::ReadWrite), mem)
    };
    use system::blk as sym;
    let (mut psdb_r, mut blk_r) = (HostRegions::new(), HostRegions::new());
    for (s, size) in
        [(sym::CONFIG, 4096), (sym::REQUESTS, 4096), (sym::RESPONSES, 4096), (sym::DATA, 0x20000)]
    {
        let mem: &'static [u8] = leak(size);
        psdb_r = psdb_r.share(s, mem, Access::ReadWrite);
        blk_r = blk_r.share(s, mem, Access::ReadWrite);
    }
    let bus = bus();
    let driver = Driver::with_device(bus.platform("blk"), &mut blk_r, |_, _| Ok(Model { durable }));
    bus.register("blk", Box::new(driver.unwrap()));
    psdb_r = psdb_r.private_region(system::MEM_SYMBOL, 4 << 20).with_config(&sys().psdb);
    let mut mems = vec![];
    for &ch in &sys().channels {
        let (r, mem) = shared(psdb_r, buffer(ch), 0x50000);
        psdb_r = r;
        mems.push(mem);
    }
    let pd = Psdb::init(bus.platform("psdb"), &mut psdb_r).unwrap();
    bus.register("psdb", Box::new(pd));
    Buffers4::new(bus, mems)
}

/// psdb over memory (no driver in the system).
fn boot_ram() -> Buffers4 {
    let mut r = HostRegions::new()
        .private_region(system::MEM_SYMBOL, 4 << 20)
        .private_region(system::PSDB_STORE_SYMBOL, DISK)
        .with_config(&sys().psdb);
    let mut mems = vec![];
    for &ch in &sys().channels {
        let mem: &'static [u8] = leak(0x50000);
        r = r.share(buffer(ch), mem, Access::ReadWrite);
        mems.push(mem);
    }
    let bus = bus();
    let pd = Psdb::init(bus.platform("psdb"), &mut r).unwrap();
    bus.register("psdb", Box::new(pd));
    Buffers4::new(bus, mems)
}

/// A call arriving on psdb's channel `ch`, as from that namespace's ledger.
fn call(b: &Buffers4, ch: u8, msg: Msg) -> Msg {
    b.bus.protected("psdb", ch, msg)
}

fn put(b: &mut Buffers4, ch: u8, t: &Tile, data: &[u8]) -> u64 {
    b.views[ch as usize].write(0, data).unwrap();
    call(b, ch, PsdbRequest::Put { tile: *t, len: data.len() }.encode()).label
}

fn get(b: &mut Buffers4, ch: u8, t: &Tile) -> Result<Vec<u8>, Refusal> {
    let r = call(b, ch, PsdbRequest::Get { tile: *t }.encode());
    let object = Object::decode(&r).map_err(|e| match e {
        ReplyError::Refused(r) => r,
        ReplyError::Malformed(e) => panic!("{e:?}"),
    })?;
    let mut out = vec![0; object.len as usize];
    b.views[ch as usize].read(0, &mut out).unwrap();
    Ok(out)
}

const ACME_LOG: u8 = 0;
const GLOBEX_LOG: u8 = 2;

fn channels_are_namespaces(b: &mut Buffers4) {
    let t = Tile::entries(0, 3);
    assert_eq!(put(b, ACME_LOG, &t, b"acme data"), status::OK);
    assert_eq!(get(b, ACME_LOG, &t).unwrap(), b"acme data");
    // The same name on another tenant's channel is another object: absent.
    assert_eq!(get(b, GLOBEX_LOG, &t).unwrap_err(), Refusal::NotFound);
    assert_eq!(put(b, GLOBEX_LOG, &t, b"globex"), status::OK);
    assert_eq!(get(b, ACME_LOG, &t).unwrap(), b"acme data");
    // Write-once within a namespace.
    assert_eq!(put(b, ACME_LOG, &t, b"acme data"), status::OK);
    assert_eq!(put(b, ACME_LOG, &t, b"changed!!"), status::CONFLICT);
    // Malformed requests change nothing.
    for msg in [
        Msg::new(label::GET, &[64, 0, 1]),
        Msg::new(label::GET, &[0, 0, 0]),
        Msg::new(label::PUT, &[0, 0, 1, 1 << 30]),
        Msg::new(label::REPLACE_CHECKPOINT, &[5000, 0]),
        Msg::new(99, &[]),
        Msg::new(3, &[]),
    ] {
        assert_eq!(call(b, ACME_LOG, msg).label, status::BAD_REQUEST, "{msg:?}");
    }
    assert_eq!(
        call(b, 60, Msg::new(label::GET_CHECKPOINT, &[])).label,
        status::BAD_REQUEST,
        "a channel with no namespace"
    );
}

#[test]
fn each_channel_reaches_its_own_namespace_on_a_disk() {
    let mut b = boot(true);
    let c = console(b.bus);
    assert!(c.contains("psdb: formatted a blank disk: 4 namespaces"), "{c}");
    assert!(c.contains("psdb: acme/log: new (never initialised)"), "{c}");
    channels_are_namespaces(&mut b);
}

#[test]
fn each_channel_reaches_its_own_namespace_in_memory() {
    let mut b = boot_ram();
    assert!(console(b.bus).contains("no disk in this system"));
    channels_are_namespaces(&mut b);
}

const R: Caller<'static> = Caller { module: "m", credential: "c", request: None };

fn signer(i: usize) -> Signer {
    Signer::from_seed(&sys().tenants[i].origin, [i as u8 + 1; 32]).unwrap()
}

type Ledger0 = Engine<PsdbClient<BusPlatform>, Vec<u8>, NoClock>;

/// Acme's engine over psdb, as its ledger PD runs it.
fn engine(b: &Buffers4) -> Result<Ledger0, String> {
    let client = |ch: u8, i: usize| {
        PsdbClient::new(b.bus.platform("ledger_acme"), Channel::new(ch).unwrap(), view(b.mems[i]))
    };
    Engine::open(
        client(1, 0),
        client(2, 1),
        signer(0),
        NoClock,
        Buffers::default(),
        sys().max_record,
    )
    .map(|(e, _)| e)
    .map_err(|e| e.to_string())
}

fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "p".repeat((i * 13 % 200) as usize)).into_bytes()
}

fn read_all(e: &mut Ledger0) -> Result<Vec<Vec<u8>>, String> {
    let mut out = vec![];
    e.read_since(&R, 0, Limit::NONE, &mut |_, r| out.push(r.to_vec()))
        .map_err(|e| e.to_string())?;
    Ok(out)
}

fn fresh_disk() {
    DISKDEV.with(|d| *d.borrow_mut() = ModelDevice::new(DISK, 512));
}

/// The workload: batches appended and read back, each batch one boot.
fn batches() -> Vec<Vec<Vec<u8>>> {
    let mut i = 0;
    [1u64, 3, 1, 60, 2, 200, 1]
        .iter()
        .map(|&n| {
            let b = (i..i + n).map(record).collect();
            i += n;
            b
        })
        .collect()
}

/// Runs the workload until the disk fails; what was acknowledged.
fn workload() -> Vec<Vec<u8>> {
    let mut acked = vec![];
    for batch in batches() {
        let b = boot(true);
        let Ok(mut e) = engine(&b) else { return acked };
        if e.append_batch(batch.iter().map(Vec::as_slice)).is_err() {
            return acked;
        }
        acked.extend(batch);
        if read_all(&mut e).is_err() {
            return acked;
        }
    }
    acked
}

#[test]
fn the_ledger_over_psdb_over_the_driver_survives_a_power_cut_at_every_disk_operation() {
    fresh_disk();
    workload();
    let ops = DISKDEV.with(|d| d.borrow().ops.len() as u64);
    let all: Vec<Vec<u8>> = batches().concat();
    let mut failures = vec![];
    for k in 0..=ops {
        for seed in 0..2u64 {
            fresh_disk();
            DISKDEV.with(|d| d.borrow_mut().cut_after = Some(k));
            let acked = workload();
            DISKDEV.with(|d| d.borrow_mut().power_cut(&mut PowerLoss::new(seed * 131 + k)));
            let b = boot(true);
            let got = engine(&b).and_then(|mut e| {
                let got = read_all(&mut e)?;
                e.append(b"after the cut").map_err(|e| e.to_string())?;
                Ok(got)
            });
            let ok = match &got {
                Ok(got) => got.len() >= acked.len() && got[..] == all[..got.len()],
                Err(_) => false,
            };
            if !ok {
                failures.push(format!(
                    "cut after {k}/{ops}, seed {seed}: {} acked, {:?}",
                    acked.len(),
                    got.map(|g| g.len())
                ));
            }
        }
    }
    assert!(ops > 60, "{ops} disk operations");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn psdb_says_what_it_recovered_for_each_tenant() {
    fresh_disk();
    let b = boot(true);
    let mut e = engine(&b).unwrap();
    e.append_batch(batches()[3].iter().map(Vec::as_slice)).unwrap();
    read_all(&mut e).unwrap();
    // A commit cut between its flushes leaves a torn tail: count its
    // operations on a copy of the disk, then cut before its checkpoint.
    let saved = DISKDEV.with(|d| d.borrow().clone());
    let now = saved.ops.len() as u64;
    e.append_batch(batches()[5].iter().map(Vec::as_slice)).unwrap();
    let n = DISKDEV.with(|d| d.borrow().ops.len() as u64) - now;
    DISKDEV.with(|d| *d.borrow_mut() = saved);
    DISKDEV.with(|d| d.borrow_mut().cut_after = Some(now + n - 2));
    let b = boot(true);
    let mut e = engine(&b).unwrap();
    assert!(e.append_batch(batches()[5].iter().map(Vec::as_slice)).is_err());
    DISKDEV.with(|d| d.borrow_mut().power_cut(&mut PowerLoss::new(1)));
    let b = boot(true);
    let c = console(b.bus);
    let line = c.lines().find(|l| l.starts_with("psdb: acme/log: ")).unwrap();
    assert!(line.starts_with("psdb: acme/log: recovered 60 records (checkpoint size 60"), "{line}");
    let discarded: u64 =
        line.split("); ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(discarded > 0, "{line}");
    assert!(c.contains("psdb: acme/audit: recovered 1 records"), "{c}");
    assert_eq!(read_all(&mut engine(&b).unwrap()).unwrap().len(), 60);
}

#[test]
fn a_driver_that_cannot_flush_serves_nothing_and_psdb_says_so() {
    fresh_disk();
    let mut b = boot(false);
    let c = console(b.bus);
    assert!(c.contains("blk: no VIRTIO_BLK_F_FLUSH: the device cannot flush its write cache: refusing to serve durable storage"), "{c}");
    assert!(c.contains("psdb: the block driver serves no durable disk"), "{c}");
    assert_eq!(put(&mut b, ACME_LOG, &Tile::entries(0, 1), b"\x00\x01x"), status::UNAVAILABLE);
    assert!(DISKDEV.with(|d| d.borrow().ops.is_empty()), "nothing written");
}

#[test]
fn a_damaged_object_is_reported_with_its_offset_and_never_served() {
    fresh_disk();
    let b = boot(true);
    let mut e = engine(&b).unwrap();
    e.append_batch(batches()[5].iter().map(Vec::as_slice)).unwrap();
    drop(e);
    // Flip a byte in the first record of acme's log (a bundle delta).
    let at = 64 * 1024 + 8192 + 100;
    DISKDEV.with(|d| d.borrow_mut().durable_mut()[at] ^= 0x20);
    let mut b = boot(true);
    let c = console(b.bus);
    assert!(
        c.contains("psdb: acme/log: recovered")
            && c.contains("; DAMAGE: 1 records failed their checksum"),
        "{c}"
    );
    let r = get(&mut b, ACME_LOG, &Tile::entries(0, 1)).unwrap_err();
    assert_eq!(
        r,
        Refusal::Corrupt { offset: 64 * 1024 + 8192 },
        "the damaged record's disk offset"
    );
    // The engine reports it as corrupt and serves nothing from it.
    let err = engine(&b).map(|mut e| read_all(&mut e)).unwrap_or_else(Err);
    assert!(err.unwrap_err().contains("damaged"));
}

#[test]
fn a_disk_of_another_system_is_refused_and_left_as_it_was() {
    fresh_disk();
    boot(true);
    // Another system: the first namespace renamed in both superblock copies.
    DISKDEV.with(|d| {
        let mut d = d.borrow_mut();
        disk::model::edit_superblock(d.durable_mut(), |sb| sb[64] = b'X');
        d.ops.clear();
    });
    let before = DISKDEV.with(|d| d.borrow().durable().to_vec());
    let mut b = boot(true);
    let c = console(b.bus);
    assert!(
        c.contains("the disk belongs to another system") && c.contains("nothing was written"),
        "{c}"
    );
    assert_eq!(put(&mut b, ACME_LOG, &Tile::entries(0, 1), b"\x00\x01x"), status::UNAVAILABLE);
    assert!(DISKDEV.with(|d| d.borrow().durable() == &before[..] && d.borrow().ops.is_empty()));
}
