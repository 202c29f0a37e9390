//! The committed system.xml is what tenants.toml generates, it is valid, and
//! it isolates tenants: nothing links two tenants' PDs.

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
    for t in system::TENANTS {
        let key = format!("key_{}", t.name);
        assert_eq!(mapped[key.as_str()], BTreeSet::from([t.ledger_pd]));
        let perms = sys.pd(t.ledger_pd).unwrap().maps.iter().find(|m| m.mr == key).unwrap().perms;
        assert_eq!(perms, sdf::Perms::R);
    }
}

#[test]
fn calls_rise_in_priority_and_servers_are_passive() {
    let sys = committed();
    for name in ["psdb", "wire"].into_iter().chain(system::TENANTS.iter().map(|t| t.ledger_pd)) {
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
    sysgen::generate(text, storage())
}

#[test]
fn buffers_fit_the_largest_objects_of_their_namespace() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    for max in [1usize, 64, 1024, 65535] {
        // Room on the disk for four of the largest bundles.
        let extent = (4 * (256 * (2 + max as u64) + 8192)).next_multiple_of(0x10000).max(0x800000);
        let text = good
            .replace("max_record = 1024", &format!("max_record = {max}"))
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
        let engine = ledger::Buffers::<&mut [u8]>::bytes_needed(max) + 0x10000;
        assert!(size("lmem_acme") >= engine, "max_record {max}");
    }
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
        ("tenants = [\"acme\", \"globex\"]", "tenants = [\"initech\"]", "no tenant"),
        ("[system]", "[system]\ncolour = 1", "unknown field"),
        ("role = \"ring2\" }", "role = \"ring2\", program = \"wire.elf\" }", "program"),
        ("role = \"ring2\" }", "role = \"ring2\", program = \"My PD\" }", "program"),
        ("records_size = 0x800000", "records_size = 0x800001", "multiple of 4096"),
        ("records_size = 0x800000", "records_size = 0x10000", "four of its largest objects"),
        ("audit_size = 0x200000", "audit_size = 0x1000", "at least 64 KiB"),
        ("psdb_memory = 0x400000", "psdb_memory = 0x40000", "psdb_memory"),
    ] {
        assert!(good.contains(from), "{from}");
        let err = generate(&good.replacen(from, to, 1)).err().expect(why);
        assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
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
        let want: &[&str] = if ["blk_regs", "blk_dma"].contains(&m.mr.as_str()) {
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
fn a_board_without_a_disk_keeps_the_store_in_psdbs_memory_with_the_same_tables() {
    let text = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    assert_eq!(sysgen::board_storage(root(), "odroidc4").unwrap(), sysgen::Storage::Ram);
    let ram = sysgen::generate(&text, sysgen::Storage::Ram).unwrap();
    let disk = generate(&text).unwrap();
    assert!(ram.system.pd("blk").is_none());
    let need = psdb::disk_bytes();
    assert!(ram.system.memory_region("psdb_store").unwrap().size >= need);
    // The programs are the same on every board: so are their tables.
    assert_eq!(ram.rust, disk.rust);
    assert_eq!(ram.symbols, disk.symbols);
    ram.system.validate().unwrap();
}

#[test]
fn namespaces_get_their_sizes_from_tenants_toml() {
    let names: Vec<(&str, u64)> =
        system::PSDB_NAMESPACES.iter().map(|n| (n.name, n.size)).collect();
    assert_eq!(
        names,
        [
            ("acme/log", 0x800000),
            ("acme/audit", 0x200000),
            ("globex/log", 0x400000),
            ("globex/audit", 0x200000)
        ]
    );
}
