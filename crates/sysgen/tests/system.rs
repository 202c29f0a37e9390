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

#[test]
fn buffers_fit_the_largest_objects_of_their_namespace() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    for max in [1usize, 64, 1024, 65535] {
        let g =
            sysgen::generate(&good.replace("max_record = 1024", &format!("max_record = {max}")))
                .unwrap();
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
    ] {
        assert!(good.contains(from), "{from}");
        let err = sysgen::generate(&good.replacen(from, to, 1)).err().expect(why);
        assert!(format!("{err:#}").contains(why), "{why}: {err:#}");
    }
}

#[test]
fn a_module_may_run_an_integrators_own_program() {
    let good = std::fs::read_to_string(root().join("tenants.toml")).unwrap();
    let from = "{ name = \"reports\", role = \"ring2\" }";
    assert!(good.contains(from));
    let g = sysgen::generate(
        &good.replace(from, "{ name = \"reports\", role = \"ring2\", program = \"reporter.elf\" }"),
    )
    .unwrap();
    assert_eq!(g.system.pd("client_acme_reports").unwrap().program_image, "reporter.elf");
    assert_eq!(g.system.pd("client_acme_identity").unwrap().program_image, "client.elf");
}
