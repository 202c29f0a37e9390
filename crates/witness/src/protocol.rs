//! The bodies of `POST <prefix>/add-checkpoint` (C2SP tlog-witness).
//!
//! Request: `old <size>\n`, up to 63 consistency proof lines (one base64
//! hash each), an empty line, then the signed checkpoint. Success: one or
//! more cosignature lines. `409 Conflict`: the size the witness last
//! cosigned, as `text/x.tlog.size`.

use tlog::Hash;
use tlog::hash::HASH_BASE64_LEN;

/// The most proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body a witness reads: a checkpoint with a few
/// dozen signatures and a full proof fit well within it.
pub const MAX_BODY: usize = 16 * 1024;
/// The content type of a `409 Conflict` body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// The path, after the submission prefix.
pub const ADD_CHECKPOINT: &str = "/add-checkpoint";

/// A parsed `add-checkpoint` request.
#[derive(Debug, PartialEq, Eq)]
pub struct AddCheckpoint<'a> {
    /// The size of the previous checkpoint the proof starts from.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: &'a [u8],
}

/// Parses a request body; the error says which rule it breaks.
pub fn parse_add_checkpoint(body: &[u8]) -> Result<AddCheckpoint<'_>, &'static str> {
    if body.len() > MAX_BODY {
        return Err("request body too large");
    }
    let (line, mut rest) = next_line(body).ok_or("no old size line")?;
    let old = line.strip_prefix(b"old ").ok_or("the first line is not `old <size>`")?;
    let old = parse_decimal(old).ok_or("the old size is not a decimal without leading zeroes")?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = next_line(rest).ok_or("no empty line before the checkpoint")?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err("more than 63 consistency proof lines");
        }
        let hash = std::str::from_utf8(line).ok().and_then(Hash::from_base64);
        proof.push(hash.ok_or("a proof line is not a base64 hash")?);
    }
    if rest.is_empty() {
        return Err("no checkpoint");
    }
    Ok(AddCheckpoint { old, proof, checkpoint: rest })
}

/// The request body asking for a cosignature of `checkpoint` with a proof
/// from `old`.
pub fn add_checkpoint_body(old: u64, proof: &[Hash], checkpoint: &[u8]) -> Vec<u8> {
    let mut body = format!("old {old}\n").into_bytes();
    for h in proof {
        let mut b64 = [0u8; HASH_BASE64_LEN];
        body.extend_from_slice(h.to_base64(&mut b64).as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(checkpoint);
    body
}

/// The tree size in a `409 Conflict` body.
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    let (line, rest) = next_line(body)?;
    if !rest.is_empty() {
        return None;
    }
    parse_decimal(line)
}

/// An ASCII decimal without leading zeroes (`0` itself allowed).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s[0] == b'0') {
        return None;
    }
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The bytes before the next newline, and those after it.
fn next_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = b.iter().position(|&c| c == b'\n')?;
    Some((&b[..at], &b[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOTE: &[u8] = b"example.com/log\n2\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\xe2\x80\x94 example.com/log AAAA\n";

    #[test]
    fn the_spec_example_parses() {
        let body = [
            b"old 20852014\n".as_slice(),
            b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n",
            b"jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n",
            b"\n",
            NOTE,
        ]
        .concat();
        let r = parse_add_checkpoint(&body).unwrap();
        assert_eq!(r.old, 20852014);
        assert_eq!(r.proof.len(), 2);
        assert_eq!(r.checkpoint, NOTE);
        assert_eq!(add_checkpoint_body(r.old, &r.proof, r.checkpoint), body);
    }

    #[test]
    fn malformed_requests_are_refused() {
        for body in [
            b"".as_slice(),
            b"old 1",
            b"old 01\n\nx",
            b"old -1\n\nx",
            b"old 1\n",
            b"old 1\nnot-a-hash\n\nx",
            b"new 1\n\nx",
            b"old 1\n\n",
            b"old 99999999999999999999\n\nx",
        ] {
            assert!(parse_add_checkpoint(body).is_err(), "{body:?}");
        }
        let mut long = b"old 1\n".to_vec();
        for _ in 0..64 {
            long.extend_from_slice(b"PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n");
        }
        long.extend_from_slice(b"\nx");
        assert_eq!(parse_add_checkpoint(&long), Err("more than 63 consistency proof lines"));
        assert!(parse_add_checkpoint(&vec![b'\n'; MAX_BODY + 1]).is_err());
    }

    #[test]
    fn size_bodies() {
        assert_eq!(parse_size_body(b"0\n"), Some(0));
        assert_eq!(parse_size_body(b"20852163\n"), Some(20852163));
        for bad in [b"".as_slice(), b"1", b"01\n", b"1\n\n", b"x\n"] {
            assert_eq!(parse_size_body(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn bodies_round_trip(old in any::<u64>(), n in 0usize..=63, seed in any::<u8>(),
                             note in proptest::collection::vec(any::<u8>(), 1..200)) {
            let proof: Vec<Hash> = (0..n).map(|i| tlog::leaf_hash(&[seed, i as u8])).collect();
            let body = add_checkpoint_body(old, &proof, &note);
            let r = parse_add_checkpoint(&body).unwrap();
            prop_assert_eq!((r.old, r.proof, r.checkpoint), (old, proof, note.as_slice()));
        }

        #[test]
        fn any_bytes_parse_or_are_refused(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_add_checkpoint(&body);
            let _ = parse_size_body(&body);
        }
    }
}
