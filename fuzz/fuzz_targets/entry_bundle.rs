//! Entry bundles (`tlog::bundle`) and the records of a request
//! (`abi::records::parse`): parsing never panics; a bundle whose entries
//! all parse re-encodes (with `bundle::put`) to the same bytes, and `count`
//! agrees; `records::parse` accepts exactly the bundles of `count` (at
//! least one) non-empty entries.
#![no_main]

use abi::records::{self, FramingError};
use libfuzzer_sys::fuzz_target;
use tlog::bundle;

fuzz_target!(|data: &[u8]| {
    let (claimed, data) = match data.split_first() {
        Some((c, rest)) => (u64::from(*c), rest),
        None => (0, data),
    };
    let parsed: Vec<_> = bundle::entries(data).collect();
    let ok: Result<Vec<&[u8]>, _> = parsed.iter().copied().collect();
    match ok {
        Ok(entries) => {
            assert_eq!(bundle::count(data), Ok(entries.len()));
            let mut buf = vec![0u8; data.len()];
            let mut at = 0;
            for e in &entries {
                at = bundle::put(&mut buf, at, e).expect("fits");
            }
            assert_eq!(at, data.len());
            assert_eq!(buf, data);
            let empty = entries.iter().any(|e| e.is_empty());
            let want = if claimed == 0 {
                Err(FramingError::NoRecords)
            } else if empty {
                Err(FramingError::Empty)
            } else if entries.len() as u64 != claimed {
                Err(FramingError::CountMismatch)
            } else {
                Ok(())
            };
            let got = records::parse(data, claimed, data.len() as u64, 65535).map(|_| ());
            // An empty entry is found before the count is compared.
            assert_eq!(got, want);
        }
        Err(e) => {
            assert_eq!(parsed.last().copied(), Some(Err(e)));
            assert_eq!(bundle::count(data), Err(e));
            assert!(records::parse(data, claimed, data.len() as u64, 65535).is_err());
        }
    }
});
