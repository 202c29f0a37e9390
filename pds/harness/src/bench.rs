//! The benchmark program: it takes the harness's place (same identities)
//! when a system is booted for a benchmark, reads its workload from the
//! probe region, and prints the figures, timed with the platform's counter
//! (or its clock):
//!
//! - `bench: status calls N in T us`: round trips client → wire → ledger;
//! - `bench: appends N batch B size S in T us`: appends through the chain
//!   client → wire → ledger → psdb, each a PD;
//! - `bench: engine appends N batch B size S in T us`: the same appends to
//!   the ledger engine over psdb's partitions in this PD's own memory, with
//!   no PD boundary: the cost of the chain is the difference.
//!
//! then `bench: DONE`.

use core::fmt::Write;

use abi::client::Role;
use client::Client;
use ledger::audit::NoClock;
use ledger::{Buffers, Engine, Ledger};
use note::Signer;
use platform::{Channel, Console, Pd, Platform, Regions, Ticks};
use psdb::Partition;

/// Marks a workload in the probe region: `BENCH1`, then little-endian u64s:
/// records, records per append, record size, status calls.
pub const MAGIC: &[u8; 8] = b"BENCH1\0\0";

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

impl<P: Platform> Bench<P> {
    /// Runs the workload at start.
    pub fn init(p: P, regions: &mut dyn Regions) -> Self {
        match run(p, regions) {
            Ok(()) => say(p, format_args!("DONE")),
            Err(why) => say(p, format_args!("FAILED: {why}")),
        }
        Bench { _p: p }
    }
}

impl<P: Platform> Pd for Bench<P> {}

fn say<P: Platform>(p: P, args: core::fmt::Arguments) {
    let _ = writeln!(Console(p), "bench: {args}");
}

fn workload(regions: &mut dyn Regions) -> Option<Workload> {
    let mut w = [0u8; 40];
    regions.shared(system::PROBE_SYMBOL)?.read(0, &mut w)?;
    if &w[..8] != MAGIC {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(w[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
    Some(Workload {
        records: word(0),
        batch: word(1).clamp(1, 64),
        size: (word(2) as usize).clamp(8, system::MAX_RECORD),
        status_calls: word(3),
    })
}

/// A client of `role` in the first tenant.
fn client<P: Platform>(p: P, regions: &mut dyn Regions, role: Role) -> Option<Client<P>> {
    let id = system::identities_of(p.pd_name()).find(|i| i.tenant == 0 && i.role == role)?;
    Some(Client::new(p, Channel::new(id.client_channel)?, regions.shared(id.client_symbol)?))
}

fn run<P: Platform>(p: P, regions: &mut dyn Regions) -> Result<(), &'static str> {
    let w = workload(regions).ok_or("no workload in the probe region")?;
    let mut reader = client(p, regions, Role::Ring2).ok_or("no ring-2 identity")?;
    let mut writer = client(p, regions, Role::Ring1).ok_or("no ring-1 identity")?;
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
        Some(mem) => engine_alone(p, mem, &w),
        None => Err("no private memory for the engine alone"),
    }
}

/// Appends the workload's records in its batches with `append`; returns
/// how many were appended.
fn appends(
    w: &Workload,
    mut append: impl FnMut(&[&[u8]]) -> Result<(), &'static str>,
) -> Result<u64, &'static str> {
    let mut record = [b'r'; system::MAX_RECORD];
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

/// The same appends to the engine over psdb's partitions in `mem`.
fn engine_alone<P: Platform>(p: P, mem: &mut [u8], w: &Workload) -> Result<(), &'static str> {
    let (buffers, rest) = Buffers::carve(mem, system::MAX_RECORD).ok_or("memory too small")?;
    let (log, audit) = rest.split_at_mut(rest.len() / 5 * 4);
    let log = Partition::open(log).ok_or("memory too small for the records")?;
    let audit = Partition::open(audit).ok_or("memory too small for the audit log")?;
    let signer = Signer::from_seed("service-fs/bench", [7; 32]).map_err(|_| "signer")?;
    let (mut engine, _) = Engine::open(log, audit, signer, NoClock, buffers, system::MAX_RECORD)
        .map_err(|_| "the engine did not open")?;
    let t = Stopwatch::start(p);
    let done = appends(w, |batch| {
        engine.append_batch(batch.iter().copied()).map(|_| ()).map_err(|_| "an append failed")
    })?;
    let us = t.micros().unwrap_or(0);
    say(p, format_args!("engine appends {done} batch {} size {} in {us} us", w.batch, w.size));
    Ok(())
}
