//! The running executable's own symbol table: where the C program's entry
//! points and `setvar` variables are, found by name as the Microkit tool
//! finds them in the ELF it patches. Reading `.symtab` from
//! `/proc/self/exe` needs neither `-rdynamic` nor weak symbols; the load
//! bias (a position-independent executable is loaded anywhere) comes from a
//! symbol this library defines.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use object::elf::{SHF_TLS, SHF_WRITE};
use object::{Object, ObjectSection, ObjectSymbol, ReadCache, ReadRef, SectionFlags, SymbolKind};

/// What a symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Code.
    Function,
    /// Data this process may write (not read-only, not thread-local, not
    /// made read-only after relocation).
    Variable,
    /// Data it may not write.
    ReadOnly,
    /// Anything else (thread-local data, sections, files).
    Other,
}

/// One defined symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Its address in this process.
    pub addr: usize,
    /// Its size in bytes, as the symbol table gives it.
    pub size: u64,
    /// What it names.
    pub kind: Kind,
    /// Visible beyond its translation unit.
    pub global: bool,
}

/// The defined symbols of an executable, by name.
pub struct Symbols {
    by_name: HashMap<String, Vec<Symbol>>,
}

impl Symbols {
    /// The symbols of the running executable, at their addresses in this
    /// process: `anchor` is the name of a symbol defined here, at `at`.
    pub fn of_this_process(anchor: &str, at: usize) -> Result<Symbols> {
        let exe = std::fs::File::open("/proc/self/exe").context("opening /proc/self/exe")?;
        // Only the headers and symbol table are read, not the whole file.
        let cache = ReadCache::new(exe);
        Symbols::parse(&cache, anchor, at)
    }

    /// The symbols of executable `data`, loaded so `anchor` is at `at`.
    pub fn parse<'d, R: ReadRef<'d>>(data: R, anchor: &str, at: usize) -> Result<Symbols> {
        let file = object::File::parse(data).context("reading the executable as ELF")?;
        if file.symbol_table().is_none() {
            bail!("the executable has no symbol table (was it stripped?)");
        }
        let mut by_name: HashMap<String, Vec<Symbol>> = HashMap::new();
        for sym in file.symbols().filter(|s| !s.is_undefined()) {
            let (Ok(name), Some(index)) = (sym.name(), sym.section_index()) else {
                continue;
            };
            let kind = match (sym.kind(), file.section_by_index(index)) {
                (SymbolKind::Text, _) => Kind::Function,
                (SymbolKind::Data, Ok(section)) => data_kind(&section),
                _ => Kind::Other,
            };
            let symbol = Symbol {
                addr: sym.address() as usize,
                size: sym.size(),
                kind,
                global: sym.is_global(),
            };
            by_name.entry(name.to_owned()).or_default().push(symbol);
        }
        let mut symbols = Symbols { by_name };
        let linked = symbols.find(anchor)?.ok_or_else(|| anyhow!("no symbol {anchor:?}"))?.addr;
        symbols.relocate(at.wrapping_sub(linked));
        Ok(symbols)
    }

    /// Adds the load bias to every address.
    fn relocate(&mut self, bias: usize) {
        for sym in self.by_name.values_mut().flatten() {
            sym.addr = sym.addr.wrapping_add(bias);
        }
    }

    /// The symbol `name`: the global one, else the one local one (a
    /// `static` variable; the Microkit tool patches those too). More than
    /// one local symbol of that name is an error: which is meant?
    pub fn find(&self, name: &str) -> Result<Option<Symbol>> {
        let all = self.by_name.get(name).map_or(&[][..], Vec::as_slice);
        if let Some(global) = all.iter().find(|s| s.global) {
            return Ok(Some(*global));
        }
        match all {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => bail!("{} local symbols are named {name:?}", all.len()),
        }
    }

    /// The global function `name`, if the program defines it (a `static`
    /// one would not link with libmicrokit either).
    pub fn function(&self, name: &str) -> Result<Option<usize>> {
        match self.by_name.get(name).and_then(|all| all.iter().find(|s| s.global)) {
            None => Ok(None),
            Some(s) if s.kind == Kind::Function => Ok(Some(s.addr)),
            Some(_) => bail!("{name:?} is not a function"),
        }
    }
}

/// Whether data in `section` may be written once the program runs.
fn data_kind<'d, R: ReadRef<'d>>(section: &object::Section<'d, '_, R>) -> Kind {
    let SectionFlags::Elf { sh_flags } = section.flags() else {
        return Kind::Other;
    };
    if sh_flags & u64::from(SHF_TLS) != 0 {
        return Kind::Other;
    }
    // RELRO: written by the dynamic linker, then made read-only.
    let relro = section.name().is_ok_and(|n| n.starts_with(".data.rel.ro"));
    if sh_flags & u64::from(SHF_WRITE) == 0 || relro { Kind::ReadOnly } else { Kind::Variable }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in this test executable: this library's own exported names.
    #[test]
    fn finds_this_executables_symbols_at_their_addresses() {
        let name = std::ptr::addr_of!(crate::abi::microkit_name) as usize;
        let symbols = Symbols::of_this_process("microkit_name", name).unwrap();
        let found = symbols.find("microkit_name").unwrap().unwrap();
        assert_eq!((found.addr, found.size, found.kind), (name, 64, Kind::Variable));
        let pps = symbols.find("microkit_pps").unwrap().unwrap();
        assert_eq!(pps.addr, std::ptr::addr_of!(crate::abi::microkit_pps) as usize);
        assert_eq!((pps.size, pps.kind), (8, Kind::Variable));
        let notify = symbols.function("microkit_notify").unwrap();
        assert_eq!(notify, Some(crate::abi::microkit_notify as *const () as usize));
        assert_eq!(symbols.function("no_such_function_here").unwrap(), None);
        assert!(symbols.function("microkit_pps").is_err());
        assert_eq!(symbols.find("no_such_variable_here").unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_elf() {
        assert!(Symbols::parse(&b"not an executable"[..], "x", 0).is_err());
    }
}
