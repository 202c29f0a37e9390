//! From `tenants.toml` (tenants, their modules and roles, sizes) to the
//! Microkit `system.xml` and the `system` crate's tables.
//!
//! The shape it generates (docs/design.md, Envelope B): client PDs call `wire`,
//! `wire` calls one `ledger_<tenant>` PD per tenant, ledgers call `psdb`.
//! Priorities rise toward the servers, servers are passive, and every
//! buffer is shared by exactly the two PDs of one channel; no channel or
//! region links two tenants.

use std::fmt::Write;

use abi::client::Role;
use anyhow::{Context, Result, ensure};
use sdf::{Channel, End, Map, MemoryRegion, Perms, Pos, ProtectionDomain, System};
use serde::Deserialize;

/// `tenants.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Sizes.
    pub system: SystemConfig,
    /// Tenants.
    pub tenant: Vec<TenantConfig>,
    /// The scenario/test harness client, if any.
    pub harness: Option<HarnessConfig>,
}

/// `[system]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Largest record a ledger accepts.
    pub max_record: usize,
    /// Bytes of each client's shared buffer.
    pub client_buffer: u64,
    /// Bytes of disk for each tenant's records (unless the tenant says).
    pub records_size: u64,
    /// Bytes of disk for each tenant's audit ledger (unless the tenant says).
    pub audit_size: u64,
    /// Bytes of psdb's memory for the namespaces' indexes.
    pub psdb_memory: u64,
}

/// `[[tenant]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Name.
    pub name: String,
    /// Checkpoint origin (default `service-fs/<name>`).
    pub origin: Option<String>,
    /// Bytes of disk for its records (default `[system] records_size`).
    pub records_size: Option<u64>,
    /// Bytes of disk for its audit ledger (default `[system] audit_size`).
    pub audit_size: Option<u64>,
    /// Modules, each an example client PD.
    pub modules: Vec<ModuleConfig>,
}

/// A module.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Name (unique in its tenant).
    pub name: String,
    /// `ring1`, `ring2` or `audit`.
    pub role: String,
    /// The program of its client PD (default `client.elf`, the example
    /// client): an integrator's own, built into the image.
    pub program: Option<String>,
}

/// `[harness]`: one identity of each role for each listed tenant, and a
/// child PD that misbehaves on request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessConfig {
    /// Tenants the harness gets identities in.
    pub tenants: Vec<String>,
}

/// Where psdb keeps the namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A virtio-blk disk behind the `blk` PD.
    Disk(DiskDevice),
    /// psdb's own memory: no disk, nothing survives a reboot.
    Ram,
}

/// A board's disk (`[disk]` in `board/<board>/board.toml`): the
/// virtio-mmio transport of the block device and its interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskDevice {
    /// Physical address of the transport's registers.
    pub mmio: u64,
    /// Its interrupt (the GIC's number on ARM).
    pub irq: u32,
    /// As the device tree says.
    pub trigger: Trigger,
}

/// How an interrupt is signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// On an edge.
    Edge,
    /// While the line is asserted.
    Level,
}

#[derive(Deserialize)]
struct BoardFile {
    disk: Option<DiskDevice>,
}

/// The board `make system` describes unless told otherwise.
pub const DEFAULT_BOARD: &str = "qemu_virt_aarch64";

/// The storage `board/<board>/board.toml` gives: its `[disk]`, or memory.
pub fn board_storage(root: &std::path::Path, board: &str) -> Result<Storage> {
    let path = root.join("board").join(board).join("board.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: BoardFile = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    match file.disk {
        Some(d) => {
            ensure!(d.irq > 0, "{}: [disk] irq must be an interrupt number, not 0", path.display());
            Ok(Storage::Disk(d))
        }
        None => Ok(Storage::Ram),
    }
}

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
    /// `LEDGER` (wire's channels fit at most 30 tenants).
    pub const LEDGER: u8 = 150;
    /// wire.
    pub const WIRE: u8 = 100;
    /// The harness: above every client, so its scenarios run first on seL4.
    pub const HARNESS: u8 = 90;
    /// Example clients: from `CLIENT + n - 1` for the first of `n` down to
    /// `CLIENT`, so they run in the order tenants.toml lists them.
    pub const CLIENT: u8 = 10;
    /// The harness's misbehaving child.
    pub const FAULTY: u8 = 5;
}

/// Where maps start in every PD.
const VADDR_BASE: u64 = 0x2000_0000;
const PAGE: u64 = 0x1000;
/// Prefix of every setvar symbol: they are global symbols in PD programs.
pub const SYMBOL_PREFIX: &str = "sfs_";

fn symbol_name(s: &str) -> String {
    format!("{SYMBOL_PREFIX}{s}")
}

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

/// A module identity in the generated system.
#[derive(Debug, Clone)]
struct Identity {
    tenant: usize,
    module: String,
    role: Role,
    client_pd: String,
    client_channel: u8,
    client_symbol: String,
    region: String,
}

/// The generated system: the Microkit description and the tables.
pub struct Generated {
    /// `system.xml`.
    pub xml: String,
    /// `crates/system/src/generated.rs`.
    pub rust: String,
    /// `image/sel4-platform/src/symbols.rs`.
    pub symbols: String,
    /// The model behind `xml`.
    pub system: System,
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// A name of 1–24 of `a-z 0-9` and `extra`, starting with a letter.
fn valid_name(s: &str, extra: u8) -> bool {
    (1..=24).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
}

/// Generates everything from the text of `tenants.toml`, for a board
/// whose psdb keeps its namespaces in `storage`. The Rust tables cover
/// both kinds of storage, so the same programs run on every board.
pub fn generate(config_text: &str, storage: Storage) -> Result<Generated> {
    let cfg: Config = toml::from_str(config_text).context("tenants.toml")?;
    check(&cfg)?;
    let build = |storage| -> Result<Builder> {
        let mut b = Builder::new(&cfg, storage);
        b.build()?;
        Ok(b)
    };
    let b = build(storage)?;
    let other = build(match storage {
        Storage::Ram => {
            Storage::Disk(DiskDevice { mmio: 0x1000, irq: 32, trigger: Trigger::Level })
        }
        Storage::Disk(_) => Storage::Ram,
    })?;
    let system = b.system();
    system.validate().map_err(|e| anyhow::anyhow!("generated system.xml is invalid: {e}"))?;
    let xml = system.to_xml(XML_HEADER);
    let both = [system.clone(), other.system()];
    let rust = b.rust(&both);
    let symbols = symbols_rs(&both);
    Ok(Generated { xml, rust, symbols, system })
}

/// Where the seL4 glue's symbol declarations go.
pub const SYMBOLS_RS: &str = "image/sel4-platform/src/symbols.rs";

/// The seL4 glue's declarations of every symbol the description patches:
/// each program carries them all (the tool patches those its PD maps, the
/// rest stay zero), so one list serves every program.
fn symbols_rs(systems: &[System]) -> String {
    let pds: Vec<&ProtectionDomain> = systems.iter().flat_map(|s| s.all_pds()).collect();
    let mut pairs: Vec<(&str, &str)> = pds
        .iter()
        .flat_map(|p| &p.maps)
        .filter_map(|m| Some((m.setvar_vaddr.as_deref()?, m.setvar_size.as_deref()?)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut paddrs: Vec<&str> =
        pds.iter().flat_map(|p| &p.setvars).map(|v| v.symbol.as_str()).collect();
    paddrs.sort_unstable();
    paddrs.dedup();
    let mut s = String::from(
        "// @generated by `make system` (sysgen) from tenants.toml, with system.xml.\n// Do not edit: edit tenants.toml and run `make system`.\n\ncrate::declare_symbols! {\n",
    );
    for (vaddr, size) in pairs {
        let _ = writeln!(s, "    {vaddr}, {size};");
    }
    s.push_str("}\n\ncrate::declare_paddrs! {\n");
    for p in paddrs {
        let _ = writeln!(s, "    {p};");
    }
    s.push_str("}\n");
    s
}

const XML_HEADER: &str = "    service-fs system description, generated by `make system` (sysgen)\n    from tenants.toml: edit that file, not this one.";

/// Programs the system itself runs; a client PD may not pose as one.
const SYSTEM_PROGRAMS: [&str; 6] =
    ["psdb.elf", "ledger.elf", "wire.elf", "harness.elf", "faulty.elf", "bench.elf"];

fn valid_program(p: &str) -> bool {
    p.strip_suffix(".elf").is_some_and(|n| {
        (1..=32).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }) && !SYSTEM_PROGRAMS.contains(&p)
}

fn check(cfg: &Config) -> Result<()> {
    let s = &cfg.system;
    ensure!((1..=65535).contains(&s.max_record), "max_record must be 1..=65535");
    ensure!(
        s.client_buffer >= PAGE && s.client_buffer.is_multiple_of(PAGE),
        "client_buffer must be a multiple of 4096"
    );
    ensure!(
        s.psdb_memory >= PAGE && s.psdb_memory.is_multiple_of(PAGE),
        "psdb_memory must be a multiple of 4096"
    );
    ensure!(!cfg.tenant.is_empty(), "at least one [[tenant]]");
    let mut names = std::collections::BTreeSet::new();
    for t in &cfg.tenant {
        // Tenant names end up in symbols (`ns_<tenant>_log`): C identifiers.
        ensure!(
            valid_name(&t.name, b'_'),
            "tenant name {:?}: 1-24 of a-z 0-9 _, starting with a letter",
            t.name
        );
        ensure!(names.insert(&t.name), "duplicate tenant {:?}", t.name);
        ensure!(!t.modules.is_empty(), "tenant {:?} has no modules", t.name);
        let mut mods = std::collections::BTreeSet::new();
        for m in &t.modules {
            ensure!(
                valid_name(&m.name, b'-'),
                "module name {:?} of {:?}: 1-24 of a-z 0-9 -, starting with a letter",
                m.name,
                t.name
            );
            ensure!(mods.insert(&m.name), "duplicate module {:?} in tenant {:?}", m.name, t.name);
            if let Some(p) = &m.program {
                ensure!(
                    valid_program(p),
                    "module {}.{}: program {p:?} must be <name>.elf (a-z 0-9 _ -) and not one of the system's own",
                    t.name,
                    m.name
                );
            }
            ensure!(
                Role::parse(&m.role).is_some(),
                "module {}.{}: role {:?} is not ring1, ring2 or audit",
                t.name,
                m.name,
                m.role
            );
        }
    }
    if let Some(h) = &cfg.harness {
        for t in &h.tenants {
            ensure!(names.contains(t), "harness: no tenant {t:?}");
        }
    }
    check_sizes(cfg)
}

/// The disk's extents fit the format, hold a few of the largest objects,
/// and psdb has memory to index each.
fn check_sizes(cfg: &Config) -> Result<()> {
    let largest = 256 * (2 + cfg.system.max_record as u64) + 8192;
    let specs = namespace_specs(cfg);
    let total: u64 = specs.iter().map(|(_, s)| s).sum();
    for (name, size) in &specs {
        ensure!(
            size.is_multiple_of(PAGE) && *size >= disk::superblock::MIN_EXTENT,
            "{name}: its size must be a multiple of 4096, at least 64 KiB"
        );
        let need = if name.ends_with("/audit") { 4 * 64 * 1024 } else { 4 * largest };
        ensure!(
            *size >= need,
            "{name}: {size:#x} bytes cannot hold four of its largest objects ({need:#x} needed)"
        );
        let mem = cfg.system.psdb_memory * size / total;
        ensure!(
            mem >= disk::namespace::MIN_MEMORY as u64,
            "psdb_memory: {name} would get {mem} bytes to index it, less than the 64 KiB it needs"
        );
    }
    Ok(())
}

/// Every namespace, in table order: each tenant's records, then its audit ledger.
fn namespace_specs(cfg: &Config) -> Vec<(String, u64)> {
    cfg.tenant
        .iter()
        .flat_map(|t| {
            [
                (format!("{}/log", t.name), t.records_size.unwrap_or(cfg.system.records_size)),
                (format!("{}/audit", t.name), t.audit_size.unwrap_or(cfg.system.audit_size)),
            ]
        })
        .collect()
}

struct Builder<'a> {
    cfg: &'a Config,
    storage: Storage,
    regions: Vec<MemoryRegion>,
    pds: Vec<ProtectionDomain>,
    channels: Vec<Channel>,
    identities: Vec<Identity>,
    wire_ledgers: Vec<(usize, u8, String)>,
    namespaces: Vec<(usize, bool, u8, String)>,
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

impl<'a> Builder<'a> {
    fn new(cfg: &'a Config, storage: Storage) -> Self {
        Builder {
            cfg,
            storage,
            regions: Vec::new(),
            pds: Vec::new(),
            channels: Vec::new(),
            identities: Vec::new(),
            wire_ledgers: Vec::new(),
            namespaces: Vec::new(),
        }
    }

    fn region(&mut self, name: &str, size: u64, prefill: Option<String>) {
        self.region_at(name, size, prefill, None);
    }

    fn region_at(
        &mut self,
        name: &str,
        size: u64,
        prefill: Option<String>,
        phys_addr: Option<u64>,
    ) {
        let size = round_up(size, PAGE);
        self.regions.push(MemoryRegion {
            name: name.into(),
            size,
            page_size: PAGE,
            prefill_path: prefill,
            phys_addr,
            pos: Pos::default(),
        });
    }

    fn size_of(&self, mr: &str) -> u64 {
        self.regions.iter().find(|r| r.name == mr).map_or(PAGE, |r| r.size)
    }

    /// Maps `mr` into `pd` after its last map, with a guard page between.
    /// The mapping's symbols are `sfs_<symbol>` (its address) and
    /// `sfs_<symbol>_size`; the tool patches both into the PD's program.
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
        pd.maps.push(Map {
            mr: mr.into(),
            vaddr,
            perms,
            cached,
            setvar_vaddr: Some(symbol_name(symbol)),
            setvar_size: Some(format!("{}_size", symbol_name(symbol))),
            pos: Pos::default(),
        });
    }

    fn origin(&self, t: usize) -> String {
        let t = &self.cfg.tenant[t];
        t.origin.clone().unwrap_or_else(|| format!("service-fs/{}", t.name))
    }

    fn build(&mut self) -> Result<()> {
        let cfg = self.cfg;
        let sys = &cfg.system;
        // A psdb buffer holds the largest object of its namespace (a full
        // entry bundle) and two checkpoints.
        let pbuf = |max_entry: usize| 256 * (2 + max_entry as u64) + CHECKPOINTS;
        self.region("psdb_mem", sys.psdb_memory, None);
        if self.storage == Storage::Ram {
            let specs = namespace_specs(cfg);
            let specs: Vec<disk::Spec> =
                specs.iter().map(|(n, s)| disk::Spec { name: n, size: *s }).collect();
            let bytes = disk::superblock::disk_bytes(&specs).map_err(anyhow::Error::msg)?;
            self.region("psdb_store", bytes, None);
        }
        let ledger_mem =
            ledger::Buffers::<&mut [u8]>::bytes_needed(sys.max_record) as u64 + sys.client_buffer;
        for t in &cfg.tenant {
            let seed = format!("build/keys/{}.seed", t.name);
            self.region(&format!("key_{}", t.name), PAGE, Some(seed));
            self.region(&format!("lmem_{}", t.name), ledger_mem, None);
            self.region(&format!("lbuf_{}", t.name), LEDGER_HEADER + sys.client_buffer, None);
            self.region(&format!("pbuf_{}_log", t.name), pbuf(sys.max_record), None);
            self.region(
                &format!("pbuf_{}_audit", t.name),
                pbuf(ledger::audit::MAX_AUDIT_RECORD),
                None,
            );
        }
        self.region("wmem", sys.client_buffer, None);
        // Identities: each module's example client, then the harness's.
        for (ti, t) in cfg.tenant.iter().enumerate() {
            for m in &t.modules {
                let client_pd = format!("client_{}_{}", t.name, m.name);
                self.identity(
                    ti,
                    &m.name,
                    Role::parse(&m.role).unwrap_or(Role::Ring2),
                    &client_pd,
                    0,
                    "buf",
                );
            }
        }
        if let Some(h) = &cfg.harness {
            let mut ch = 0;
            for name in &h.tenants {
                let ti = cfg.tenant.iter().position(|t| &t.name == name).unwrap_or(0);
                for role in [Role::Ring1, Role::Ring2, Role::Audit] {
                    let module = format!("harness-{}", role.name());
                    self.identity(ti, &module, role, "harness", ch, &format!("buf_{ch}"));
                    ch += 1;
                }
            }
        }
        let wire_ids = self.identities.len() + cfg.tenant.len();
        ensure!(wire_ids <= 62, "{wire_ids} channels into wire: Microkit allows 62 per PD");
        // psdb's channel 61 is its driver's: 30 tenants of two namespaces.
        ensure!(2 * cfg.tenant.len() <= 60, "psdb serves at most 30 tenants (two namespaces each)");
        self.build_pds()
    }

    /// The block driver and its queues with psdb (`abi::blk`): the
    /// device's register page uncached, a DMA region and the data region
    /// with physical addresses for the device, and the device's interrupt.
    fn blk(&mut self, psdb: &mut ProtectionDomain, d: &DiskDevice) {
        use abi::blk::system as sym;
        let page = d.mmio & !(PAGE - 1);
        self.region_at("blk_regs", PAGE, None, Some(page));
        self.region("blk_dma", BLK_DMA, None);
        self.region("blk_data", BLK_DATA, None);
        for q in ["blk_config", "blk_requests", "blk_responses"] {
            self.region(q, PAGE, None);
        }
        let mut blk = pd("blk", priority::BLK, false, "blk.elf");
        self.map_cached(&mut blk, "blk_regs", Perms::RW, "blk_regs", false);
        self.map(&mut blk, "blk_dma", Perms::RW, "blk_dma");
        for (mr, driver, client) in [
            ("blk_config", Perms::RW, Perms::R),
            ("blk_requests", Perms::RW, Perms::RW),
            ("blk_responses", Perms::RW, Perms::RW),
            ("blk_data", Perms::RW, Perms::RW),
        ] {
            self.map(&mut blk, mr, driver, mr);
            self.map(psdb, mr, client, mr);
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
        self.channels.push(Channel {
            ends: [end("psdb", sym::PSDB_DRIVER, false), end("blk", sym::DRIVER_PSDB, false)],
            pos: Pos::default(),
        });
    }

    fn identity(
        &mut self,
        tenant: usize,
        module: &str,
        role: Role,
        client_pd: &str,
        client_channel: u8,
        symbol: &str,
    ) {
        let t = &self.cfg.tenant[tenant].name;
        let region = format!("cbuf_{t}_{module}");
        self.region(&region, self.cfg.system.client_buffer, None);
        self.identities.push(Identity {
            tenant,
            module: format!("{t}.{module}"),
            role,
            client_pd: client_pd.into(),
            client_channel,
            client_symbol: symbol.into(),
            region,
        });
    }

    fn build_pds(&mut self) -> Result<()> {
        let cfg = self.cfg;
        let tenants: Vec<&str> = cfg.tenant.iter().map(|t| t.name.as_str()).collect();
        // psdb: one namespace (channel) per tenant log.
        let mut psdb = pd("psdb", priority::PSDB, true, "psdb.elf");
        self.map(&mut psdb, "psdb_mem", Perms::RW, "mem");
        if self.storage == Storage::Ram {
            self.map(&mut psdb, "psdb_store", Perms::RW, "store");
        }
        for (ti, t) in tenants.iter().enumerate() {
            for (k, log) in ["log", "audit"].into_iter().enumerate() {
                let symbol = format!("ns_{t}_{log}");
                self.map(&mut psdb, &format!("pbuf_{t}_{log}"), Perms::RW, &symbol);
                self.namespaces.push((ti, k == 1, (2 * ti + k) as u8, symbol));
            }
        }
        if let Storage::Disk(d) = self.storage {
            self.blk(&mut psdb, &d);
        }
        self.pds.push(psdb);
        for (ti, t) in tenants.iter().enumerate() {
            let name = format!("ledger_{t}");
            let prio = priority::LEDGER + (tenants.len() - 1 - ti) as u8;
            let mut l = pd(&name, prio, true, "ledger.elf");
            l.stack_size = 0x20000;
            self.map(&mut l, &format!("lmem_{t}"), Perms::RW, "mem");
            self.map(&mut l, &format!("lbuf_{t}"), Perms::RW, "wire_buf");
            self.map(&mut l, &format!("pbuf_{t}_log"), Perms::RW, "psdb_log");
            self.map(&mut l, &format!("pbuf_{t}_audit"), Perms::RW, "psdb_audit");
            self.map(&mut l, &format!("key_{t}"), Perms::R, "key");
            self.pds.push(l);
            for (k, ledger_ch) in [(0, 1u8), (1, 2u8)] {
                let psdb_ch = (2 * ti + k) as u8;
                self.channels.push(Channel {
                    ends: [end(&name, ledger_ch, true), end("psdb", psdb_ch, false)],
                    pos: Pos::default(),
                });
            }
        }
        let mut wire = pd("wire", priority::WIRE, true, "wire.elf");
        self.map(&mut wire, "wmem", Perms::RW, "mem");
        for (i, id) in self.identities.clone().iter().enumerate() {
            self.map(&mut wire, &id.region, Perms::RW, &format!("client_{i}"));
        }
        for (ti, t) in tenants.iter().enumerate() {
            let ch = (self.identities.len() + ti) as u8;
            let symbol = format!("ledger_{t}");
            self.map(&mut wire, &format!("lbuf_{t}"), Perms::RW, &symbol);
            self.channels.push(Channel {
                ends: [end("wire", ch, true), end(&format!("ledger_{t}"), 0, false)],
                pos: Pos::default(),
            });
            self.wire_ledgers.push((ti, ch, symbol));
        }
        self.pds.push(wire);
        self.client_pds();
        Ok(())
    }

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
            let (prio, image) = if harness {
                (priority::HARNESS, "harness.elf")
            } else {
                k += 1;
                (priority::CLIENT + (clients - k) as u8, self.program_of(&name))
            };
            let mut c = pd(&name, prio, false, image);
            c.stack_size = 0x8000;
            for (i, id) in ids.iter().enumerate().filter(|(_, id)| id.client_pd == name) {
                self.map(&mut c, &id.region, Perms::RW, &id.client_symbol);
                self.channels.push(Channel {
                    ends: [end(&name, id.client_channel, true), end("wire", i as u8, false)],
                    pos: Pos::default(),
                });
            }
            if harness {
                // The benchmark program runs the engine alone, on this stack
                // (as big as a ledger's), in private memory.
                let engine = ledger::Buffers::<&mut [u8]>::bytes_needed(self.cfg.system.max_record);
                c.stack_size = 0x20000;
                self.region("harness_mem", engine as u64 + HARNESS_STORE, None);
                self.map(&mut c, "harness_mem", Perms::RW, "mem");
                self.faulty_child(&mut c);
            }
            self.pds.push(c);
        }
    }

    /// The program of client PD `pd`: its module's, or the example client.
    fn program_of(&self, pd: &str) -> &'a str {
        let cfg = self.cfg;
        cfg.tenant
            .iter()
            .flat_map(|t| t.modules.iter().map(move |m| (t, m)))
            .find(|(t, m)| format!("client_{}_{}", t.name, m.name) == pd)
            .and_then(|(_, m)| m.program.as_deref())
            .unwrap_or("client.elf")
    }

    /// The harness's child: it misbehaves when told to, and its faults go to the harness.
    fn faulty_child(&mut self, harness: &mut ProtectionDomain) {
        self.region("harness_probe", PAGE, None);
        self.map(harness, "harness_probe", Perms::RW, "probe");
        let mut child = pd("harness_faulty", priority::FAULTY, false, "faulty.elf");
        child.id = Some(0);
        child.stack_size = 0x4000;
        self.map(&mut child, "harness_probe", Perms::R, "probe");
        let ends = [end("harness", HARNESS_CHILD_CHANNEL, false), end("harness_faulty", 0, false)];
        self.channels.push(Channel { ends, pos: Pos::default() });
        harness.children.push(child);
    }

    fn system(&self) -> System {
        System {
            file: "system.xml".into(),
            memory_regions: self.regions.clone(),
            pds: self.pds.clone(),
            channels: self.channels.clone(),
        }
    }

    /// One `Mapping` line per map with a symbol in any of `systems` (the
    /// same PDs with each kind of storage); a region mapped into one PD
    /// alone is that PD's private memory. Then every physical-address symbol.
    fn mappings(systems: &[System], s: &mut String) {
        let mut lines = Vec::new();
        for system in systems {
            let pds = system.all_pds();
            let users = |mr: &str| pds.iter().flat_map(|p| &p.maps).filter(|m| m.mr == mr).count();
            for pd in &pds {
                for m in &pd.maps {
                    let (Some(symbol), Some(size_symbol)) = (&m.setvar_vaddr, &m.setvar_size)
                    else {
                        continue;
                    };
                    let line = format!(
                        "    Mapping {{ pd: {:?}, symbol: {symbol:?}, size_symbol: {size_symbol:?}, writable: {}, private: {} }},",
                        pd.name,
                        m.perms.write,
                        users(&m.mr) == 1
                    );
                    if !lines.contains(&line) {
                        lines.push(line);
                    }
                }
            }
        }
        // The same whichever storage was generated first.
        lines.sort();
        for l in lines {
            let _ = writeln!(s, "{l}");
        }
        let _ = writeln!(
            s,
            "];\n\n/// Every symbol holding a region's physical address, by PD.\npub const PADDRS: &[Paddr] = &["
        );
        let mut seen = Vec::new();
        for pd in systems.iter().flat_map(|s| s.all_pds()) {
            for v in &pd.setvars {
                let line = format!("    Paddr {{ pd: {:?}, symbol: {:?} }},", pd.name, v.symbol);
                if !seen.contains(&line) {
                    let _ = writeln!(s, "{line}");
                    seen.push(line);
                }
            }
        }
    }

    fn rust(&self, systems: &[System]) -> String {
        let cfg = self.cfg;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// @generated by `make system` (sysgen) from tenants.toml, with system.xml.\n// Do not edit: edit tenants.toml and run `make system`.\n"
        );
        let _ = writeln!(
            s,
            "use crate::{{Identity, Mapping, Namespace, Paddr, Role, Tenant, WireLedger}};\n"
        );
        let _ = writeln!(
            s,
            "/// Largest record a ledger accepts.\npub const MAX_RECORD: usize = {};",
            cfg.system.max_record
        );
        let _ = writeln!(
            s,
            "/// Bytes of each client's shared buffer.\npub const CLIENT_BUFFER: usize = {:#x};",
            cfg.system.client_buffer
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "/// The tenants.\npub const TENANTS: &[Tenant] = &[");
        for (i, t) in cfg.tenant.iter().enumerate() {
            let _ = writeln!(
                s,
                "    Tenant {{ name: {:?}, origin: {:?}, ledger_pd: \"ledger_{}\" }},",
                t.name,
                self.origin(i),
                t.name
            );
        }
        let _ = writeln!(
            s,
            "];\n\n/// Every module identity, by `wire` channel.\npub const IDENTITIES: &[Identity] = &["
        );
        for (i, id) in self.identities.iter().enumerate() {
            let role = match id.role {
                Role::Ring1 => "Ring1",
                Role::Ring2 => "Ring2",
                Role::Audit => "Audit",
            };
            let _ = writeln!(
                s,
                "    Identity {{ tenant: {}, module: {:?}, role: Role::{role}, wire_channel: {i}, client_pd: {:?}, client_channel: {}, client_symbol: {:?}, wire_symbol: \"{SYMBOL_PREFIX}client_{i}\" }},",
                id.tenant,
                id.module,
                id.client_pd,
                id.client_channel,
                symbol_name(&id.client_symbol)
            );
        }
        let _ = writeln!(
            s,
            "];\n\n/// `wire`'s ledger channels.\npub const WIRE_LEDGERS: &[WireLedger] = &["
        );
        for (t, ch, sym) in &self.wire_ledgers {
            let _ = writeln!(
                s,
                "    WireLedger {{ tenant: {t}, channel: {ch}, symbol: {:?} }},",
                symbol_name(sym)
            );
        }
        let _ = writeln!(
            s,
            "];\n\n/// psdb's namespaces, by channel.\npub const PSDB_NAMESPACES: &[Namespace] = &["
        );
        let specs = namespace_specs(cfg);
        for ((t, audit, ch, sym), (name, size)) in self.namespaces.iter().zip(&specs) {
            let _ = writeln!(
                s,
                "    Namespace {{ name: {name:?}, size: {size:#x}, tenant: {t}, audit: {audit}, channel: {ch}, symbol: {:?} }},",
                symbol_name(sym)
            );
        }
        let _ = writeln!(
            s,
            "];\n\n/// Every mapping a PD finds by symbol, by PD.\npub const MAPPINGS: &[Mapping] = &["
        );
        Self::mappings(systems, &mut s);
        let _ = writeln!(
            s,
            "];\n\n/// The harness's channel to its misbehaving child, if there is a harness.\npub const HARNESS_CHILD_CHANNEL: Option<u8> = {};",
            if cfg.harness.is_some() {
                format!("Some({HARNESS_CHILD_CHANNEL})")
            } else {
                "None".into()
            }
        );
        s
    }
}

/// The harness's channel id to its child (above any identity channel).
pub const HARNESS_CHILD_CHANNEL: u8 = 61;

/// Generates for [`DEFAULT_BOARD`] from the files under `root`.
fn generate_default(root: &std::path::Path) -> Result<Generated> {
    let text =
        std::fs::read_to_string(root.join("tenants.toml")).context("reading tenants.toml")?;
    generate(&text, board_storage(root, DEFAULT_BOARD)?)
}

/// Reads `tenants.toml`, generates, and returns what differs from the
/// committed files (empty: up to date).
pub fn stale(root: &std::path::Path) -> Result<Vec<String>> {
    let g = generate_default(root)?;
    let mut out = Vec::new();
    for (path, want) in [
        ("system.xml", &g.xml),
        ("crates/system/src/generated.rs", &g.rust),
        (SYMBOLS_RS, &g.symbols),
    ] {
        let have = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if &have != want {
            out.push(path.to_string());
        }
    }
    Ok(out)
}

/// Writes `system.xml` (for [`DEFAULT_BOARD`]) and the tables.
pub fn write(root: &std::path::Path) -> Result<()> {
    let g = generate_default(root)?;
    std::fs::write(root.join("system.xml"), g.xml)?;
    std::fs::write(root.join("crates/system/src/generated.rs"), g.rust)?;
    std::fs::create_dir_all(root.join(SYMBOLS_RS).parent().unwrap_or(root))?;
    std::fs::write(root.join(SYMBOLS_RS), g.symbols)?;
    Ok(())
}

/// The system description for `board` with `storage` overriding the
/// board's own (the benchmark's memory-backed psdb), for `make image`.
pub fn xml_for(root: &std::path::Path, board: &str, storage: Option<Storage>) -> Result<String> {
    let text =
        std::fs::read_to_string(root.join("tenants.toml")).context("reading tenants.toml")?;
    let storage = match storage {
        Some(s) => s,
        None => board_storage(root, board)?,
    };
    Ok(generate(&text, storage)?.xml)
}
