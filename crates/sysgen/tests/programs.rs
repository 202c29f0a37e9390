//! The program list (`sysgen::programs!`) is the one source of the image's
//! program crate: its committed files are what the list generates (`make
//! system`), and every program a generated system names is on the list or
//! an integrator's (`programs/`, `examples/`).

use std::path::Path;

use sysgen::programs::{self, PROGRAMS};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn the_image_program_crate_is_what_the_list_generates() {
    for (path, bytes) in programs::files(root()) {
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(committed == bytes, "{} is stale: run `make system`", path.display());
    }
    let extra = programs::extra_bins(root());
    assert!(extra.is_empty(), "{extra:?}: no such program; run `make system`");
}

#[test]
fn each_program_is_named_once_and_runs_a_pd_type_of_a_pd_crate() {
    for (i, p) in PROGRAMS.iter().enumerate() {
        assert!(p.image.ends_with(".elf"), "{}", p.image);
        assert!(!PROGRAMS[..i].iter().any(|q| q.image == p.image), "{} twice", p.image);
        assert!(root().join("pds").read_dir().unwrap().flatten().any(|d| {
            let manifest = std::fs::read_to_string(d.path().join("Cargo.toml")).unwrap_or_default();
            manifest.contains(&format!("name = \"{}\"", p.package()))
        }));
    }
    let blk = PROGRAMS.iter().find(|p| p.image == "blk.elf").unwrap();
    assert_eq!(blk.pd(), "blk::Driver<Sel4, blk::virtio::Virtio>");
    assert_eq!((blk.bin(), blk.package().as_str()), ("blk", "blk"));
    let ledger = PROGRAMS.iter().find(|p| p.image == "ledger.elf").unwrap();
    assert_eq!(ledger.package(), "ledger-pd");
}

#[test]
fn a_generated_system_runs_only_listed_or_integrators_programs() {
    let g = sysgen::generate_for(root(), sysgen::DEFAULT_BOARD, None).unwrap();
    let integrators = ["abi_client.elf", "rust_client.elf"];
    for pd in g.system.all_pds() {
        let image = pd.program_image.as_str();
        let listed = PROGRAMS.iter().any(|p| p.image == image);
        assert!(listed || integrators.contains(&image), "{}: {image}", pd.name);
    }
    assert!(!programs::is_system_program(programs::CLIENT_PROGRAM));
    assert!(programs::is_system_program("psdb.elf"));
}
