//! `qemu-runner judge`: the exit status says whether a log passes.

use std::path::Path;
use std::process::Command;

fn system() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../system.xml").display().to_string()
}

fn judge(log: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.log");
    std::fs::write(&path, log).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_qemu-runner"))
        .arg("judge")
        .arg(&path)
        .args(["--system", &system()])
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What the harness prints when every scenario passes (no checkpoints).
fn harness_passes() -> String {
    let mut log = String::from("harness: COVERS acme globex\n");
    log.extend(scenarios::SCENARIOS.iter().map(|s| format!("harness: PASS {s}\n")));
    log.push_str(&format!("harness: DONE {} passed, 0 failed\n", scenarios::SCENARIOS.len()));
    log
}

#[test]
fn an_integrators_pd_is_judged_by_its_own_markers_and_the_harness_as_well() {
    let pass = "client_initech_c_example: PASS a\nclient_initech_c_example: PASS b\nclient_initech_c_example: DONE 2 passed, 0 failed\n";
    let args = [
        "--pd",
        "client_initech_c_example",
        "--expect",
        "a",
        "--expect",
        "b",
        "--checkpoints",
        "false",
    ];
    let (ok, err) = judge(&(harness_passes() + pass), &args);
    assert!(ok, "{err}");
    assert!(
        err.contains(
            "PASSED: 11 checks reported by 2 PD(s), 11 of them required by name, 0 failures"
        ),
        "{err}"
    );

    // The system has a harness: its scenarios must have run too.
    let (ok, err) = judge(pass, &args);
    assert!(!ok && err.contains("harness: no DONE line"), "{err}");

    let failed = pass.replace("PASS b", "FAIL b: wrong").replace("2 passed, 0", "1 passed, 1");
    let (ok, err) = judge(&(harness_passes() + &failed), &args);
    assert!(!ok && err.contains("FAILURE: client_initech_c_example: FAIL b: wrong"), "{err}");

    let unfinished = "client_initech_c_example: PASS a\n";
    let (ok, err) = judge(&(harness_passes() + unfinished), &args);
    assert!(!ok && err.contains("b: never reported"), "{err}");
}

#[test]
fn the_harness_must_report_every_scenario_and_print_the_checkpoints_of_the_tenants_it_covers() {
    let log = harness_passes();
    let (ok, err) = judge(&log, &["--keys", "/nonexistent"]);
    assert!(!ok, "{err}");
    assert!(err.contains("no records checkpoint printed for acme"), "{err}");
    assert!(err.contains("no audit checkpoint printed for globex"), "{err}");
    // A tenant it does not cover is not required.
    let (_, err) = judge(&log.replace("COVERS acme globex", "COVERS acme"), &["--keys", "/x"]);
    assert!(!err.contains("printed for globex"), "{err}");
    // Nor is anything when it never says what it covers: that is a failure.
    let (ok, err) = judge(&log.replace("harness: COVERS acme globex\n", ""), &[]);
    assert!(!ok && err.contains("never said which tenants it covers"), "{err}");
    let (ok, err) = judge(&log, &["--checkpoints", "false"]);
    assert!(ok, "{err}");
    // One scenario missing.
    let short = log.replace(&format!("harness: PASS {}\n", scenarios::SCENARIOS[3]), "");
    let (ok, err) = judge(&short, &["--checkpoints", "false"]);
    assert!(!ok && err.contains("never reported"), "{err}");
}

#[test]
fn judging_a_pd_the_system_does_not_have_is_refused_naming_it() {
    let (ok, err) = judge(&harness_passes(), &["--pd", "client_acme_nope"]);
    assert!(!ok);
    assert!(err.contains("--pd client_acme_nope: the system has no such PD"), "{err}");
}
