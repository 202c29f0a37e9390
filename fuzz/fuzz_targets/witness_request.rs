//! The witness's HTTP request bodies (`witness::protocol`) and the witness
//! itself (`Witness::add_checkpoint`, state in a scratch directory): any
//! body never panics; one that parses encodes back to itself; a request
//! that is answered 200 carries a cosignature that verifies and moves the
//! witness's state to that checkpoint; any refusal leaves the state as it
//! was.
#![no_main]

#[path = "common.rs"]
mod common;

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use witness::Witness;
use witness::protocol::{add_checkpoint_body, parse_add_checkpoint, parse_size_body};

fn witness() -> &'static Mutex<Witness> {
    static W: OnceLock<Mutex<Witness>> = OnceLock::new();
    W.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fuzz-witness-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Witness::create(&dir, "fuzz.example/witness").unwrap();
        Witness::trust(&dir, &common::signer().verifier().to_string()).unwrap();
        Mutex::new(Witness::open(&dir).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_size_body(data);
    let Ok(req) = parse_add_checkpoint(data) else {
        return;
    };
    assert_eq!(add_checkpoint_body(req.old, &req.proof, req.checkpoint), data);
    let mut w = witness().lock().unwrap();
    let origin = common::signer().name().to_string();
    let before = w.latest(&origin).unwrap();
    match w.add_checkpoint(data, 1_700_000_000) {
        Ok(line) => {
            let mut cosigned = req.checkpoint.to_vec();
            cosigned.extend_from_slice(&line);
            let t = note::cosigned_at(&cosigned, &w.verifier()).unwrap();
            assert_eq!(t, Some(1_700_000_000));
            let size = note::Checkpoint::peek_size(req.checkpoint).unwrap();
            assert_eq!(w.latest(&origin).unwrap().map(|(n, _)| n), Some(size));
        }
        Err(refusal) => {
            assert!([400, 403, 404, 409, 422].contains(&refusal.status()), "{refusal:?}");
            assert_eq!(w.latest(&origin).unwrap(), before, "a refusal changed the state");
        }
    }
});
