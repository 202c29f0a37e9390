//! End to end, in the simulator: the two-tenant system from system.xml runs
//! every harness scenario on a disk; the disk then verifies with each
//! tenant's key in Rust and in Go's oracle, holds what the ledger engine
//! produces for the same records, and after a reboot the system finds
//! exactly what it had acknowledged.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use disk::file::FileDevice;
use disk::image::{Part, export_part, read_object, with_image};
use ledger::{Log, LogBuffers};
use note::{Signer, Verifier};
use qemu_runner::console::{Console, Printed};
use store_mem::MemStore;
use tlog::{Tile, TileKind, bundle};

const SIM: &str = env!("CARGO_BIN_EXE_simulator");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(SIM).current_dir(dir).args(args).output().unwrap()
}

/// The integrators' programs (the examples: docs/abi.md's C client and
/// the Rust one), built for the host once by `scripts/programs.sh` as
/// `make programs` builds them.
fn programs() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = root().join("target/test-programs");
        let out = Command::new("scripts/programs.sh")
            .current_dir(root())
            .arg("host")
            .arg(&dir)
            .output()
            .expect("running scripts/programs.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

/// Writes the committed system (what tenants.toml generates) into `dir`.
fn write_system(dir: &Path) -> sysgen::Described {
    let g = sysgen::generate_for(&root(), sysgen::DEFAULT_BOARD, None).unwrap();
    sysgen::write_generated(&dir.join("system.xml"), &g).unwrap();
    sysgen::describe(&dir.join("system.xml")).unwrap()
}

/// Boots the committed system in `dir` on `disk.img` (keys made on the
/// first boot); returns the console.
fn boot(dir: &Path) -> String {
    write_system(dir);
    assert!(sim(dir, &["keys", "system.xml"]).status.success());
    let search = programs().to_string_lossy().into_owned();
    let boot = ["boot", "system.xml", "--until-idle", "--timeout", "300", "--disk", "disk.img"];
    let out = sim(dir, &[&boot[..], &["--search-path", &search]].concat());
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{console}\n{}", String::from_utf8_lossy(&out.stderr));
    console
}

#[test]
fn the_system_passes_every_scenario_and_its_disk_keeps_verifiable_ledgers_across_a_reboot() {
    let tmp = tempfile::tempdir().unwrap();
    let console = boot(tmp.path());
    let system = sysgen::describe(&tmp.path().join("system.xml")).unwrap();
    // The QEMU runner's judge, on the simulator's console.
    let first = Console::parse(&console, "harness");
    scenarios_passed(&console, &first);
    examples_passed(&console, system.max_record);
    assert!(console.contains("[psdb] psdb: formatted a blank disk"), "{console}");
    for t in &system.tenants {
        for ns in ["log", "audit"] {
            let line = format!("[psdb] psdb: {}/{ns}: new (never initialised)", t.name);
            assert!(console.contains(&line), "{line}\n{console}");
        }
    }
    checkpoints_verify(tmp.path(), &system, &first);
    for t in &system.tenants {
        let key = verifier_key(&first, &t.ledger_pd);
        check_disk(tmp.path(), t, system.max_record, &key, &first.checkpoints);
    }
    // Reboot on the same disk: the harness finds the checkpoints it printed
    // last, byte for byte, and the scenarios pass again on top of them.
    let console = boot(tmp.path());
    let second = Console::parse(&console, "harness");
    scenarios_passed(&console, &second);
    examples_passed(&console, system.max_record);
    assert_eq!(second.recovered.len(), 2 * second.covers.len());
    let (lines, kept) = qemu_runner::disks::kept(
        &tmp.path().join("disk.img"),
        &first.checkpoints,
        &second.recovered,
    );
    assert!(
        kept,
        "what the second boot found is not what the first acknowledged:\n{}",
        lines.join("\n")
    );
    for t in &system.tenants {
        let line = format!("[psdb] psdb: {}/log: recovered ", t.name);
        assert!(console.contains(&line), "{line}\n{console}");
    }
}

fn scenarios_passed(console: &str, judged: &Console) {
    let expected: Vec<String> = scenarios::SCENARIOS.iter().map(|s| s.to_string()).collect();
    assert_eq!(judged.failures(&expected), Vec::<String>::new(), "{console}");
    assert_eq!(judged.done, Some((9, 0)));
    let lines: Vec<&str> = console.lines().collect();
    // Only the misbehaving child stopped, for the reason it was told to.
    let stopped: Vec<&&str> = lines.iter().filter(|l| l.starts_with("[kernel] PD ")).collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(
        stopped[0].contains("harness_faulty stopped: fault: memory access not allowed"),
        "{stopped:?}"
    );
    // Every example client did its part, each line prefixed by its PD's name
    // (the simulator runs them all at once: a reader may find nothing yet,
    // and globex's writer may find the storage the harness filled full).
    for (pd, what) in [
        ("client_acme_identity", "appended records"),
        ("client_acme_reports", "ledger has"),
        ("client_acme_auditor", "audit ledger:"),
        ("client_globex_payments", "appended records"),
        ("client_globex_analytics", "ledger has"),
        ("client_globex_auditor", "audit ledger:"),
    ] {
        let prefix = format!("[{pd}] {pd}: {what}");
        let full = format!("[{pd}] {pd}: append failed: storage full");
        let ok =
            |l: &&str| l.starts_with(&prefix) || (pd == "client_globex_payments" && **l == full);
        assert!(lines.iter().any(ok), "{prefix}:\n{console}");
    }
}

/// docs/abi.md's C client and the Rust client ran every check they have
/// against the real PDs, in tenants the harness does not cover.
/// (A record one byte over `max_record = 65535` cannot be framed: that
/// check is left out there.)
fn examples_passed(console: &str, max_record: usize) {
    for (pd, checks) in [
        ("client_initech_c_example", &C_CHECKS[..]),
        ("client_hooli_rust_example", &RUST_CHECKS[..]),
    ] {
        let judged = Console::parse(console, pd);
        let checks: Vec<&str> = checks
            .iter()
            .copied()
            .filter(|c| max_record < 65535 || *c != "oversize-record-refused")
            .collect();
        let names: Vec<String> = checks.iter().map(|c| c.to_string()).collect();
        assert_eq!(judged.failures(&names), Vec::<String>::new(), "{pd}:\n{console}");
        assert_eq!(judged.done, Some((checks.len() as u64, 0)), "{pd}:\n{console}");
    }
}

const C_CHECKS: [&str; 4] = [
    "append-1-byte-and-max-record",
    "read-back-what-was-appended",
    "reads-are-audited",
    "oversize-record-refused",
];
const RUST_CHECKS: [&str; 5] = [
    "append-1-byte-and-max-record",
    "read-back-what-was-appended",
    "inclusion-proof-verifies",
    "reads-are-audited",
    "oversize-record-refused",
];

/// The checkpoints the harness printed verify as the QEMU runner checks them
/// (each tenant's key from its provisioned seed, our note code and Go's).
fn checkpoints_verify(dir: &Path, system: &sysgen::Described, judged: &Console) {
    assert_eq!(judged.covers, system.harness);
    let (ok, failures) = qemu_runner::checkpoints::verify_all(
        &judged.checkpoints,
        &judged.verifier_keys,
        system,
        &judged.covers,
        &dir.join("build/keys"),
        &dir.join("checkpoints"),
    );
    assert_eq!(failures, Vec::<String>::new());
    // The tenants the harness does not cover (the examples') print none and
    // are not required to.
    assert!(system.tenants.len() > judged.covers.len());
    assert_eq!(ok.len(), 2 * judged.covers.len());
}

/// The verifier key a ledger printed when it (last) opened.
fn verifier_key(judged: &Console, ledger_pd: &str) -> Verifier {
    let (_, key) = judged
        .verifier_keys
        .iter()
        .rfind(|(pd, _)| pd == ledger_pd)
        .unwrap_or_else(|| panic!("{ledger_pd} printed no verifier key"));
    Verifier::parse(key).unwrap()
}

/// Every object of a namespace, read from the disk.
fn objects(dev: &RefCell<FileDevice>, part: &RefCell<Part>) -> Vec<(Tile, Vec<u8>)> {
    let tiles: Vec<Tile> = part.borrow().ns.as_ref().unwrap().tiles().map(|(_, t)| t).collect();
    tiles
        .into_iter()
        .map(|t| (t, read_object(dev, &mut part.borrow_mut(), &t).unwrap().unwrap()))
        .collect()
}

fn check_disk(
    dir: &Path,
    t: &sysgen::Tenant,
    max_record: usize,
    key: &Verifier,
    printed: &[Printed],
) {
    let seed: [u8; 32] =
        std::fs::read(dir.join(format!("build/keys/{}.seed", t.name))).unwrap().try_into().unwrap();
    let dev = FileDevice::open_read_only(&dir.join("disk.img")).unwrap();
    with_image(dev, |img| {
        for (which, audit) in [("log", false), ("audit", true)] {
            let part = img.part(&format!("{}/{which}", t.name)).unwrap();
            let cp = part.borrow().ns.as_ref().unwrap().checkpoint().unwrap().to_vec();
            let (name, key) = if audit {
                (
                    format!("{}/audit", t.origin),
                    key.renamed(&format!("{}/audit", t.origin)).unwrap(),
                )
            } else {
                (t.origin.to_string(), key.clone())
            };
            // The checkpoint the harness printed last (for the tenants it
            // covers) is the one on the disk.
            let kind = if audit { "audit" } else { "records" };
            if let Some(shown) = printed.iter().rfind(|p| p.tenant == t.name && p.kind == kind) {
                assert_eq!(shown.note, cp, "{name}: printed checkpoint differs");
            }
            let export = dir.join(format!("export-{}-{which}", t.name));
            export_part(&img.dev, part, &export).unwrap();
            // Rust: the offline verifier; Go: tlog and note.
            let report = verify::verify(&verify::Dir(export.clone()), &key)
                .unwrap_or_else(|d| panic!("{name}: {d}"));
            assert!(report.size > 0, "{name} is empty");
            let empty = dir.join("no-proofs.jsonl");
            std::fs::write(&empty, "").unwrap();
            let go = oracle::check(&export, &key.to_string(), &empty)
                .unwrap_or_else(|e| panic!("{name}: Go: {e}"));
            assert_eq!(go.size, report.size);
            let signer = Signer::from_seed(&name, seed).unwrap();
            let max = if audit { ledger::audit::MAX_AUDIT_RECORD } else { max_record };
            same_as_engine(&objects(&img.dev, part), &cp, signer, max);
        }
    })
    .unwrap();
}

/// The ledger engine, given the same records and key, produces the same
/// checkpoint and tiles: every object on the disk equals the engine's (a
/// partial one, the start of the engine's object at those coordinates).
fn same_as_engine(objects: &[(Tile, Vec<u8>)], cp: &[u8], signer: Signer, max: usize) {
    let size = note::Checkpoint::peek_size(cp).unwrap();
    let mut records = Vec::new();
    for k in 0..size.div_ceil(256) {
        let w = (size - k * 256).min(256) as u16;
        let (_, b) = objects.iter().find(|(t, _)| *t == Tile::entries(k, w)).unwrap();
        records.extend(bundle::entries(b).map(|e| e.unwrap().to_vec()));
    }
    let (mut log, _) =
        Log::open(MemStore::new(), signer, LogBuffers::<Vec<u8>>::default(), max).unwrap();
    for r in &records {
        log.append(r).unwrap();
    }
    log.commit().unwrap();
    assert_eq!(log.checkpoint(), cp, "checkpoints differ");
    let engine = log.into_store();
    let theirs = |t: &Tile| {
        engine
            .objects()
            .filter(|(e, _)| e.kind == t.kind && e.index == t.index && e.width >= t.width)
            .map(|(_, d)| d.to_vec())
            .max_by_key(Vec::len)
    };
    for (t, data) in objects {
        let mine = theirs(t).unwrap_or_else(|| panic!("{t} has no counterpart"));
        let want = match t.kind {
            TileKind::Hashes { .. } => mine[..usize::from(t.width) * 32].to_vec(),
            TileKind::Entries => {
                let n: usize =
                    bundle::entries(&mine).take(t.width.into()).map(|e| 2 + e.unwrap().len()).sum();
                mine[..n].to_vec()
            }
        };
        assert_eq!(data, &want[..], "{t} differs from the engine's");
    }
}

#[test]
fn an_invalid_system_is_refused_with_file_line_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    write_system(tmp.path());
    let xml = std::fs::read_to_string(root().join("system.xml")).unwrap();
    let cases = [
        (
            xml.replacen("priority=\"100\"", "priority=\"250\"", 1),
            "PPCs must be to protection domains of strictly higher priorities",
        ),
        (
            xml.replacen("wire.elf", "nothing.elf", 1),
            "no program \"nothing.elf\": not one of the simulator's",
        ),
        (
            xml.replacen("<end pd=\"wire\" id=\"12\"", "<end pd=\"wire\" id=\"0\"", 1),
            "duplicate channel id: 0",
        ),
    ];
    for (bad, why) in cases {
        assert_ne!(bad, xml, "{why}: the edit did not apply");
        std::fs::write(tmp.path().join("bad.xml"), &bad).unwrap();
        let out = sim(tmp.path(), &["check", "bad.xml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{why}");
        assert!(err.contains("bad.xml:") && err.contains(why), "{why}: {err}");
        let line: u32 =
            err.split("bad.xml:").nth(1).unwrap().split(':').next().unwrap().parse().unwrap();
        assert!(line > 0, "{err}");
    }
}

#[test]
fn what_the_system_does_not_grant_stops_only_the_offender() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    use scenarios::faulty::{AT_ONCE, PANIC, UNGRANTED_CALL, UNGRANTED_NOTIFY, WRITE_READ_ONLY};
    for (file, mode) in [
        ("write", WRITE_READ_ONLY),
        ("call", UNGRANTED_CALL),
        ("panic", PANIC),
        ("notify", UNGRANTED_NOTIFY),
    ] {
        std::fs::write(dir.join(format!("{file}.mode")), [AT_ONCE | mode]).unwrap();
    }
    let pd = |name: &str, mr: &str, prio: u8| {
        format!(
            "<protection_domain name=\"{name}\" priority=\"{prio}\"><program_image path=\"faulty.elf\" />\
             <map mr=\"{mr}\" vaddr=\"0x2000000\" perms=\"r\" setvar_vaddr=\"sfs_probe\" /></protection_domain>"
        )
    };
    let xml = format!(
        "<system>\
         <memory_region name=\"m_write\" size=\"0x1000\" prefill_path=\"write.mode\" />\
         <memory_region name=\"m_call\" size=\"0x1000\" prefill_path=\"call.mode\" />\
         <memory_region name=\"m_panic\" size=\"0x1000\" prefill_path=\"panic.mode\" />\
         <memory_region name=\"m_notify\" size=\"0x1000\" prefill_path=\"notify.mode\" />\
         <memory_region name=\"m_idle\" size=\"0x1000\" />\
         {}{}{}{}{}\
         <channel><end pd=\"f_call\" id=\"0\" /><end pd=\"f_idle\" id=\"0\" /></channel>\
         <channel><end pd=\"f_notify\" id=\"0\" notify=\"false\" /><end pd=\"f_idle\" id=\"1\" /></channel>\
         </system>",
        pd("f_write", "m_write", 10),
        pd("f_call", "m_call", 10),
        pd("f_panic", "m_panic", 10),
        pd("f_notify", "m_notify", 10),
        pd("f_idle", "m_idle", 20),
    );
    std::fs::write(dir.join("faults.xml"), xml).unwrap();
    let out = sim(dir, &["boot", "faults.xml", "--until-idle", "--timeout", "60"]);
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{console}{}", String::from_utf8_lossy(&out.stderr));
    for (pd, why) in [
        ("f_write", "memory access not allowed by its mappings"),
        ("f_call", "violation: called channel 0 without a channel end with pp=\"true\""),
        ("f_panic", "fault: panicked"),
        ("f_notify", "violation: notified channel 0 without a channel end that may notify"),
    ] {
        let line = format!("[kernel] PD {pd} stopped: ");
        let found = console.lines().find(|l| l.starts_with(&line));
        assert!(found.is_some_and(|l| l.contains(why)), "{pd}: {why}\n{console}");
    }
    assert!(!console.contains("PD f_idle stopped"), "{console}");
    assert!(console.contains("[kernel] 4 PD(s) stopped"), "{console}");
}

#[test]
fn callers_blocked_on_a_stopped_server_fail_the_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_system(dir);
    // psdb without its memory stops at init; ledgers calling it wait forever,
    // and so does everything calling them: the system can make no progress.
    let xml = std::fs::read_to_string(dir.join("system.xml")).unwrap();
    let broken: String =
        xml.lines().filter(|l| !l.contains("mr=\"psdb_mem\"")).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.join("system.xml"), broken).unwrap();
    assert!(sim(dir, &["keys", "system.xml"]).status.success());
    for args in [&["--until-idle"][..], &[]] {
        let search = ["--search-path", programs().to_str().unwrap()];
        let out =
            sim(dir, &[&["boot", "system.xml", "--timeout", "60"][..], args, &search].concat());
        let console = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{console}{err}");
        assert!(console.contains("[kernel] PD psdb stopped: exited with status 1"), "{console}");
        assert!(
            err.contains("the system stopped making progress: ")
                && err.contains("waits for psdb, which has stopped"),
            "{err}"
        );
        assert!(!console.contains("system idle"), "{console}");
    }
}

/// Boots the test system `test-systems/<name>.toml` on a fresh disk; the
/// console, and what the system is.
fn boot_test_system(name: &str) -> (tempfile::TempDir, String, sysgen::Described) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = root().join(format!("test-systems/{name}.toml"));
    let g = sysgen::generate_file(&root(), Some(&file), sysgen::DEFAULT_BOARD).unwrap();
    sysgen::write_generated(&dir.join("system.xml"), &g).unwrap();
    let system = sysgen::describe(&dir.join("system.xml")).unwrap();
    assert!(sim(dir, &["keys", "system.xml"]).status.success());
    let search = programs().to_string_lossy().into_owned();
    let boot = ["boot", "system.xml", "--until-idle", "--timeout", "600", "--disk", "disk.img"];
    let out = sim(dir, &[&boot[..], &["--search-path", &search]].concat());
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{console}\n{}", String::from_utf8_lossy(&out.stderr));
    (tmp, console, system)
}

#[test]
fn records_of_65535_bytes_pass_every_scenario_and_both_examples() {
    let (tmp, console, system) = boot_test_system("max-record");
    assert_eq!(system.max_record, 65535);
    let judged = Console::parse(&console, "harness");
    scenarios_passed(&console, &judged);
    examples_passed(&console, system.max_record);
    checkpoints_verify(tmp.path(), &system, &judged);
}

#[test]
fn twenty_eight_tenants_and_a_hundred_modules_in_sixty_three_pds_all_run() {
    let (tmp, console, system) = boot_test_system("many-tenants");
    assert_eq!(system.tenants.len(), 28);
    let judged = Console::parse(&console, "harness");
    let expected: Vec<String> = scenarios::SCENARIOS.iter().map(|s| s.to_string()).collect();
    assert_eq!(judged.failures(&expected), Vec::<String>::new(), "{console}");
    checkpoints_verify(tmp.path(), &system, &judged);
    // Every tenant's ledger opened and its client PD did what its
    // identities may (only the harness's misbehaving child stopped).
    for t in &system.tenants {
        let opened = format!("[{}] {}: ledger open: ", t.ledger_pd, t.ledger_pd);
        assert!(console.contains(&opened), "{opened}\n{console}");
        let pd = format!("client_{}_apps", t.name);
        let wrote = format!("[{pd}] {pd}: appended records ");
        assert!(console.contains(&wrote), "{wrote}\n{console}");
    }
    let stopped = console.lines().filter(|l| l.starts_with("[kernel] PD ")).count();
    assert_eq!(stopped, 1, "{console}");
}

#[test]
fn a_system_running_integrators_programs_gets_keys_without_them_and_runs_with_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_system(dir);
    // `make image` provisions keys before any program is built for the host.
    let keys = sim(dir, &["keys", "system.xml"]);
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
    let empty = dir.join("no-programs");
    std::fs::create_dir(&empty).unwrap();
    let check = sim(dir, &["check", "system.xml", "--search-path", empty.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success());
    assert!(
        err.contains("no program \"abi_client.elf\"") && err.contains("make programs"),
        "{err}"
    );
    let check = sim(dir, &["check", "system.xml", "--search-path", programs().to_str().unwrap()]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}
