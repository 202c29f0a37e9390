//! The tables protection domains need about the system they run in: which
//! channel is whose, with which rights, and which region is which. The data
//! is generated from `tenants.toml` together with `system.xml` (`make
//! system`), so the two always agree; a test fails when either is stale.
#![no_std]

pub use abi::client::Role;

#[rustfmt::skip]
mod generated;
pub use generated::*;

/// A tenant.
#[derive(Debug)]
pub struct Tenant {
    /// Its name.
    pub name: &'static str,
    /// Checkpoint origin and key name of its ledger.
    pub origin: &'static str,
    /// Its ledger PD.
    pub ledger_pd: &'static str,
}

/// A module identity: one client channel into `wire`.
#[derive(Debug)]
pub struct Identity {
    /// Index into [`TENANTS`].
    pub tenant: usize,
    /// Module name, `<tenant>.<module>`.
    pub module: &'static str,
    /// Its role.
    pub role: Role,
    /// The channel id in `wire`.
    pub wire_channel: u8,
    /// The client PD holding it.
    pub client_pd: &'static str,
    /// The channel id in the client PD.
    pub client_channel: u8,
    /// Symbol of the shared buffer in the client PD.
    pub client_symbol: &'static str,
    /// Symbol of the shared buffer in `wire`.
    pub wire_symbol: &'static str,
}

/// `wire`'s channel to a tenant's ledger.
#[derive(Debug)]
pub struct WireLedger {
    /// Index into [`TENANTS`].
    pub tenant: usize,
    /// The channel id in `wire`.
    pub channel: u8,
    /// Symbol of the wire–ledger buffer in `wire`.
    pub symbol: &'static str,
}

/// A psdb namespace: one channel from a ledger, one extent of the disk.
#[derive(Debug)]
pub struct Namespace {
    /// Its name in the disk's namespace table: `<tenant>/log` or `<tenant>/audit`.
    pub name: &'static str,
    /// Bytes of its extent (`tenants.toml`).
    pub size: u64,
    /// Index into [`TENANTS`].
    pub tenant: usize,
    /// The audit log's (rather than the records').
    pub audit: bool,
    /// The channel id in `psdb`.
    pub channel: u8,
    /// Symbol of the ledger–psdb buffer in `psdb`.
    pub symbol: &'static str,
}

/// A mapping a PD finds by symbol (`setvar_vaddr`/`setvar_size`). The
/// simulator reads these facts from `system.xml`; the seL4 glue, which has
/// only the patched symbols, reads them here.
#[derive(Debug)]
pub struct Mapping {
    /// The PD.
    pub pd: &'static str,
    /// Symbol holding the mapping's address.
    pub symbol: &'static str,
    /// Symbol holding its size.
    pub size_symbol: &'static str,
    /// Mapped writable (`perms="rw"`).
    pub writable: bool,
    /// No other PD maps the region: it is the PD's private memory.
    pub private: bool,
}

/// A symbol the tool patches with a region's physical address
/// (`setvar region_paddr`), for a driver's DMA.
#[derive(Debug)]
pub struct Paddr {
    /// The PD.
    pub pd: &'static str,
    /// The symbol.
    pub symbol: &'static str,
}

/// The mapping of `symbol` in `pd`.
pub fn mapping(pd: &str, symbol: &str) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| m.pd == pd && m.symbol == symbol)
}

/// Channel ids in every ledger PD.
pub mod ledger_channels {
    /// From `wire`.
    pub const WIRE: u8 = 0;
    /// To `psdb`, the records' namespace.
    pub const PSDB_LOG: u8 = 1;
    /// To `psdb`, the audit log's namespace.
    pub const PSDB_AUDIT: u8 = 2;
}

/// Region symbols in every ledger PD.
pub mod ledger_symbols {
    /// Private memory for the engine.
    pub const MEM: &str = "sfs_mem";
    /// The wire–ledger buffer.
    pub const WIRE: &str = "sfs_wire_buf";
    /// The ledger–psdb buffer of the records' namespace.
    pub const PSDB_LOG: &str = "sfs_psdb_log";
    /// The ledger–psdb buffer of the audit log's namespace.
    pub const PSDB_AUDIT: &str = "sfs_psdb_audit";
    /// The signing key seed (read-only, filled at boot).
    pub const KEY: &str = "sfs_key";
}

/// Private memory in `wire` and the harness.
pub const MEM_SYMBOL: &str = "sfs_mem";
/// psdb's memory store: the disk, when the system has no block driver.
pub const PSDB_STORE_SYMBOL: &str = "sfs_store";
/// psdb's private memory: the namespaces' indexes.
pub const PSDB_MEM_SYMBOL: &str = "sfs_mem";
/// The harness–child probe region.
pub const PROBE_SYMBOL: &str = "sfs_probe";

/// The tenant whose ledger PD is `pd`.
pub fn tenant_of_ledger(pd: &str) -> Option<usize> {
    TENANTS.iter().position(|t| t.ledger_pd == pd)
}

/// The identities a client PD holds.
pub fn identities_of(pd: &str) -> impl Iterator<Item = &'static Identity> + '_ {
    IDENTITIES.iter().filter(move |i| i.client_pd == pd)
}

/// The block driver (`blk`) and psdb's side of it: channel ids, and the
/// symbols of the regions they share (the same names in both PDs).
pub use abi::blk::system as blk;
