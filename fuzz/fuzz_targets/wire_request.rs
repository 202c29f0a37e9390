//! The wire PD's request checks (`wire::admit`, `wire::check_records`): any
//! label, rights, register count and buffer get an answer, never a panic;
//! a request admitted has a known label whose right the caller holds and
//! enough registers, and decodes to a request of that label; records accepted are exactly `count` non-empty records
//! of at most `max_record` bytes filling the buffer, which re-encode (with
//! `abi::records::Writer`) to the same bytes.
#![no_main]

use abi::client::{Status, required_right};
use abi::records::Writer;
use libfuzzer_sys::fuzz_target;
use platform::Msg;
use tlog::bundle;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    // Labels and counts near the real ones are the interesting ones.
    let label = u64::from(data[0] % 16);
    let rights = u64::from(data[1]);
    let count = usize::from(data[2] % 8);
    let records = u64::from(data[3]);
    let max_record = usize::from(u16::from_le_bytes([data[4], data[5]]));
    let buf = &data[6..];

    let registers = [u64::from(data[3]); 8];
    match wire::admit(&Msg::new(label, &registers[..count]), rights) {
        Ok(request) => {
            let right = required_right(label).expect("a known label");
            assert_eq!(rights & right, right);
            assert_eq!(request.label(), label);
            let again = request.encode();
            assert_eq!(again.mrs[..again.count], registers[..again.count]);
        }
        Err(Status::UnknownLabel) => assert!(required_right(label).is_none()),
        Err(Status::Forbidden) => {
            let right = required_right(label).unwrap();
            assert_ne!(rights & right, right);
        }
        Err(Status::BadArgument) => assert!(required_right(label).is_some()),
        Err(s) => panic!("admit answered {s:?}"),
    }
    // Far labels too: an answer.
    let far = u64::from_le_bytes([data[0], data[1], data[2], data[3], data[4], data[5], 0, 0]);
    let _ = wire::admit(&Msg::new(far, &registers[..count]), rights);

    match wire::check_records(buf, records, max_record) {
        Ok(()) => {
            let entries: Vec<&[u8]> = bundle::entries(buf).map(Result::unwrap).collect();
            assert_eq!(entries.len() as u64, records);
            let mut out = vec![0u8; buf.len()];
            let mut w = Writer::new(&mut out);
            for e in &entries {
                assert!(!e.is_empty() && e.len() <= max_record);
                assert!(w.push(e));
            }
            assert_eq!((w.len(), w.count()), (buf.len(), records));
            assert_eq!(out, buf);
        }
        Err(Status::NoRecords) => assert_eq!(records, 0),
        Err(Status::EmptyRecord | Status::BadBuffer) => {}
        Err(Status::RecordTooLarge) => {
            assert!(bundle::entries(buf).flatten().any(|r| r.len() > max_record));
        }
        Err(s) => panic!("check_records answered {s:?}"),
    }
});
