//! `qemu-runner judge`: the exit status says whether a log passes.

use std::process::Command;

fn judge(log: &str, args: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("console.log");
    std::fs::write(&path, log).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_qemu-runner"))
        .arg("judge")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_integrators_pd_is_judged_by_its_own_markers() {
    let pass = "client_acme_mypd: PASS a\nclient_acme_mypd: PASS b\nclient_acme_mypd: DONE 2 passed, 0 failed\n";
    let args = ["--pd", "client_acme_mypd", "--expect", "a", "--expect", "b"];
    let (ok, err) = judge(pass, &args);
    assert!(ok, "{err}");
    assert!(err.contains("PASSED: 2 scenarios reported, 2 expected, 0 failures"), "{err}");

    let failed = pass.replace("PASS b", "FAIL b: wrong").replace("2 passed, 0", "1 passed, 1");
    let (ok, err) = judge(&failed, &args);
    assert!(!ok && err.contains("FAILURE: FAIL b: wrong"), "{err}");

    let unfinished = "client_acme_mypd: PASS a\n";
    let (ok, err) = judge(unfinished, &args);
    assert!(!ok && err.contains("b: never reported"), "{err}");
}

#[test]
fn the_harness_must_report_every_scenario_and_print_verifiable_checkpoints() {
    // Every scenario passed, but no checkpoints were printed.
    let mut log: String =
        harness::SCENARIOS.iter().map(|s| format!("harness: PASS {s}\n")).collect();
    log.push_str(&format!("harness: DONE {} passed, 0 failed\n", harness::SCENARIOS.len()));
    let (ok, err) = judge(&log, &["--keys", "/nonexistent"]);
    assert!(!ok, "{err}");
    assert!(err.contains("no records checkpoint printed for acme"), "{err}");
    let (ok, err) = judge(&log, &["--checkpoints", "false"]);
    assert!(ok, "{err}");
    // One scenario missing.
    let short = log.replace(&format!("harness: PASS {}\n", harness::SCENARIOS[3]), "");
    let (ok, err) = judge(&short, &["--checkpoints", "false"]);
    assert!(!ok && err.contains("never reported"), "{err}");
}
