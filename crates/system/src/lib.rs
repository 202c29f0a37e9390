//! What a service-fs protection domain knows of the system it runs in:
//! which of its channels leads where, which region is which, and, for the
//! PDs that serve tenants, their tenants, identities and namespaces.
//!
//! `make system` (sysgen) writes one [`Config`] per PD of the system's own
//! programs from `tenants.toml`, beside `system.xml` (`system/<pd>.cfg`),
//! and the description maps it read-only into that PD alone, at the symbol
//! [`CONFIG_SYMBOL`]. The PD reads it at start ([`Config::parse`]), so the
//! same programs serve any system `tenants.toml` describes: adding a tenant
//! or a module changes the description and these files, never a program.
//! Client PDs (the example client, integrators' programs) get none: they
//! find their channel and buffer by the ABI's conventions (docs/abi.md).
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub use abi::client::Role;
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// The symbol of a PD's configuration region (`setvar_vaddr`).
pub const CONFIG_SYMBOL: &str = "sfs_config";
/// Bytes ahead of the encoded configuration: magic, format, length.
pub const HEADER: usize = 12;
/// The first four bytes of a configuration region.
pub const MAGIC: [u8; 4] = *b"SFSC";
/// The configuration format this crate reads and writes.
pub const FORMAT: u32 = 1;

/// Channels per PD (Microkit's limit).
pub const MAX_CHANNELS: usize = 62;
/// Mappings a configuration lists at most: a buffer for each channel, and
/// a few more.
pub const MAX_MAPPINGS: usize = MAX_CHANNELS + 10;

/// One PD's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config<'a> {
    /// The PD it is for (a configuration mapped into another is refused).
    pub pd: &'a str,
    /// The PD's mappings that carry symbols.
    #[serde(borrow)]
    pub mappings: Vec<Mapping<'a>, MAX_MAPPINGS>,
    /// Its symbols holding a region's physical address (`setvar region_paddr`).
    #[serde(borrow)]
    pub paddrs: Vec<&'a str, 4>,
    /// What it is.
    #[serde(borrow)]
    pub kind: Kind<'a>,
}

/// A mapping a PD finds by symbol (`setvar_vaddr`; its size in the symbol
/// with `_size` appended). The simulator knows these facts from the
/// description; the seL4 glue, which has only the patched symbols, reads
/// them here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping<'a> {
    /// The symbol holding its address.
    pub symbol: &'a str,
    /// Mapped writable.
    pub writable: bool,
    /// No other PD maps the region: the PD's private memory.
    pub private: bool,
}

/// What a PD is, with what it needs to know for it.
// Read once at start, no allocator to box the large variants in.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind<'a> {
    /// A `psdb`: the tile store.
    #[serde(borrow)]
    Psdb(Psdb<'a>),
    /// A block driver.
    Blk(Blk),
    /// A tenant's ledger.
    #[serde(borrow)]
    Ledger(Ledger<'a>),
    /// A `wire`: the endpoint client PDs call.
    #[serde(borrow)]
    Wire(Wire<'a>),
    /// The scenario harness (or the benchmark in its place).
    #[serde(borrow)]
    Harness(Harness<'a>),
    /// The harness's misbehaving child.
    Faulty,
}

/// A psdb's namespaces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Psdb<'a> {
    /// Its namespaces, in the disk's table order.
    #[serde(borrow)]
    pub namespaces: Vec<Namespace<'a>, MAX_CHANNELS>,
}

/// A psdb namespace: one channel from a ledger, one extent of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace<'a> {
    /// Its name in the disk's namespace table: `<tenant>/log` or `<tenant>/audit`.
    pub name: &'a str,
    /// Bytes of its extent.
    pub size: u64,
    /// The audit log's (rather than the records').
    pub audit: bool,
    /// The channel from its ledger (its buffer: [`buffer_symbol`]).
    pub channel: u8,
}

/// A block driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blk {
    /// Bytes the disk needs for its psdb's namespaces (a host's disk image
    /// is created at this size).
    pub disk_bytes: u64,
}

/// A tenant's ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Its checkpoint origin and key name.
    pub origin: &'a str,
    /// Largest record it accepts.
    pub max_record: u32,
    /// Bytes of a client's shared buffer (the largest request or reply).
    pub client_buffer: u32,
    /// Its channels from `wire` PDs (each with its buffer: [`buffer_symbol`]).
    pub wires: Vec<u8, MAX_CHANNELS>,
}

/// Channel ids in every ledger PD besides those from `wire` PDs.
pub mod ledger_channels {
    /// To `psdb`, the records' namespace.
    pub const PSDB_LOG: u8 = 1;
    /// To `psdb`, the audit log's namespace.
    pub const PSDB_AUDIT: u8 = 2;
}

/// The signing key seed in a ledger PD (read-only, filled at boot).
pub const KEY_SYMBOL: &str = "sfs_key";

/// A `wire`: its client channels and its channels to ledgers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wire<'a> {
    /// Largest record a ledger accepts.
    pub max_record: u32,
    /// Its client channels: one per module identity.
    #[serde(borrow)]
    pub clients: Vec<WireClient<'a>, MAX_CHANNELS>,
    /// Its channels to ledgers.
    #[serde(borrow)]
    pub ledgers: Vec<WireLedger<'a>, MAX_CHANNELS>,
}

/// A module identity: one client channel into a `wire`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireClient<'a> {
    /// The channel id in `wire`.
    pub channel: u8,
    /// Module name, `<tenant>.<module>`.
    pub module: &'a str,
    /// Its role.
    #[serde(with = "role")]
    pub role: Role,
    /// Its tenant's ledger: an index into [`Wire::ledgers`].
    pub ledger: u8,
}

/// A `wire`'s channel to a tenant's ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLedger<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The channel id in `wire`.
    pub channel: u8,
}

/// The harness: its identities (several tenants'), and its child.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Harness<'a> {
    /// Largest record a ledger accepts.
    pub max_record: u32,
    /// Its identities, each a channel into a `wire`.
    #[serde(borrow)]
    pub identities: Vec<ClientIdentity<'a>, MAX_CHANNELS>,
    /// The channel to its misbehaving child, if it has one.
    pub child: Option<u8>,
}

/// One identity of a client PD that holds several tenants' (the harness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientIdentity<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The tenant's checkpoint origin.
    pub origin: &'a str,
    /// Module name, `<tenant>.<module>`.
    pub module: &'a str,
    /// Its role.
    #[serde(with = "role")]
    pub role: Role,
    /// The channel id in the client PD.
    pub channel: u8,
}

/// The symbol of the buffer a PD shares over channel `ch` with the PD at
/// the other end (`sfs_buf_<ch>`; a client PD holding a single identity
/// has it as `sfs_buf`, [`CLIENT_BUFFER_SYMBOL`]). `None` beyond
/// [`MAX_CHANNELS`].
pub fn buffer_symbol(ch: u8) -> Option<&'static str> {
    BUFFER_SYMBOLS.get(usize::from(ch)).copied()
}

/// The buffer of a client PD that holds one identity (on channel 0).
pub const CLIENT_BUFFER_SYMBOL: &str = "sfs_buf";

/// `sfs_buf_<ch>` for every channel id.
pub const BUFFER_SYMBOLS: [&str; MAX_CHANNELS] = [
    "sfs_buf_0",
    "sfs_buf_1",
    "sfs_buf_2",
    "sfs_buf_3",
    "sfs_buf_4",
    "sfs_buf_5",
    "sfs_buf_6",
    "sfs_buf_7",
    "sfs_buf_8",
    "sfs_buf_9",
    "sfs_buf_10",
    "sfs_buf_11",
    "sfs_buf_12",
    "sfs_buf_13",
    "sfs_buf_14",
    "sfs_buf_15",
    "sfs_buf_16",
    "sfs_buf_17",
    "sfs_buf_18",
    "sfs_buf_19",
    "sfs_buf_20",
    "sfs_buf_21",
    "sfs_buf_22",
    "sfs_buf_23",
    "sfs_buf_24",
    "sfs_buf_25",
    "sfs_buf_26",
    "sfs_buf_27",
    "sfs_buf_28",
    "sfs_buf_29",
    "sfs_buf_30",
    "sfs_buf_31",
    "sfs_buf_32",
    "sfs_buf_33",
    "sfs_buf_34",
    "sfs_buf_35",
    "sfs_buf_36",
    "sfs_buf_37",
    "sfs_buf_38",
    "sfs_buf_39",
    "sfs_buf_40",
    "sfs_buf_41",
    "sfs_buf_42",
    "sfs_buf_43",
    "sfs_buf_44",
    "sfs_buf_45",
    "sfs_buf_46",
    "sfs_buf_47",
    "sfs_buf_48",
    "sfs_buf_49",
    "sfs_buf_50",
    "sfs_buf_51",
    "sfs_buf_52",
    "sfs_buf_53",
    "sfs_buf_54",
    "sfs_buf_55",
    "sfs_buf_56",
    "sfs_buf_57",
    "sfs_buf_58",
    "sfs_buf_59",
    "sfs_buf_60",
    "sfs_buf_61",
];

/// The harness–child probe region.
pub const PROBE_SYMBOL: &str = "sfs_probe";
/// Private memory in `wire`, psdb and the harness.
pub const MEM_SYMBOL: &str = "sfs_mem";
/// psdb's memory store: the disk, when the system has no block driver.
pub const PSDB_STORE_SYMBOL: &str = "sfs_store";

/// The block driver (`blk`) and psdb's side of it: channel ids, and the
/// symbols of the regions they share (the same names in both PDs).
pub use abi::blk::system as blk;

/// Why a configuration region could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// It does not start with [`MAGIC`]: not a configuration.
    NotAConfig,
    /// Another format than [`FORMAT`].
    Format(u32),
    /// Cut short, or not a valid encoding.
    Malformed,
    /// It is another PD's.
    OtherPd,
    /// The PD has no configuration region.
    Missing,
    /// It is not for this kind of PD.
    WrongKind,
}

/// Reads the configuration the PD named `pd` finds in its regions.
pub fn load(regions: &mut dyn platform::Regions, pd: &str) -> Result<Config<'static>, ConfigError> {
    Config::parse(regions.config().ok_or(ConfigError::Missing)?, pd)
}

impl<'a> Config<'a> {
    /// Reads the configuration in `region` (as [`Config::encode`] wrote
    /// it), for the PD named `pd`.
    pub fn parse(region: &'a [u8], pd: &str) -> Result<Config<'a>, ConfigError> {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(region.get(at..at + 4)?.try_into().ok()?))
        };
        if region.get(..4) != Some(&MAGIC[..]) {
            return Err(ConfigError::NotAConfig);
        }
        let format = word(4).ok_or(ConfigError::Malformed)?;
        if format != FORMAT {
            return Err(ConfigError::Format(format));
        }
        let len = word(8).ok_or(ConfigError::Malformed)? as usize;
        let body = region.get(HEADER..HEADER + len).ok_or(ConfigError::Malformed)?;
        let config: Config<'a> = postcard::from_bytes(body).map_err(|_| ConfigError::Malformed)?;
        if config.pd != pd {
            return Err(ConfigError::OtherPd);
        }
        Ok(config)
    }

    /// The configuration as the region holds it.
    #[cfg(feature = "std")]
    pub fn encode(&self) -> std::vec::Vec<u8> {
        let body = postcard::to_stdvec(self).unwrap_or_default();
        let mut out = std::vec::Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// The mapping of `symbol`.
    pub fn mapping(&self, symbol: &str) -> Option<&Mapping<'a>> {
        self.mappings.iter().find(|m| m.symbol == symbol)
    }
}

/// Roles as one byte.
mod role {
    use super::Role;
    use serde::{Deserialize, Deserializer, Serializer};

    const ROLES: [Role; 3] = [Role::Ring1, Role::Ring2, Role::Audit];

    pub fn serialize<S: Serializer>(r: &Role, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(ROLES.iter().position(|x| x == r).unwrap_or(0) as u8)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let i = u8::deserialize(d)?;
        ROLES.get(usize::from(i)).copied().ok_or_else(|| serde::de::Error::custom("not a role"))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn sample() -> Config<'static> {
        let mut clients = Vec::new();
        let _ = clients.push(WireClient {
            channel: 0,
            module: "acme.identity",
            role: Role::Audit,
            ledger: 0,
        });
        let mut ledgers = Vec::new();
        let _ = ledgers.push(WireLedger { tenant: "acme", channel: 1 });
        let mut mappings = Vec::new();
        let _ = mappings.push(Mapping { symbol: "sfs_mem", writable: true, private: true });
        Config {
            pd: "wire",
            mappings,
            paddrs: Vec::new(),
            kind: Kind::Wire(Wire { max_record: 1024, clients, ledgers }),
        }
    }

    #[test]
    fn a_configuration_round_trips_and_is_only_its_pds() {
        let mut bytes = sample().encode();
        bytes.resize(4096, 0);
        assert_eq!(Config::parse(&bytes, "wire"), Ok(sample()));
        assert_eq!(Config::parse(&bytes, "psdb"), Err(ConfigError::OtherPd));
    }

    #[test]
    fn buffer_symbols_name_their_channel() {
        for ch in 0..MAX_CHANNELS as u8 {
            assert_eq!(buffer_symbol(ch), Some(std::format!("sfs_buf_{ch}").as_str()));
        }
        assert_eq!(buffer_symbol(62), None);
    }

    #[test]
    fn damaged_configurations_are_refused() {
        let good = sample().encode();
        assert_eq!(Config::parse(&[0u8; 64], "wire"), Err(ConfigError::NotAConfig));
        let mut other = good.clone();
        other[4] = 2;
        assert_eq!(Config::parse(&other, "wire"), Err(ConfigError::Format(2)));
        assert_eq!(Config::parse(&good[..good.len() - 1], "wire"), Err(ConfigError::Malformed));
        // Every truncation and every flipped byte: refused or still a
        // configuration, never a panic.
        for n in 0..good.len() {
            let _ = Config::parse(&good[..n], "wire");
            let mut bad = good.clone();
            bad[n] ^= 0x55;
            let _ = Config::parse(&bad, "wire");
        }
    }
}
