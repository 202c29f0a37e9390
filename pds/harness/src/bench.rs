//! The benchmark program: it takes the harness's place (same identities)
//! when a system is booted for a benchmark, reads its workload from the
//! probe region, and prints the figures, timed with the platform's counter
//! (or its clock):
//!
//! - `bench: status calls N in T us`: round trips client → wire → ledger;
//! - `bench: appends N batch B size S in T us`: appends through the chain
//!   client → wire → ledger → psdb, each a PD;
//! - `bench: engine appends N batch B size S in T us`: the same appends to
//!   the ledger engine over psdb's disk format on a disk in this PD's own
//!   memory, with no PD boundary: the cost of the chain is the difference;
//! - `bench: signatures N in T us`: N checkpoint notes signed as the
//!   engine signs them (Ed25519, the same code the ledger PD links).
//!
//! then `bench: DONE`; or, with a crash workload, appends until it is
//! killed. The workloads, the crash records and the lines are the
//! `scenarios` crate's ([`scenarios::bench`]).

use core::cell::RefCell;
use core::convert::Infallible;
use core::fmt::Write;

use abi::client::Role;
use client::Client;
use disk::namespace::Namespace;
use disk::superblock::{self, Spec};
use disk::{RamDevice, Store};
use ledger::audit::NoClock;
use ledger::{Buffers, Engine, Ledger};
use note::Signer;
use platform::{Channel, Console, Pd, Platform, Program, Regions, Ticks};
use scenarios::bench::{ACK, CRASH_MAGIC, DONE, FAILED, FULL, MAGIC, PREFIX, READ, crash_record};

/// Largest record the benchmark appends (a record on its stack).
const MAX_BENCH_RECORD: usize = 1024;

/// What to run.
#[derive(Clone, Copy, Debug)]
struct Workload {
    records: u64,
    batch: u64,
    size: usize,
    status_calls: u64,
}

/// Measures an interval with the platform's counter, or its clock.
struct Stopwatch<P> {
    p: P,
    ticks: Option<Ticks>,
    ms: Option<u64>,
}

impl<P: Platform> Stopwatch<P> {
    fn start(p: P) -> Self {
        Stopwatch { p, ticks: p.ticks(), ms: p.time().unix_ms }
    }

    /// Microseconds since the start; `None` without counter or clock.
    fn micros(&self) -> Option<u64> {
        match (self.ticks, self.p.ticks(), self.ms, self.p.time().unix_ms) {
            (Some(a), Some(b), _, _) => Some(b.micros_since(a)),
            (_, _, Some(a), Some(b)) => Some(b.saturating_sub(a) * 1000),
            _ => None,
        }
    }
}

/// The benchmark PD.
pub struct Bench<P> {
    _p: P,
}

impl<P: Platform> Program<P> for Bench<P> {
    type Error = Infallible;

    /// Runs the workload at start (a crash workload never returns).
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, Infallible> {
        let config = match system::load(regions, p.pd_name()).map(|c| c.kind) {
            Ok(system::Kind::Harness(h)) => h,
            _ => {
                say(p, format_args!("{FAILED}: no harness configuration (sfs_config)"));
                return Ok(Bench { _p: p });
            }
        };
        let Some(probe) = regions.shared(system::PROBE_SYMBOL) else {
            say(p, format_args!("{FAILED}: no probe region to read the workload from"));
            return Ok(Bench { _p: p });
        };
        let mut magic = [0u8; 8];
        if probe.read(0, &mut magic).is_some() && &magic == CRASH_MAGIC {
            if let Err(why) = crash_loop(p, regions, &config, &probe) {
                say(p, format_args!("{FAILED}: {why}"));
            }
            return Ok(Bench { _p: p });
        }
        match run(p, regions, &config, &probe) {
            Ok(()) => say(p, format_args!("{DONE}")),
            Err(why) => say(p, format_args!("{FAILED}: {why}")),
        }
        Ok(Bench { _p: p })
    }
}

impl<P: Platform> Pd for Bench<P> {}

fn say<P: Platform>(p: P, args: core::fmt::Arguments) {
    let _ = writeln!(Console(p), "{PREFIX}{args}");
}

/// Appends until killed, or until the ledger is full; `Err` says what failed.
fn crash_loop<P: Platform>(
    p: P,
    regions: &mut dyn Regions,
    config: &system::Harness,
    probe: &platform::SharedRegion,
) -> Result<(), &'static str> {
    let word = |i: usize| probe.read_u64(8 + 8 * i).unwrap_or(0);
    let (batch, size, every) = (word(0).clamp(1, 64) as usize, word(1) as usize, word(2).max(1));
    let (Some(mut writer), Some(mut reader)) =
        (client(p, regions, config, Role::Ring1), client(p, regions, config, Role::Ring2))
    else {
        return Err("no ring-1 or ring-2 identity");
    };
    let mut recs = [[0u8; 256]; 64];
    for n in 0u64.. {
        let Ok(at) = writer.status().map(|s| s.size) else { return Err("a status call failed") };
        let mut lens = [0usize; 64];
        for (k, r) in recs.iter_mut().enumerate().take(batch) {
            lens[k] = crash_record(at + k as u64, size.min(256), r);
        }
        let slots: [&[u8]; 64] = core::array::from_fn(|k| &recs[k][..lens[k]]);
        match writer.append(&slots[..batch]) {
            Ok(r) => say(p, format_args!("{ACK} {} {} {at}", r.start, r.end - 1)),
            Err(abi::client::Status::Full) => {
                say(p, format_args!("{FULL}"));
                return Ok(());
            }
            Err(_) => return Err("an append failed"),
        }
        if n % every == every - 1 {
            match reader.read_since(at, 1) {
                Ok(_) => say(p, format_args!("{READ} {at}")),
                Err(_) => return Err("a read failed"),
            }
        }
    }
    Ok(())
}

fn workload(probe: &platform::SharedRegion, max_record: usize) -> Option<Workload> {
    let mut w = [0u8; 40];
    probe.read(0, &mut w)?;
    if &w[..8] != MAGIC {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(w[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
    Some(Workload {
        records: word(0),
        batch: word(1).clamp(1, 64),
        size: (word(2) as usize).clamp(8, max_record.min(MAX_BENCH_RECORD)),
        status_calls: word(3),
    })
}

/// A client of `role` in the first tenant.
fn client<P: Platform>(
    p: P,
    regions: &mut dyn Regions,
    config: &system::Harness,
    role: Role,
) -> Option<Client<P>> {
    let first = config.identities.first()?.tenant;
    let id = config.identities.iter().find(|i| i.tenant == first && i.role == role)?;
    let buf = regions.shared(system::buffer_symbol(id.channel)?)?;
    Some(Client::new(p, Channel::new(id.channel)?, buf))
}

fn run<P: Platform>(
    p: P,
    regions: &mut dyn Regions,
    config: &system::Harness,
    probe: &platform::SharedRegion,
) -> Result<(), &'static str> {
    let max_record = config.max_record as usize;
    let w = workload(probe, max_record).ok_or("no workload in the probe region")?;
    let mut reader = client(p, regions, config, Role::Ring2).ok_or("no ring-2 identity")?;
    let mut writer = client(p, regions, config, Role::Ring1).ok_or("no ring-1 identity")?;
    let t = Stopwatch::start(p);
    for _ in 0..w.status_calls {
        reader.status().map_err(|_| "a status call failed")?;
    }
    let us = t.micros().ok_or("no counter and no clock to time with")?;
    say(p, format_args!("status calls {} in {us} us", w.status_calls));

    let t = Stopwatch::start(p);
    let done = appends(&w, |batch| writer.append(batch).map(|_| ()).map_err(|e| e.name()))?;
    let us = t.micros().unwrap_or(0);
    say(p, format_args!("appends {done} batch {} size {} in {us} us", w.batch, w.size));

    match regions.private(system::MEM_SYMBOL) {
        Some(mem) => engine_alone(p, mem, &w, max_record)?,
        None => return Err("no private memory for the engine alone"),
    }
    signatures(p)
}

/// Checkpoint signatures timed.
const SIGNATURES: u64 = 32;

/// Signs [`SIGNATURES`] checkpoint notes of a ledger of 10^6 records, each
/// of another size (so no two messages are the same).
fn signatures<P: Platform>(p: P) -> Result<(), &'static str> {
    let signer = Signer::from_seed("service-fs/bench", [7; 32]).map_err(|_| "signer")?;
    let mut text = heapless::String::<128>::new();
    let mut note = [0u8; 256];
    let t = Stopwatch::start(p);
    for n in 0..SIGNATURES {
        text.clear();
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let _ = write!(text, "service-fs/bench\n{}\n{root}\n", 1_000_000 + n);
        note::sign(&text, &[&signer], &mut note).map_err(|_| "signing failed")?;
    }
    let us = t.micros().unwrap_or(0);
    say(p, format_args!("signatures {SIGNATURES} in {us} us"));
    Ok(())
}

/// Appends the workload's records in its batches with `append`; returns
/// how many were appended.
fn appends(
    w: &Workload,
    mut append: impl FnMut(&[&[u8]]) -> Result<(), &'static str>,
) -> Result<u64, &'static str> {
    let mut record = [b'r'; MAX_BENCH_RECORD];
    let mut done = 0u64;
    while done < w.records {
        let n = w.batch.min(w.records - done) as usize;
        record[..8].copy_from_slice(&done.to_be_bytes());
        let slots: [&[u8]; 64] = [&record[..w.size]; 64];
        append(&slots[..n])?;
        done += n as u64;
    }
    Ok(done)
}

/// The same appends to the engine over psdb's disk format, on a disk in
/// `mem` with a records and an audit namespace.
fn engine_alone<P: Platform>(
    p: P,
    mem: &mut [u8],
    w: &Workload,
    max_record: usize,
) -> Result<(), &'static str> {
    let (buffers, rest) = Buffers::carve(mem, max_record).ok_or("memory too small")?;
    let small = "memory too small for the disk";
    let (index, image) = rest.split_at_mut((rest.len() / 4) & !0xFFF);
    let space = (image.len() as u64 - disk::format::SUPERBLOCK_AREA) & !0xFFFF;
    let specs = [
        Spec { name: "bench/log", size: (space / 5 * 4) & !0xFFF },
        Spec { name: "bench/audit", size: (space / 5) & !0xFFF },
    ];
    let mut dev = RamDevice::new(image);
    let sb = superblock::open(&mut dev, &specs, &mut [0u8; 8192]).map_err(|_| small)?;
    let extents: heapless::Vec<(u64, u64), 2> = superblock::table(&specs)
        .map_err(|_| small)?
        .map(|e| (e.start.get(), e.size.get()))
        .collect();
    let (m0, m1) = index.split_at_mut((index.len() / 2) & !7);
    let (mut log, _) =
        Namespace::open(&mut dev, 0, extents[0], sb.block_size, m0).map_err(|_| small)?;
    let (mut audit, _) =
        Namespace::open(&mut dev, 1, extents[1], sb.block_size, m1).map_err(|_| small)?;
    let dev = RefCell::new(dev);
    let stores = (Store { ns: &mut log, dev: &dev }, Store { ns: &mut audit, dev: &dev });
    let signer = Signer::from_seed("service-fs/bench", [7; 32]).map_err(|_| "signer")?;
    let (mut engine, _) = Engine::open(stores.0, stores.1, signer, NoClock, buffers, max_record)
        .map_err(|_| "the engine did not open")?;
    let t = Stopwatch::start(p);
    let done = appends(w, |batch| {
        engine.append_batch(batch.iter().copied()).map(|_| ()).map_err(|_| "an append failed")
    })?;
    let us = t.micros().unwrap_or(0);
    say(p, format_args!("engine appends {done} batch {} size {} in {us} us", w.batch, w.size));
    Ok(())
}
