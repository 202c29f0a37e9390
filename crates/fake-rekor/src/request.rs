//! `CreateEntryRequest` parsing and `hashedrekord` v0.0.2 validation, as
//! rekor-tiles does them (grpc-gateway protojson, then
//! `pkg/types/hashedrekord.ToLogEntry`).
//!
//! protojson rules reproduced: lowerCamelCase and the original snake_case
//! field names are both accepted, unknown fields and a field given twice
//! (under either name) are rejected, `null` means unset, bytes are base64
//! (standard or URL-safe, padded or not), enums are names or numbers.

use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};
use ed25519_dalek::ed25519::signature::digest;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

/// Why a request was refused; every reason is HTTP 400 with gRPC code 3.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    /// Not a well-formed `CreateEntryRequest` (the gateway's refusal):
    /// bad JSON, an unknown or repeated field, bad base64, a wrong type.
    Malformed(String),
    /// A well-formed request for another entry type (or none).
    NotHashedRekord,
    /// A `hashedrekord` request that fails validation; the reason is only
    /// logged, as Rekor does.
    Invalid(&'static str),
}

impl Reject {
    /// The gRPC status message of the answer.
    pub fn message(&self) -> String {
        match self {
            Reject::Malformed(why) => format!("proto: {why}"),
            Reject::NotHashedRekord => "invalid type, must be hashedrekord".into(),
            Reject::Invalid(_) => "invalid hashedrekord request".into(),
        }
    }
}

/// A request that passed every check: what goes into the log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// `SHA2_512` or `SHA2_256`, derived from the key details.
    pub algorithm: &'static str,
    /// The artifact digest.
    pub digest: Vec<u8>,
    /// The signature over the digest.
    pub signature: Vec<u8>,
    /// The key details enum name, e.g. `PKIX_ED25519_PH`.
    pub key_details: &'static str,
    /// The signer's DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
}

impl Accepted {
    /// The log entry (`Entry` with a `HashedRekordLogEntryV002` spec) as
    /// protojson writes it: camelCase, bytes in standard padded base64.
    pub fn entry(&self) -> Value {
        json!({
            "apiVersion": "0.0.2",
            "kind": "hashedrekord",
            "spec": {
                "hashedRekordV002": {
                    "data": {
                        "algorithm": self.algorithm,
                        "digest": Base64::encode_string(&self.digest),
                    },
                    "signature": {
                        "content": Base64::encode_string(&self.signature),
                        "verifier": {
                            "publicKey": { "rawBytes": Base64::encode_string(&self.spki) },
                            "keyDetails": self.key_details,
                        },
                    },
                },
            },
        })
    }
}

/// Parses and validates a `POST /api/v2/log/entries` body.
pub fn parse(body: &[u8]) -> Result<Accepted, Reject> {
    let req: CreateEntryRequest =
        serde_json::from_slice(body).map_err(|e| Reject::Malformed(e.to_string()))?;
    match (req.hashed_rekord, req.dsse) {
        (Some(_), Some(_)) => Err(Reject::Malformed("a oneof field is set twice".into())),
        (Some(h), None) => validate(h),
        (None, _) => Err(Reject::NotHashedRekord),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEntryRequest {
    #[serde(rename = "hashedRekordRequestV002", alias = "hashed_rekord_request_v002")]
    hashed_rekord: Option<HashedRekordRequest>,
    // Accepted by the real gateway, refused by this server (and by the
    // service for anything but hashedrekord, in this fake).
    #[serde(rename = "dsseRequestV002", alias = "dsse_request_v002")]
    dsse: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HashedRekordRequest {
    digest: Option<Bytes>,
    signature: Option<Signature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Signature {
    content: Option<Bytes>,
    verifier: Option<Verifier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Verifier {
    #[serde(rename = "publicKey", alias = "public_key")]
    public_key: Option<RawBytes>,
    #[serde(rename = "x509Certificate", alias = "x509_certificate")]
    x509_certificate: Option<RawBytes>,
    #[serde(rename = "keyDetails", alias = "key_details")]
    key_details: Option<KeyDetails>,
}

/// `PublicKey` and `X509Certificate`: both one `bytes raw_bytes` field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBytes {
    #[serde(rename = "rawBytes", alias = "raw_bytes")]
    raw_bytes: Option<Bytes>,
}

/// A protojson `bytes` value.
struct Bytes(Vec<u8>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = String::deserialize(d)?;
        // protojson takes either alphabet, with or without padding.
        Base64::decode_vec(&s)
            .or_else(|_| Base64Unpadded::decode_vec(&s))
            .or_else(|_| Base64Url::decode_vec(&s))
            .or_else(|_| Base64UrlUnpadded::decode_vec(&s))
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom(format!("invalid base64 bytes {s:?}")))
    }
}

/// `PublicKeyDetails` names and numbers (protobuf-specs `sigstore_common.proto`).
const KEY_DETAILS: &[(&str, i64)] = &[
    ("PUBLIC_KEY_DETAILS_UNSPECIFIED", 0),
    ("PKIX_ECDSA_P256_SHA_256", 5),
    ("PKIX_ED25519", 7),
    ("PKIX_ED25519_PH", 8),
    ("PKIX_RSA_PKCS1V15_2048_SHA256", 9),
    ("PKIX_RSA_PKCS1V15_3072_SHA256", 10),
    ("PKIX_RSA_PKCS1V15_4096_SHA256", 11),
    ("PKIX_ECDSA_P384_SHA_384", 12),
    ("PKIX_ECDSA_P521_SHA_512", 13),
];

/// A `PublicKeyDetails` enum value, by name.
struct KeyDetails(&'static str);

impl<'de> Deserialize<'de> for KeyDetails {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyDetails, D::Error> {
        let found = match Value::deserialize(d)? {
            Value::String(s) => KEY_DETAILS.iter().find(|(name, _)| *name == s),
            Value::Number(n) => KEY_DETAILS.iter().find(|(_, v)| Some(*v) == n.as_i64()),
            other => {
                return Err(serde::de::Error::custom(format!("invalid enum value {other}")));
            }
        };
        // Names outside this table exist (other key types); all are refused
        // by the algorithm check, so an unknown one is refused here already.
        found
            .map(|(name, _)| KeyDetails(name))
            .ok_or_else(|| serde::de::Error::custom("unknown PublicKeyDetails value"))
    }
}

/// The signing algorithms this server takes: a subset of rekor-tiles'
/// default `AllowedClientSigningAlgorithms` (no RSA, no P-384/P-521).
#[derive(Clone, Copy)]
enum Algorithm {
    Ed25519ph,
    EcdsaP256Sha256,
}

impl Algorithm {
    fn from_details(name: &str) -> Result<Algorithm, Reject> {
        match name {
            "PKIX_ED25519_PH" => Ok(Algorithm::Ed25519ph),
            "PKIX_ECDSA_P256_SHA_256" => Ok(Algorithm::EcdsaP256Sha256),
            // rekor-tiles: pure Ed25519 does not prehash, so hashedrekord refuses it.
            "PKIX_ED25519" => Err(Reject::Invalid("pure Ed25519 cannot sign a digest")),
            _ => Err(Reject::Invalid("signing algorithm not allowed")),
        }
    }

    fn hash_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519ph => "SHA2_512",
            Algorithm::EcdsaP256Sha256 => "SHA2_256",
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Algorithm::Ed25519ph => 64,
            Algorithm::EcdsaP256Sha256 => 32,
        }
    }

    fn verify(self, spki: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), Reject> {
        match self {
            Algorithm::Ed25519ph => verify_ed25519ph(spki, digest, sig),
            Algorithm::EcdsaP256Sha256 => verify_p256(spki, digest, sig),
        }
    }
}

fn validate(h: HashedRekordRequest) -> Result<Accepted, Reject> {
    let sig = h.signature.ok_or(Reject::Invalid("missing signature"))?;
    let content = sig.content.map(|b| b.0).unwrap_or_default();
    if content.is_empty() {
        return Err(Reject::Invalid("missing signature content"));
    }
    let verifier = sig.verifier.ok_or(Reject::Invalid("missing verifier"))?;
    let digest = h.digest.map(|b| b.0).unwrap_or_default();
    if digest.is_empty() {
        return Err(Reject::Invalid("missing digest"));
    }
    let spki = match (verifier.public_key, verifier.x509_certificate) {
        (Some(k), None) => k.raw_bytes.map(|b| b.0).unwrap_or_default(),
        (None, Some(_)) => return Err(Reject::Invalid("x509 certificates are not supported here")),
        (None, None) => return Err(Reject::Invalid("missing public key or certificate")),
        (Some(_), Some(_)) => return Err(Reject::Malformed("a oneof field is set twice".into())),
    };
    if spki.is_empty() {
        return Err(Reject::Invalid("missing public key bytes"));
    }
    let details = verifier.key_details.ok_or(Reject::Invalid("missing key details"))?.0;
    let alg = Algorithm::from_details(details)?;
    if digest.len() != alg.digest_len() {
        return Err(Reject::Invalid("digest length does not match the hash algorithm"));
    }
    alg.verify(&spki, &digest, &content)?;
    Ok(Accepted {
        algorithm: alg.hash_name(),
        digest,
        signature: content,
        key_details: details,
        spki,
    })
}

/// DER SubjectPublicKeyInfo of an Ed25519 key, less the 32 key bytes (RFC 8410).
pub const ED25519_SPKI_PREFIX: [u8; 12] =
    [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn verify_ed25519ph(spki: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), Reject> {
    let key = spki
        .strip_prefix(&ED25519_SPKI_PREFIX)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or(Reject::Invalid("public key is not an Ed25519 SPKI"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| Reject::Invalid("public key is not an Ed25519 point"))?;
    let sig = ed25519_dalek::Signature::from_slice(sig)
        .map_err(|_| Reject::Invalid("Ed25519 signature is not 64 bytes"))?;
    // Ed25519ph signs PH(M) = SHA-512(M); the request carries PH(M) itself.
    let mut ph = Prehashed::default();
    digest::Update::update(&mut ph, digest);
    key.verify_prehashed(ph, None, &sig).map_err(|_| Reject::Invalid("signature does not verify"))
}

fn verify_p256(spki: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), Reject> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(spki)
        .map_err(|_| Reject::Invalid("public key is not a P-256 SPKI"))?;
    let sig = p256::ecdsa::Signature::from_der(sig)
        .map_err(|_| Reject::Invalid("ECDSA signature is not DER"))?;
    key.verify_prehash(digest, &sig).map_err(|_| Reject::Invalid("signature does not verify"))
}

/// A "hash" whose output is the 64 bytes fed to it: it hands an already
/// computed SHA-512 digest to ed25519-dalek's `verify_prehashed`, which
/// otherwise wants the hash state of the whole message.
#[derive(Clone, Default)]
struct Prehashed(Vec<u8>);

impl digest::HashMarker for Prehashed {}

impl digest::OutputSizeUser for Prehashed {
    type OutputSize = digest::consts::U64;
}

impl digest::Update for Prehashed {
    fn update(&mut self, data: &[u8]) {
        self.0.extend_from_slice(data);
    }
}

impl digest::FixedOutput for Prehashed {
    fn finalize_into(self, out: &mut digest::Output<Self>) {
        // Callers feed exactly 64 bytes (checked before); anything else
        // leaves zeros, which no signature verifies against.
        if self.0.len() == out.len() {
            out.copy_from_slice(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Digest, Sha512};

    fn ed25519ph(artifact: &[u8]) -> Value {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let sig = key.sign_prehashed(Sha512::new().chain_update(artifact), None).unwrap();
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.verifying_key().as_bytes());
        json!({"hashedRekordRequestV002": {
            "digest": Base64::encode_string(&Sha512::digest(artifact)),
            "signature": {
                "content": Base64::encode_string(&sig.to_bytes()),
                "verifier": {
                    "publicKey": {"rawBytes": Base64::encode_string(&spki)},
                    "keyDetails": "PKIX_ED25519_PH"
                }
            }
        }})
    }

    fn parse_value(v: &Value) -> Result<Accepted, Reject> {
        parse(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn accepts_ed25519ph_in_either_spelling() {
        let v = ed25519ph(b"artifact");
        let a = parse_value(&v).unwrap();
        assert_eq!(
            (a.algorithm, a.key_details, a.digest.len()),
            ("SHA2_512", "PKIX_ED25519_PH", 64)
        );
        let snake = serde_json::to_string(&v)
            .unwrap()
            .replace("hashedRekordRequestV002", "hashed_rekord_request_v002")
            .replace("publicKey", "public_key")
            .replace("rawBytes", "raw_bytes")
            .replace("keyDetails", "key_details");
        assert_eq!(parse(snake.as_bytes()), Ok(a.clone()));
        // The enum by number, bytes without padding.
        let mut n = v.clone();
        n["hashedRekordRequestV002"]["signature"]["verifier"]["keyDetails"] = json!(8);
        let d = n["hashedRekordRequestV002"]["digest"].as_str().unwrap().trim_end_matches('=');
        n["hashedRekordRequestV002"]["digest"] = json!(d);
        assert_eq!(parse_value(&n), Ok(a));
    }

    #[test]
    fn refuses_with_the_reason() {
        let good = ed25519ph(b"artifact");
        let with = |path: &[&str], value: Value| {
            let mut v = good.clone();
            let mut at = &mut v;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = value;
            parse_value(&v)
        };
        let h = "hashedRekordRequestV002";
        let bad_sig = Base64::encode_string(&[1; 64]);
        assert_eq!(
            with(&[h, "signature", "content"], json!(bad_sig)),
            Err(Reject::Invalid("signature does not verify"))
        );
        assert_eq!(
            with(&[h, "digest"], json!(Base64::encode_string(&[1; 32]))),
            Err(Reject::Invalid("digest length does not match the hash algorithm"))
        );
        assert_eq!(with(&[h, "digest"], Value::Null), Err(Reject::Invalid("missing digest")));
        assert_eq!(
            with(&[h, "signature", "verifier", "keyDetails"], json!("PKIX_ED25519")),
            Err(Reject::Invalid("pure Ed25519 cannot sign a digest"))
        );
        assert_eq!(
            with(&[h, "signature", "verifier", "keyDetails"], json!("PKIX_ECDSA_P256_SHA_256")),
            Err(Reject::Invalid("digest length does not match the hash algorithm"))
        );
        assert_eq!(
            with(&[h, "signature", "verifier", "publicKey", "rawBytes"], json!("")),
            Err(Reject::Invalid("missing public key bytes"))
        );
        assert!(matches!(
            with(&[h, "signature", "verifier", "extra"], json!(1)),
            Err(Reject::Malformed(_))
        ));
        assert!(matches!(with(&[h, "digest"], json!("%%%")), Err(Reject::Malformed(_))));
        assert!(matches!(with(&["foo"], json!("bar")), Err(Reject::Malformed(_))));
        assert_eq!(parse(b"{}"), Err(Reject::NotHashedRekord));
        assert_eq!(parse(br#"{"dsseRequestV002":{}}"#), Err(Reject::NotHashedRekord));
        assert!(matches!(parse(b"not json"), Err(Reject::Malformed(_))));
        // The same field under both of its names.
        let twice = serde_json::to_string(&good).unwrap().replacen(
            "\"digest\"",
            "\"signature\":null,\"digest\":\"\",\"digest\"",
            1,
        );
        assert!(matches!(parse(twice.as_bytes()), Err(Reject::Malformed(_))));
        let both = serde_json::to_string(&good)
            .unwrap()
            .replace("\"keyDetails\"", "\"key_details\":\"PKIX_ED25519_PH\",\"keyDetails\"");
        assert!(matches!(parse(both.as_bytes()), Err(Reject::Malformed(_))));
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn rfc8032_ed25519ph_test_vector() {
        // RFC 8032 §7.3, "TEST abc": checks the prehashed verification
        // against published bytes, not only against ed25519-dalek's signer.
        let pk = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf";
        let sig = concat!(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41",
            "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
        );
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&unhex(pk));
        let digest = Sha512::digest(b"abc");
        assert_eq!(verify_ed25519ph(&spki, &digest, &unhex(sig)), Ok(()));
        let other = Sha512::digest(b"abd");
        assert!(verify_ed25519ph(&spki, &other, &unhex(sig)).is_err());
        // The same signature as pure Ed25519 over "abc" is a different scheme.
        let key = ed25519_dalek::VerifyingKey::from_bytes(&unhex(pk).try_into().unwrap()).unwrap();
        let s = ed25519_dalek::Signature::from_slice(&unhex(sig)).unwrap();
        assert!(key.verify_strict(b"abc", &s).is_err());
    }
}
