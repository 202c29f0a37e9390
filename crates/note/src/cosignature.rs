//! [C2SP tlog-cosignature] v1 (Ed25519): a witness's timestamped statement
//! that a checkpoint is the largest consistent tree it has seen for a log.
//!
//! A cosignature is a note signature line whose key ID uses the algorithm
//! byte 0x04 and whose signature is `u64 timestamp (big-endian) || Ed25519
//! signature` over `cosignature/v1\ntime <timestamp>\n` followed by the
//! note text. [`open`](crate::open) ignores cosignatures (their key IDs
//! never match a note key); [`cosigned_at`] checks one witness's.
//!
//! [C2SP tlog-cosignature]: https://c2sp.org/tlog-cosignature

use core::fmt::{self, Write};

use base64ct::{Base64, Encoding};
use ed25519_compact::{KeyPair, PublicKey, Signature};

use crate::checkpoint::MAX_CHECKPOINT_TEXT;
use crate::key::{KeyError, Name, derive, parse_public, split_private, write_key_alg};
use crate::signed::{NoteError, SIG_PREFIX, lines, split};

/// Signature type byte of Ed25519 cosignature/v1 keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Bytes after the key ID in a cosignature: timestamp and Ed25519 signature.
const SIG_LEN: usize = 8 + 64;
/// Header and timestamp lines before the text: `cosignature/v1\ntime N\n`.
const HEADER_MAX: usize = 15 + 5 + 20 + 1;

/// The message a cosignature signs, in `buf`.
fn message<'b>(text: &str, timestamp: u64, buf: &'b mut [u8]) -> Result<&'b [u8], NoteError> {
    if timestamp > i64::MAX as u64 {
        return Err(NoteError::Malformed("cosignature timestamp beyond 2^63-1"));
    }
    let mut w = Cursor { buf, len: 0 };
    write!(w, "cosignature/v1\ntime {timestamp}\n{text}").map_err(|_| NoteError::BufferTooSmall)?;
    let len = w.len;
    Ok(&buf[..len])
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A witness's cosigning key with its name.
#[derive(Clone)]
pub struct Cosigner {
    name: Name,
    id: u32,
    seed: [u8; 32],
    key: KeyPair,
}

impl Cosigner {
    /// Derives the Ed25519 key from a 32-byte seed; callers supply randomness.
    pub fn from_seed(key_name: &str, seed: [u8; 32]) -> Result<Cosigner, KeyError> {
        let (name, id, key) = derive(key_name, seed, ALG_COSIGNATURE_V1)?;
        Ok(Cosigner { name, id, seed, key })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(0x04 || seed)`.
    pub fn parse(skey: &str) -> Result<Cosigner, KeyError> {
        let (n, seed, id) = split_private(skey, ALG_COSIGNATURE_V1)?;
        let c = Cosigner::from_seed(n, seed)?;
        if c.id != id {
            return Err(KeyError::BadKeyId);
        }
        Ok(c)
    }

    /// Writes the private key encoding.
    pub fn write_private(&self, f: &mut impl Write) -> fmt::Result {
        f.write_str("PRIVATE+KEY+")?;
        write_key_alg(f, &self.name, self.id, ALG_COSIGNATURE_V1, &self.seed)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier { name: self.name.clone(), id: self.id, key: self.key.pk }
    }

    /// Writes the signature line (`— name base64(…)\n`) cosigning the note
    /// text `text` (a checkpoint body, ending in a newline) at `timestamp`
    /// (POSIX seconds) into `out`; returns its length.
    pub fn cosign(&self, text: &str, timestamp: u64, out: &mut [u8]) -> Result<usize, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::Malformed("text must end with a newline"));
        }
        let mut buf = [0u8; HEADER_MAX + MAX_CHECKPOINT_TEXT];
        let msg = message(text, timestamp, &mut buf)?;
        let mut raw = [0u8; 4 + SIG_LEN];
        raw[..4].copy_from_slice(&self.id.to_be_bytes());
        raw[4..12].copy_from_slice(&timestamp.to_be_bytes());
        raw[12..].copy_from_slice(self.key.sk.sign(msg, None).as_ref());
        let mut b64 = [0u8; 104];
        let b64 = Base64::encode(&raw, &mut b64).map_err(|_| NoteError::BufferTooSmall)?;
        let mut w = Cursor { buf: out, len: 0 };
        writeln!(w, "{SIG_PREFIX}{} {b64}", self.name).map_err(|_| NoteError::BufferTooSmall)?;
        Ok(w.len)
    }
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        write!(f, "Cosigner({}+{:08x})", self.name, self.id)
    }
}

/// A witness's public cosignature/v1 key with its name.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: Name,
    id: u32,
    key: PublicKey,
}

impl CosignatureVerifier {
    /// Parses the vkey `name+hexid+base64(0x04 || public key)`.
    pub fn parse(vkey: &str) -> Result<CosignatureVerifier, KeyError> {
        let (name, id, key) = parse_public(vkey, ALG_COSIGNATURE_V1)?;
        Ok(CosignatureVerifier { name, id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Checks `sig` (timestamp || Ed25519 signature, after the key ID) over
    /// `text`: the timestamp it carries if it verifies.
    pub fn verify(&self, text: &str, sig: &[u8]) -> Option<u64> {
        let (ts, sig) = sig.split_first_chunk::<8>()?;
        let timestamp = u64::from_be_bytes(*ts);
        let sig = Signature::from_slice(sig).ok()?;
        let mut buf = [0u8; HEADER_MAX + MAX_CHECKPOINT_TEXT];
        let msg = message(text, timestamp, &mut buf).ok()?;
        self.key.verify(msg, &sig).is_ok().then_some(timestamp)
    }
}

impl fmt::Display for CosignatureVerifier {
    /// The vkey encoding, `name+hexid+base64(0x04 || key)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_key_alg(f, &self.name, self.id, ALG_COSIGNATURE_V1, &self.key)
    }
}

impl fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The time at which `witness` cosigned the signed note `msg`: `Ok(None)`
/// when it carries no cosignature by that key. As with note keys, only a
/// key's first signature line is judged, and one that fails rejects the
/// note. The note's own signature is not checked here: open it with
/// [`open`](crate::open) too.
pub fn cosigned_at(msg: &[u8], witness: &CosignatureVerifier) -> Result<Option<u64>, NoteError> {
    let (text, sigs) = split(msg)?;
    for line in lines(sigs) {
        let bad = NoteError::Malformed("bad signature line");
        let rest = line?.strip_prefix(SIG_PREFIX).ok_or(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or(bad)?;
        if name != witness.name() {
            continue;
        }
        let mut raw = [0u8; 4 + SIG_LEN];
        let Ok(raw) = Base64::decode(b64, &mut raw) else { continue };
        let Some((id, sig)) = raw.split_first_chunk::<4>() else { continue };
        if u32::from_be_bytes(*id) != witness.id() {
            continue;
        }
        return match witness.verify(text, sig) {
            Some(t) => Ok(Some(t)),
            None => Err(NoteError::InvalidSignature { key_id: witness.id() }),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signer, Verifier, open, sign};
    extern crate std;
    use std::string::String;

    const TEXT: &str = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness() -> Cosigner {
        Cosigner::from_seed("witness.example/w1", [7; 32]).unwrap()
    }

    fn cosigned(c: &Cosigner, t: u64) -> std::vec::Vec<u8> {
        let log = Signer::from_seed("example.com/log", [3; 32]).unwrap();
        let mut buf = [0u8; 1024];
        let n = sign(TEXT, &[&log], &mut buf).unwrap();
        let mut out = buf[..n].to_vec();
        let n = c.cosign(TEXT, t, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
        out
    }

    #[test]
    fn keys_round_trip_and_differ_from_note_keys() {
        let c = witness();
        let mut skey = String::new();
        c.write_private(&mut skey).unwrap();
        assert_eq!(Cosigner::parse(&skey).unwrap().verifier(), c.verifier());
        let vkey = std::format!("{}", c.verifier());
        assert_eq!(CosignatureVerifier::parse(&vkey).unwrap(), c.verifier());
        // A cosignature key is not a note key, and the other way round.
        assert_eq!(Verifier::parse(&vkey), Err(KeyError::UnknownAlgorithm));
        let note_key = Signer::from_seed("witness.example/w1", [7; 32]).unwrap();
        let note_vkey = std::format!("{}", note_key.verifier());
        assert_eq!(CosignatureVerifier::parse(&note_vkey), Err(KeyError::UnknownAlgorithm));
        assert_ne!(note_key.id(), c.verifier().id());
    }

    #[test]
    fn a_cosignature_verifies_and_the_log_key_ignores_it() {
        let c = witness();
        let msg = cosigned(&c, 1_679_315_147);
        assert_eq!(cosigned_at(&msg, &c.verifier()), Ok(Some(1_679_315_147)));
        let log = Signer::from_seed("example.com/log", [3; 32]).unwrap().verifier();
        let opened = open(&msg, &[&log]).unwrap();
        assert_eq!((opened.verified_by, opened.unknown), (1, 1));
        let other = Cosigner::from_seed("witness.example/w2", [8; 32]).unwrap();
        assert_eq!(cosigned_at(&msg, &other.verifier()), Ok(None));
    }

    #[test]
    fn the_signed_message_is_the_specified_one() {
        let c = witness();
        let line = cosigned(&c, 42);
        let line = core::str::from_utf8(&line).unwrap().lines().last().unwrap();
        let b64 = line.rsplit_once(' ').unwrap().1;
        let mut raw = [0u8; 76];
        let raw = Base64::decode(b64, &mut raw).unwrap();
        assert_eq!(&raw[4..12], &42u64.to_be_bytes());
        let msg = std::format!("cosignature/v1\ntime 42\n{TEXT}");
        let sig = Signature::from_slice(&raw[12..]).unwrap();
        assert!(c.verifier().key.verify(msg.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn a_changed_time_text_or_signature_is_rejected() {
        let c = witness();
        let good = cosigned(&c, 100);
        let text = core::str::from_utf8(&good).unwrap();
        let forged = text.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            cosigned_at(forged.as_bytes(), &c.verifier()),
            Err(NoteError::InvalidSignature { .. })
        ));
        // Another timestamp under the same signature.
        let line = text.lines().last().unwrap();
        let b64 = line.rsplit_once(' ').unwrap().1;
        let mut raw = [0u8; 76];
        let raw = Base64::decode(b64, &mut raw).unwrap().to_vec();
        let mut moved = raw.clone();
        moved[11] ^= 1;
        let mut enc = [0u8; 104];
        let enc = Base64::encode(&moved, &mut enc).unwrap();
        let retimed = text.replace(b64, enc);
        assert!(cosigned_at(retimed.as_bytes(), &c.verifier()).is_err());
        assert!(c.verifier().verify(TEXT, &raw[4..]).is_some());
        assert!(c.verifier().verify(TEXT, &raw[4..70]).is_none());
    }

    #[test]
    fn timestamps_beyond_the_spec_are_refused() {
        let mut out = [0u8; 256];
        assert!(witness().cosign(TEXT, u64::MAX, &mut out).is_err());
        assert!(witness().cosign("no newline", 1, &mut out).is_err());
    }
}
