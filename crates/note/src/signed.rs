//! Signing and opening signed notes.

use core::fmt;

use base64ct::{Base64, Encoding};

use crate::key::{Signer, Verifier, valid_name};

/// The most signature lines [`open`] reads (C2SP asks for at least 16; Go allows 100).
pub const MAX_SIGNATURES: usize = 100;
/// The most verifiers [`open`] takes at once.
pub const MAX_VERIFIERS: usize = 64;

pub(crate) const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note could not be signed or opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteError {
    /// Not a well-formed signed note; the text says which rule it breaks.
    Malformed(&'static str),
    /// A signature by a known key did not verify: the note is rejected.
    InvalidSignature {
        /// Key ID of the failing key.
        key_id: u32,
    },
    /// No known key signed the note.
    Unverified,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::Malformed(why) => write!(f, "malformed note: {why}"),
            NoteError::InvalidSignature { key_id } => {
                write!(f, "invalid signature by known key {key_id:08x}")
            }
            NoteError::Unverified => f.write_str("note is not signed by any known key"),
            NoteError::BufferTooSmall => f.write_str("note does not fit the buffer"),
        }
    }
}

/// A verified note.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The note text, ending in a newline.
    pub text: &'a str,
    /// Bit `i` is set when `verifiers[i]` signed the note.
    pub verified_by: u64,
    /// Signatures by keys that were not among the verifiers (ignored).
    pub unknown: usize,
}

/// Checks the text rules: valid UTF-8 (given by `&str`), no ASCII control
/// characters other than newline.
fn check_chars(s: &str) -> Result<(), NoteError> {
    if s.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::Malformed("control character"));
    }
    Ok(())
}

/// Signs `text` with every signer, writing the note into `out`; returns its length.
pub fn sign(text: &str, signers: &[&Signer], out: &mut [u8]) -> Result<usize, NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    check_chars(text)?;
    if signers.is_empty() {
        return Err(NoteError::Malformed("no signers"));
    }
    let mut w = Cursor { buf: out, len: 0 };
    w.put(text.as_bytes())?;
    w.put(b"\n")?;
    for s in signers {
        let mut raw = [0u8; 68];
        raw[..4].copy_from_slice(&s.id().to_be_bytes());
        raw[4..].copy_from_slice(&s.sign_bytes(text.as_bytes()));
        let mut b64 = [0u8; 92];
        let b64 = Base64::encode(&raw, &mut b64).map_err(|_| NoteError::BufferTooSmall)?;
        w.put(SIG_PREFIX.as_bytes())?;
        w.put(s.name().as_bytes())?;
        w.put(b" ")?;
        w.put(b64.as_bytes())?;
        w.put(b"\n")?;
    }
    Ok(w.len)
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), NoteError> {
        let end = self.len + b.len();
        self.buf.get_mut(self.len..end).ok_or(NoteError::BufferTooSmall)?.copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

/// Opens a signed note: parses it and verifies the first signature made by
/// each of `verifiers` (matched by name and key ID); later ones by the same
/// key are dropped, as Go's `note.Open` drops them. Signatures by other keys
/// are ignored; a failing first signature by a known key rejects the note;
/// at least one known key must have signed.
pub fn open<'a>(msg: &'a [u8], verifiers: &[&Verifier]) -> Result<Opened<'a>, NoteError> {
    if verifiers.len() > MAX_VERIFIERS {
        return Err(NoteError::Malformed("too many verifiers"));
    }
    let (text, sigs) = split(msg)?;
    let mut opened = Opened { text, verified_by: 0, unknown: 0 };
    for line in lines(sigs) {
        let (name, id, sig) = parse_signature_line(line?)?;
        match verifiers.iter().position(|v| v.name() == name && v.id() == id) {
            None => opened.unknown += 1,
            // Go's note.Open judges only a key's first signature and drops
            // the rest; so do we, so that both accept the same notes.
            Some(i) if opened.verified_by & (1 << i) != 0 => {}
            Some(i) => {
                if !verifiers[i].verify(text.as_bytes(), sig.as_slice()) {
                    return Err(NoteError::InvalidSignature { key_id: id });
                }
                opened.verified_by |= 1 << i;
            }
        }
    }
    if opened.verified_by == 0 {
        return Err(NoteError::Unverified);
    }
    Ok(opened)
}

/// Splits a signed note into its text (ending in a newline) and its
/// signature block (one or more lines, each ending in a newline), checking
/// the text rules.
pub(crate) fn split(msg: &[u8]) -> Result<(&str, &str), NoteError> {
    let msg = core::str::from_utf8(msg).map_err(|_| NoteError::Malformed("not UTF-8"))?;
    check_chars(msg)?;
    // The text ends at the last blank line; signatures follow it.
    let split = msg.rfind("\n\n").ok_or(NoteError::Malformed("no signature block"))?;
    let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed("signature block must end with a newline"));
    }
    Ok((text, sigs))
}

/// The signature lines of a block [`split`] returned, at most [`MAX_SIGNATURES`].
pub(crate) fn lines(sigs: &str) -> impl Iterator<Item = Result<&str, NoteError>> {
    sigs[..sigs.len() - 1].split('\n').enumerate().map(|(n, line)| {
        if n >= MAX_SIGNATURES {
            Err(NoteError::Malformed("too many signatures"))
        } else {
            Ok(line)
        }
    })
}

/// Splits `— name base64(keyid || signature)`.
fn parse_signature_line(line: &str) -> Result<(&str, u32, heapless::Vec<u8, 64>), NoteError> {
    let bad = NoteError::Malformed("bad signature line");
    let rest = line.strip_prefix(SIG_PREFIX).ok_or(bad)?;
    let (name, b64) = rest.split_once(' ').ok_or(bad)?;
    if !valid_name(name) || b64.is_empty() {
        return Err(bad);
    }
    // Ed25519 signatures are 4 + 64 bytes; other (unknown) algorithms may be
    // longer: decode only as much as identifies the key and fits a signature.
    let mut raw = [0u8; 68];
    let (id, sig) = match Base64::decode(b64, &mut raw) {
        Ok(r) if r.len() >= 5 => (u32::from_be_bytes([r[0], r[1], r[2], r[3]]), &r[4..]),
        Ok(_) => return Err(bad),
        Err(base64ct::Error::InvalidLength) => {
            // Longer than Ed25519: keep the key ID; any verifier will fail it.
            let mut head = [0u8; 6];
            let id_part = b64.get(..8).ok_or(bad)?;
            let h = Base64::decode(id_part, &mut head).map_err(|_| bad)?;
            let id = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            return Ok((name, id, heapless::Vec::new()));
        }
        Err(_) => return Err(bad),
    };
    Ok((name, id, heapless::Vec::from_slice(sig).map_err(|_| bad)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn signed(text: &str, signers: &[&Signer]) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 2048];
        let n = sign(text, signers, &mut buf).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn go_known_answer() {
        // The example of Go's sumdb/note documentation.
        let s = Signer::parse(PETER_SKEY).unwrap();
        let msg = signed(TEXT, &[&s]);
        let want = std::format!("{TEXT}\n{PETER_SIG}");
        assert_eq!(core::str::from_utf8(&msg).unwrap(), want);
        let v = Verifier::parse(PETER_VKEY).unwrap();
        let o = open(&msg, &[&v]).unwrap();
        assert_eq!(o.text, TEXT);
        assert_eq!(o.verified_by, 1);
    }

    #[test]
    fn many_signatures_and_unknown_ones() {
        let a = Signer::from_seed("a.example/log", [1; 32]).unwrap();
        let b = Signer::from_seed("b.example/witness", [2; 32]).unwrap();
        let c = Signer::from_seed("c.example/other", [3; 32]).unwrap();
        let msg = signed("hello\n", &[&a, &b, &c]);
        let (va, vb) = (a.verifier(), b.verifier());
        assert_eq!(open(&msg, &[&va]).unwrap().unknown, 2);
        let o = open(&msg, &[&vb, &va]).unwrap();
        assert_eq!((o.verified_by, o.unknown), (0b11, 1));
        // Same name, other key: unknown, so the note is unverified.
        let imposter = Signer::from_seed("a.example/log", [9; 32]).unwrap().verifier();
        assert_eq!(open(&msg, &[&imposter]), Err(NoteError::Unverified));
    }

    #[test]
    fn forged_or_truncated_notes_fail() {
        let a = Signer::from_seed("a", [1; 32]).unwrap();
        let v = a.verifier();
        let msg = signed("body\nmore\n", &[&a]);
        // Any single flipped byte in the text invalidates the signature or the format.
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 0x01;
            assert!(open(&m, &[&v]).is_err(), "flip at {i}");
        }
        for cut in 0..msg.len() {
            assert!(open(&msg[..cut], &[&v]).is_err(), "cut at {cut}");
        }
        let text_changed =
            std::string::String::from_utf8(msg.clone()).unwrap().replace("body", "bodY");
        assert_eq!(
            open(text_changed.as_bytes(), &[&v]),
            Err(NoteError::InvalidSignature { key_id: a.id() })
        );
        assert_eq!(
            sign("no newline", &[&a], &mut [0; 256]),
            Err(NoteError::Malformed("text must end with a newline"))
        );
        assert_eq!(
            sign("tab\there\n", &[&a], &mut [0; 256]),
            Err(NoteError::Malformed("control character"))
        );
        assert_eq!(sign("x\n", &[&a], &mut [0; 16]), Err(NoteError::BufferTooSmall));
    }

    #[test]
    fn long_unknown_signatures_are_ignored() {
        let a = Signer::from_seed("a", [1; 32]).unwrap();
        let mut msg = signed("x\n", &[&a]);
        // A 4+200-byte signature from some other algorithm.
        let mut raw = [0x42u8; 204];
        raw[..4].copy_from_slice(&[0, 0, 0, 1]);
        let mut b64 = [0u8; 272];
        let line =
            std::format!("\u{2014} pq.example {}\n", Base64::encode(&raw, &mut b64).unwrap());
        msg.extend_from_slice(line.as_bytes());
        assert_eq!(open(&msg, &[&a.verifier()]).unwrap().unknown, 1);
    }
}
