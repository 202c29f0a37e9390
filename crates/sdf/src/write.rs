//! Writing the model back as XML, deterministically.

use std::fmt::Write;

use crate::model::{ProtectionDomain, System};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl System {
    /// The system as `system.xml` text; `header` is written as a comment
    /// after the XML declaration.
    pub fn to_xml(&self, header: &str) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if !header.is_empty() {
            let _ = writeln!(s, "<!--\n{}\n-->", header.replace("--", "- -"));
        }
        s.push_str("<system>\n");
        for mr in &self.memory_regions {
            let _ = write!(
                s,
                "    <memory_region name=\"{}\" size=\"{:#x}\"",
                escape(&mr.name),
                mr.size
            );
            if mr.page_size != 0x1000 {
                let _ = write!(s, " page_size=\"{:#x}\"", mr.page_size);
            }
            if let Some(p) = &mr.prefill_path {
                let _ = write!(s, " prefill_path=\"{}\"", escape(p));
            }
            if let Some(a) = mr.phys_addr {
                let _ = write!(s, " phys_addr=\"{a:#x}\"");
            }
            s.push_str(" />\n");
        }
        for pd in &self.pds {
            s.push('\n');
            write_pd(&mut s, pd, 1);
        }
        for ch in &self.channels {
            s.push_str("\n    <channel>\n");
            for e in &ch.ends {
                let _ = write!(s, "        <end pd=\"{}\" id=\"{}\"", escape(&e.pd), e.id);
                if e.pp {
                    s.push_str(" pp=\"true\"");
                }
                if !e.notify {
                    s.push_str(" notify=\"false\"");
                }
                s.push_str(" />\n");
            }
            s.push_str("    </channel>\n");
        }
        s.push_str("</system>\n");
        s
    }
}

fn write_pd(s: &mut String, pd: &ProtectionDomain, depth: usize) {
    let ind = "    ".repeat(depth);
    let _ = write!(
        s,
        "{ind}<protection_domain name=\"{}\" priority=\"{}\"",
        escape(&pd.name),
        pd.priority
    );
    if let Some(id) = pd.id {
        let _ = write!(s, " id=\"{id}\"");
    }
    if pd.passive {
        s.push_str(" passive=\"true\"");
    }
    if pd.stack_size != 0x2000 {
        let _ = write!(s, " stack_size=\"{:#x}\"", pd.stack_size);
    }
    s.push_str(">\n");
    let _ = writeln!(s, "{ind}    <program_image path=\"{}\" />", escape(&pd.program_image));
    for m in &pd.maps {
        let _ = write!(
            s,
            "{ind}    <map mr=\"{}\" vaddr=\"{:#x}\" perms=\"{}\"",
            escape(&m.mr),
            m.vaddr,
            m.perms
        );
        if !m.cached {
            s.push_str(" cached=\"false\"");
        }
        if let Some(sym) = &m.setvar_vaddr {
            let _ = write!(s, " setvar_vaddr=\"{}\"", escape(sym));
        }
        if let Some(sym) = &m.setvar_size {
            let _ = write!(s, " setvar_size=\"{}\"", escape(sym));
        }
        s.push_str(" />\n");
    }
    for i in &pd.irqs {
        let trigger = if i.edge { "edge" } else { "level" };
        let _ =
            writeln!(s, "{ind}    <irq irq=\"{}\" id=\"{}\" trigger=\"{trigger}\" />", i.irq, i.id);
    }
    for v in &pd.setvars {
        let _ = writeln!(
            s,
            "{ind}    <setvar symbol=\"{}\" region_paddr=\"{}\" />",
            escape(&v.symbol),
            escape(&v.region_paddr)
        );
    }
    for c in &pd.children {
        write_pd(s, c, depth + 1);
    }
    let _ = writeln!(s, "{ind}</protection_domain>");
}
