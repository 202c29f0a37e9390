//! In-memory L1 stores for tests, benchmarks and the simulator.
//!
//! - [`MemStore`]: write-once tiles and a compare-and-swap checkpoint in
//!   memory, with an optional capacity (a "full" store) and a crash model:
//!   objects not yet synced can be lost.
//! - [`Faulty`]: wraps any store and fails its n-th write, and every
//!   operation after it, as a crash at that write point would.
#![no_std]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use ledger::store::{
    Recovery, StoreError, TileStore, check_checkpoint_replace, check_recover_size,
};
use tlog::Tile;

#[derive(Clone)]
struct Object {
    data: Vec<u8>,
    durable: bool,
}

/// An in-memory tile store.
#[derive(Clone, Default)]
pub struct MemStore {
    objects: BTreeMap<Tile, Object>,
    /// Objects put since the last sync: a sync touches only these.
    unsynced: Vec<Tile>,
    checkpoint: Option<Vec<u8>>,
    capacity: Option<usize>,
    used: usize,
}

/// What a simulated power loss does to objects written but not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// They are gone.
    LoseUnsynced,
    /// They happen to survive intact.
    KeepUnsynced,
    /// Their names survive but their data does not (half-length, zeroed).
    GarbleUnsynced,
}

/// The in-memory store never fails by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

type Result<T> = core::result::Result<T, StoreError<Never>>;

impl MemStore {
    /// An empty, unbounded store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// An empty store that refuses writes beyond `bytes` of tiles and bundles.
    pub fn with_capacity(bytes: usize) -> MemStore {
        MemStore { capacity: Some(bytes), ..MemStore::default() }
    }

    /// Simulates power loss: what happens to objects written but not yet
    /// synced depends on `mode`; synced objects and the checkpoint survive.
    pub fn crash(&mut self, mode: Crash) {
        match mode {
            Crash::LoseUnsynced => self.objects.retain(|_, o| o.durable),
            Crash::KeepUnsynced => {}
            Crash::GarbleUnsynced => {
                for o in self.objects.values_mut().filter(|o| !o.durable) {
                    // A name that reached the disk before its data: truncated and zeroed.
                    let half = o.data.len() / 2;
                    o.data.truncate(half);
                    o.data.fill(0);
                }
            }
        }
        for o in self.objects.values_mut() {
            o.durable = true;
        }
        self.unsynced.clear();
        self.used = self.objects.values().map(|o| o.data.len()).sum();
    }

    /// Every stored tile and bundle.
    pub fn objects(&self) -> impl Iterator<Item = (&Tile, &[u8])> {
        self.objects.iter().map(|(t, o)| (t, o.data.as_slice()))
    }

    /// The stored checkpoint.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        self.checkpoint.as_deref()
    }

    /// Changes a stored object in place, as an attacker or a bad disk might.
    pub fn tamper(&mut self, tile: &Tile, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        self.objects.get_mut(tile).map(|o| f(&mut o.data)).is_some()
    }

    /// Changes the stored checkpoint in place.
    pub fn tamper_checkpoint(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> bool {
        self.checkpoint.as_mut().map(f).is_some()
    }

    /// Bytes of tiles and bundles held.
    pub fn used(&self) -> usize {
        self.used
    }
}

fn copy_out(data: &[u8], buf: &mut [u8]) -> Result<Option<usize>> {
    let dst = buf.get_mut(..data.len()).ok_or(StoreError::TooSmall { needed: data.len() })?;
    dst.copy_from_slice(data);
    Ok(Some(data.len()))
}

impl TileStore for MemStore {
    type Error = Never;

    fn get(&mut self, tile: &Tile, buf: &mut [u8]) -> Result<Option<usize>> {
        match self.objects.get(tile) {
            Some(o) => copy_out(&o.data, buf),
            None => Ok(None),
        }
    }

    fn put(&mut self, tile: &Tile, data: &[u8]) -> Result<()> {
        if let Some(o) = self.objects.get(tile) {
            return if o.data == data { Ok(()) } else { Err(StoreError::Conflict) };
        }
        if self.capacity.is_some_and(|c| self.used + data.len() > c) {
            return Err(StoreError::Full);
        }
        self.used += data.len();
        self.objects.insert(*tile, Object { data: data.to_vec(), durable: false });
        self.unsynced.push(*tile);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        for t in self.unsynced.drain(..) {
            if let Some(o) = self.objects.get_mut(&t) {
                o.durable = true;
            }
        }
        Ok(())
    }

    fn get_checkpoint(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        match &self.checkpoint {
            Some(c) => copy_out(c, buf),
            None => Ok(None),
        }
    }

    fn replace_checkpoint(&mut self, expected: &[u8], new: &[u8]) -> Result<()> {
        check_checkpoint_replace(self.checkpoint.as_deref(), expected, new)?;
        self.checkpoint = Some(new.to_vec());
        Ok(())
    }

    fn recover(&mut self, size: u64) -> Result<Recovery> {
        check_recover_size(self.checkpoint.as_deref(), size)?;
        if self.checkpoint.is_none() && !self.objects.is_empty() {
            return Err(StoreError::NoCheckpoint);
        }
        let mut rec = Recovery { size, ..Recovery::default() };
        let beyond: Vec<Tile> = self.objects.keys().filter(|t| !t.within(size)).copied().collect();
        for t in beyond {
            rec.removed(&t);
            if let Some(o) = self.objects.remove(&t) {
                self.used -= o.data.len();
            }
        }
        Ok(rec)
    }
}

pub mod fault;
pub use fault::{Fault, Faulty};
