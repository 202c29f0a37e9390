//! `tenants.toml`: what it says, and what it may say.

use std::collections::BTreeSet;

use abi::client::Role;
use anyhow::{Result, ensure};
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
    /// Modules, each an identity of a client PD.
    pub modules: Vec<ModuleConfig>,
}

/// A module: one identity (a channel into `wire`) of a client PD.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Name (unique in its tenant).
    pub name: String,
    /// `ring1`, `ring2` or `audit`.
    pub role: String,
    /// The program of its client PD (default `client.elf`, the example
    /// client): an integrator's own (`programs/`).
    pub program: Option<String>,
    /// The client PD that holds it, `client_<tenant>_<pd>` (default: the
    /// module's name, a PD of its own). Modules of one tenant naming the
    /// same `pd` share it, one channel each.
    pub pd: Option<String>,
}

/// `[harness]`: one identity of each role for each listed tenant, and a
/// child PD that misbehaves on request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarnessConfig {
    /// Tenants the harness gets identities in (its scenarios use the first
    /// two; it prints the checkpoints of all).
    pub tenants: Vec<String>,
}

const PAGE: u64 = 0x1000;

/// A name of 1–24 of `a-z 0-9` and `extra`, starting with a letter.
fn valid_name(s: &str, extra: u8) -> bool {
    (1..=24).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
}

fn valid_program(p: &str) -> bool {
    p.strip_suffix(".elf").is_some_and(|n| {
        (1..=32).contains(&n.len())
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    }) && !crate::programs::is_system_program(p)
}

/// The client PD of module `m` of tenant `t`.
pub fn client_pd(t: &TenantConfig, m: &ModuleConfig) -> String {
    format!("client_{}_{}", t.name, m.pd.as_deref().unwrap_or(&m.name))
}

/// Checks what the builder relies on, each failure one line.
pub fn check(cfg: &Config) -> Result<()> {
    let s = &cfg.system;
    ensure!((1..=65535).contains(&s.max_record), "max_record must be 1..=65535");
    ensure!(
        s.client_buffer >= PAGE && s.client_buffer.is_multiple_of(PAGE),
        "client_buffer must be a multiple of 4096"
    );
    // An append of one record of the largest size must fit the buffer, its
    // length prefix included.
    ensure!(
        s.max_record as u64 + 2 <= s.client_buffer,
        "max_record {} does not fit a client_buffer of {} bytes with its 2-byte length: the largest that fits is {} (or make client_buffer {:#x})",
        s.max_record,
        s.client_buffer,
        (s.client_buffer - 2).min(65535),
        (s.max_record as u64 + 2).next_multiple_of(PAGE)
    );
    ensure!(
        s.psdb_memory >= PAGE && s.psdb_memory.is_multiple_of(PAGE),
        "psdb_memory must be a multiple of 4096"
    );
    ensure!(!cfg.tenant.is_empty(), "at least one [[tenant]]");
    let mut names = BTreeSet::new();
    for t in &cfg.tenant {
        // Tenant names end up in PD and region names: C identifiers.
        ensure!(
            valid_name(&t.name, b'_'),
            "tenant name {:?}: 1-24 of a-z 0-9 _, starting with a letter",
            t.name
        );
        ensure!(names.insert(&t.name), "duplicate tenant {:?}", t.name);
        check_modules(t)?;
    }
    if let Some(h) = &cfg.harness {
        for t in &h.tenants {
            ensure!(names.contains(t), "harness: no tenant {t:?}");
        }
        let distinct: BTreeSet<_> = h.tenants.iter().collect();
        ensure!(
            distinct.len() == h.tenants.len() && h.tenants.len() >= 2,
            "harness: tenants must be two or more different tenants (its isolation scenario writes to the first and reads the second)"
        );
    }
    check_sizes(cfg)
}

fn check_modules(t: &TenantConfig) -> Result<()> {
    ensure!(!t.modules.is_empty(), "tenant {:?} has no modules", t.name);
    let mut mods = BTreeSet::new();
    for m in &t.modules {
        ensure!(
            valid_name(&m.name, b'-'),
            "module name {:?} of {:?}: 1-24 of a-z 0-9 -, starting with a letter",
            m.name,
            t.name
        );
        ensure!(mods.insert(&m.name), "duplicate module {:?} in tenant {:?}", m.name, t.name);
        if let Some(pd) = &m.pd {
            ensure!(
                valid_name(pd, b'_'),
                "module {}.{}: pd {pd:?}: 1-24 of a-z 0-9 _, starting with a letter",
                t.name,
                m.name
            );
        }
        if let Some(p) = &m.program {
            ensure!(
                valid_program(p),
                "module {}.{}: program {p:?} must be <name>.elf (a-z 0-9 _ -, starting with a letter) and not one of the system's own",
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
    // Modules sharing a client PD run one program.
    for m in &t.modules {
        let other = t.modules.iter().find(|o| client_pd(t, o) == client_pd(t, m));
        if let Some(o) = other.filter(|o| o.program != m.program) {
            anyhow::bail!(
                "modules {}.{} and {}.{} share {} but name different programs",
                t.name,
                o.name,
                t.name,
                m.name,
                client_pd(t, m)
            );
        }
    }
    Ok(())
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
pub fn namespace_specs(cfg: &Config) -> Vec<(String, u64)> {
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
