//! docs/abi.md's C client is `examples/abi_client.c`, byte for byte, and
//! needs nothing but libmicrokit: it compiles freestanding and calls no C
//! library function (no `memcpy`). With the Microkit SDK and the cross
//! compiler, it links exactly as docs/abi.md says. (It runs against the
//! real PDs in the simulator's end-to-end test.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The body of the first ```c block after `### A client in C`.
fn documented() -> String {
    let doc = std::fs::read_to_string(root().join("docs/abi.md")).unwrap();
    let section = doc.split_once("### A client in C").expect("docs/abi.md has the C client").1;
    let code = section.split_once("```c\n").expect("a ```c block").1;
    code.split_once("```\n").expect("the block ends").0.to_string()
}

#[test]
fn the_documented_c_client_is_the_example_that_is_built() {
    let example = std::fs::read_to_string(root().join("examples/abi_client.c")).unwrap();
    assert!(documented() == example, "docs/abi.md's C client differs from examples/abi_client.c");
}

#[test]
fn the_c_client_calls_only_libmicrokit() {
    let tmp = tempfile::tempdir().unwrap();
    let obj = tmp.path().join("abi_client.o");
    let out = Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-O2", "-ffreestanding", "-nostdlib"])
        .arg("-fno-tree-loop-distribute-patterns")
        .arg("-I")
        .arg(root().join("crates/microkit-host/include"))
        .arg("-c")
        .arg(root().join("examples/abi_client.c"))
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("running cc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nm = Command::new("nm").arg("-u").arg(&obj).output().expect("running nm");
    let undefined = String::from_utf8_lossy(&nm.stdout);
    let foreign: Vec<&str> = undefined
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| !s.starts_with("microkit_"))
        .collect();
    assert!(foreign.is_empty(), "needs more than libmicrokit: {foreign:?}");
}

#[test]
fn the_c_client_links_against_the_sdk_as_documented() {
    let Some(sdk) = std::env::var_os("MICROKIT_SDK").filter(|s| !s.is_empty()) else {
        eprintln!("skipped: MICROKIT_SDK is not set (make image builds it with the SDK)");
        return;
    };
    if Command::new("aarch64-linux-gnu-gcc").arg("--version").output().is_err() {
        eprintln!("skipped: no aarch64-linux-gnu-gcc (make image installs it)");
        return;
    }
    let board = Path::new(&sdk).join("board/qemu_virt_aarch64/debug");
    let tmp = tempfile::tempdir().unwrap();
    let (obj, elf) = (tmp.path().join("prog.o"), tmp.path().join("prog.elf"));
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("running the cross tools");
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(Command::new("aarch64-linux-gnu-gcc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-O2", "-ffreestanding", "-nostdlib"])
        .args(["-fno-tree-loop-distribute-patterns", "-mstrict-align", "-I"])
        .arg(board.join("include"))
        .arg("-c")
        .arg(root().join("examples/abi_client.c"))
        .arg("-o")
        .arg(&obj));
    run(Command::new("aarch64-linux-gnu-ld")
        .arg("-L")
        .arg(board.join("lib"))
        .arg(&obj)
        .args(["-lmicrokit", "-Tmicrokit.ld", "-o"])
        .arg(&elf));
    let nm = Command::new("aarch64-linux-gnu-nm").arg(&elf).output().unwrap();
    let symbols = String::from_utf8_lossy(&nm.stdout);
    for s in ["sfs_buf_0", "sfs_buf_0_size", "sfs_buf_2", "sfs_buf_2_size", "init", "notified"] {
        let defined = symbols.lines().any(|l| l.split_whitespace().last() == Some(s));
        assert!(defined, "{s} is not defined in the ELF");
    }
}

#[test]
fn the_symbols_and_places_docs_abi_md_names_are_the_ones_the_tools_use() {
    let doc = std::fs::read_to_string(root().join("docs/abi.md")).unwrap();
    let xml = std::fs::read_to_string(root().join("system.xml")).unwrap();
    // Every client PD's buffer symbols, as system.xml gives them.
    let client_maps = xml.split("<protection_domain name=\"client_").skip(1).flat_map(|pd| {
        let pd = pd.split("</protection_domain>").next().unwrap_or("");
        pd.split("setvar_vaddr=\"").skip(1).map(|s| s.split('"').next().unwrap_or("").to_string())
    });
    let mut seen = 0;
    for sym in client_maps {
        let documented = sym == "sfs_buf"
            || sym.strip_prefix("sfs_buf_").is_some_and(|i| i.parse::<u8>().is_ok());
        assert!(documented, "system.xml gives a client {sym}, which docs/abi.md does not name");
        assert!(xml.contains(&format!("setvar_vaddr=\"{sym}\" setvar_size=\"{sym}_size\"")));
        seen += 1;
    }
    assert!(seen > 0, "no client buffers in system.xml");
    for name in ["`sfs_buf`", "`sfs_buf_size`", "`sfs_buf_0`", "`sfs_buf_0_size`"] {
        assert!(doc.contains(name), "docs/abi.md does not name {name}");
    }
    // Where the ELFs go: the places scripts/programs.sh and the tools use.
    let script = std::fs::read_to_string(root().join("scripts/programs.sh")).unwrap();
    let image = std::fs::read_to_string(root().join("scripts/image.sh")).unwrap();
    assert!(doc.contains("`build/sim/programs/`") && script.contains("build/sim/programs"));
    assert!(
        doc.contains("`build/image/<board>/`") && image.contains("programs=\"$out/image/$board\"")
    );
    assert!(image.contains("scripts/programs.sh sel4 \"$programs\""));
}
