//! The committed system.xml and its configurations are what tenants.toml
//! generates, valid, and isolating tenants: nothing links two tenants' PDs.
//! Sizes and Microkit's limits are checked, clients spread over wires.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn committed() -> sdf::System {
    let text = std::fs::read_to_string(root().join("system.xml")).unwrap();
    sdf::parse("system.xml", &text).unwrap()
}

#[test]
fn committed_files_match_tenants_toml() {
    let stale = sysgen::stale(root()).unwrap();
    assert!(stale.is_empty(), "stale: {stale:?}; run `make system` and commit the result");
}

#[test]
fn committed_system_is_valid() {
    let warnings = committed().validate().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// The tenant a PD serves, or `None` for the shared servers (wire, psdb)
/// and the test harness.
fn tenant_of(pd: &str) -> Option<&str> {
    let rest = pd.strip_prefix("ledger_").or_else(|| pd.strip_prefix("client_"))?;
    Some(rest.split('_').next().unwrap_or(rest))
}

#[test]
fn no_channel_or_region_links_two_tenants() {
    let sys = committed();
    for ch in &sys.channels {
        let [a, b] = &ch.ends;
        if let (Some(x), Some(y)) = (tenant_of(&a.pd), tenant_of(&b.pd)) {
            assert_eq!(x, y, "channel links {} and {}", a.pd, b.pd);
        }
    }
    let mut mapped: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for pd in sys.all_pds() {
        for m in &pd.maps {
            mapped.entry(&m.mr).or_default().insert(&pd.name);
        }
    }
    for (mr, pds) in &mapped {
        let tenants: BTreeSet<_> = pds.iter().filter_map(|p| tenant_of(p)).collect();
        assert!(tenants.len() <= 1, "region {mr} is shared by tenants {tenants:?}");
        assert!(pds.len() <= 2, "region {mr} is mapped into {pds:?}");
        // A shared buffer is shared by exactly the two PDs of one channel.
        if pds.len() == 2 {
            let v: Vec<_> = pds.iter().collect();
            let linked = sys.channels.iter().any(|c| {
                let names = [c.ends[0].pd.as_str(), c.ends[1].pd.as_str()];
                names.contains(v[0]) && names.contains(v[1])
            });
            assert!(linked, "region {mr} is shared by {v:?}, which have no channel");
        }
    }
    // Signing keys: each only in its own ledger, read-only.
    for t in described().tenants {
        let key = format!("key_{}", t.name);
        assert_eq!(mapped[key.as_str()], BTreeSet::from([t.ledger_pd.as_str()]));
        let perms = sys.pd(&t.ledger_pd).unwrap().maps.iter().find(|m| m.mr == key).unwrap().perms;
        assert_eq!(perms, sdf::Perms::R);
    }
}

fn described() -> sysgen::Described {
    sysgen::describe(&root().join("system.xml")).unwrap()
}

#[test]
fn calls_rise_in_priority_and_servers_are_passive() {
    let sys = committed();
    let ledgers: Vec<String> = described().tenants.into_iter().map(|t| t.ledger_pd).collect();
    for name in ["psdb", "wire"].into_iter().chain(ledgers.iter().map(String::as_str)) {
        assert!(sys.pd(name).unwrap().passive, "{name} should be passive");
    }
    // Clients may only call wire; wire only ledgers; ledgers only psdb.
    for ch in &sys.channels {
        for (caller, callee) in [(&ch.ends[0], &ch.ends[1]), (&ch.ends[1], &ch.ends[0])] {
            if !caller.pp {
                continue;
            }
            let ok = match callee.pd.as_str() {
                "wire" => caller.pd.starts_with("client_") || caller.pd == "harness",
                "psdb" => caller.pd.starts_with("ledger_"),
                p if p.starts_with("ledger_") => caller.pd == "wire",
                _ => false,
            };
            assert!(ok, "{} may call {}", caller.pd, callee.pd);
        }
    }
}

fn storage() -> sysgen::Storage {
    sysgen::board_storage(root(), sysgen::DEFAULT_BOARD).unwrap()
}

fn generate(text: &str) -> anyhow::Result<sysgen::Generated> {
    sysgen::generate(text, storage(), "system.xml")
}

fn tenants_toml() -> String {
    std::fs::read_to_string(root().join("tenants.toml")).unwrap()
}

#[test]
fn buffers_fit_the_largest_objects_of_their_namespace() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    for max in [1usize, 64, 1024, 65534, 65535] {
        // Room on the disk for four of the largest bundles.
        let extent = (4 * (256 * (2 + max as u64) + 8192)).next_multiple_of(0x10000).max(0x800000);
        let buffer = (max as u64 + 2).next_multiple_of(0x1000).max(0x10000);
        let text = good
            .replace("max_record = 1024", &format!("max_record = {max}"))
            .replace("client_buffer = 0x10000", &format!("client_buffer = {buffer:#x}"))
            .replace("records_size = 0x800000", &format!("records_size = {extent:#x}"))
            .replace("records_size = 0x400000", &format!("records_size = {extent:#x}"))
            .replace("psdb_memory = 0x400000", "psdb_memory = 0x2000000");
        let g = generate(&text).unwrap();
        let size = |name: &str| g.system.memory_region(name).unwrap().size as usize;
        let bundle = |m: usize| ledger::log::bundle_capacity(m) + 2 * 2048;
        assert!(size("pbuf_acme_log") >= bundle(max), "max_record {max}");
        assert!(
            size("pbuf_acme_audit") >= bundle(ledger::audit::MAX_AUDIT_RECORD),
            "max_record {max}"
        );
        let engine = ledger::Buffers::<&mut [u8]>::bytes_needed(max) + buffer as usize;
        assert!(size("lmem_acme") >= engine, "max_record {max}");
        // A record of the largest size fits each client's buffer, framed.
        assert!(size("cbuf_acme_identity") >= max + 2, "max_record {max}");
    }
}

#[test]
fn a_largest_record_that_cannot_fit_the_buffer_is_refused_saying_what_fits() {
    let text = tenants_toml().replace("max_record = 1024", "max_record = 65535");
    let err = format!("{:#}", generate(&text).err().expect("65535 does not fit 64 KiB"));
    assert!(err.contains("the largest that fits is 65534"), "{err}");
    assert!(err.contains("client_buffer 0x11000"), "{err}");
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    for (from, to, why) in [
        ("role = \"audit\" }", "role = \"root\" }", "not ring1, ring2 or audit"),
        ("name = \"globex\"", "name = \"acme\"", "duplicate tenant"),
        ("name = \"globex\"", "name = \"Globex!\"", "tenant name"),
        ("name = \"globex\"", "name = \"glo-bex\"", "tenant name"),
        ("max_record = 1024", "max_record = 70000", "max_record"),
        ("client_buffer = 0x10000", "client_buffer = 1000", "client_buffer"),
        ("tenants = [\"acme\", \"globex\"]", "tenants = [\"acme\", \"umbrella\"]", "no tenant"),
        ("[system]", "[system]\ncolour = 1", "unknown field"),
        ("tenants = [\"acme\", \"globex\"]", "tenants = [\"acme\"]", "two or more"),
        ("tenants = [\"acme\", \"globex\"]", "tenants = [\"acme\", \"acme\"]", "two or more"),
        ("role = \"ring2\" }", "role = \"ring2\", pd = \"Bad PD\" }", "pd"),
        ("role = \"ring2\" }", "role = \"ring2\", program = \"wire.elf\" }", "program"),
        ("role = \"ring2\" }", "role = \"ring2\", program = \"My PD\" }", "program"),
        ("records_size = 0x800000", "records_size = 0x800001", "multiple of 4096"),
        ("records_size = 0x800000", "records_size = 0x10000", "four of its largest objects"),
        ("audit_size = 0x200000", "audit_size = 0x1000", "at least 64 KiB"),
        ("psdb_memory = 0x400000", "psdb_memory = 0x40000", "psdb_memory"),
    ] {
        assert!(good.contains(from), "{from}");
        let err = generate(&good.replacen(from, to, 1)).err().expect(why);
        let err = format!("{err:#}");
        assert!(err.starts_with("tenants.toml: TOML") || !err.contains('\n'), "one line: {err}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

#[test]
fn a_module_may_run_an_integrators_own_program() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    let from = "{ name = \"reports\", role = \"ring2\" }";
    assert!(good.contains(from));
    let g = generate(
        &good.replace(from, "{ name = \"reports\", role = \"ring2\", program = \"reporter.elf\" }"),
    )
    .unwrap();
    assert_eq!(g.system.pd("client_acme_reports").unwrap().program_image, "reporter.elf");
    assert_eq!(g.system.pd("client_acme_identity").unwrap().program_image, "client.elf");
}

#[test]
fn the_disk_driver_sits_above_psdb_with_the_boards_device_and_nothing_else() {
    let sys = committed();
    let sysgen::Storage::Disk(d) = storage() else { panic!("the default board has a disk") };
    let blk = sys.pd("blk").unwrap();
    let psdb = sys.pd("psdb").unwrap();
    assert!(blk.priority > psdb.priority && !blk.passive);
    assert_eq!(blk.irqs.len(), 1);
    assert_eq!((blk.irqs[0].irq, blk.irqs[0].id), (d.irq, system::blk::DRIVER_IRQ));
    let regs = blk.maps.iter().find(|m| m.mr == "blk_regs").unwrap();
    assert!(!regs.cached, "device registers are mapped uncached");
    assert_eq!(sys.memory_region("blk_regs").unwrap().phys_addr, Some(d.mmio & !0xFFF));
    let mut paddrs: Vec<(&str, &str)> =
        blk.setvars.iter().map(|v| (v.symbol.as_str(), v.region_paddr.as_str())).collect();
    paddrs.sort();
    assert_eq!(
        paddrs,
        [(system::blk::DATA_PADDR, "blk_data"), (system::blk::DMA_PADDR, "blk_dma")]
    );
    // blk talks to psdb alone, by notifications; nobody calls it.
    let ends: Vec<_> = sys.ends_of("blk").collect();
    assert_eq!(ends.len(), 1);
    assert_eq!((ends[0].1.pd.as_str(), ends[0].1.id), ("psdb", system::blk::PSDB_DRIVER));
    assert!(!ends[0].0.pp && !ends[0].1.pp);
    // Its regions: the device's and the DMA memory its own; the queues and
    // data shared with psdb only; the configuration read-only in psdb.
    for m in &blk.maps {
        let users: Vec<&str> = sys
            .all_pds()
            .into_iter()
            .filter(|p| p.maps.iter().any(|x| x.mr == m.mr))
            .map(|p| p.name.as_str())
            .collect();
        let want: &[&str] = if ["blk_regs", "blk_dma", "config_blk"].contains(&m.mr.as_str()) {
            &["blk"]
        } else {
            &["blk", "psdb"]
        };
        assert_eq!(users, want, "{}", m.mr);
    }
    assert_eq!(psdb.maps.iter().find(|m| m.mr == "blk_config").unwrap().perms, sdf::Perms::R);
    assert!(sys.memory_region("psdb_store").is_none(), "no memory store beside a disk");
}

#[test]
fn a_board_without_a_disk_keeps_the_store_in_psdbs_memory_with_the_same_configurations() {
    let text = tenants_toml();
    assert_eq!(sysgen::board_storage(root(), "odroidc4").unwrap(), sysgen::Storage::Ram);
    let ram = sysgen::generate(&text, sysgen::Storage::Ram, "system.xml").unwrap();
    let disk = generate(&text).unwrap();
    assert!(ram.system.pd("blk").is_none());
    let bytes = sysgen::describe(&root().join("system.xml")).unwrap().disk_bytes.unwrap();
    assert!(ram.system.memory_region("psdb_store").unwrap().size >= bytes);
    // The programs are the same on every board, and so is what they are
    // told, but for the driver psdb talks to and the regions psdb maps.
    for (pd, cfg) in &ram.configs {
        let other = disk.configs.iter().find(|(p, _)| p == pd).unwrap();
        if pd != "psdb" {
            assert_eq!(cfg, &other.1, "{pd}");
        }
    }
    ram.system.validate().unwrap();
}

#[test]
fn namespaces_get_their_sizes_from_tenants_toml() {
    let g = generate(&tenants_toml()).unwrap();
    let psdb = &g.configs.iter().find(|(p, _)| p == "psdb").unwrap().1;
    let system::Kind::Psdb(p) = system::Config::parse(psdb, "psdb").unwrap().kind else {
        panic!("psdb's configuration")
    };
    let names: Vec<(&str, u64)> = p.namespaces.iter().map(|n| (n.name, n.size)).collect();
    assert_eq!(
        names,
        [
            ("acme/log", 0x800000),
            ("acme/audit", 0x200000),
            ("globex/log", 0x400000),
            ("globex/audit", 0x200000),
            ("initech/log", 0x800000),
            ("initech/audit", 0x200000),
            ("hooli/log", 0x800000),
            ("hooli/audit", 0x200000),
        ]
    );
}

#[test]
fn every_symbol_a_system_maps_is_one_every_program_declares() {
    let declared = sysgen::symbols();
    for g in [generate(&tenants_toml()).unwrap(), big(28, 100).unwrap()] {
        for pd in g.system.all_pds() {
            for m in &pd.maps {
                let sym = m.setvar_vaddr.as_deref().unwrap();
                assert!(declared.iter().any(|d| d == sym), "{}: {sym}", pd.name);
                assert_eq!(m.setvar_size.as_deref(), Some(format!("{sym}_size").as_str()));
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(root().join(sysgen::SYMBOLS_RS)).unwrap(),
        sysgen::symbols_rs()
    );
}

/// A system of `tenants` tenants and `modules` modules in all, each
/// tenant's modules in one client PD, the harness in the first two.
fn big(tenants: usize, modules: usize) -> anyhow::Result<sysgen::Generated> {
    let mut text = String::from(
        "[system]\nmax_record = 1024\nclient_buffer = 0x10000\nrecords_size = 0x400000\naudit_size = 0x100000\npsdb_memory = 0x2000000\n",
    );
    let roles = ["ring1", "ring2", "audit"];
    for t in 0..tenants {
        text.push_str(&format!("\n[[tenant]]\nname = \"t{t:02}\"\nmodules = [\n"));
        let mine = modules / tenants + usize::from(t < modules % tenants);
        for m in 0..mine {
            let role = roles[m % 3];
            text.push_str(&format!(
                "    {{ name = \"m{m}\", role = \"{role}\", pd = \"apps\" }},\n"
            ));
        }
        text.push_str("]\n");
    }
    text.push_str("\n[harness]\ntenants = [\"t00\", \"t01\"]\n");
    sysgen::generate(&text, storage(), "system.xml")
}

#[test]
fn clients_spread_over_wires_within_microkits_limits() {
    let g = big(28, 100).unwrap();
    let pds = g.system.all_pds();
    assert_eq!(pds.len(), 63, "Microkit's limit, used to the last PD");
    let wires: Vec<&str> =
        pds.iter().filter(|p| p.program_image == "wire.elf").map(|p| p.name.as_str()).collect();
    assert!(wires.len() >= 2, "{wires:?}");
    for p in &pds {
        let n = g.system.ends_of(&p.name).count() + p.irqs.len();
        assert!(n <= 62, "{}: {n} channels", p.name);
    }
    // Every module has its identity: 100 modules, and the harness's 6.
    let identities: usize = wires
        .iter()
        .map(|w| g.system.ends_of(w).filter(|(mine, other)| !mine.pp && other.pp).count())
        .sum();
    assert_eq!(identities, 106);
    // Each tenant's identities on one wire, its ledger called only from it.
    for t in 0..28 {
        let ledger = format!("ledger_t{t:02}");
        let callers: BTreeSet<&str> = g
            .system
            .ends_of(&ledger)
            .filter(|(_, other)| other.pp)
            .map(|(_, o)| o.pd.as_str())
            .collect();
        assert_eq!(callers.len(), 1, "{ledger}: {callers:?}");
    }
    g.system.validate().unwrap();
}

#[test]
fn what_cannot_be_spread_is_refused_in_one_line_naming_the_limit() {
    let err = format!("{:#}", big(30, 100).err().expect("30 tenants need 65 PDs or more"));
    assert!(err.contains("protection domains: Microkit allows 63"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    // One client PD a module: 70 PDs for one tenant's modules.
    let one_tenant = |pd: &dyn Fn(usize) -> String| {
        let mut t = String::from(
            "[system]\nmax_record = 1024\nclient_buffer = 0x10000\nrecords_size = 0x400000\naudit_size = 0x100000\npsdb_memory = 0x400000\n[[tenant]]\nname = \"a\"\nmodules = [\n",
        );
        for m in 0..70 {
            t.push_str(&format!(
                "  {{ name = \"m{m}\", role = \"ring1\", pd = \"{}\" }},\n",
                pd(m)
            ));
        }
        t + "]\n"
    };
    let refused =
        |text: String| format!("{:#}", sysgen::generate(&text, storage(), "x.xml").err().unwrap());
    let err = refused(one_tenant(&|m| format!("p{m}")));
    assert!(err.contains("Microkit allows 63") && !err.contains('\n'), "{err}");
    // All in one client PD: more than its 62 channels.
    let err = refused(one_tenant(&|_| "apps".into()));
    assert!(err.contains("Microkit allows 62 per PD") && !err.contains('\n'), "{err}");
    // In two: the tenant's 70 identities spread over two wires, both
    // calling its ledger.
    let g = sysgen::generate(&one_tenant(&|m| format!("a{}", m / 35)), storage(), "x.xml").unwrap();
    let wires: Vec<&str> = g
        .system
        .all_pds()
        .into_iter()
        .filter(|p| p.program_image == "wire.elf")
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(wires, ["wire", "wire_1"]);
    let callers: Vec<u8> =
        g.system.ends_of("ledger_a").filter(|(_, o)| o.pp).map(|(me, _)| me.id).collect();
    assert_eq!(callers, [0, 3]);
}
