//! The console lines a judged PD prints, each `<pd>: <marker> …` (the
//! simulator prefixes each line with `[pd] `; seL4's serial console does
//! not):
//!
//! - `PASS <scenario>` and `FAIL <scenario>: <why>`, once per scenario;
//! - last, `DONE <n> passed, <m> failed` ([`Done`]);
//!
//! and the scenario harness's own:
//!
//! - `COVERS <tenant>…`: the tenants it prints checkpoints of;
//! - `CHECKPOINT <tenant> records|audit <base64 of the signed note>` at
//!   the end, and `RECOVERED …` in the same form for what it found at boot.

use core::fmt;

/// A scenario passed: `PASS <scenario>`.
pub const PASS: &str = "PASS";
/// A scenario failed: `FAIL <scenario>: <why>`.
pub const FAIL: &str = "FAIL";
/// The run finished: [`Done`].
pub const DONE: &str = "DONE";
/// The tenants the harness covers: `COVERS <tenant>…`.
pub const COVERS: &str = "COVERS";
/// A checkpoint printed at the end: `CHECKPOINT <tenant> <kind> <base64>`.
pub const CHECKPOINT: &str = "CHECKPOINT";
/// A checkpoint found at boot, in the form of [`CHECKPOINT`].
pub const RECOVERED: &str = "RECOVERED";
/// The kind of a printed checkpoint of the records ledger.
pub const RECORDS: &str = "records";
/// The kind of a printed checkpoint of the audit ledger.
pub const AUDIT: &str = "audit";

/// The last line of a run: `DONE <passed> passed, <failed> failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done {
    /// Scenarios passed.
    pub passed: u64,
    /// Scenarios failed.
    pub failed: u64,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DONE} {} passed, {} failed", self.passed, self.failed)
    }
}

impl Done {
    /// Reads what follows `DONE `: `<n> passed, <m> failed`.
    pub fn parse_counts(counts: &str) -> Option<Done> {
        let (p, f) = counts.split_once(" passed, ")?;
        Some(Done { passed: p.parse().ok()?, failed: f.strip_suffix(" failed")?.parse().ok()? })
    }
}

/// A printed checkpoint's fields, after `CHECKPOINT ` or `RECOVERED `:
/// (tenant, kind, base64 of the note); `None` unless there are exactly
/// three and the kind is [`RECORDS`] or [`AUDIT`].
pub fn split_checkpoint(s: &str) -> Option<(&str, &str, &str)> {
    let mut it = s.split(' ');
    let (tenant, kind, b64) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || !matches!(kind, RECORDS | AUDIT) {
        return None;
    }
    Some((tenant, kind, b64))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Line([u8; 64], usize);

    impl fmt::Write for Line {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0.get_mut(self.1..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }

    #[test]
    fn done_reads_back_what_it_prints() {
        let d = Done { passed: 9, failed: 1 };
        let mut line = Line([0; 64], 0);
        fmt::write(&mut line, format_args!("{d}")).unwrap();
        let text = core::str::from_utf8(&line.0[..line.1]).unwrap();
        assert_eq!(text, "DONE 9 passed, 1 failed");
        assert_eq!(Done::parse_counts(text.strip_prefix("DONE ").unwrap()), Some(d));
        assert_eq!(Done::parse_counts("9 passed"), None);
    }

    #[test]
    fn a_checkpoint_line_has_three_fields_and_a_known_kind() {
        assert_eq!(split_checkpoint("acme records aGk="), Some(("acme", "records", "aGk=")));
        assert_eq!(split_checkpoint("acme audit aGk="), Some(("acme", "audit", "aGk=")));
        assert_eq!(split_checkpoint("acme bogus aGk="), None);
        assert_eq!(split_checkpoint("acme records aGk= more"), None);
        assert_eq!(split_checkpoint("acme records"), None);
    }
}
