//! The anchoring key (signs entries) and a Rekor v2 log's checkpoint key.

use std::fmt;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Digest, Sha512, Signature, SigningKey, VerifyingKey};

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE,
/// AlgorithmIdentifier { id-Ed25519 }, BIT STRING of 33 bytes (0 unused bits).
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const PEM_END: &str = "-----END PUBLIC KEY-----";

/// Why a key could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a C2SP verifier key `origin+hexid+base64(0x01 || key)`.
    #[error("not a C2SP Ed25519 verifier key (origin+hexid+base64): {0}")]
    Vkey(note::KeyError),
    /// The origin is not a valid key name.
    #[error("invalid log origin {0:?} (empty, too long, or contains a space or '+')")]
    Origin(String),
    /// The DER is not a 44-byte Ed25519 SubjectPublicKeyInfo.
    #[error("not an Ed25519 public key (want a 44-byte DER SubjectPublicKeyInfo, 302a3005…)")]
    NotEd25519,
    /// The text is not one PEM `PUBLIC KEY` block.
    #[error("not a PEM PUBLIC KEY block")]
    Pem,
}

/// The raw Ed25519 key of a DER SubjectPublicKeyInfo.
pub fn ed25519_from_spki(der: &[u8]) -> Option<[u8; 32]> {
    let key = der.strip_prefix(&ED25519_SPKI_PREFIX[..])?;
    key.try_into().ok()
}

/// The DER SubjectPublicKeyInfo of a raw Ed25519 key.
pub fn ed25519_spki(key: &[u8; 32]) -> Vec<u8> {
    [&ED25519_SPKI_PREFIX[..], key].concat()
}

/// Wraps DER in a PEM `PUBLIC KEY` block (64-character lines).
pub fn spki_to_pem(der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = format!("{PEM_BEGIN}\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(PEM_END);
    out.push('\n');
    out
}

/// The DER inside a PEM `PUBLIC KEY` block.
pub fn spki_from_pem(pem: &str) -> Result<Vec<u8>, KeyError> {
    let body = pem.trim().strip_prefix(PEM_BEGIN).ok_or(KeyError::Pem)?;
    let body = body.strip_suffix(PEM_END).ok_or(KeyError::Pem)?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    Base64::decode_vec(&b64).map_err(|_| KeyError::Pem)
}

/// SHA-512 of `artifact`: the digest a `PKIX_ED25519_PH` entry carries.
pub fn sha512(artifact: &[u8]) -> [u8; 64] {
    Sha512::digest(artifact).into()
}

/// Whether `signature` is an Ed25519ph (RFC 8032 §5.1, empty context)
/// signature of `artifact` under the raw Ed25519 key `key`.
pub fn verify_ph(key: &[u8; 32], artifact: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(sig)) = (VerifyingKey::from_bytes(key), Signature::from_slice(signature))
    else {
        return false;
    };
    key.verify_prehashed(Sha512::new_with_prefix(artifact), None, &sig).is_ok()
}

/// The key that signs anchor entries: Ed25519, used only as Ed25519ph.
///
/// Rekor's hashedrekord type accepts only signatures over a digest, so an
/// entry is `Ed25519ph(SHA-512(artifact))` (Rekor's `PKIX_ED25519_PH`), never
/// pure Ed25519. The key is a deployment's own, not a tenant's ledger key.
#[derive(Clone)]
pub struct AnchorKey {
    key: SigningKey,
}

impl AnchorKey {
    /// The key with RFC 8032 private key (seed) `seed`.
    pub fn from_seed(seed: [u8; 32]) -> AnchorKey {
        AnchorKey { key: SigningKey::from_bytes(&seed) }
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as a DER SubjectPublicKeyInfo (44 bytes), the form
    /// Rekor v2 wants in `publicKey.rawBytes`.
    pub fn spki_der(&self) -> Vec<u8> {
        ed25519_spki(&self.public_key())
    }

    /// The public key as a PEM `PUBLIC KEY` block.
    pub fn spki_pem(&self) -> String {
        spki_to_pem(&self.spki_der())
    }

    /// Ed25519ph (RFC 8032 §5.1, empty context) over SHA-512(`artifact`).
    pub fn sign_ph(&self, artifact: &[u8]) -> [u8; 64] {
        match self.key.sign_prehashed(Sha512::new_with_prefix(artifact), None) {
            Ok(sig) => sig.to_bytes(),
            // Only a context longer than 255 bytes fails, and there is none.
            Err(e) => unreachable!("Ed25519ph without context cannot fail: {e}"),
        }
    }
}

impl fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        write!(f, "AnchorKey({})", Base64::encode_string(&self.public_key()))
    }
}

/// A Rekor v2 log's checkpoint key: an Ed25519 key and the log's origin
/// (its checkpoint's first line and signature name, e.g.
/// `log2025-1.rekor.sigstore.dev`).
#[derive(Clone, PartialEq, Eq)]
pub struct LogKey {
    verifier: note::Verifier,
    key_id: [u8; 32],
}

impl LogKey {
    /// Parses the C2SP verifier key `origin+hexid+base64(0x01 || key)`.
    pub fn parse(vkey: &str) -> Result<LogKey, KeyError> {
        let verifier = note::Verifier::parse(vkey.trim()).map_err(KeyError::Vkey)?;
        Ok(LogKey::from_verifier(verifier))
    }

    /// The log `origin` with the Ed25519 key in DER SubjectPublicKeyInfo
    /// `der` (how Sigstore's trusted root lists it).
    pub fn from_spki(origin: &str, der: &[u8]) -> Result<LogKey, KeyError> {
        let key = ed25519_from_spki(der).ok_or(KeyError::NotEd25519)?;
        if !note::valid_name(origin) {
            return Err(KeyError::Origin(origin.to_string()));
        }
        let id = note::key_id(origin, note::ALG_ED25519, &key);
        let mut raw = [note::ALG_ED25519; 33];
        raw[1..].copy_from_slice(&key);
        let vkey = format!("{origin}+{id:08x}+{}", Base64::encode_string(&raw));
        LogKey::parse(&vkey)
    }

    /// Like [`LogKey::from_spki`], from a PEM `PUBLIC KEY` block.
    pub fn from_spki_pem(origin: &str, pem: &str) -> Result<LogKey, KeyError> {
        LogKey::from_spki(origin, &spki_from_pem(pem)?)
    }

    fn from_verifier(verifier: note::Verifier) -> LogKey {
        // C2SP key hash: SHA-256(name || 0x0A || alg || key); Rekor v2's logId.
        let key_id = crate::sha256(&[
            verifier.name().as_bytes(),
            &[b'\n', note::ALG_ED25519],
            verifier.public_key(),
        ]);
        LogKey { key_id, verifier }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The full 32-byte C2SP key hash, which Rekor v2 reports as `logId.keyId`;
    /// its first four bytes are the checkpoint signature's key ID.
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        *self.verifier.public_key()
    }

    /// The public key as a DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        ed25519_spki(self.verifier.public_key())
    }

    /// The note verifier for the log's checkpoints.
    pub fn verifier(&self) -> note::Verifier {
        self.verifier.clone()
    }
}

impl fmt::Display for LogKey {
    /// The C2SP verifier key, `origin+hexid+base64(0x01 || key)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.verifier, f)
    }
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn rfc8032_ed25519ph_known_answer() {
        // RFC 8032 §7.3, test "abc".
        let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
        let key = AnchorKey::from_seed(seed.try_into().unwrap());
        assert_eq!(
            key.public_key().to_vec(),
            hex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
        );
        let sig = key.sign_ph(b"abc");
        assert_eq!(
            sig.to_vec(),
            hex(concat!(
                "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41",
                "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
            ))
        );
        assert!(verify_ph(&key.public_key(), b"abc", &sig));
        assert!(!verify_ph(&key.public_key(), b"abd", &sig));
        // Ed25519ph is not pure Ed25519 over the same bytes.
        let pure = ed25519_dalek::Signer::sign(&key.key, b"abc").to_bytes();
        assert_ne!(pure, sig);
        assert!(!verify_ph(&key.public_key(), b"abc", &pure));
    }

    #[test]
    fn spki_der_and_pem() {
        let key = AnchorKey::from_seed([7; 32]);
        let der = key.spki_der();
        assert_eq!(der.len(), 44);
        assert_eq!(&der[..12], &ED25519_SPKI_PREFIX);
        assert_eq!(ed25519_from_spki(&der), Some(key.public_key()));
        let pem = key.spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert_eq!(spki_from_pem(&pem).unwrap(), der);
        assert_eq!(spki_from_pem("garbage"), Err(KeyError::Pem));
        assert_eq!(ed25519_from_spki(&der[1..]), None);
        assert!(!format!("{key:?}").contains(&Base64::encode_string(&[7; 32])));
    }

    #[test]
    fn staging_log_key_id_is_the_fixture_log_id() {
        // sigstore-python's staging trusted root: log2025-alpha1 (see tests/data/README.md).
        let spki =
            Base64::decode_vec("MCowBQYDK2VwAyEAPn+AREHoBaZ7wgS1zBqpxmLSGnyhxXj4lFxSdWVB8o8=")
                .unwrap();
        let log = LogKey::from_spki("log2025-alpha1.rekor.sigstage.dev", &spki).unwrap();
        assert_eq!(
            Base64::encode_string(&log.key_id()),
            "8w1amZ2S5mJIQkQmPxdMuOrL/oJkvFg9MnQXmeOCXck="
        );
        assert_eq!(log.origin(), "log2025-alpha1.rekor.sigstage.dev");
        assert_eq!(log.spki_der(), spki);
        let vkey = log.to_string();
        assert!(vkey.starts_with("log2025-alpha1.rekor.sigstage.dev+f30d5a99+AT5/"), "{vkey}");
        assert_eq!(LogKey::parse(&vkey).unwrap(), log);
        let pem = spki_to_pem(&spki);
        assert_eq!(LogKey::from_spki_pem(log.origin(), &pem).unwrap(), log);
    }

    #[test]
    fn bad_log_keys() {
        let spki = AnchorKey::from_seed([1; 32]).spki_der();
        assert_eq!(LogKey::from_spki("a b", &spki), Err(KeyError::Origin("a b".into())));
        assert_eq!(LogKey::from_spki("log", &spki[..43]), Err(KeyError::NotEd25519));
        assert!(matches!(LogKey::parse("log+00000000+AQ=="), Err(KeyError::Vkey(_))));
        let good = LogKey::from_spki("log", &spki).unwrap().to_string();
        let other = good.replacen("log+", "gol+", 1);
        assert_eq!(LogKey::parse(&other), Err(KeyError::Vkey(note::KeyError::BadKeyId)));
    }
}
