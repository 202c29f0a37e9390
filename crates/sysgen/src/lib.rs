//! From `tenants.toml` (tenants, their modules and roles, sizes) to the
//! Microkit `system.xml` and each PD's configuration (`system/<pd>.cfg`,
//! the `system` crate's [`system::Config`]).
//!
//! The shape it generates (docs/system.md): client PDs call a `wire`, each
//! `wire` calls the `ledger_<tenant>` PDs of the identities it serves,
//! ledgers call `psdb`, psdb talks to its disk's driver. Priorities rise
//! toward the servers, servers are passive, every buffer is shared by
//! exactly the two PDs of one channel, and no channel or region links two
//! tenants (checked: [`isolation`]). Where Microkit's limits (62 channels a
//! PD, 63 PDs) would be passed, clients spread over several `wire` PDs;
//! what cannot be spread is refused in one line naming the limit.
//!
//! The programs those PDs run are one list, [`programs!`] (its generator:
//! [`mod@programs`]), which the simulator expands and from which the
//! image's program crate is generated.

mod builder;
pub mod isolation;
pub mod programs;
mod tenants;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub use builder::priority;
pub use tenants::{Config, HarnessConfig, ModuleConfig, SystemConfig, TenantConfig};

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
pub fn board_storage(root: &Path, board: &str) -> Result<Storage> {
    let path = root.join("board").join(board).join("board.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: BoardFile = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    match file.disk {
        Some(d) => {
            anyhow::ensure!(
                d.irq > 0,
                "{}: [disk] irq must be an interrupt number, not 0",
                path.display()
            );
            Ok(Storage::Disk(d))
        }
        None => Ok(Storage::Ram),
    }
}

/// A generated system: the Microkit description and each PD's
/// configuration.
pub struct Generated {
    /// The description's text.
    pub xml: String,
    /// The model behind it.
    pub system: sdf::System,
    /// `(pd, bytes)`: the configuration of each PD that has one, for
    /// `<dir>/<pd>.cfg`, where `dir` is the description's name without
    /// `.xml` (`system.xml` → `system/`).
    pub configs: Vec<(String, Vec<u8>)>,
}

/// The directory of a description's configurations, relative to it:
/// its file name without `.xml`.
pub fn config_dir(xml_name: &str) -> String {
    xml_name.strip_suffix(".xml").unwrap_or(xml_name).to_string()
}

/// Reads and checks `tenants.toml` at `path`: for the daemon, which serves
/// the tenants and modules the seL4 build gets from the same file.
pub fn load_tenants(path: &Path) -> Result<Config> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: Config = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    tenants::check(&cfg).with_context(|| format!("{}", path.display()))?;
    Ok(cfg)
}

/// Generates the description named `xml_name` (its configurations go in
/// [`config_dir`] beside it) from the text of `tenants.toml`, for a board
/// whose psdb keeps its namespaces in `storage`.
pub fn generate(config_text: &str, storage: Storage, xml_name: &str) -> Result<Generated> {
    let cfg: Config = toml::from_str(config_text).context("tenants.toml")?;
    generate_from(cfg, storage, xml_name)
}

/// The system of the harness's tenants alone, running only the system's
/// own programs (an integrator's are left out): what the benchmarks and
/// crash tests boot, whatever else `tenants.toml` holds.
pub fn generate_harness_only(
    root: &Path,
    board: &str,
    storage: Option<Storage>,
) -> Result<Generated> {
    let text =
        std::fs::read_to_string(root.join("tenants.toml")).context("reading tenants.toml")?;
    let mut cfg: Config = toml::from_str(&text).context("tenants.toml")?;
    let covered = cfg.harness.as_ref().map(|h| h.tenants.clone()).unwrap_or_default();
    cfg.tenant.retain(|t| covered.contains(&t.name));
    for t in &mut cfg.tenant {
        t.modules.retain(|m| m.program.is_none());
    }
    let storage = match storage {
        Some(s) => s,
        None => board_storage(root, board)?,
    };
    generate_from(cfg, storage, "system.xml")
}

fn generate_from(cfg: Config, storage: Storage, xml_name: &str) -> Result<Generated> {
    tenants::check(&cfg)?;
    let g = builder::build(&cfg, storage, &config_dir(xml_name))?;
    // What it generated, as a reader of the file sees it.
    let parsed = sdf::parse(xml_name, &g.xml)?;
    isolation::check(&parsed, &g.configs.iter().cloned().collect())?;
    Ok(g)
}

/// Every setvar symbol a generated system may use, in the order
/// `image/sel4-platform/src/symbols.rs` declares them.
pub fn symbols() -> Vec<String> {
    use abi::blk::system as blk;
    let mut s: Vec<String> = [
        system::CONFIG_SYMBOL,
        system::MEM_SYMBOL,
        system::PSDB_STORE_SYMBOL,
        system::KEY_SYMBOL,
        system::PROBE_SYMBOL,
        system::CLIENT_BUFFER_SYMBOL,
        blk::CONFIG,
        blk::REQUESTS,
        blk::RESPONSES,
        blk::DATA,
        blk::REGS,
        blk::DMA,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    s.extend(system::BUFFER_SYMBOLS.iter().map(|b| b.to_string()));
    s
}

/// Where the seL4 glue's symbol declarations go.
pub const SYMBOLS_RS: &str = "image/sel4-platform/src/symbols.rs";

/// The seL4 glue's declarations of every symbol a description may patch:
/// each program carries them all (the tool patches those its PD maps, the
/// rest stay zero), so one list serves every program and every system.
pub fn symbols_rs() -> String {
    let mut s = String::from(
        "// @generated by `make system` (sysgen): every setvar symbol a service-fs\n// system may use. Do not edit.\n\ncrate::declare_symbols! {\n",
    );
    for sym in symbols() {
        s.push_str(&format!("    {sym}, {sym}_size;\n"));
    }
    s.push_str("}\n\ncrate::declare_paddrs! {\n");
    for p in [abi::blk::system::DATA_PADDR, abi::blk::system::DMA_PADDR] {
        s.push_str(&format!("    {p};\n"));
    }
    s.push_str("}\n");
    s
}

/// The files `g` consists of, as written beside `xml` (a path).
fn files(xml: &Path, g: &Generated) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = xml.parent().unwrap_or(Path::new("."));
    let name = xml.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let cfg = dir.join(config_dir(&name));
    let mut out = vec![(xml.to_path_buf(), g.xml.clone().into_bytes())];
    for (pd, bytes) in &g.configs {
        out.push((cfg.join(format!("{pd}.cfg")), bytes.clone()));
    }
    out
}

/// Writes `g` as the description `xml` and its configurations beside it,
/// removing configurations of PDs it no longer has.
pub fn write_generated(xml: &Path, g: &Generated) -> Result<()> {
    let files = files(xml, g);
    if let Some((first_cfg, _)) = files.get(1) {
        let dir = first_cfg.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        for old in std::fs::read_dir(dir)? {
            let old = old?.path();
            if old.extension().is_some_and(|e| e == "cfg") && !files.iter().any(|(p, _)| *p == old)
            {
                std::fs::remove_file(&old)?;
            }
        }
    }
    for (path, bytes) in files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Generates the description for `board` (its own storage unless
/// `storage` says) from `root`'s `tenants.toml`.
pub fn generate_for(root: &Path, board: &str, storage: Option<Storage>) -> Result<Generated> {
    let text =
        std::fs::read_to_string(root.join("tenants.toml")).context("reading tenants.toml")?;
    let storage = match storage {
        Some(s) => s,
        None => board_storage(root, board)?,
    };
    generate(&text, storage, "system.xml")
}

/// Generates the description for `board` from `tenants` (default:
/// `root`'s `tenants.toml`), with the board's own storage.
pub fn generate_file(root: &Path, tenants: Option<&Path>, board: &str) -> Result<Generated> {
    let Some(file) = tenants else { return generate_for(root, board, None) };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    generate(&text, board_storage(root, board)?, "system.xml")
        .with_context(|| file.display().to_string())
}

/// Reads `tenants.toml`, generates, and returns what differs from the
/// committed files (empty: up to date).
pub fn stale(root: &Path) -> Result<Vec<String>> {
    let g = generate_for(root, DEFAULT_BOARD, None)?;
    let mut out = Vec::new();
    let mut want = files(&root.join("system.xml"), &g);
    want.push((root.join(SYMBOLS_RS), symbols_rs().into_bytes()));
    want.extend(programs::files(root));
    for (path, bytes) in &want {
        if std::fs::read(path).ok().as_ref() != Some(bytes) {
            out.push(path.strip_prefix(root).unwrap_or(path).display().to_string());
        }
    }
    let dir = root.join(config_dir("system.xml"));
    for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = f.path();
        if p.extension().is_some_and(|e| e == "cfg") && !want.iter().any(|(w, _)| *w == p) {
            out.push(format!("{} (no such PD)", p.strip_prefix(root).unwrap_or(&p).display()));
        }
    }
    for p in programs::extra_bins(root) {
        out.push(format!("{} (no such program)", p.strip_prefix(root).unwrap_or(&p).display()));
    }
    Ok(out)
}

/// Writes `system.xml` (for [`DEFAULT_BOARD`]), its configurations, the
/// seL4 glue's symbol list and the image's program crate (removing
/// binaries of programs the list no longer has).
pub fn write(root: &Path) -> Result<()> {
    let g = generate_for(root, DEFAULT_BOARD, None)?;
    write_generated(&root.join("system.xml"), &g)?;
    std::fs::write(root.join(SYMBOLS_RS), symbols_rs())?;
    for old in programs::extra_bins(root) {
        std::fs::remove_file(&old).with_context(|| format!("removing {}", old.display()))?;
    }
    for (path, bytes) in programs::files(root) {
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// A tenant of a system, as its configurations say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// Its name.
    pub name: String,
    /// Its checkpoint origin (its key's name).
    pub origin: String,
    /// Its ledger PD.
    pub ledger_pd: String,
}

/// What tools outside a system need to know of it, from its description
/// and its PDs' configurations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Described {
    /// Its tenants, in the description's order.
    pub tenants: Vec<Tenant>,
    /// The tenants the harness covers, if there is a harness.
    pub harness: Vec<String>,
    /// Bytes its disk needs, if it has one.
    pub disk_bytes: Option<u64>,
    /// The largest record its ledgers accept.
    pub max_record: usize,
    /// Every protection domain's name, children included.
    pub pds: Vec<String>,
}

impl Described {
    /// The tenant called `name`.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

/// Reads what the description `xml` and its configurations say.
pub fn describe(xml: &Path) -> Result<Described> {
    let text =
        std::fs::read_to_string(xml).with_context(|| format!("reading {}", xml.display()))?;
    let system = sdf::parse(&xml.display().to_string(), &text)?;
    let dir = xml.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let configs = isolation::configs(&system, dir)?;
    let mut out = Described::default();
    for pd in system.all_pds() {
        out.pds.push(pd.name.clone());
        let Some(bytes) = configs.get(&pd.name) else { continue };
        let config = system::Config::parse(bytes, &pd.name)
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", pd.name))?;
        match config.kind {
            system::Kind::Ledger(l) => {
                out.max_record = l.max_record as usize;
                out.tenants.push(Tenant {
                    name: l.tenant.into(),
                    origin: l.origin.into(),
                    ledger_pd: pd.name.clone(),
                });
            }
            system::Kind::Harness(h) => {
                for id in &h.identities {
                    if !out.harness.iter().any(|t| t == id.tenant) {
                        out.harness.push(id.tenant.into());
                    }
                }
            }
            system::Kind::Blk(b) => out.disk_bytes = Some(b.disk_bytes),
            _ => {}
        }
    }
    Ok(out)
}
