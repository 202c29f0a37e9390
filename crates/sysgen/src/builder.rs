//! Builds the system model and each PD's configuration from a checked
//! `tenants.toml`.

use std::collections::BTreeMap;

use abi::client::Role;
use anyhow::{Result, bail, ensure};
use sdf::{Channel, End, Map, MemoryRegion, Perms, Pos, ProtectionDomain, System};
use system::{Kind, MAX_CHANNELS};

use crate::tenants::{Config, client_pd, namespace_specs};
use crate::{DiskDevice, Generated, Storage, Trigger};

/// Priorities: PPCs go only toward higher priority. PDs of one kind get
/// distinct priorities, so on seL4 they run one after the other rather
/// than round-robin, and their console lines (a system call per
/// character) do not interleave.
pub mod priority {
    /// The block driver: above psdb, which waits for it inside its calls
    /// (on seL4 the driver preempts it as soon as it is notified).
    pub const BLK: u8 = 230;
    /// psdb.
    pub const PSDB: u8 = 200;
    /// Ledgers: from `LEDGER + n - 1` for the first of `n` tenants down to
    /// `LEDGER` (Microkit's 63 PDs leave room for at most 30 tenants).
    pub const LEDGER: u8 = 150;
    /// The first `wire`; the k-th more is `WIRE - k`.
    pub const WIRE: u8 = 100;
    /// The harness: above every client, so its scenarios run first on seL4.
    pub const HARNESS: u8 = 90;
    /// Client PDs: from `CLIENT + n - 1` for the first of `n` down to
    /// `CLIENT`, so they run in the order tenants.toml lists them.
    pub const CLIENT: u8 = 10;
    /// The harness's misbehaving child.
    pub const FAULTY: u8 = 5;
}

/// Where maps start in every PD.
const VADDR_BASE: u64 = 0x2000_0000;
const PAGE: u64 = 0x1000;
/// The large page size on both boards' architectures (AArch64, RISC-V Sv39).
const LARGE_PAGE: u64 = 0x20_0000;
/// Bytes ahead of data in the wire–ledger buffer.
const LEDGER_HEADER: u64 = abi::ledger::DATA_OFFSET as u64;
/// Room for two checkpoints (expected + new) in the ledger–psdb buffer.
const CHECKPOINTS: u64 = 2 * 2048;
/// Store for the benchmark's engine-alone run in the harness's memory.
const HARNESS_STORE: u64 = 0x50_0000;
/// The block driver's DMA region (its virtqueue and bounce slots).
const BLK_DMA: u64 = 0x1_0000;
/// The data region between psdb and the block driver.
const BLK_DATA: u64 = 0x2_0000;
/// The harness's channel to its child (above any identity channel).
pub const HARNESS_CHILD_CHANNEL: u8 = 61;
/// Channel ids of a ledger's first `wire`; further ones from 3.
const LEDGER_FIRST_WIRE: u8 = 0;

/// A module identity: one channel from a client PD into a `wire`.
#[derive(Clone, Debug)]
struct Identity {
    tenant: usize,
    module: String,
    role: Role,
    client_pd: String,
    client_channel: u8,
    region: String,
    wire: usize,
    wire_channel: u8,
}

/// A `wire`: the identities it serves and its channels to ledgers.
#[derive(Debug, Default)]
struct WirePlan {
    name: String,
    identities: Vec<usize>,
    /// `(tenant, wire channel, region, ledger channel)`.
    ledgers: Vec<(usize, u8, String, u8)>,
}

struct Builder<'a> {
    cfg: &'a Config,
    storage: Storage,
    config_dir: String,
    regions: Vec<MemoryRegion>,
    pds: Vec<ProtectionDomain>,
    channels: Vec<Channel>,
    identities: Vec<Identity>,
    wires: Vec<WirePlan>,
    configs: Vec<(String, Kind<'a>)>,
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

fn pd(name: &str, priority: u8, passive: bool, image: &str) -> ProtectionDomain {
    ProtectionDomain {
        name: name.into(),
        priority,
        passive,
        stack_size: 0x10000,
        program_image: image.into(),
        id: None,
        maps: Vec::new(),
        children: Vec::new(),
        irqs: Vec::new(),
        setvars: Vec::new(),
        pos: Pos::default(),
    }
}

fn end(pd: &str, id: u8, pp: bool) -> End {
    End { pd: pd.into(), id, pp, notify: true, pos: Pos::default() }
}

fn channel(a: End, b: End) -> Channel {
    Channel { ends: [a, b], pos: Pos::default() }
}

fn buf(ch: u8) -> &'static str {
    system::buffer_symbol(ch).unwrap_or("sfs_buf_invalid")
}

/// Builds the system for `cfg` (checked), its PDs' configurations going in
/// `config_dir` beside the description.
pub fn build(cfg: &Config, storage: Storage, config_dir: &str) -> Result<Generated> {
    let mut b = Builder {
        cfg,
        storage,
        config_dir: config_dir.into(),
        regions: Vec::new(),
        pds: Vec::new(),
        channels: Vec::new(),
        identities: Vec::new(),
        wires: Vec::new(),
        configs: Vec::new(),
    };
    b.tenant_regions()?;
    b.identities();
    b.plan_wires()?;
    b.psdb()?;
    b.ledgers()?;
    b.wire_pds();
    b.client_pds();
    b.limits()?;
    b.finish()
}

impl<'a> Builder<'a> {
    fn region(&mut self, name: &str, size: u64, prefill: Option<String>) {
        self.region_at(name, size, prefill, None);
    }

    fn region_at(&mut self, name: &str, size: u64, prefill: Option<String>, phys: Option<u64>) {
        // Large regions in 2 MiB pages: in 4 KiB ones, a system of large
        // records needs more frame capabilities than seL4's initial task
        // (Microkit's CapDL initializer) has slots for.
        let page = if size >= LARGE_PAGE && phys.is_none() { LARGE_PAGE } else { PAGE };
        self.regions.push(MemoryRegion {
            name: name.into(),
            size: round_up(size, page),
            page_size: page,
            prefill_path: prefill,
            phys_addr: phys,
            pos: Pos::default(),
        });
    }

    fn size_of(&self, mr: &str) -> u64 {
        self.regions.iter().find(|r| r.name == mr).map_or(PAGE, |r| r.size)
    }

    fn page_size_of(&self, mr: &str) -> u64 {
        self.regions.iter().find(|r| r.name == mr).map_or(PAGE, |r| r.page_size)
    }

    /// Maps `mr` into `pd` after its last map, with a guard page between;
    /// the PD finds it at `symbol` (its size at `<symbol>_size`).
    fn map(&self, pd: &mut ProtectionDomain, mr: &str, perms: Perms, symbol: &str) {
        self.map_cached(pd, mr, perms, symbol, true);
    }

    fn map_cached(
        &self,
        pd: &mut ProtectionDomain,
        mr: &str,
        perms: Perms,
        symbol: &str,
        cached: bool,
    ) {
        let vaddr = pd
            .maps
            .iter()
            .map(|m| m.vaddr + self.size_of(&m.mr) + PAGE)
            .max()
            .unwrap_or(VADDR_BASE);
        let vaddr = round_up(vaddr, self.page_size_of(mr));
        pd.maps.push(Map {
            mr: mr.into(),
            vaddr,
            perms,
            cached,
            setvar_vaddr: Some(symbol.into()),
            setvar_size: Some(format!("{symbol}_size")),
            pos: Pos::default(),
        });
    }

    fn origin(&self, t: usize) -> &'a str {
        let cfg: &'a Config = self.cfg;
        let t = &cfg.tenant[t];
        match &t.origin {
            Some(o) => o,
            None => leak(format!("service-fs/{}", t.name)),
        }
    }

    fn tenant_name(&self, t: usize) -> &'a str {
        let cfg: &'a Config = self.cfg;
        &cfg.tenant[t].name
    }

    /// Each tenant's key, ledger memory and psdb buffers; psdb's memory.
    fn tenant_regions(&mut self) -> Result<()> {
        let sys = &self.cfg.system;
        // A psdb buffer holds the largest object of its namespace (a full
        // entry bundle) and two checkpoints.
        let pbuf = |max_entry: usize| 256 * (2 + max_entry as u64) + CHECKPOINTS;
        self.region("psdb_mem", sys.psdb_memory, None);
        if self.storage == Storage::Ram {
            let bytes = self.disk_bytes()?;
            self.region("psdb_store", bytes, None);
        }
        let ledger_mem =
            ledger::Buffers::<&mut [u8]>::bytes_needed(sys.max_record) as u64 + sys.client_buffer;
        for t in &self.cfg.tenant {
            self.region(
                &format!("key_{}", t.name),
                PAGE,
                Some(format!("build/keys/{}.seed", t.name)),
            );
            self.region(&format!("lmem_{}", t.name), ledger_mem, None);
            self.region(&format!("pbuf_{}_log", t.name), pbuf(sys.max_record), None);
            self.region(
                &format!("pbuf_{}_audit", t.name),
                pbuf(ledger::audit::MAX_AUDIT_RECORD),
                None,
            );
        }
        Ok(())
    }

    fn disk_bytes(&self) -> Result<u64> {
        let specs = namespace_specs(self.cfg);
        let specs: Vec<disk::Spec> =
            specs.iter().map(|(n, s)| disk::Spec { name: n, size: *s }).collect();
        disk::superblock::disk_bytes(&specs).map_err(anyhow::Error::msg)
    }

    /// Every module's identity (its client PD and channel), and the
    /// harness's, tenant by tenant.
    fn identities(&mut self) {
        let cfg = self.cfg;
        let mut next: BTreeMap<String, u8> = BTreeMap::new();
        let harness = cfg.harness.as_ref().map(|h| h.tenants.as_slice()).unwrap_or(&[]);
        for (ti, t) in cfg.tenant.iter().enumerate() {
            let mut ids: Vec<(String, Role, String)> = t
                .modules
                .iter()
                .map(|m| {
                    (m.name.clone(), Role::parse(&m.role).unwrap_or(Role::Ring2), client_pd(t, m))
                })
                .collect();
            // The harness's identities in tenant order ([harness] tenants).
            if harness.contains(&t.name) {
                for role in [Role::Ring1, Role::Ring2, Role::Audit] {
                    ids.push((format!("harness-{}", role.name()), role, "harness".into()));
                }
            }
            for (module, role, client_pd) in ids {
                let ch = next.entry(client_pd.clone()).or_default();
                let client_channel = *ch;
                *ch += 1;
                let region = format!("cbuf_{}_{module}", t.name);
                self.region(&region, cfg.system.client_buffer, None);
                self.identities.push(Identity {
                    tenant: ti,
                    module: format!("{}.{module}", t.name),
                    role,
                    client_pd,
                    client_channel,
                    region,
                    wire: 0,
                    wire_channel: 0,
                });
            }
        }
        // The harness's channels follow [harness] tenants' order.
        let order: Vec<usize> =
            harness.iter().filter_map(|n| cfg.tenant.iter().position(|t| &t.name == n)).collect();
        let mut ch = 0;
        for t in order {
            for id in
                self.identities.iter_mut().filter(|i| i.client_pd == "harness" && i.tenant == t)
            {
                id.client_channel = ch;
                ch += 1;
            }
        }
    }

    /// Spreads the identities over `wire` PDs, a tenant's together where
    /// they fit: a wire's channels are its identities and one to each
    /// ledger it serves, 62 at most.
    fn plan_wires(&mut self) -> Result<()> {
        let max = MAX_CHANNELS;
        let mut wires: Vec<WirePlan> = vec![WirePlan::default()];
        let used = |w: &WirePlan| w.identities.len() + w.ledgers.len();
        for t in 0..self.cfg.tenant.len() {
            let mut ids: Vec<usize> =
                (0..self.identities.len()).filter(|&i| self.identities[i].tenant == t).collect();
            while !ids.is_empty() {
                let last = wires.last().map_or(0, used);
                // A tenant that fits a wire of its own is not split.
                if max - last < 2 || (ids.len() < max && last + ids.len() + 1 > max) {
                    wires.push(WirePlan::default());
                    continue;
                }
                let w = wires.last_mut().expect("one wire at least");
                let take = ids.len().min(max - last - 1);
                w.identities.extend(ids.drain(..take));
                w.ledgers.push((t, 0, String::new(), 0));
            }
        }
        // Channels: identities first, then ledgers; names and buffers.
        let mut ledger_next: BTreeMap<usize, u8> = BTreeMap::new();
        for (wi, w) in wires.iter_mut().enumerate() {
            w.name = if wi == 0 { "wire".into() } else { format!("wire_{wi}") };
            for (k, &i) in w.identities.iter().enumerate() {
                self.identities[i].wire = wi;
                self.identities[i].wire_channel = k as u8;
            }
            let base = w.identities.len() as u8;
            for (k, (t, wch, region, lch)) in w.ledgers.iter_mut().enumerate() {
                *wch = base + k as u8;
                let name = &self.cfg.tenant[*t].name;
                let n = ledger_next.entry(*t).or_insert(LEDGER_FIRST_WIRE);
                *lch = *n;
                *region = if *n == LEDGER_FIRST_WIRE {
                    format!("lbuf_{name}")
                } else {
                    format!("lbuf_{name}_{wi}")
                };
                // The ledger's further wires: channels 3 and up (1, 2: psdb).
                *n = if *n == LEDGER_FIRST_WIRE { 3 } else { *n + 1 };
            }
        }
        for w in &wires {
            for (t, _, _, lch) in &w.ledgers {
                ensure!(
                    usize::from(*lch) < max,
                    "tenant {} needs more wire channels than its ledger's 62: Microkit allows 62 channels per PD",
                    self.cfg.tenant[*t].name
                );
            }
        }
        let regions: Vec<(String, u64)> = wires
            .iter()
            .flat_map(|w| &w.ledgers)
            .map(|(_, _, r, _)| (r.clone(), LEDGER_HEADER + self.cfg.system.client_buffer))
            .collect();
        for (r, size) in regions {
            self.region(&r, size, None);
        }
        self.wires = wires;
        Ok(())
    }

    /// psdb, one namespace (channel) per tenant log, and its disk's driver.
    fn psdb(&mut self) -> Result<()> {
        let n = self.cfg.tenant.len();
        ensure!(
            2 * n <= usize::from(system::blk::PSDB_DRIVER),
            "{n} tenants: psdb serves at most 30 (two namespaces each; Microkit allows 62 channels per PD, one is its disk's driver)"
        );
        let mut psdb = pd("psdb", priority::PSDB, true, "psdb.elf");
        // Its configuration (a namespace per ledger channel) is decoded on the stack.
        psdb.stack_size = 0x40000;
        self.map(&mut psdb, "psdb_mem", Perms::RW, system::MEM_SYMBOL);
        if self.storage == Storage::Ram {
            self.map(&mut psdb, "psdb_store", Perms::RW, system::PSDB_STORE_SYMBOL);
        }
        let mut namespaces = heapless::Vec::new();
        for ((ti, t), k) in self
            .cfg
            .tenant
            .iter()
            .enumerate()
            .flat_map(|t| [(t, 0u8), (t, 1u8)])
            .collect::<Vec<_>>()
        {
            let ch = (2 * ti) as u8 + k;
            let log = if k == 0 { "log" } else { "audit" };
            self.map(&mut psdb, &format!("pbuf_{}_{log}", t.name), Perms::RW, buf(ch));
            let (name, size) = namespace_specs(self.cfg)[usize::from(ch)].clone();
            let _ = namespaces.push(system::Namespace {
                name: leak(name),
                size,
                audit: k == 1,
                channel: ch,
            });
        }
        if let Storage::Disk(d) = self.storage {
            self.blk(&mut psdb, &d)?;
        }
        self.pds.push(psdb);
        self.configs.push(("psdb".into(), Kind::Psdb(system::Psdb { namespaces })));
        Ok(())
    }

    /// The block driver and its queues with psdb (`abi::blk`): the
    /// device's register page uncached, a DMA region and the data region
    /// with physical addresses for the device, and the device's interrupt.
    fn blk(&mut self, psdb: &mut ProtectionDomain, d: &DiskDevice) -> Result<()> {
        use abi::blk::system as sym;
        let page = d.mmio & !(PAGE - 1);
        self.region_at("blk_regs", PAGE, None, Some(page));
        self.region("blk_dma", BLK_DMA, None);
        self.region("blk_data", BLK_DATA, None);
        for q in ["blk_config", "blk_requests", "blk_responses"] {
            self.region(q, PAGE, None);
        }
        let mut blk = pd("blk", priority::BLK, false, "blk.elf");
        self.map_cached(&mut blk, "blk_regs", Perms::RW, sym::REGS, false);
        self.map(&mut blk, "blk_dma", Perms::RW, sym::DMA);
        for (mr, symbol, driver, client) in [
            ("blk_config", sym::CONFIG, Perms::RW, Perms::R),
            ("blk_requests", sym::REQUESTS, Perms::RW, Perms::RW),
            ("blk_responses", sym::RESPONSES, Perms::RW, Perms::RW),
            ("blk_data", sym::DATA, Perms::RW, Perms::RW),
        ] {
            self.map(&mut blk, mr, driver, symbol);
            self.map(psdb, mr, client, symbol);
        }
        for (symbol, mr) in [(sym::DMA_PADDR, "blk_dma"), (sym::DATA_PADDR, "blk_data")] {
            blk.setvars.push(sdf::SetVar {
                symbol: symbol.into(),
                region_paddr: mr.into(),
                pos: Pos::default(),
            });
        }
        blk.irqs.push(sdf::Irq {
            irq: d.irq,
            id: sym::DRIVER_IRQ,
            edge: d.trigger == Trigger::Edge,
            pos: Pos::default(),
        });
        self.pds.push(blk);
        self.channels.push(channel(
            end("psdb", sym::PSDB_DRIVER, false),
            end("blk", sym::DRIVER_PSDB, false),
        ));
        let disk_bytes = self.disk_bytes()?;
        self.configs.push(("blk".into(), Kind::Blk(system::Blk { disk_bytes })));
        Ok(())
    }

    /// One ledger per tenant: its wires' channels, psdb's two.
    fn ledgers(&mut self) -> Result<()> {
        let cfg = self.cfg;
        let n = cfg.tenant.len();
        for (ti, t) in cfg.tenant.iter().enumerate() {
            let name = format!("ledger_{}", t.name);
            let mut l = pd(&name, priority::LEDGER + (n - 1 - ti) as u8, true, "ledger.elf");
            l.stack_size = 0x20000;
            self.map(&mut l, &format!("lmem_{}", t.name), Perms::RW, system::MEM_SYMBOL);
            let mut wires = heapless::Vec::new();
            let ends: Vec<(String, u8, String, u8)> = self
                .wires
                .iter()
                .flat_map(|w| {
                    w.ledgers
                        .iter()
                        .filter(|x| x.0 == ti)
                        .map(|(_, wch, r, lch)| (w.name.clone(), *wch, r.clone(), *lch))
                })
                .collect();
            for (wire, wch, region, lch) in ends {
                self.map(&mut l, &region, Perms::RW, buf(lch));
                let _ = wires.push(lch);
                self.channels.push(channel(end(&wire, wch, true), end(&name, lch, false)));
            }
            for (k, ch) in
                [(0, system::ledger_channels::PSDB_LOG), (1, system::ledger_channels::PSDB_AUDIT)]
            {
                let log = if k == 0 { "log" } else { "audit" };
                self.map(&mut l, &format!("pbuf_{}_{log}", t.name), Perms::RW, buf(ch));
                self.channels
                    .push(channel(end(&name, ch, true), end("psdb", (2 * ti + k) as u8, false)));
            }
            self.map(&mut l, &format!("key_{}", t.name), Perms::R, system::KEY_SYMBOL);
            self.pds.push(l);
            let ledger = system::Ledger {
                tenant: self.tenant_name(ti),
                origin: self.origin(ti),
                max_record: cfg.system.max_record as u32,
                client_buffer: u32::try_from(cfg.system.client_buffer).unwrap_or(u32::MAX),
                wires,
            };
            ensure!(
                cfg.system.client_buffer <= u64::from(u32::MAX),
                "client_buffer must be below 4 GiB"
            );
            self.configs.push((name, Kind::Ledger(ledger)));
        }
        Ok(())
    }

    /// Each `wire`: its private memory, each identity's buffer (shared
    /// with the client PD), each ledger's.
    fn wire_pds(&mut self) {
        let max_record = self.cfg.system.max_record as u32;
        for wi in 0..self.wires.len() {
            let w = &self.wires[wi];
            let name = w.name.clone();
            let mem = if wi == 0 { "wmem".to_string() } else { format!("wmem_{wi}") };
            self.region(&mem, self.cfg.system.client_buffer, None);
            let mut wire = pd(&name, priority::WIRE - wi as u8, true, "wire.elf");
            // Its configuration (a route per client channel) is decoded on the stack.
            wire.stack_size = 0x40000;
            self.map(&mut wire, &mem, Perms::RW, system::MEM_SYMBOL);
            let mut clients = heapless::Vec::new();
            let mut ledgers = heapless::Vec::new();
            let w = &self.wires[wi];
            for (t, wch, _, _) in &w.ledgers {
                let _ = ledgers
                    .push(system::WireLedger { tenant: self.tenant_name(*t), channel: *wch });
            }
            for &i in &w.identities {
                let id = &self.identities[i];
                let ledger = w.ledgers.iter().position(|l| l.0 == id.tenant).unwrap_or(0) as u8;
                let _ = clients.push(system::WireClient {
                    channel: id.wire_channel,
                    module: leak(id.module.clone()),
                    role: id.role,
                    ledger,
                });
            }
            let maps: Vec<(String, u8)> = w
                .identities
                .iter()
                .map(|&i| (self.identities[i].region.clone(), self.identities[i].wire_channel))
                .chain(w.ledgers.iter().map(|(_, wch, r, _)| (r.clone(), *wch)))
                .collect();
            for (region, ch) in maps {
                self.map(&mut wire, &region, Perms::RW, buf(ch));
            }
            self.pds.push(wire);
            self.configs.push((name, Kind::Wire(system::Wire { max_record, clients, ledgers })));
        }
    }

    /// The client PDs, in the order their modules are listed; the harness
    /// and its child.
    fn client_pds(&mut self) {
        let ids = self.identities.clone();
        let mut order: Vec<String> = Vec::new();
        for id in &ids {
            if !order.contains(&id.client_pd) {
                order.push(id.client_pd.clone());
            }
        }
        let clients = order.iter().filter(|n| *n != "harness").count();
        let mut k = 0;
        for name in order {
            let harness = name == "harness";
            let mine: Vec<&Identity> = ids.iter().filter(|id| id.client_pd == name).collect();
            let (prio, image) = if harness {
                (priority::HARNESS, "harness.elf")
            } else {
                k += 1;
                (priority::CLIENT + (clients - k) as u8, self.program_of(&name))
            };
            let mut c = pd(&name, prio, false, image);
            c.stack_size = 0x8000;
            for id in &mine {
                // One identity: the ABI's `sfs_buf`; several: by channel.
                let symbol = if mine.len() == 1 && !harness {
                    system::CLIENT_BUFFER_SYMBOL
                } else {
                    buf(id.client_channel)
                };
                self.map(&mut c, &id.region, Perms::RW, symbol);
                let wire = &self.wires[id.wire].name;
                self.channels.push(channel(
                    end(&name, id.client_channel, true),
                    end(wire, id.wire_channel, false),
                ));
            }
            if harness {
                self.harness(&mut c, &mine);
            }
            self.pds.push(c);
        }
    }

    /// The harness: its memory (the benchmark runs the engine alone there,
    /// on a stack as big as a ledger's) and its misbehaving child.
    fn harness(&mut self, c: &mut ProtectionDomain, mine: &[&Identity]) {
        let max_record = self.cfg.system.max_record;
        let engine = ledger::Buffers::<&mut [u8]>::bytes_needed(max_record) as u64;
        c.stack_size = 0x20000;
        self.region("harness_mem", engine + HARNESS_STORE, None);
        self.map(c, "harness_mem", Perms::RW, system::MEM_SYMBOL);
        self.region("harness_probe", PAGE, None);
        self.map(c, "harness_probe", Perms::RW, system::PROBE_SYMBOL);
        let mut child = pd("harness_faulty", priority::FAULTY, false, "faulty.elf");
        child.id = Some(0);
        child.stack_size = 0x4000;
        self.map(&mut child, "harness_probe", Perms::R, system::PROBE_SYMBOL);
        self.channels.push(channel(
            end("harness", HARNESS_CHILD_CHANNEL, false),
            end("harness_faulty", 0, false),
        ));
        c.children.push(child);
        let mut identities = heapless::Vec::new();
        let mut sorted: Vec<&&Identity> = mine.iter().collect();
        sorted.sort_by_key(|id| id.client_channel);
        for id in sorted {
            let _ = identities.push(system::ClientIdentity {
                tenant: self.tenant_name(id.tenant),
                origin: self.origin(id.tenant),
                module: leak(id.module.clone()),
                role: id.role,
                channel: id.client_channel,
            });
        }
        let h = system::Harness {
            max_record: max_record as u32,
            identities,
            child: Some(HARNESS_CHILD_CHANNEL),
        };
        self.configs.push(("harness".into(), Kind::Harness(h)));
        self.configs.push(("harness_faulty".into(), Kind::Faulty));
    }

    /// The program of client PD `pd`: its modules', or the example client.
    fn program_of(&self, pd: &str) -> &'a str {
        let cfg: &'a Config = self.cfg;
        cfg.tenant
            .iter()
            .flat_map(|t| t.modules.iter().map(move |m| (t, m)))
            .find(|(t, m)| client_pd(t, m) == pd)
            .and_then(|(_, m)| m.program.as_deref())
            .unwrap_or(crate::programs::CLIENT_PROGRAM)
    }

    /// Microkit's limits the spreading cannot lift, each in one line.
    fn limits(&self) -> Result<()> {
        let count =
            |pds: &[ProtectionDomain]| -> usize { pds.iter().map(|p| 1 + p.children.len()).sum() };
        let total = count(&self.pds);
        if total > sdf_max_pds() {
            let clients = self.pds.iter().filter(|p| p.name.starts_with("client_")).count();
            bail!(
                "{total} protection domains: Microkit allows {} ({} ledgers, {clients} client PDs, {} wire, psdb{}{}); give a tenant's modules one client PD with `pd = \"…\"` or serve fewer tenants",
                sdf_max_pds(),
                self.cfg.tenant.len(),
                self.wires.len(),
                if matches!(self.storage, Storage::Disk(_)) { ", blk" } else { "" },
                if self.cfg.harness.is_some() { ", harness and its child" } else { "" },
            );
        }
        for p in &self.pds {
            let n = self.channels.iter().flat_map(|c| &c.ends).filter(|e| e.pd == p.name).count();
            ensure!(n <= MAX_CHANNELS, "{}: {n} channels: Microkit allows 62 per PD", p.name);
        }
        Ok(())
    }

    /// Adds each configured PD's configuration region, then the model and
    /// the encoded configurations.
    fn finish(mut self) -> Result<Generated> {
        let mut pds = std::mem::take(&mut self.pds);
        let configs = std::mem::take(&mut self.configs);
        let mut out = Vec::new();
        for (name, kind) in configs {
            let bytes = {
                let Some(p) = find_pd(&mut pds, &name) else { bail!("no PD {name}") };
                let region = format!("config_{name}");
                // The region's size depends only on the encoding's length,
                // and the encoding lists the region: encode twice.
                self.region(&region, PAGE, Some(format!("{}/{name}.cfg", self.config_dir)));
                self.map(p, &region, Perms::R, system::CONFIG_SYMBOL);
                let bytes = encode(&name, p, kind)?;
                let size = round_up(bytes.len() as u64, PAGE);
                if let Some(r) = self.regions.iter_mut().find(|r| r.name == region) {
                    r.size = size;
                }
                bytes
            };
            out.push((name, bytes));
        }
        let system = System {
            file: "system.xml".into(),
            memory_regions: self.regions.clone(),
            pds,
            channels: self.channels.clone(),
        };
        // Which mappings are private is known once every PD maps its regions.
        let out = out
            .into_iter()
            .map(|(name, bytes)| Ok((name.clone(), with_privacy(&system, &name, &bytes)?)))
            .collect::<Result<Vec<_>>>()?;
        system.validate().map_err(|e| anyhow::anyhow!("generated system.xml is invalid: {e}"))?;
        let xml = system.to_xml(XML_HEADER);
        Ok(Generated { xml, system, configs: out })
    }
}

const XML_HEADER: &str = "    service-fs system description, generated by `make system` (sysgen)\n    from tenants.toml: edit that file, not this one.";

/// Microkit's limit on protection domains, children included.
fn sdf_max_pds() -> usize {
    sdf::MAX_PDS
}

fn find_pd<'p>(pds: &'p mut [ProtectionDomain], name: &str) -> Option<&'p mut ProtectionDomain> {
    for p in pds.iter_mut() {
        if p.name == name {
            return Some(p);
        }
        if let Some(c) = find_pd(&mut p.children, name) {
            return Some(c);
        }
    }
    None
}

/// A PD's configuration: its mappings (privacy filled in later) and kind.
fn encode(name: &str, p: &ProtectionDomain, kind: Kind<'_>) -> Result<Vec<u8>> {
    let mut mappings = heapless::Vec::new();
    for m in &p.maps {
        let Some(symbol) = &m.setvar_vaddr else { continue };
        let mapping = system::Mapping { symbol, writable: m.perms.write, private: false };
        if mappings.push(mapping).is_err() {
            bail!("{name}: more mappings than a configuration holds");
        }
    }
    let paddrs = p.setvars.iter().map(|v| v.symbol.as_str()).take(4).collect();
    Ok(system::Config { pd: name, mappings, paddrs, kind }.encode())
}

/// `bytes` (a configuration of PD `name`) with each mapping's `private`
/// set: no other PD of `system` maps its region.
fn with_privacy(system: &System, name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut config = system::Config::parse(bytes, name)
        .map_err(|e| anyhow::anyhow!("{name}: its configuration does not read back: {e:?}"))?;
    let pds = system.all_pds();
    let Some(p) = pds.iter().find(|p| p.name == name) else { bail!("no PD {name}") };
    for m in config.mappings.iter_mut() {
        let Some(map) = p.maps.iter().find(|x| x.setvar_vaddr.as_deref() == Some(m.symbol)) else {
            continue;
        };
        let users = pds.iter().filter(|q| q.maps.iter().any(|x| x.mr == map.mr)).count();
        m.private = users == 1;
    }
    Ok(config.encode())
}

/// Strings the configurations borrow live as long as the generation:
/// sysgen is a short-lived tool, so they are leaked rather than threaded
/// through lifetimes.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
