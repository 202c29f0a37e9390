//! C programs written against microkit.h, compiled for the host with this
//! crate's header and linked with libmicrokit_host.a, run as PDs in the
//! simulator: each test writes its programs and a system description into
//! a temporary directory, boots it and reads the console.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What a C program links with besides the staticlib
/// (`rustc --print native-static-libs`).
const NATIVE_LIBS: &[&str] = &["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"];

/// Every program starts with this: the header, and `say("what", n)`
/// printing `<microkit_name>: what n`.
const PRELUDE: &str = r#"
#include <microkit.h>

static inline void say(const char *what, seL4_Word n) {
    microkit_dbg_puts(microkit_name);
    microkit_dbg_puts(": ");
    microkit_dbg_puts(what);
    microkit_dbg_putc(' ');
    microkit_dbg_put32((seL4_Uint32)n);
    microkit_dbg_putc('\n');
}
"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where cargo puts this build's artifacts: this test runs from
/// `<target>/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent().and_then(Path::parent).expect("<target>/<profile>/deps/<test>").to_path_buf()
}

/// The staticlib and the simulator, built once for all the tests (with the
/// profile this test was built with).
fn built() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = profile_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace()).args([
            "build",
            "-q",
            "-p",
            "microkit-host",
            "-p",
            "simulator",
        ]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "cargo build -p microkit-host -p simulator failed");
        let lib = dir.join("libmicrokit_host.a");
        let sim = dir.join("simulator");
        assert!(lib.is_file() && sim.is_file(), "no {} or {}", lib.display(), sim.display());
        check_cc();
        (lib, sim)
    })
}

fn check_cc() {
    if let Err(e) = Command::new("cc").arg("--version").output() {
        panic!("these tests compile C programs with `cc`, which cannot be run here: {e}");
    }
}

/// Compiles `PRELUDE` + `source` into `<dir>/<name>.elf`, with `extra`
/// arguments for the compiler.
fn compile_with(dir: &Path, name: &str, source: &str, extra: &[&str]) {
    let (lib, _) = built();
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, format!("{PRELUDE}{source}")).unwrap();
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-O2", "-I"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .args(extra)
        .arg(&c)
        .arg(lib)
        .args(NATIVE_LIBS)
        .arg("-o")
        .arg(dir.join(format!("{name}.elf")))
        .output()
        .expect("running cc");
    assert!(out.status.success(), "cc {name}.c:\n{}", String::from_utf8_lossy(&out.stderr));
}

fn compile(dir: &Path, name: &str, source: &str) {
    compile_with(dir, name, source, &[]);
}

/// Boots `<system>…</system>` with the programs in `dir`; the console.
fn boot(dir: &Path, system: &str) -> String {
    let (ok, console, stderr) = run(dir, system);
    assert!(ok, "{console}\n{stderr}");
    console
}

/// Boots a system in which a caller waits for a server that has stopped:
/// the simulator says so and fails; the console.
fn boot_stuck(dir: &Path, system: &str, why: &str) -> String {
    let (ok, console, stderr) = run(dir, system);
    assert!(!ok, "a stuck system booted successfully:\n{console}");
    assert!(stderr.contains(why), "{stderr}");
    console
}

/// Runs the simulator over `<system>…</system>`: success, console, errors.
fn run(dir: &Path, system: &str) -> (bool, String, String) {
    let (_, sim) = built();
    std::fs::write(dir.join("system.xml"), format!("<system>{system}</system>")).unwrap();
    let out = Command::new(sim)
        .current_dir(dir)
        .args(["boot", "system.xml", "--until-idle", "--timeout", "60", "--search-path"])
        .arg(dir)
        .output()
        .expect("running the simulator");
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), console, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The console lines of `pd`, in order, without the prefix.
fn lines_of<'a>(console: &'a str, pd: &str) -> Vec<&'a str> {
    let prefix = format!("[{pd}] ");
    console.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect()
}

/// The kernel's lines saying a PD stopped.
fn stopped(console: &str) -> Vec<&str> {
    console.lines().filter(|l| l.starts_with("[kernel] PD ") && l.contains(" stopped: ")).collect()
}

/// A protection domain element.
fn pd(name: &str, priority: u8, attrs: &str, inner: &str) -> String {
    format!(
        "<protection_domain name=\"{name}\" priority=\"{priority}\" {attrs}>\
         <program_image path=\"{name}.elf\" />{inner}</protection_domain>"
    )
}

const CALL_CLIENT: &str = r#"
#include <string.h>

uintptr_t request;
uintptr_t request_size;

void init(void) {
    say("region size", request_size);
    memcpy((void *)request, "hello from the client", 22);
    microkit_mr_set(0, 3);
    microkit_mr_set(1, 5);
    microkit_mr_set(2, 7);
    microkit_mr_set(3, 11);
    microkit_mr_set(4, 99); /* beyond the count: stays here */
    microkit_msginfo reply = microkit_ppcall(2, microkit_msginfo_new(21, 4));
    say("reply label", microkit_msginfo_get_label(reply));
    say("reply count", microkit_msginfo_get_count(reply));
    for (seL4_Uint8 i = 0; i < 4; i++) {
        say("reply mr", microkit_mr_get(i));
    }
    say("own mr 4", microkit_mr_get(4));
}

void notified(microkit_channel ch) {
    say("notified on", ch);
}
"#;

const CALL_SERVER: &str = r#"
uintptr_t incoming;
uintptr_t incoming_size;

void init(void) {
    say("ready", 0);
}

void notified(microkit_channel ch) {
    say("notified on", ch);
}

microkit_msginfo protected(microkit_channel ch, microkit_msginfo msginfo) {
    say("called on", ch);
    say("label", microkit_msginfo_get_label(msginfo));
    say("count", microkit_msginfo_get_count(msginfo));
    seL4_Word mr[5];
    for (seL4_Uint8 i = 0; i < 5; i++) {
        mr[i] = microkit_mr_get(i);
        say("mr", mr[i]);
    }
    microkit_dbg_puts(microkit_name);
    microkit_dbg_puts(": the region says ");
    microkit_dbg_puts((const char *)incoming);
    microkit_dbg_putc('\n');
    say("region size", incoming_size);
    microkit_mr_set(0, mr[0] + mr[1] + mr[2] + mr[3]);
    microkit_mr_set(1, mr[0] * mr[1]);
    microkit_mr_set(2, ch);
    microkit_mr_set(3, incoming_size);
    microkit_mr_set(4, 1234); /* not in the reply */
    return microkit_msginfo_new(microkit_msginfo_get_label(msginfo) * 2, 4);
}
"#;

#[test]
fn a_c_client_calls_a_c_server_and_they_share_a_region() {
    let tmp = tempfile::tempdir().unwrap();
    compile(tmp.path(), "c_client", CALL_CLIENT);
    compile(tmp.path(), "c_server", CALL_SERVER);
    let console = boot(
        tmp.path(),
        &format!(
            "<memory_region name=\"req\" size=\"0x2000\" />{}{}\
             <channel><end pd=\"c_client\" id=\"2\" pp=\"true\" /><end pd=\"c_server\" id=\"6\" /></channel>",
            pd(
                "c_client",
                100,
                "",
                "<map mr=\"req\" vaddr=\"0x4000000\" perms=\"rw\" setvar_vaddr=\"request\" setvar_size=\"request_size\" />"
            ),
            pd(
                "c_server",
                200,
                "passive=\"true\"",
                "<map mr=\"req\" vaddr=\"0x5000000\" perms=\"r\" setvar_vaddr=\"incoming\" setvar_size=\"incoming_size\" />"
            ),
        ),
    );
    let server = [
        "c_server: ready 0",
        "c_server: called on 6",
        "c_server: label 21",
        "c_server: count 4",
        "c_server: mr 3",
        "c_server: mr 5",
        "c_server: mr 7",
        "c_server: mr 11",
        "c_server: mr 0", // the fifth register did not cross
        "c_server: the region says hello from the client",
        "c_server: region size 8192",
    ];
    assert_eq!(lines_of(&console, "c_server"), server, "{console}");
    let client = [
        "c_client: region size 8192",
        "c_client: reply label 42",
        "c_client: reply count 4",
        "c_client: reply mr 26",
        "c_client: reply mr 15",
        "c_client: reply mr 6",
        "c_client: reply mr 8192",
        "c_client: own mr 4 99",
    ];
    assert_eq!(lines_of(&console, "c_client"), client, "{console}");
    assert_eq!(stopped(&console), Vec::<&str>::new(), "{console}");
}

const NOTIFY_A: &str = r#"
static int calls;

void init(void) {
    say("pps", microkit_pps);
    say("notifications", microkit_notifications);
    microkit_notify(3);
    /* b takes the notification before this call, and signals back on two
       channels while a is still in init: a hears both at once, after. */
    microkit_msginfo reply = microkit_ppcall(2, microkit_msginfo_new(0, 0));
    say("call returned", microkit_msginfo_get_label(reply));
}

void notified(microkit_channel ch) {
    say("notified on", ch);
    if (ch == 0 && calls++ == 0) {
        /* b defers a signal on 4, then on 0: only the last is sent. */
        microkit_ppcall(2, microkit_msginfo_new(1, 0));
    }
}
"#;

const NOTIFY_B: &str = r#"
void init(void) {
}

void notified(microkit_channel ch) {
    say("notified on", ch);
    microkit_notify(7);
    microkit_notify(1);
}

microkit_msginfo protected(microkit_channel ch, microkit_msginfo msginfo) {
    seL4_Word label = microkit_msginfo_get_label(msginfo);
    if (label == 1) {
        microkit_deferred_notify(7);
        microkit_deferred_notify(1);
    }
    return microkit_msginfo_new(label + 100, 0);
}
"#;

#[test]
fn notifications_reach_notified_with_the_receivers_channel_ids() {
    let tmp = tempfile::tempdir().unwrap();
    compile(tmp.path(), "a", NOTIFY_A);
    compile(tmp.path(), "b", NOTIFY_B);
    let channel = |a: u8, b: u8, pp: &str| {
        format!("<channel><end pd=\"a\" id=\"{a}\" {pp} /><end pd=\"b\" id=\"{b}\" /></channel>")
    };
    let console = boot(
        tmp.path(),
        &[
            pd("a", 100, "", ""),
            pd("b", 150, "", ""),
            channel(3, 5, ""),
            channel(0, 1, ""),
            channel(4, 7, ""),
            channel(2, 6, "pp=\"true\""),
        ]
        .concat(),
    );
    let a = [
        "a: pps 4",
        "a: notifications 29",
        "a: call returned 100",
        // Both of b's signals in one badge, lowest channel first.
        "a: notified on 0",
        "a: notified on 4",
        // The deferred signal, once.
        "a: notified on 0",
    ];
    assert_eq!(lines_of(&console, "a"), a, "{console}");
    assert_eq!(lines_of(&console, "b"), ["b: notified on 5"], "{console}");
    assert_eq!(stopped(&console), Vec::<&str>::new(), "{console}");
}

const REFUSED: &str = r#"
void init(void) {
    microkit_msginfo reply = microkit_ppcall(1, microkit_msginfo_new(5, 0));
    say("ungranted call label", microkit_msginfo_get_label(reply));
    reply = microkit_ppcall(62, microkit_msginfo_new(5, 0));
    say("call beyond the channels label", microkit_msginfo_get_label(reply));
    microkit_notify(9);
    microkit_notify(1); /* this end may not notify */
    microkit_deferred_notify(40);
    microkit_irq_ack(1);
    microkit_deferred_irq_ack(0);
    microkit_mr_set(130, 1);
    say("irqs", microkit_irqs);
    say("still running", 1);
}

void notified(microkit_channel ch) {
    say("notified on", ch);
}
"#;

const QUIET: &str = r#"
void init(void) {
}

void notified(microkit_channel ch) {
    say("notified on", ch);
}

microkit_msginfo protected(microkit_channel ch, microkit_msginfo msginfo) {
    say("called on", ch);
    return microkit_msginfo_new(1, 0);
}
"#;

#[test]
fn ungranted_calls_and_notifications_are_refused_and_the_pd_runs_on() {
    let tmp = tempfile::tempdir().unwrap();
    compile(tmp.path(), "lonely", REFUSED);
    compile(tmp.path(), "peer", QUIET);
    let console = boot(
        tmp.path(),
        &[
            pd("lonely", 100, "", ""),
            pd("peer", 200, "", ""),
            "<channel><end pd=\"lonely\" id=\"1\" notify=\"false\" /><end pd=\"peer\" id=\"0\" /></channel>".into(),
        ]
        .concat(),
    );
    let lonely = [
        "lonely microkit_ppcall: invalid channel given '1'",
        "lonely: ungranted call label 0",
        "lonely microkit_ppcall: invalid channel given '62'",
        "lonely: call beyond the channels label 0",
        "lonely microkit_notify: invalid channel given '9'",
        "lonely microkit_notify: invalid channel given '1'",
        "lonely microkit_deferred_notify: invalid channel given '40'",
        "lonely microkit_irq_ack: invalid channel given '1'",
        "lonely microkit_deferred_irq_ack: invalid channel given '0'",
        "lonely microkit_mr_set: message register 130 is beyond seL4_MsgMaxLength (120)",
        "lonely: irqs 0",
        "lonely: still running 1",
    ];
    assert_eq!(lines_of(&console, "lonely"), lonely, "{console}");
    assert_eq!(lines_of(&console, "peer"), Vec::<&str>::new(), "{console}");
    assert_eq!(stopped(&console), Vec::<&str>::new(), "{console}");
}

const NO_VARIABLE: &str = r#"
void init(void) {
    say("init ran", 1);
}

void notified(microkit_channel ch) {
}
"#;

const NARROW_SIZE: &str = r#"
uintptr_t data;
uint32_t data_size;

void init(void) {
    say("init ran", 1);
}

void notified(microkit_channel ch) {
}
"#;

const READ_ONLY: &str = r#"
const uintptr_t data = 0;
uintptr_t data_size;

void init(void) {
    say("init ran", 1);
}

void notified(microkit_channel ch) {
}
"#;

const NO_NOTIFIED: &str = r#"
void init(void) {
    say("init ran", 1);
}
"#;

const FINE: &str = r#"
uintptr_t data;
uintptr_t data_size;

void init(void) {
    say("init ran with a region of", data_size);
}

void notified(microkit_channel ch) {
}
"#;

#[test]
fn a_program_that_cannot_be_set_up_stops_at_start_saying_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compile(dir, "nosym", NO_VARIABLE);
    compile(dir, "narrow", NARROW_SIZE);
    compile(dir, "noentry", NO_NOTIFIED);
    compile(dir, "readonly", READ_ONLY);
    compile_with(dir, "stripped", FINE, &["-s"]);
    compile(dir, "fine", FINE);
    let map = "<map mr=\"data\" vaddr=\"0x4000000\" perms=\"rw\" setvar_vaddr=\"data\" setvar_size=\"data_size\" />";
    let console = boot(
        dir,
        &[
            "<memory_region name=\"data\" size=\"0x1000\" />".into(),
            pd("nosym", 100, "", map),
            pd("narrow", 100, "", map),
            pd("noentry", 100, "", ""),
            pd("readonly", 100, "", map),
            pd("stripped", 100, "", map),
            pd("fine", 100, "", map),
        ]
        .concat(),
    );
    for (pd, why) in [
        (
            "nosym",
            &[
                "nosym: setvar symbol \"data\" is not in nosym.elf: declare it (uintptr_t data;)",
                "nosym: setvar symbol \"data_size\" is not in nosym.elf: declare it (uintptr_t data_size;)",
            ][..],
        ),
        (
            "narrow",
            &[
                "narrow: setvar symbol \"data_size\" in narrow.elf is 4 bytes, not 8: declare it (uintptr_t data_size;)",
            ],
        ),
        (
            "noentry",
            &[
                "noentry: noentry.elf has no function \"notified\": define void notified(microkit_channel ch)",
            ],
        ),
        (
            "readonly",
            &[
                "readonly: setvar symbol \"data\" in readonly.elf is read-only: declare it (uintptr_t data;)",
            ],
        ),
        (
            "stripped",
            &["stripped: stripped.elf: the executable has no symbol table (was it stripped?)"],
        ),
    ] {
        // Every reason, and init never ran.
        assert_eq!(lines_of(&console, pd), why, "{console}");
        let line = format!("[kernel] PD {pd} stopped: exited with status 1");
        assert!(console.lines().any(|l| l == line), "{line}\n{console}");
    }
    assert_eq!(lines_of(&console, "fine"), ["fine: init ran with a region of 4096"], "{console}");
    assert_eq!(stopped(&console).len(), 5, "{console}");
}

const NO_PROTECTED: &str = r#"
void init(void) {
}

void notified(microkit_channel ch) {
}
"#;

const CALLER: &str = r#"
void init(void) {
    say("calling", 0);
    microkit_ppcall(0, microkit_msginfo_new(1, 0));
    say("the call returned", 1);
}

void notified(microkit_channel ch) {
}
"#;

const RESTARTER: &str = r#"
void init(void) {
    microkit_pd_restart(3, 0x1000);
    say("restarted", 1);
}

void notified(microkit_channel ch) {
}
"#;

#[test]
fn a_call_to_a_pd_without_protected_stops_it_as_libmicrokit_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compile(dir, "server", NO_PROTECTED);
    compile(dir, "caller", CALLER);
    compile(dir, "restarter", RESTARTER);
    let console = boot_stuck(
        dir,
        &[
            pd("caller", 100, "", ""),
            pd("server", 200, "passive=\"true\"", ""),
            pd("restarter", 100, "", ""),
            "<channel><end pd=\"caller\" id=\"0\" pp=\"true\" /><end pd=\"server\" id=\"0\" /></channel>".into(),
        ]
        .concat(),
        "the system stopped making progress: caller waits for server, which has stopped",
    );
    assert_eq!(
        lines_of(&console, "server"),
        ["server is missing the 'protected' entry point"],
        "{console}"
    );
    assert!(console.contains("[kernel] PD server stopped: exited with status 2\n"), "{console}");
    assert!(console.contains("[kernel] caller waits forever for server\n"), "{console}");
    assert_eq!(lines_of(&console, "caller"), ["caller: calling 0"], "{console}");
    assert_eq!(
        lines_of(&console, "restarter"),
        [
            "restarter microkit_pd_restart: the simulator cannot stop, restart or resume a child PD (child 3)"
        ],
        "{console}"
    );
    assert!(console.contains("[kernel] PD restarter stopped: exited with status 2\n"), "{console}");
}

const PARENT: &str = r#"
void init(void) {
}

void notified(microkit_channel ch) {
}

seL4_Bool fault(microkit_child child, microkit_msginfo msginfo, microkit_msginfo *reply) {
    say("fault from child", child);
    say("fault label", microkit_msginfo_get_label(msginfo));
    *reply = microkit_msginfo_new(0, 0);
    return seL4_False;
}
"#;

const CHILD: &str = r#"
uintptr_t ro;

void init(void) {
    say("writing where it may not", 0);
    *(volatile seL4_Word *)ro = 1;
    say("wrote", 1);
}

void notified(microkit_channel ch) {
}
"#;

#[test]
fn a_childs_fault_reaches_the_parents_fault_handler() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    compile(dir, "parent", PARENT);
    compile(dir, "child", CHILD);
    compile(dir, "orphanage", NO_PROTECTED);
    let child = |id: u8| {
        format!(
            "<protection_domain name=\"child{id}\" id=\"{id}\" priority=\"50\">\
             <program_image path=\"child.elf\" />\
             <map mr=\"ro\" vaddr=\"0x4000000\" perms=\"r\" setvar_vaddr=\"ro\" />\
             </protection_domain>"
        )
    };
    let console = boot(
        dir,
        &[
            "<memory_region name=\"ro\" size=\"0x1000\" />".into(),
            pd("parent", 100, "", &child(3)),
            pd("orphanage", 100, "", &child(4)),
        ]
        .concat(),
    );
    assert_eq!(
        lines_of(&console, "parent"),
        ["parent: fault from child 3", "parent: fault label 1"],
        "{console}"
    );
    assert_eq!(
        lines_of(&console, "orphanage"),
        ["orphanage is missing the 'fault' entry point"],
        "{console}"
    );
    assert!(console.contains("[kernel] PD orphanage stopped: exited with status 2\n"), "{console}");
    assert!(!console.contains("parent stopped"), "{console}");
    for id in [3, 4] {
        assert_eq!(
            lines_of(&console, &format!("child{id}")),
            [format!("child{id}: writing where it may not 0")],
            "{console}"
        );
    }
}
