//! The crate edges follow the layers (`cargo metadata` of the workspace):
//!
//! - no PD crate (`pds/*`) depends on another PD crate: what PDs share is a
//!   library in `crates/` (`abi`, `system`, `scenarios`, …). Only their
//!   tests may run several PDs in one process (psdb's run the ledger PD
//!   and the driver's logic over a model disk);
//! - nothing else depends on a PD crate, in any way, but the simulator,
//!   which hosts the PDs by design: `qemu-runner` and `bench` judge the
//!   PDs by what they print, with the names and markers of `scenarios`;
//! - `store-posix` is a tile store only: the tenant layer (`tenant`) is
//!   built on it, never the other way round.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The crates that may depend on PD crates: they host PDs.
const HOSTS: &[&str] = &["simulator"];
/// Crates that must not depend on the crates named with them.
const BELOW: &[(&str, &[&str])] = &[("store-posix", &["tenant", "fsctl", "service-fsd"])];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Every edge of `meta` (the JSON of `cargo metadata --no-deps`) against
/// the rules above, one line per edge that breaks them.
fn violations(meta: &Value) -> Vec<String> {
    let root = meta["workspace_root"].as_str().expect("workspace_root");
    let pds = Path::new(root).join("pds");
    let is_pd = |manifest: &str| Path::new(manifest).starts_with(&pds);
    let mut out = Vec::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or("?");
        let pd = is_pd(p["manifest_path"].as_str().unwrap_or(""));
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or("?");
            let kind = d["kind"].as_str().unwrap_or("normal");
            let on_pd = d["path"].as_str().is_some_and(|path| Path::new(path).starts_with(&pds));
            if on_pd && pd && kind != "dev" {
                out.push(format!("PD crate {name} depends on PD crate {dep} ({kind})"));
            } else if on_pd && !pd && !HOSTS.contains(&name) {
                out.push(format!("{name} depends on PD crate {dep} ({kind})"));
            }
            for (below, above) in BELOW {
                if name == *below && above.contains(&dep) {
                    out.push(format!("{name} depends on {dep}, a layer above it ({kind})"));
                }
            }
        }
    }
    out
}

#[test]
fn crate_edges_follow_the_layers() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root())
        .output()
        .expect("running cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let names: Vec<&str> =
        meta["packages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for expected in ["harness", "faulty", "psdb", "qemu-runner", "bench", "store-posix", "tenant"] {
        assert!(names.contains(&expected), "no package {expected} in {names:?}");
    }
    let bad = violations(&meta);
    assert!(bad.is_empty(), "crate edges across the layers:\n{}", bad.join("\n"));
}

#[test]
fn the_check_sees_each_kind_of_crossing() {
    let dep = |name: &str, kind: Option<&str>, pd: bool| {
        let path = if pd { format!("/w/pds/{name}") } else { format!("/w/crates/{name}") };
        serde_json::json!({ "name": name, "kind": kind, "path": path })
    };
    let package = |name: &str, dir: &str, deps: Vec<Value>| {
        serde_json::json!({
            "name": name,
            "manifest_path": format!("/w/{dir}/{name}/Cargo.toml"),
            "dependencies": deps,
        })
    };
    let meta = serde_json::json!({
        "workspace_root": "/w",
        "packages": [
            package("harness", "pds", vec![dep("faulty", None, true), dep("abi", None, false)]),
            package("psdb", "pds", vec![dep("blk", Some("dev"), true)]),
            package("qemu-runner", ".", vec![dep("harness", None, true)]),
            package("bench", "crates", vec![dep("psdb", Some("dev"), true)]),
            package("simulator", "crates", vec![dep("harness", None, true)]),
            package("store-posix", "crates", vec![dep("tenant", None, false)]),
            package("tenant", "crates", vec![dep("store-posix", None, false)]),
        ],
    });
    assert_eq!(
        violations(&meta),
        [
            "PD crate harness depends on PD crate faulty (normal)",
            "qemu-runner depends on PD crate harness (normal)",
            "bench depends on PD crate psdb (dev)",
            "store-posix depends on tenant, a layer above it (normal)",
        ]
    );
}
