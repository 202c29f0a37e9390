//! Checkpoint bodies (`note::Checkpoint`): parsing never panics; a body that
//! parses re-serialises to the same bytes and parses again to the same
//! value; `peek_size` of it (as a note) agrees with the parsed size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use note::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let _ = Checkpoint::peek_size(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cp) = Checkpoint::parse(text) {
        let again = cp.to_string();
        assert_eq!(again, text);
        assert_eq!(Checkpoint::parse(&again), Ok(cp));
        let note = format!("{text}\n\u{2014} k AAAA\n");
        assert_eq!(Checkpoint::peek_size(note.as_bytes()), Some(cp.size));
    }
});
