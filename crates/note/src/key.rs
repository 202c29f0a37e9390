//! Ed25519 note keys and their text encodings.

use core::fmt::{self, Write};

use base64ct::{Base64, Encoding};
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use sha2::{Digest, Sha256};

/// Signature type byte for Ed25519 (C2SP signed-note).
pub const ALG_ED25519: u8 = 0x01;
/// Longest key name accepted (names are usually short URLs).
pub const MAX_NAME_LEN: usize = 128;
/// A key name.
pub type Name = heapless::String<MAX_NAME_LEN>;

/// Why a key could not be made or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The name is empty, too long, or has a space or `+`.
    BadName,
    /// The encoding is not `[PRIVATE+KEY+]name+id+base64`.
    BadEncoding,
    /// The key ID does not match the name and key.
    BadKeyId,
    /// Not an Ed25519 key.
    UnknownAlgorithm,
    /// The all-zero seed, which never comes from a random source.
    ZeroSeed,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::BadName => "invalid key name (empty, too long, or contains a space or '+')",
            KeyError::BadEncoding => "malformed key (want name+hexid+base64)",
            KeyError::BadKeyId => "key ID does not match the key name and key",
            KeyError::UnknownAlgorithm => {
                "not a key of the expected type (Ed25519 note key, or Ed25519 cosignature key)"
            }
            KeyError::ZeroSeed => "the private key seed is all zeros",
        })
    }
}

/// Whether `name` is a valid key name: non-empty, no Unicode space, no `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID: the first four bytes (big-endian) of
/// `SHA-256(name || 0x0A || alg || public key)`.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let d: [u8; 32] = h.finalize().into();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

pub(crate) fn name(s: &str) -> Result<Name, KeyError> {
    if !valid_name(s) {
        return Err(KeyError::BadName);
    }
    Name::try_from(s).map_err(|_| KeyError::BadName)
}

/// Splits `name+hexid+base64(alg || key)` and checks the name and ID format.
pub(crate) fn split_key(s: &str, alg: u8) -> Result<(&str, u32, [u8; 33]), KeyError> {
    let mut parts = s.splitn(3, '+');
    let (Some(n), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(KeyError::BadEncoding);
    };
    if !valid_name(n) {
        return Err(KeyError::BadName);
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::BadEncoding);
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::BadEncoding)?;
    let mut raw = [0u8; 33];
    match Base64::decode(b64, &mut raw) {
        Ok(k) if k.len() == 33 => {}
        Ok(k) if !k.is_empty() && k[0] != alg => return Err(KeyError::UnknownAlgorithm),
        _ => return Err(KeyError::BadEncoding),
    }
    if raw[0] != alg {
        return Err(KeyError::UnknownAlgorithm);
    }
    Ok((n, id, raw))
}

fn write_key(f: &mut impl Write, name: &str, id: u32, key: &[u8; 32]) -> fmt::Result {
    write_key_alg(f, name, id, ALG_ED25519, key)
}

/// Writes `name+hexid+base64(alg || key)`.
pub(crate) fn write_key_alg(
    f: &mut impl Write,
    name: &str,
    id: u32,
    alg: u8,
    key: &[u8; 32],
) -> fmt::Result {
    let mut raw = [0u8; 33];
    raw[0] = alg;
    raw[1..].copy_from_slice(key);
    let mut b64 = [0u8; 44];
    write!(f, "{name}+{id:08x}+{}", Base64::encode(&raw, &mut b64).map_err(|_| fmt::Error)?)
}

/// The key pair and key ID for `key_name` and `seed` under algorithm `alg`.
pub(crate) fn derive(
    key_name: &str,
    seed: [u8; 32],
    alg: u8,
) -> Result<(Name, u32, KeyPair), KeyError> {
    let name = name(key_name)?;
    let key = KeyPair::try_from_seed(Seed::new(seed)).map_err(|_| KeyError::ZeroSeed)?;
    let id = key_id(&name, alg, key.pk.as_ref());
    Ok((name, id, key))
}

/// Parses `PRIVATE+KEY+name+hexid+base64(alg || seed)`: the name, the seed
/// and the key ID it claims (the caller checks it against the key).
pub(crate) fn split_private(skey: &str, alg: u8) -> Result<(&str, [u8; 32], u32), KeyError> {
    let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or(KeyError::BadEncoding)?;
    let (n, id, raw) = split_key(rest, alg)?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&raw[1..]);
    Ok((n, seed, id))
}

/// Parses `name+hexid+base64(alg || public key)`, checking the key ID.
pub(crate) fn parse_public(vkey: &str, alg: u8) -> Result<(Name, u32, PublicKey), KeyError> {
    let (n, id, raw) = split_key(vkey, alg)?;
    let key = PublicKey::from_slice(&raw[1..]).map_err(|_| KeyError::BadEncoding)?;
    if key_id(n, alg, key.as_ref()) != id {
        return Err(KeyError::BadKeyId);
    }
    Ok((name(n)?, id, key))
}

/// A signing key with its name.
#[derive(Clone)]
pub struct Signer {
    name: Name,
    id: u32,
    seed: [u8; 32],
    key: KeyPair,
}

impl Signer {
    /// Derives the Ed25519 key from a 32-byte seed (RFC 8032 private key).
    /// Callers supply the randomness: a fresh seed makes a new key.
    pub fn from_seed(key_name: &str, seed: [u8; 32]) -> Result<Signer, KeyError> {
        let (name, id, key) = derive(key_name, seed, ALG_ED25519)?;
        Ok(Signer { name, id, seed, key })
    }

    /// Parses `PRIVATE+KEY+name+hexid+base64(0x01 || seed)`, the form Go's
    /// `note.GenerateKey` writes.
    pub fn parse(skey: &str) -> Result<Signer, KeyError> {
        let (n, seed, id) = split_private(skey, ALG_ED25519)?;
        let s = Signer::from_seed(n, seed)?;
        if s.id != id {
            return Err(KeyError::BadKeyId);
        }
        Ok(s)
    }

    /// The same key under another name (its key ID differs).
    pub fn renamed(&self, key_name: &str) -> Result<Signer, KeyError> {
        Signer::from_seed(key_name, self.seed)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), id: self.id, key: self.key.pk }
    }

    /// The RFC 8032 private key (seed), for using the same key in another
    /// Ed25519 scheme: Rekor accepts only Ed25519ph, whose signatures
    /// (RFC 8032 dom2-prefixed) can never pass as this key's note signatures.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// Signs `msg` (deterministic Ed25519).
    pub fn sign_bytes(&self, msg: &[u8]) -> [u8; 64] {
        *self.key.sk.sign(msg, None)
    }

    /// Writes the private key encoding.
    pub fn write_private(&self, f: &mut impl Write) -> fmt::Result {
        f.write_str("PRIVATE+KEY+")?;
        write_key(f, &self.name, self.id, &self.seed)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        write!(f, "Signer({}+{:08x})", self.name, self.id)
    }
}

/// A verification key with its name.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: Name,
    id: u32,
    key: PublicKey,
}

impl Verifier {
    /// Parses `name+hexid+base64(0x01 || public key)`.
    pub fn parse(vkey: &str) -> Result<Verifier, KeyError> {
        let (name, id, key) = parse_public(vkey, ALG_ED25519)?;
        Ok(Verifier { name, id, key })
    }

    /// The same public key under another name (its key ID differs).
    pub fn renamed(&self, key_name: &str) -> Result<Verifier, KeyError> {
        let name = name(key_name)?;
        let id = key_id(&name, ALG_ED25519, self.key.as_ref());
        Ok(Verifier { name, id, key: self.key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Verifies an Ed25519 signature over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        Signature::from_slice(sig).is_ok_and(|s| self.key.verify(msg, &s).is_ok())
    }
}

impl fmt::Display for Verifier {
    /// The standard verifier key encoding, `name+hexid+base64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_key(f, &self.name, self.id, &self.key)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::String;

    #[test]
    fn round_trips() {
        let s = Signer::from_seed("example.com/log", [7; 32]).unwrap();
        let mut enc = String::new();
        s.write_private(&mut enc).unwrap();
        assert!(enc.starts_with("PRIVATE+KEY+example.com/log+"));
        let s2 = Signer::parse(&enc).unwrap();
        assert_eq!(s2.verifier(), s.verifier());
        let v = std::format!("{}", s.verifier());
        assert_eq!(Verifier::parse(&v).unwrap(), s.verifier());
    }

    #[test]
    fn go_note_example_key() {
        // The example verifier key from Go's sumdb/note documentation.
        let v =
            Verifier::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .unwrap();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.id(), 0xc74f20a3);
    }

    #[test]
    fn rejects_bad_keys() {
        let s = Signer::from_seed("a", [1; 32]).unwrap();
        let v = std::format!("{}", s.verifier());
        let bad_id = v.replacen(&std::format!("{:08x}", s.id()), "00000000", 1);
        assert_eq!(Verifier::parse(&bad_id), Err(KeyError::BadKeyId));
        assert_eq!(Verifier::parse("a b+00000000+AQ=="), Err(KeyError::BadName));
        assert_eq!(Verifier::parse("a+0000000+AQ=="), Err(KeyError::BadEncoding));
        assert_eq!(Verifier::parse("nothing"), Err(KeyError::BadEncoding));
        let renamed = v.replacen("a+", "b+", 1);
        assert_eq!(Verifier::parse(&renamed), Err(KeyError::BadKeyId));
        assert_eq!(Signer::from_seed("", [1; 32]).err(), Some(KeyError::BadName));
        assert_eq!(Signer::from_seed("a", [0; 32]).err(), Some(KeyError::ZeroSeed));
        assert_eq!(Signer::from_seed("a+b", [0; 32]).err(), Some(KeyError::BadName));
        assert_eq!(Signer::parse(&v).err(), Some(KeyError::BadEncoding));
    }

    #[test]
    fn renamed_keys_share_the_key_not_the_id() {
        let s = Signer::from_seed("log", [3; 32]).unwrap();
        let a = s.renamed("log/audit").unwrap();
        assert_ne!(a.id(), s.id());
        assert_eq!(a.verifier().public_key(), s.verifier().public_key());
        assert_eq!(s.verifier().renamed("log/audit").unwrap(), a.verifier());
    }
}
