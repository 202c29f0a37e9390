//! The rules that relate elements to each other, as the Microkit tool checks them.

use std::collections::{BTreeMap, BTreeSet};

use crate::SdfError;
use crate::model::{MAX_PDS, PAGE_SIZES, PD_MAX_ID, PD_MAX_PRIORITY, ProtectionDomain, System};

/// Top of user space on the smallest supported address space (RISC-V Sv39;
/// AArch64 has more). Below it Microkit puts the IPC buffer, a guard page
/// and the PD's stack: maps must end below the stack.
const USER_TOP: u64 = 0x40_0000_0000;

/// Where a PD's stack begins: maps must end at or below it.
fn stack_bottom(stack_size: u64) -> u64 {
    USER_TOP - 0x1000 - 0x1000 - stack_size
}

impl System {
    /// Checks the system as the Microkit tool would; returns warnings
    /// (unused memory regions) or the first error.
    pub fn validate(&self) -> Result<Vec<String>, SdfError> {
        let err = |pos, msg: String| SdfError::at(&self.file, pos, msg);
        let pds = self.all_pds();
        if pds.is_empty() {
            return Err(err(
                Default::default(),
                "at least one protection domain must be defined".into(),
            ));
        }
        if pds.len() > MAX_PDS {
            return Err(err(pds[MAX_PDS].pos, format!("more than {MAX_PDS} protection domains")));
        }
        let mut names = BTreeSet::new();
        for pd in &pds {
            if !names.insert(pd.name.as_str()) {
                return Err(err(pd.pos, format!("duplicate protection domain name '{}'", pd.name)));
            }
            self.check_pd(pd)?;
        }
        let mut mrs = BTreeSet::new();
        for mr in &self.memory_regions {
            if !mrs.insert(mr.name.as_str()) {
                return Err(err(mr.pos, format!("duplicate memory region name '{}'", mr.name)));
            }
            if !PAGE_SIZES.contains(&mr.page_size) {
                return Err(err(mr.pos, format!("page size {:#x} not supported", mr.page_size)));
            }
            if mr.size == 0 || !mr.size.is_multiple_of(mr.page_size) {
                return Err(err(
                    mr.pos,
                    format!("size {:#x} is not a multiple of the page size", mr.size),
                ));
            }
            if let Some(a) = mr.phys_addr
                && !a.is_multiple_of(mr.page_size)
            {
                return Err(err(
                    mr.pos,
                    format!("phys_addr {a:#x} is not aligned to the page size of '{}'", mr.name),
                ));
            }
        }
        self.check_irqs()?;
        self.check_channels()?;
        let used: BTreeSet<&str> =
            pds.iter().flat_map(|p| p.maps.iter().map(|m| m.mr.as_str())).collect();
        Ok(self
            .memory_regions
            .iter()
            .filter(|m| !used.contains(m.name.as_str()))
            .map(|m| {
                format!(
                    "{}:{}:{}: unused memory region '{}'",
                    self.file, m.pos.line, m.pos.col, m.name
                )
            })
            .collect())
    }

    fn check_pd(&self, pd: &ProtectionDomain) -> Result<(), SdfError> {
        let err = |pos, msg: String| SdfError::at(&self.file, pos, msg);
        if pd.priority > PD_MAX_PRIORITY {
            return Err(err(
                pd.pos,
                format!("priority {} is above {PD_MAX_PRIORITY}", pd.priority),
            ));
        }
        if pd.name.len() > 64 {
            return Err(err(pd.pos, format!("PD name '{}' is longer than 64 characters", pd.name)));
        }
        if !pd.stack_size.is_multiple_of(0x1000) || !(0x1000..=0x100_0000).contains(&pd.stack_size)
        {
            return Err(err(
                pd.pos,
                format!("stack size {:#x} must be 4 KiB..16 MiB in 4 KiB steps", pd.stack_size),
            ));
        }
        let mut ranges: Vec<(u64, u64, &str)> = Vec::new();
        let mut symbols = BTreeSet::new();
        for m in &pd.maps {
            let Some(mr) = self.memory_region(&m.mr) else {
                return Err(err(m.pos, format!("invalid memory region name '{}' on <map>", m.mr)));
            };
            if !m.vaddr.is_multiple_of(mr.page_size) {
                return Err(err(
                    m.pos,
                    format!("vaddr {:#x} is not aligned to the page size of '{}'", m.vaddr, m.mr),
                ));
            }
            let end = m.vaddr.checked_add(mr.size).filter(|&e| e <= stack_bottom(pd.stack_size));
            let Some(end) = end else {
                return Err(err(
                    m.pos,
                    format!("map of '{}' at {:#x} exceeds the address space", m.mr, m.vaddr),
                ));
            };
            if let Some((_, _, other)) = ranges.iter().find(|(s, e, _)| m.vaddr < *e && *s < end) {
                return Err(err(
                    m.pos,
                    format!(
                        "map of '{}' [{:#x}..{end:#x}) overlaps the map of '{other}' in PD '{}'",
                        m.mr, m.vaddr, pd.name
                    ),
                ));
            }
            ranges.push((m.vaddr, end, &m.mr));
            if let Some(sym) = &m.setvar_vaddr
                && !symbols.insert(sym.as_str())
            {
                return Err(err(
                    m.pos,
                    format!("setvar on symbol '{sym}' already exists in PD '{}'", pd.name),
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for c in &pd.children {
            let id = c.id.unwrap_or(u8::MAX);
            if id > PD_MAX_ID {
                return Err(err(c.pos, format!("child id {id} must be < 62")));
            }
            if !ids.insert(id) {
                return Err(err(c.pos, format!("duplicate child id {id} in PD '{}'", pd.name)));
            }
        }
        Ok(())
    }

    /// IRQ numbers are claimed once in the system; setvar regions exist
    /// and their symbols are unique in the PD.
    fn check_irqs(&self) -> Result<(), SdfError> {
        let err = |pos, msg: String| SdfError::at(&self.file, pos, msg);
        let mut claimed = BTreeMap::new();
        for pd in self.all_pds() {
            for i in &pd.irqs {
                if let Some(other) = claimed.insert(i.irq, pd.name.as_str()) {
                    return Err(err(
                        i.pos,
                        format!("irq {} is already claimed by PD '{other}'", i.irq),
                    ));
                }
            }
            let mut symbols: BTreeSet<&str> =
                pd.maps.iter().filter_map(|m| m.setvar_vaddr.as_deref()).collect();
            for v in &pd.setvars {
                if self.memory_region(&v.region_paddr).is_none() {
                    return Err(err(
                        v.pos,
                        format!("setvar: no memory region '{}'", v.region_paddr),
                    ));
                }
                if !symbols.insert(v.symbol.as_str()) {
                    return Err(err(
                        v.pos,
                        format!(
                            "setvar on symbol '{}' already exists in PD '{}'",
                            v.symbol, pd.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_channels(&self) -> Result<(), SdfError> {
        let err = |pos, msg: String| SdfError::at(&self.file, pos, msg);
        // IRQs take channel ids too.
        let mut ids: BTreeMap<&str, BTreeSet<u8>> = BTreeMap::new();
        for pd in self.all_pds() {
            for i in &pd.irqs {
                if !ids.entry(pd.name.as_str()).or_default().insert(i.id) {
                    return Err(err(
                        i.pos,
                        format!("duplicate irq id: {} in protection domain: '{}'", i.id, pd.name),
                    ));
                }
            }
        }
        for ch in &self.channels {
            let [a, b] = &ch.ends;
            for end in [a, b] {
                if self.pd(&end.pd).is_none() {
                    return Err(err(end.pos, format!("invalid PD name '{}' on <end>", end.pd)));
                }
                if end.id > PD_MAX_ID {
                    return Err(err(end.pos, format!("id {} must be < 62", end.id)));
                }
                if !ids.entry(end.pd.as_str()).or_default().insert(end.id) {
                    return Err(err(
                        end.pos,
                        format!(
                            "duplicate channel id: {} in protection domain: '{}'",
                            end.id, end.pd
                        ),
                    ));
                }
            }
            if a.pd == b.pd {
                return Err(err(ch.pos, format!("a channel from PD '{}' to itself", a.pd)));
            }
            if a.pp && b.pp {
                return Err(err(ch.pos, "cannot ppc bidirectionally".into()));
            }
            for (caller, callee) in [(a, b), (b, a)] {
                let (cp, ep) = (self.pd(&caller.pd), self.pd(&callee.pd));
                let (Some(cp), Some(ep)) = (cp, ep) else { continue };
                if caller.pp && cp.priority >= ep.priority {
                    return Err(err(
                        caller.pos,
                        format!(
                            "PPCs must be to protection domains of strictly higher priorities; channel with PPC exists from pd {} (priority: {}) to pd {} (priority: {})",
                            cp.name, cp.priority, ep.name, ep.priority
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
