//! Anchor receipts (`anchor::Receipt::decode`), the entries of a tenant's
//! anchor sub-ledger that `fsctl anchors` reads: any bytes never panic, and
//! a receipt that decodes encodes to one that decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = anchor::Receipt::decode(data) else { return };
    let _ = r.root_hash();
    if let Ok(bytes) = r.encode() {
        assert_eq!(anchor::Receipt::decode(&bytes).unwrap(), r);
    }
});
