//! Parsing `system.xml` into the model.

use roxmltree::{Document, Node};

use crate::SdfError;
use crate::model::{
    Channel, End, Irq, Map, MemoryRegion, Perms, Pos, ProtectionDomain, SetVar, System,
};

/// Parses the system description `text` read from `file` (named in errors).
/// Structure and attribute syntax are checked here; the rules that relate
/// elements to each other are [`System::validate`]'s.
pub fn parse(file: &str, text: &str) -> Result<System, SdfError> {
    let doc = Document::parse(text).map_err(|e| {
        let p = e.pos();
        SdfError { file: file.into(), line: p.row, col: p.col, message: format!("not XML: {e}") }
    })?;
    let p = Parser { file, doc: &doc };
    let root = doc.root_element();
    if root.tag_name().name() != "system" {
        return Err(p.err(root, "the root element must be <system>"));
    }
    p.attributes(root, &[])?;
    let mut sys = System { file: file.into(), ..System::default() };
    for node in root.children() {
        p.no_text(node)?;
        if !node.is_element() {
            continue;
        }
        match node.tag_name().name() {
            "memory_region" => sys.memory_regions.push(p.memory_region(node)?),
            "protection_domain" => sys.pds.push(p.protection_domain(node, false)?),
            "channel" => sys.channels.push(p.channel(node)?),
            other => return Err(p.err(node, format!("unknown or unsupported element <{other}>"))),
        }
    }
    Ok(sys)
}

struct Parser<'a, 'input> {
    file: &'a str,
    doc: &'a Document<'input>,
}

impl Parser<'_, '_> {
    fn pos(&self, node: Node) -> Pos {
        let p = self.doc.text_pos_at(node.range().start);
        Pos { line: p.row, col: p.col }
    }

    fn err(&self, node: Node, message: impl Into<String>) -> SdfError {
        SdfError::at(self.file, self.pos(node), message)
    }

    fn no_text(&self, node: Node) -> Result<(), SdfError> {
        match node.text() {
            Some(t) if node.is_text() && !t.trim().is_empty() => {
                Err(self.err(node, format!("unexpected text {:?}", t.trim())))
            }
            _ => Ok(()),
        }
    }

    /// Refuses attributes other than `allowed`.
    fn attributes(&self, node: Node, allowed: &[&str]) -> Result<(), SdfError> {
        for a in node.attributes() {
            if !allowed.contains(&a.name()) {
                let tag = node.tag_name().name();
                return Err(self.err(node, format!("invalid attribute '{}' on <{tag}>", a.name())));
            }
        }
        Ok(())
    }

    fn required<'n>(&self, node: Node<'n, '_>, name: &str) -> Result<&'n str, SdfError> {
        node.attribute(name).ok_or_else(|| {
            self.err(node, format!("missing attribute '{name}' on <{}>", node.tag_name().name()))
        })
    }

    /// A number: decimal, or hexadecimal with `0x`; `_` separators allowed.
    fn number(&self, node: Node, name: &str, value: &str) -> Result<u64, SdfError> {
        let clean = value.replace('_', "");
        let parsed = match clean.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => clean.parse(),
        };
        parsed.map_err(|_| self.err(node, format!("attribute '{name}': {value:?} is not a number")))
    }

    fn bool(&self, node: Node, name: &str, default: bool) -> Result<bool, SdfError> {
        match node.attribute(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => {
                Err(self.err(node, format!("attribute '{name}': {v:?} is not true or false")))
            }
        }
    }

    fn memory_region(&self, node: Node) -> Result<MemoryRegion, SdfError> {
        self.attributes(node, &["name", "size", "page_size", "prefill_path", "phys_addr"])?;
        let size = self.number(node, "size", self.required(node, "size")?)?;
        let page_size = match node.attribute("page_size") {
            Some(v) => self.number(node, "page_size", v)?,
            None => 0x1000,
        };
        Ok(MemoryRegion {
            name: self.required(node, "name")?.into(),
            size,
            page_size,
            prefill_path: node.attribute("prefill_path").map(Into::into),
            phys_addr: node
                .attribute("phys_addr")
                .map(|v| self.number(node, "phys_addr", v))
                .transpose()?,
            pos: self.pos(node),
        })
    }

    fn protection_domain(&self, node: Node, child: bool) -> Result<ProtectionDomain, SdfError> {
        let mut allowed = vec!["name", "priority", "passive", "stack_size", "budget", "period"];
        if child {
            allowed.push("id");
        }
        self.attributes(node, &allowed)?;
        let name = self.required(node, "name")?;
        let number =
            |attr: &str| node.attribute(attr).map(|v| self.number(node, attr, v)).transpose();
        let priority = number("priority")?.unwrap_or(0);
        let priority = u8::try_from(priority)
            .map_err(|_| self.err(node, format!("priority {priority} is not 0..=254")))?;
        let id = match number("id")? {
            Some(id) => Some(
                u8::try_from(id).map_err(|_| self.err(node, format!("id {id} is too large")))?,
            ),
            None if child => return Err(self.err(node, format!("child PD '{name}' needs an 'id'"))),
            None => None,
        };
        let mut pd = ProtectionDomain {
            name: name.into(),
            priority,
            passive: self.bool(node, "passive", false)?,
            stack_size: number("stack_size")?.unwrap_or(0x2000),
            program_image: String::new(),
            id,
            maps: Vec::new(),
            children: Vec::new(),
            irqs: Vec::new(),
            setvars: Vec::new(),
            pos: self.pos(node),
        };
        for c in node.children() {
            self.no_text(c)?;
            if !c.is_element() {
                continue;
            }
            match c.tag_name().name() {
                "program_image" => {
                    self.attributes(c, &["path"])?;
                    if !pd.program_image.is_empty() {
                        return Err(self.err(c, format!("PD '{name}' has two <program_image>s")));
                    }
                    pd.program_image = self.required(c, "path")?.into();
                }
                "map" => pd.maps.push(self.map(c)?),
                "irq" => pd.irqs.push(self.irq(c)?),
                "setvar" => {
                    self.attributes(c, &["symbol", "region_paddr"])?;
                    pd.setvars.push(SetVar {
                        symbol: self.required(c, "symbol")?.into(),
                        region_paddr: self.required(c, "region_paddr")?.into(),
                        pos: self.pos(c),
                    });
                }
                "protection_domain" => pd.children.push(self.protection_domain(c, true)?),
                other => {
                    return Err(
                        self.err(c, format!("unknown or unsupported element <{other}> in a PD"))
                    );
                }
            }
        }
        if pd.program_image.is_empty() {
            return Err(self.err(node, format!("PD '{name}' has no <program_image>")));
        }
        Ok(pd)
    }

    fn map(&self, node: Node) -> Result<Map, SdfError> {
        self.attributes(node, &["mr", "vaddr", "perms", "cached", "setvar_vaddr", "setvar_size"])?;
        let perms = node.attribute("perms").unwrap_or("rw");
        Ok(Map {
            mr: self.required(node, "mr")?.into(),
            vaddr: self.number(node, "vaddr", self.required(node, "vaddr")?)?,
            perms: Perms::parse(perms).ok_or_else(|| {
                self.err(node, format!("perms {perms:?}: use r, w and x, not write-only"))
            })?,
            cached: self.bool(node, "cached", true)?,
            setvar_vaddr: node.attribute("setvar_vaddr").map(Into::into),
            setvar_size: node.attribute("setvar_size").map(Into::into),
            pos: self.pos(node),
        })
    }

    fn irq(&self, node: Node) -> Result<Irq, SdfError> {
        self.attributes(node, &["irq", "id", "trigger"])?;
        let irq = self.number(node, "irq", self.required(node, "irq")?)?;
        let irq =
            u32::try_from(irq).map_err(|_| self.err(node, format!("irq {irq} is too large")))?;
        let id = self.required(node, "id")?;
        let id = id
            .parse::<u8>()
            .ok()
            .filter(|&i| i <= crate::PD_MAX_ID)
            .ok_or_else(|| self.err(node, format!("irq id {id:?} is not a decimal 0..=61")))?;
        let edge = match node.attribute("trigger") {
            None | Some("level") => false,
            Some("edge") => true,
            Some(t) => return Err(self.err(node, format!("trigger {t:?} is not edge or level"))),
        };
        Ok(Irq { irq, id, edge, pos: self.pos(node) })
    }

    fn channel(&self, node: Node) -> Result<Channel, SdfError> {
        self.attributes(node, &[])?;
        let mut ends = Vec::new();
        for c in node.children() {
            self.no_text(c)?;
            if !c.is_element() {
                continue;
            }
            if c.tag_name().name() != "end" {
                return Err(
                    self.err(c, format!("unknown element <{}> in a channel", c.tag_name().name()))
                );
            }
            self.attributes(c, &["pd", "id", "pp", "notify"])?;
            let id = self.required(c, "id")?;
            // Microkit parses channel ids as plain decimals.
            let id =
                id.parse::<u8>().ok().filter(|&i| i <= crate::PD_MAX_ID).ok_or_else(|| {
                    self.err(c, format!("channel id {id:?} is not a decimal 0..=61"))
                })?;
            ends.push(End {
                pd: self.required(c, "pd")?.into(),
                id,
                pp: self.bool(c, "pp", false)?,
                notify: self.bool(c, "notify", true)?,
                pos: self.pos(c),
            });
        }
        let ends: [End; 2] =
            ends.try_into().map_err(|_| self.err(node, "a channel needs exactly two <end>s"))?;
        Ok(Channel { ends, pos: self.pos(node) })
    }
}
