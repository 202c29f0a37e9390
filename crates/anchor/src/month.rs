//! Calendar months in UTC, the period of anchoring.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar month (UTC), written `YYYY-MM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// The year, 1970–9999.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
}

impl Month {
    /// The month holding Unix time `secs`.
    pub fn of_unix(secs: u64) -> Month {
        // Howard Hinnant's civil_from_days, for days since 1970-01-01.
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Month { year: year.clamp(1970, 9999) as u16, month: month as u8 }
    }

    /// The current month by the system clock.
    pub fn now() -> Month {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Month::of_unix(secs)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("invalid month {s:?}: write it YYYY-MM, e.g. 2026-12");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let (year, month) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_of_unix_times() {
        assert_eq!(Month::of_unix(0).to_string(), "1970-01");
        assert_eq!(Month::of_unix(951_782_400).to_string(), "2000-02"); // 2000-02-29
        assert_eq!(Month::of_unix(951_868_799).to_string(), "2000-02"); // its last second
        assert_eq!(Month::of_unix(951_868_800).to_string(), "2000-03");
        assert_eq!(Month::of_unix(1_796_083_200).to_string(), "2026-12"); // 2026-12-01
        assert_eq!(Month::of_unix(1_796_083_199).to_string(), "2026-11");
    }

    #[test]
    fn parses_only_yyyy_mm() {
        assert_eq!("2026-12".parse(), Ok(Month { year: 2026, month: 12 }));
        assert!("2026-12".parse::<Month>().unwrap() > "2026-02".parse().unwrap());
        for bad in
            ["", "2026", "2026-13", "2026-00", "26-01", "2026-1", "2026/01", "+026-01", "1969-12"]
        {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
    }
}
