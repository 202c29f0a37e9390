//! The offline verifier (`verify::verify`, what `fsctl verify` runs on a
//! ledger's files): a real ledger of a few entries, damaged as the input
//! says (a file's bytes replaced, cut, extended or bit-flipped, or an
//! extra file with any path), always gets an answer, never a panic; the
//! ledger as made verifies, with its size and root.
#![no_main]

#[path = "common.rs"]
mod common;

use std::collections::BTreeMap;
use std::io;

use libfuzzer_sys::fuzz_target;

struct Files(BTreeMap<String, Vec<u8>>);

impl verify::Source for Files {
    fn read(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.0.get(path).cloned())
    }
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.0.keys().cloned().collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, mut rest)) = data.split_first() else { return };
    let n = usize::from(n % 8) + 1;
    let (objects, note) = common::ledger(n);
    let mut files = Files(objects.into_iter().map(|(t, b)| (t.path().to_string(), b)).collect());
    files.0.insert("checkpoint".into(), note);
    let key = common::signer().verifier();
    let mut damaged = false;
    while rest.len() >= 3 {
        let (op, which, len) = (rest[0] % 5, usize::from(rest[1]), usize::from(rest[2]));
        let bytes = &rest[3..(3 + len).min(rest.len())];
        rest = &rest[(3 + len).min(rest.len())..];
        damaged = true;
        if op == 4 {
            // A file of its own: the bytes up to a space are the path.
            let split = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
            let path = String::from_utf8_lossy(&bytes[..split]).into_owned();
            files.0.insert(path, bytes.get(split + 1..).unwrap_or(&[]).to_vec());
            continue;
        }
        let names: Vec<String> = files.0.keys().cloned().collect();
        let name = &names[which % names.len()];
        let f = files.0.get_mut(name).unwrap();
        match op {
            0 => *f = bytes.to_vec(),
            1 => f.truncate(len % (f.len() + 1)),
            2 => f.extend_from_slice(bytes),
            _ => {
                if !f.is_empty() {
                    let at = (len * 7 + bytes.len()) % f.len();
                    f[at] ^= 1 << (len % 8);
                }
            }
        }
    }
    let r = verify::verify(&files, &key);
    if !damaged {
        let r = r.expect("the ledger as made verifies");
        assert_eq!(r.size, n as u64);
    }
});
