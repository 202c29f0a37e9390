//! Reading a console log: what a test PD reported, what it printed for
//! verification outside, and any sign of trouble.
//!
//! A test PD reports with lines `<pd>: PASS <scenario>`, `<pd>: FAIL
//! <scenario>: <why>` and, last, `<pd>: DONE <n> passed, <m> failed`. The
//! scenario harness also says which tenants it covers (`<pd>: COVERS
//! <tenant>…`), prints `<pd>: CHECKPOINT <tenant> records|audit <base64 of
//! the signed note>` at the end, and `<pd>: RECOVERED …` (the same form)
//! for what it found at boot. Lines may carry the simulator's
//! `[pd] ` prefix; seL4's serial console has none. The markers are the
//! `scenarios` crate's ([`scenarios::markers`]), which the PDs print with.

use base64ct::{Base64, Encoding};
use scenarios::markers::{self, Done};

/// How a scenario came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `PASS`.
    Pass,
    /// `FAIL`, with the reason given.
    Fail(String),
}

/// A checkpoint a PD printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Printed {
    /// The tenant.
    pub tenant: String,
    /// `records` or `audit`.
    pub kind: String,
    /// The signed note, decoded.
    pub note: Vec<u8>,
}

/// Everything read from a console.
#[derive(Debug, Default)]
pub struct Console {
    /// Scenario outcomes, in the order reported.
    pub scenarios: Vec<(String, Outcome)>,
    /// The `DONE` line's counts: (passed, failed).
    pub done: Option<(u64, u64)>,
    /// Printed checkpoints (at the end of the run).
    pub checkpoints: Vec<Printed>,
    /// Checkpoints found at boot.
    pub recovered: Vec<Printed>,
    /// The tenants the PD said it covers (`COVERS`).
    pub covers: Vec<String>,
    /// Verifier keys the ledger PDs printed when they opened: (PD, key).
    pub verifier_keys: Vec<(String, String)>,
    /// Signs of trouble: monitor errors (a PD faulted with no parent to
    /// handle it), kernel warnings, panics, and malformed marker lines.
    pub trouble: Vec<String>,
}

/// Drops the simulator's `[pd] ` prefix and a trailing carriage return.
fn bare(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
        Some((pd, rest)) if !pd.contains(' ') => rest,
        _ => line,
    }
}

/// Whether a console line shows trouble, whoever printed it.
fn is_trouble(line: &str) -> bool {
    line.starts_with("MON|ERROR")
        || line.contains("<<seL4(")
        || line.contains("panicked")
        || line.contains("cannot start:")
        || line.contains("cannot open the ledger")
        || line.contains("every namespace is stopped")
        || line.contains("; DAMAGE: ")
}

impl Console {
    /// Reads `log`, taking markers from the PD named `pd`.
    pub fn parse(log: &str, pd: &str) -> Console {
        let mut c = Console::default();
        let marker = format!("{pd}: ");
        for line in log.lines().map(bare) {
            if is_trouble(line) {
                c.trouble.push(line.to_string());
            }
            if let Some((ledger, key)) = line.split_once(": ledger open: ")
                && let Some((_, key)) = key.rsplit_once("verifier key ")
            {
                c.verifier_keys.push((ledger.to_string(), key.to_string()));
            }
            if let Some(rest) = line.strip_prefix(&marker) {
                c.marker(rest);
            }
        }
        c
    }

    fn marker(&mut self, rest: &str) {
        // Every marker but COVERS (which may name no tenant) has arguments.
        let Some((word, args)) = rest.split_once(' ') else {
            if rest == markers::COVERS {
                self.covers.clear();
            }
            return;
        };
        match word {
            markers::PASS => self.scenarios.push((args.to_string(), Outcome::Pass)),
            markers::FAIL => {
                let (name, why) = args.split_once(": ").unwrap_or((args, ""));
                self.scenarios.push((name.to_string(), Outcome::Fail(why.to_string())));
            }
            markers::DONE => match Done::parse_counts(args) {
                Some(d) => self.done = Some((d.passed, d.failed)),
                None => self.trouble.push(format!("malformed DONE line: {rest}")),
            },
            markers::CHECKPOINT => match parse_checkpoint(args) {
                Some(p) => self.checkpoints.push(p),
                None => self.trouble.push(format!("malformed CHECKPOINT line: {rest}")),
            },
            markers::COVERS => self.covers = args.split_whitespace().map(String::from).collect(),
            markers::RECOVERED => match parse_checkpoint(args) {
                Some(p) => self.recovered.push(p),
                None => self.trouble.push(format!("malformed RECOVERED line: {rest}")),
            },
            _ => {}
        }
    }

    /// What is wrong, judged against the scenarios `expected` (each must
    /// pass exactly once; others may be reported too, and must pass): an
    /// empty list means the run passed.
    pub fn failures(&self, expected: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self.trouble.iter().map(|t| format!("trouble: {t}")).collect();
        for (name, outcome) in &self.scenarios {
            if let Outcome::Fail(why) = outcome {
                out.push(format!("FAIL {name}: {why}"));
            }
        }
        for name in expected {
            match self.scenarios.iter().filter(|(n, _)| n == name).count() {
                0 => out.push(format!("{name}: never reported")),
                1 => {}
                n => out.push(format!("{name}: reported {n} times")),
            }
        }
        let passed = self.scenarios.iter().filter(|(_, o)| *o == Outcome::Pass).count() as u64;
        let failed = self.scenarios.len() as u64 - passed;
        match self.done {
            None => out.push("no DONE line: the run did not finish".into()),
            Some(d) if d != (passed, failed) => out.push(format!(
                "DONE says {} passed, {} failed, but {passed} passed and {failed} failed",
                d.0, d.1
            )),
            Some(_) => {}
        }
        out
    }
}

fn parse_checkpoint(s: &str) -> Option<Printed> {
    let (tenant, kind, b64) = markers::split_checkpoint(s)?;
    let note = Base64::decode_vec(b64).ok()?;
    Some(Printed { tenant: tenant.into(), kind: kind.into(), note })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
MON|INFO: Microkit Monitor started!\r
ledger_acme: ledger open: 0 records, 0 audit records; verifier key service-fs/acme+370ba70f+AWEa
harness: COVERS acme globex
harness: PASS one
[harness] harness: FAIL two: it broke: badly
harness: CHECKPOINT acme records aGVsbG8=
harness: CHECKPOINT acme bogus aGVsbG8=
client: PASS not-ours
harness: DONE 1 passed, 1 failed
";

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn markers_checkpoints_and_keys_are_read() {
        let c = Console::parse(LOG, "harness");
        assert_eq!(
            c.scenarios,
            [
                ("one".to_string(), Outcome::Pass),
                ("two".to_string(), Outcome::Fail("it broke: badly".into()))
            ]
        );
        assert_eq!(c.done, Some((1, 1)));
        assert_eq!(c.covers, ["acme", "globex"]);
        assert_eq!(c.checkpoints.len(), 1);
        assert_eq!(c.checkpoints[0].note, b"hello");
        assert_eq!(
            c.verifier_keys,
            [("ledger_acme".into(), "service-fs/acme+370ba70f+AWEa".into())]
        );
        assert_eq!(c.trouble, ["malformed CHECKPOINT line: CHECKPOINT acme bogus aGVsbG8="]);
    }

    #[test]
    fn a_run_passes_only_if_everything_expected_passed_once_and_it_finished() {
        let ok = "h: PASS a\nh: PASS b\nh: DONE 2 passed, 0 failed\n";
        assert!(Console::parse(ok, "h").failures(&names(&["a", "b"])).is_empty());
        let missing = Console::parse(ok, "h").failures(&names(&["a", "b", "c"]));
        assert_eq!(missing, ["c: never reported"]);
        let unfinished = Console::parse("h: PASS a\n", "h").failures(&names(&["a"]));
        assert_eq!(unfinished, ["no DONE line: the run did not finish"]);
        let twice = Console::parse("h: PASS a\nh: PASS a\nh: DONE 2 passed, 0 failed\n", "h");
        assert_eq!(twice.failures(&names(&["a"])), ["a: reported 2 times"]);
        let lying = Console::parse("h: FAIL a: x\nh: DONE 1 passed, 0 failed\n", "h");
        assert_eq!(
            lying.failures(&names(&["a"])),
            ["FAIL a: x", "DONE says 1 passed, 0 failed, but 0 passed and 1 failed"]
        );
    }

    #[test]
    fn faults_and_kernel_warnings_fail_a_run() {
        let log = "h: PASS a\nMON|ERROR: received message 0x6 badge: 0x2\n\
                   <<seL4(CPU 0) [decodeInvocation/530 T0x1 \"wire\"] Attempted to invoke a null cap>>\n\
                   h: DONE 1 passed, 0 failed\n";
        let f = Console::parse(log, "h").failures(&names(&["a"]));
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().all(|l| l.starts_with("trouble: ")));
    }
}
