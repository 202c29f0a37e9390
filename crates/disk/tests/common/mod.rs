//! A disk with one tenant's two namespaces on a model device, and the
//! ledger engine over it.
#![allow(dead_code)]

use std::cell::RefCell;

use disk::namespace::{Error, Namespace, Opened};
use disk::superblock::{self, Spec};
use disk::{BlockDevice, Store};
use ledger::{Buffers, Caller, Engine, Ledger, Limit, NoClock};
use note::{Signer, Verifier};
use zerocopy::IntoBytes;

pub const SPECS: [Spec; 2] =
    [Spec { name: "acme/log", size: 1 << 20 }, Spec { name: "acme/audit", size: 256 << 10 }];
pub const MAX_RECORD: usize = 4096;
pub const DISK: usize = 64 * 1024 + (1 << 20) + (256 << 10);

pub fn signer() -> Signer {
    Signer::from_seed("service-fs/acme", [42; 32]).unwrap()
}

pub fn verifier() -> Verifier {
    signer().verifier()
}

pub const READER: Caller<'static> =
    Caller { module: "acme.reports", credential: "test:1", request: None };

pub type DiskEngine<'a, 'm, D> = Engine<Store<'a, 'm, D>, Vec<u8>, NoClock>;

/// Memory for one namespace's index.
pub fn memory() -> Vec<u64> {
    vec![0u64; (512 << 10) / 8]
}

/// Opens the disk and both namespaces, then the engine over them, and
/// calls `f` with the engine (or why it did not open) and what opening the
/// namespaces found.
pub fn with_engine<D: BlockDevice, R>(
    dev: &RefCell<D>,
    f: impl FnOnce(Result<&mut DiskEngine<'_, '_, D>, String>, [Opened; 2]) -> R,
) -> R {
    let mut buf = vec![0u8; 8192];
    let sb = match superblock::open(&mut *dev.borrow_mut(), &SPECS, &mut buf) {
        Ok(sb) => sb,
        Err(e) => return f(Err(format!("disk: {e}")), [Opened::default(); 2]),
    };
    let (mut m0, mut m1) = (memory(), memory());
    let entries: Vec<_> = superblock::table(&SPECS).unwrap().collect();
    let extent = |i: usize| (entries[i].start.get(), entries[i].size.get());
    let opened =
        Namespace::open(&mut *dev.borrow_mut(), 0, extent(0), sb.block_size, m0.as_mut_bytes());
    let (mut log, o0) = match opened {
        Ok(x) => x,
        Err(e) => return f(Err(format!("log: {e:?}")), [Opened::default(); 2]),
    };
    let opened =
        Namespace::open(&mut *dev.borrow_mut(), 1, extent(1), sb.block_size, m1.as_mut_bytes());
    let (mut audit, o1) = match opened {
        Ok(x) => x,
        Err(e) => return f(Err(format!("audit: {e:?}")), [o0, Opened::default()]),
    };
    let stores = (Store { ns: &mut log, dev }, Store { ns: &mut audit, dev });
    match Engine::open(stores.0, stores.1, signer(), NoClock, Buffers::default(), MAX_RECORD) {
        Ok((mut e, _)) => f(Ok(&mut e), [o0, o1]),
        Err(e) => f(Err(format!("engine: {e}")), [o0, o1]),
    }
}

pub fn record(i: u64) -> Vec<u8> {
    let pad = (i * 37 % 300) as usize;
    format!("record {i} {}", "r".repeat(pad)).into_bytes()
}

pub fn read_all<L: Ledger>(e: &mut L) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    e.read_since(&READER, 0, Limit::NONE, &mut |_, r| out.push(r.to_vec()))
        .map_err(|_| "read failed".to_string())?;
    Ok(out)
}

pub fn describe<E: std::fmt::Display>(e: &Error<E>) -> String {
    disk::image::describe(e)
}
