//! The benchmark program: it takes the harness's place (same identities)
//! when a system is booted for `make bench`, reads its workload from the
//! probe region, times it with the platform's clock, and prints the figures.

use core::fmt::Write;

use abi::client::Role;
use client::Client;
use platform::{Channel, Console, Pd, Platform, Regions};

/// Marks a workload in the probe region: `BENCH1`, then little-endian u64s:
/// records, records per append, record size, status calls.
pub const MAGIC: &[u8; 8] = b"BENCH1\0\0";

/// The benchmark PD.
pub struct Bench<P> {
    _p: P,
}

fn ms<P: Platform>(p: &P) -> u64 {
    p.time().unix_ms.unwrap_or(0)
}

impl<P: Platform> Bench<P> {
    /// Runs the workload at start.
    pub fn init(p: P, regions: &mut dyn Regions) -> Self {
        let say = |args: core::fmt::Arguments| {
            let _ = writeln!(Console(p), "bench: {args}");
        };
        let mut w = [0u8; 40];
        let probe = regions.shared(system::PROBE_SYMBOL);
        if probe.as_ref().and_then(|r| r.read(0, &mut w)).is_none() || &w[..8] != MAGIC {
            say(format_args!("no workload in the probe region"));
            return Bench { _p: p };
        }
        let word =
            |i: usize| u64::from_le_bytes(w[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
        let (records, batch, size, status_calls) =
            (word(0), word(1).clamp(1, 64), word(2) as usize, word(3));
        let id =
            system::identities_of(p.pd_name()).find(|i| i.tenant == 0 && i.role == Role::Ring1);
        let (Some(id), Some(reader)) = (
            id,
            system::identities_of(p.pd_name()).find(|i| i.tenant == 0 && i.role == Role::Ring2),
        ) else {
            say(format_args!("no identities"));
            return Bench { _p: p };
        };
        let (Some(ch), Some(buf)) =
            (Channel::new(id.client_channel), regions.shared(id.client_symbol))
        else {
            return Bench { _p: p };
        };
        let mut c = Client::new(p, ch, buf);
        if let (Some(ch), Some(buf)) =
            (Channel::new(reader.client_channel), regions.shared(reader.client_symbol))
        {
            let mut r = Client::new(p, ch, buf);
            let start = ms(&p);
            for _ in 0..status_calls {
                let _ = r.status();
            }
            say(format_args!("status calls {status_calls} in {} ms", ms(&p) - start));
        }
        let mut record = [b'r'; system::MAX_RECORD];
        let size = size.clamp(8, system::MAX_RECORD);
        let start = ms(&p);
        let mut done = 0u64;
        while done < records {
            let n = batch.min(records - done) as usize;
            let mut slots: [&[u8]; 64] = [&[]; 64];
            record[..8].copy_from_slice(&done.to_be_bytes());
            for s in slots.iter_mut().take(n) {
                *s = &record[..size];
            }
            if let Err(e) = c.append(&slots[..n]) {
                say(format_args!("append failed after {done} records: {}", e.name()));
                break;
            }
            done += n as u64;
        }
        say(format_args!("appends {done} batch {batch} size {size} in {} ms", ms(&p) - start));
        Bench { _p: p }
    }
}

impl<P: Platform> Pd for Bench<P> {}
