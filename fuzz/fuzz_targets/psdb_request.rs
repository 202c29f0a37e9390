//! psdb's requests, through the PD itself (`psdb::Psdb` over memory, a
//! fresh blank disk of two namespaces for every input). The input is a
//! sequence of requests: channel, label, registers and the bytes in the
//! channel's buffer. Every request gets a reply of a known status, never a
//! panic; an object a PUT accepted is what a later GET of it returns; and
//! after a reboot (psdb started again on the same disk) each namespace's
//! last accepted checkpoint is there, with every object stored before it.
#![no_main]

use std::collections::BTreeMap;
use std::ptr::NonNull;

use abi::psdb::{ENTRIES, Object, label, status};
use libfuzzer_sys::fuzz_target;
use platform::host::view;
use platform::{Access, Channel, Msg, Pd, Platform, Program, Regions, SharedRegion, Time};
use psdb::Psdb;

const CHANNELS: [u8; 2] = [1, 2];
const BUF: usize = 16 * 1024;
const MEM: usize = 256 * 1024;

/// psdb's memory, allocated once and handed out again for every input.
struct Memory {
    config: &'static [u8],
    store: &'static mut [u8],
    mem: &'static mut [u8],
    bufs: [&'static mut [u8]; 2],
}

fn memory() -> &'static mut Memory {
    static mut MEMORY: Option<Memory> = None;
    let leak = |n: usize| Box::leak(vec![0u8; n].into_boxed_slice());
    // SAFETY: libFuzzer runs inputs one at a time on one thread.
    #[allow(static_mut_refs)]
    unsafe {
        MEMORY.get_or_insert_with(|| {
            let namespaces = [("t/log", 128 * 1024, false, 1), ("t/audit", 64 * 1024, true, 2)]
                .into_iter()
                .map(|(name, size, audit, channel)| system::Namespace {
                    name,
                    size,
                    audit,
                    channel,
                })
                .collect();
            let config = system::Config {
                pd: "psdb",
                mappings: Default::default(),
                paddrs: Default::default(),
                kind: system::Kind::Psdb(system::Psdb { namespaces }),
            };
            let specs = [
                disk::Spec { name: "t/log", size: 128 * 1024 },
                disk::Spec { name: "t/audit", size: 64 * 1024 },
            ];
            let disk = disk::superblock::disk_bytes(&specs).unwrap() as usize;
            Memory {
                config: Box::leak(config.encode().into_boxed_slice()),
                store: leak(disk),
                mem: leak(MEM),
                bufs: [leak(BUF), leak(BUF)],
            }
        })
    }
}

/// The regions of one boot: each taken once, over [`Memory`].
struct Boot {
    taken: Vec<String>,
}

fn raw(b: &mut [u8]) -> &'static mut [u8] {
    // SAFETY: the memory is leaked; the psdb of one boot is dropped before
    // the next takes it again, and the test side only copies through views.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr(), b.len()) }
}

impl Regions for Boot {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let i = CHANNELS.iter().position(|&c| system::buffer_symbol(c) == Some(symbol))?;
        if self.taken.iter().any(|t| t == symbol) {
            return None;
        }
        self.taken.push(symbol.into());
        let b = &mut memory().bufs[i];
        // SAFETY: as in `raw`.
        Some(unsafe {
            SharedRegion::new(NonNull::new(b.as_mut_ptr()).unwrap(), b.len(), Access::ReadWrite)
        })
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        if self.taken.iter().any(|t| t == symbol) {
            return None;
        }
        self.taken.push(symbol.into());
        match symbol {
            system::MEM_SYMBOL => Some(raw(memory().mem)),
            system::PSDB_STORE_SYMBOL => Some(raw(memory().store)),
            _ => None,
        }
    }

    fn config(&mut self) -> Option<&'static [u8]> {
        Some(memory().config)
    }
}

/// A platform that says nothing and calls no one.
#[derive(Clone, Copy)]
struct Quiet;

impl Platform for Quiet {
    fn pd_name(&self) -> &str {
        "psdb"
    }
    fn notify(&self, _: Channel) {}
    fn ppcall(&self, _: Channel, _: Msg) -> Msg {
        Msg::new(u64::MAX, &[])
    }
    fn print(&self, _: &str) {}
    fn time(&self) -> Time {
        Time { unix_ms: None, source: "none" }
    }
    fn irq_ack(&self, _: Channel) {}
}

fn boot() -> Psdb<Quiet> {
    Psdb::init(Quiet, &mut Boot { taken: Vec::new() }).expect("psdb starts")
}

fn buffer(i: usize) -> SharedRegion {
    view(raw(memory().bufs[i]))
}

/// Reads the input a field at a time (zeros once it runs out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let (b, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        b
    }
}

/// Objects by their registers.
type Objects = BTreeMap<[u64; 3], Vec<u8>>;

const STATUSES: std::ops::RangeInclusive<u64> = status::OK..=status::UNAVAILABLE;

/// The length an `OK` answer to `GET` or `GET_CHECKPOINT` gives.
fn object_len(reply: &Msg) -> usize {
    Object::decode(reply).expect("an OK reply carries the object's length").len as usize
}

fuzz_target!(|data: &[u8]| {
    let m = memory();
    m.store.fill(0);
    m.mem.fill(0);
    for b in &mut m.bufs {
        b.fill(0);
    }
    let mut psdb = boot();
    let mut input = Input(data);
    // Per namespace: objects stored (registers → bytes), and what the last
    // accepted checkpoint covers.
    let mut stored: [Objects; 2] = Default::default();
    let mut committed: [Option<(Vec<u8>, Objects)>; 2] = Default::default();
    for _ in 0..64 {
        if input.0.is_empty() {
            break;
        }
        let sel = input.byte();
        let (ns, ch) = match sel % 5 {
            4 => (None, sel >> 3),
            n => (Some(usize::from(n % 2)), CHANNELS[usize::from(n % 2)]),
        };
        let lab = u64::from(input.byte() % 8);
        let k = input.byte();
        let kind = match k % 5 {
            0..=2 => u64::from(k % 5),
            3 => ENTRIES,
            _ => u64::from(k),
        };
        let (index, width) = (u64::from(input.u16() % 4), u64::from(input.u16() % 300));
        let (a, b) = (u64::from(input.u16()), u64::from(input.u16()));
        let payload = input.u16() as usize;
        let payload = input.bytes(payload % 600).to_vec();
        if let Some(i) = ns {
            buffer(i).write(0, &payload).unwrap();
        }
        let mrs = match lab {
            label::GET | label::PUT => [kind, index, width, a.min(payload.len() as u64)],
            label::REPLACE_CHECKPOINT => [a.min(payload.len() as u64), b, 0, 0],
            _ => [a, b, 0, 0],
        };
        let Some(channel) = Channel::new(ch) else { continue };
        let reply = psdb.protected(channel, Msg::new(lab, &mrs));
        assert!(STATUSES.contains(&reply.label), "reply {}", reply.label);
        let Some(i) = ns else { continue };
        let tile = [mrs[0], mrs[1], mrs[2]];
        match (lab, reply.label) {
            (label::PUT, status::OK) => {
                stored[i].insert(tile, payload[..mrs[3] as usize].to_vec());
            }
            (label::GET, status::OK) => {
                let mut got = vec![0u8; object_len(&reply)];
                buffer(i).read(0, &mut got).unwrap();
                if let Some(want) = stored[i].get(&tile) {
                    assert_eq!(&got, want, "GET returned other bytes than the PUT");
                }
            }
            (label::REPLACE_CHECKPOINT, status::OK) => {
                let (e, n) = (mrs[0] as usize, mrs[1] as usize);
                let mut cp = vec![0u8; n];
                buffer(i).read(e, &mut cp).unwrap();
                committed[i] = Some((cp, stored[i].clone()));
            }
            // Recovery forgets what the checkpoint does not cover.
            (label::RECOVER, status::OK) => {
                stored[i] = committed[i].as_ref().map(|(_, o)| o.clone()).unwrap_or_default();
            }
            (label::GET_CHECKPOINT, status::OK) => {
                let mut got = vec![0u8; object_len(&reply)];
                buffer(i).read(0, &mut got).unwrap();
                let want = committed[i].as_ref().map(|(cp, _)| cp);
                assert_eq!(Some(&got), want, "GET_CHECKPOINT is not the last one accepted");
            }
            _ => {}
        }
    }
    // Reboot: what was committed is there.
    drop(psdb);
    let mut psdb = boot();
    for (i, c) in committed.iter().enumerate() {
        let Some((cp, objects)) = c else { continue };
        let channel = Channel::new(CHANNELS[i]).unwrap();
        let reply = psdb.protected(channel, Msg::new(label::GET_CHECKPOINT, &[]));
        assert_eq!(reply.label, status::OK, "the checkpoint is lost at reboot");
        let mut got = vec![0u8; object_len(&reply)];
        buffer(i).read(0, &mut got).unwrap();
        assert_eq!(&got, cp, "another checkpoint after reboot");
        for (tile, want) in objects {
            let reply = psdb.protected(channel, Msg::new(label::GET, tile));
            assert_eq!(reply.label, status::OK, "object {tile:?} lost at reboot");
            let mut got = vec![0u8; object_len(&reply)];
            buffer(i).read(0, &mut got).unwrap();
            assert_eq!(&got, want, "object {tile:?} changed at reboot");
        }
    }
});
