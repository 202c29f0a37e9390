//! The model of a system description.

/// Largest PD priority (the monitor has 255).
pub const PD_MAX_PRIORITY: u8 = 254;
/// Largest channel (or IRQ, or child) id.
pub const PD_MAX_ID: u8 = 61;
/// Page sizes a memory region may use.
pub const PAGE_SIZES: [u64; 2] = [0x1000, 0x20_0000];
/// Most protection domains in a system, children included.
pub const MAX_PDS: usize = 63;

/// Where an element starts in its file (1-based; 0 for generated elements).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column.
    pub col: u32,
}

/// A whole system.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct System {
    /// File the system came from, for errors.
    pub file: String,
    /// Memory regions, in file order.
    pub memory_regions: Vec<MemoryRegion>,
    /// Top-level protection domains (children inside them), in file order.
    pub pds: Vec<ProtectionDomain>,
    /// Channels, in file order.
    pub channels: Vec<Channel>,
}

/// A `<memory_region>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Page size (default 4 KiB).
    pub page_size: u64,
    /// File whose bytes fill the region at boot (Microkit `prefill_path`).
    pub prefill_path: Option<String>,
    /// Fixed physical address (device registers).
    pub phys_addr: Option<u64>,
    /// Where it is.
    pub pos: Pos,
}

/// Access permissions of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Perms {
    /// `r`.
    pub const R: Perms = Perms { read: true, write: false, execute: false };
    /// `rw`.
    pub const RW: Perms = Perms { read: true, write: true, execute: false };

    /// Parses `r`, `rw`, `rx`, `rwx`, …; a write-only or empty set is refused.
    pub fn parse(s: &str) -> Option<Perms> {
        let mut p = Perms { read: false, write: false, execute: false };
        for c in s.chars() {
            let flag = match c {
                'r' => &mut p.read,
                'w' => &mut p.write,
                'x' => &mut p.execute,
                _ => return None,
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        (p.read || p.execute).then_some(p)
    }
}

impl std::fmt::Display for Perms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.execute, 'x')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// A `<map>` of a memory region into a PD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Map {
    /// Memory region name.
    pub mr: String,
    /// Virtual address.
    pub vaddr: u64,
    /// Permissions.
    pub perms: Perms,
    /// Cached (default true).
    pub cached: bool,
    /// Symbol patched with `vaddr`, through which the PD finds the region.
    pub setvar_vaddr: Option<String>,
    /// Symbol patched with the region's size.
    pub setvar_size: Option<String>,
    /// Where it is.
    pub pos: Pos,
}

/// A `<protection_domain>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectionDomain {
    /// Name.
    pub name: String,
    /// Priority, 0..=254.
    pub priority: u8,
    /// Passive (runs only on its callers' time after init).
    pub passive: bool,
    /// Stack size (default 8 KiB).
    pub stack_size: u64,
    /// Program image path.
    pub program_image: String,
    /// Child id, for a nested PD.
    pub id: Option<u8>,
    /// Mappings.
    pub maps: Vec<Map>,
    /// Nested (child) PDs: their faults go to this PD.
    pub children: Vec<ProtectionDomain>,
    /// Hardware interrupts delivered to this PD, each on a channel id.
    pub irqs: Vec<Irq>,
    /// Symbols patched with a memory region's physical address.
    pub setvars: Vec<SetVar>,
    /// Where it is.
    pub pos: Pos,
}

/// An `<irq>`: a hardware interrupt delivered as a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Irq {
    /// The interrupt number (on ARM, the GIC's: SPIs from 32).
    pub irq: u32,
    /// The channel id it arrives on, 0..=61, unique among the PD's channels.
    pub id: u8,
    /// Edge- (`true`) or level-triggered.
    pub edge: bool,
    /// Where it is.
    pub pos: Pos,
}

/// A `<setvar symbol=… region_paddr=…>`: the symbol holds the region's
/// physical address (the tool gives the region a contiguous one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetVar {
    /// The symbol in the PD's program.
    pub symbol: String,
    /// The memory region.
    pub region_paddr: String,
    /// Where it is.
    pub pos: Pos,
}

/// One end of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    /// PD name.
    pub pd: String,
    /// Channel id in that PD, 0..=61.
    pub id: u8,
    /// This end may make protected procedure calls to the other.
    pub pp: bool,
    /// This end may notify the other (default true).
    pub notify: bool,
    /// Where it is.
    pub pos: Pos,
}

/// A `<channel>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its two ends.
    pub ends: [End; 2],
    /// Where it is.
    pub pos: Pos,
}

impl System {
    /// Every PD, children included, depth first.
    pub fn all_pds(&self) -> Vec<&ProtectionDomain> {
        fn walk<'a>(pds: &'a [ProtectionDomain], out: &mut Vec<&'a ProtectionDomain>) {
            for pd in pds {
                out.push(pd);
                walk(&pd.children, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.pds, &mut out);
        out
    }

    /// The PD called `name`.
    pub fn pd(&self, name: &str) -> Option<&ProtectionDomain> {
        self.all_pds().into_iter().find(|p| p.name == name)
    }

    /// The parent of PD `name`, if it is a child.
    pub fn parent_of(&self, name: &str) -> Option<&ProtectionDomain> {
        self.all_pds().into_iter().find(|p| p.children.iter().any(|c| c.name == name))
    }

    /// The memory region called `name`.
    pub fn memory_region(&self, name: &str) -> Option<&MemoryRegion> {
        self.memory_regions.iter().find(|m| m.name == name)
    }

    /// The channel ends of PD `name`: (its end, the other end).
    pub fn ends_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a End, &'a End)> + 'a {
        self.channels.iter().flat_map(move |c| {
            let [a, b] = &c.ends;
            [(a, b), (b, a)].into_iter().filter(move |(mine, _)| mine.pd == name)
        })
    }
}
