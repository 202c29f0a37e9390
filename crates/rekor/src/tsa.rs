//! RFC 3161 timestamps: evidence of the time at which a checkpoint
//! existed, which Rekor v2 does not give.
//!
//! - [`request`] makes a `TimeStampReq` (SHA-256 imprint of the message, a
//!   random 64-bit nonce, the TSA's certificate asked for);
//! - [`timestamp`] posts it to a timestamp authority such as Sigstore's
//!   (`https://timestamp.sigstore.dev/api/v1/timestamp`), with the
//!   [`Client`]'s retries, and returns the `TimeStampToken` once the reply is
//!   granted and answers this request (imprint and nonce);
//! - [`verify`] checks a token offline against an [`Authority`] (the TSA's
//!   trust anchors): the TSTInfo's imprint, the CMS signature over the
//!   signed attributes and their binding to the TSTInfo, the signer's
//!   certificate chain, its `timeStamping` extended key usage and its
//!   validity at the token's time.
//!
//! Sigstore bundles carry the whole `TimeStampResp` (`signedTimestamp`);
//! [`verify`] takes either that or the bare token. What Sigstore timestamps
//! is the artifact signature's bytes: the imprint is SHA-256 of them.
//!
//! Built on RustCrypto's `x509-tsp`, `cms` and `x509-cert` (DER types);
//! the signature checks (ECDSA P-256 and P-384 with SHA-256/384/512) are
//! `p256` and `p384`.

use std::fmt;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::client::{Client, Error, Policy, quote};

/// The content type a timestamp query is posted with.
pub const QUERY_TYPE: &str = "application/timestamp-query";
/// The content type of a timestamp reply.
pub const REPLY_TYPE: &str = "application/timestamp-reply";

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA_384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_WITH_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA_384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP_256_R_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP_384_R_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// The longest certificate path followed from the signer to an anchor.
const MAX_PATH: usize = 8;

/// A `TimeStampReq` for SHA-256 of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// SHA-256 of the message: the `messageImprint`.
    pub imprint: [u8; 32],
    /// The nonce the reply must repeat.
    pub nonce: u64,
}

/// The request for a timestamp over `message`: its SHA-256 imprint, a
/// random 64-bit nonce, and `certReq` true (the token then carries the
/// TSA's certificate).
pub fn request(message: &[u8]) -> Request {
    Request { imprint: sha2::Sha256::digest(message).into(), nonce: random_nonce() }
}

fn random_nonce() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No system randomness: the nonce only pairs a reply with its
        // request, so the clock will do.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map_or(0, |d| d.as_nanos() as u64);
    }
    u64::from_be_bytes(b)
}

/// A non-negative DER INTEGER of `v` (always `Some`).
fn int_of(v: u64) -> Option<Int> {
    let be = v.to_be_bytes();
    let start = be.iter().position(|&b| b != 0).unwrap_or(7);
    let mut bytes = be[start..].to_vec();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    // Minimal two's complement of a non-negative value: always valid.
    Int::new(&bytes).ok()
}

/// The value of a DER INTEGER that is non-negative and fits 64 bits.
fn u64_of(int: &Int) -> Option<u64> {
    let b = int.as_bytes();
    if b.first().is_some_and(|&x| x & 0x80 != 0) {
        return None;
    }
    let b = match b {
        [0, rest @ ..] => rest,
        b => b,
    };
    if b.len() > 8 {
        return None;
    }
    Some(b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
}

/// A SHA-256 imprint (always `Some`: 32 bytes fit an OCTET STRING).
fn sha256_imprint(hash: &[u8]) -> Option<MessageImprint> {
    Some(MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned { oid: ID_SHA_256, parameters: Some(Any::null()) },
        hashed_message: OctetString::new(hash).ok()?,
    })
}

impl Request {
    /// The DER `TimeStampReq`, the body of the POST.
    pub fn to_der(&self) -> Vec<u8> {
        // Neither building nor encoding a well-formed request fails.
        let Some(message_imprint) = sha256_imprint(&self.imprint) else { return Vec::new() };
        let req = TimeStampReq {
            version: TspVersion::V1,
            message_imprint,
            req_policy: None,
            nonce: int_of(self.nonce),
            cert_req: true,
            extensions: None,
        };
        req.to_der().unwrap_or_default()
    }
}

/// Asks the timestamp authority at `url` (the full URL, e.g.
/// `https://timestamp.sigstore.dev/api/v1/timestamp`) for a timestamp over
/// `req`'s imprint.
///
/// Connection errors, timeouts, 429 and 5xx are retried with `policy`'s
/// backoff; 200 or 201 must carry an `application/timestamp-reply`
/// `TimeStampResp` that is granted and whose token's TSTInfo repeats the
/// request's imprint and nonce ([`Error::Invalid`] otherwise; other
/// statuses are [`Error::Rejected`]). Returns the `TimeStampToken` (the CMS
/// `ContentInfo`, DER); its signature and certificates are checked by
/// [`verify`].
pub fn timestamp(url: &str, req: &Request, policy: &Policy) -> Result<Vec<u8>, Error> {
    let client = Client::new(url, policy.clone());
    let url = client.base_url().to_string();
    let resp = client.post("", QUERY_TYPE, &req.to_der())?;
    if !matches!(resp.status, 200 | 201) {
        return Err(Error::Rejected { url, status: resp.status, body: quote(&resp.body) });
    }
    let invalid = |reason: String| Error::Invalid { url: url.clone(), reason };
    let ct = resp.header("content-type").unwrap_or("");
    if !ct.trim().to_ascii_lowercase().starts_with(REPLY_TYPE) {
        return Err(invalid(format!("content type {ct:?}, not {REPLY_TYPE}")));
    }
    let token = token_of_reply(&resp.body).map_err(|e| invalid(e.to_string()))?;
    let tst = tst_info(&token).map_err(|e| invalid(e.to_string()))?;
    let imprint = &tst.message_imprint;
    if imprint.hash_algorithm.oid != ID_SHA_256 || imprint.hashed_message.as_bytes() != req.imprint
    {
        return Err(invalid("the token's imprint is not the request's".into()));
    }
    if tst.nonce.as_ref().and_then(u64_of) != Some(req.nonce) {
        return Err(invalid("the token's nonce is not the request's".into()));
    }
    Ok(token)
}

/// The token of a DER `TimeStampResp`, which must be granted.
fn token_of_reply(der: &[u8]) -> Result<Vec<u8>, TsaError> {
    let resp = TimeStampResp::from_der(der).map_err(|e| TsaError::Malformed(e.to_string()))?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(TsaError::NotGranted(status));
    }
    let token = resp.time_stamp_token.ok_or(TsaError::NoToken)?;
    token.to_der().map_err(|e| TsaError::Malformed(e.to_string()))
}

/// The token of `der`: a bare `ContentInfo`, or the one in a granted
/// `TimeStampResp`.
fn token_of(der: &[u8]) -> Result<Vec<u8>, TsaError> {
    match ContentInfo::from_der(der) {
        Ok(_) => Ok(der.to_vec()),
        Err(_) => token_of_reply(der),
    }
}

/// The SignedData and TSTInfo of a token, with the TSTInfo's DER.
struct Parsed {
    signed: SignedData,
    tst: TstInfo,
    tst_der: Vec<u8>,
}

fn parse(token: &[u8]) -> Result<Parsed, TsaError> {
    let ci = ContentInfo::from_der(token).map_err(|e| TsaError::Malformed(e.to_string()))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(TsaError::NotSignedData(ci.content_type.to_string()));
    }
    let signed: SignedData =
        ci.content.decode_as().map_err(|e| TsaError::Malformed(e.to_string()))?;
    let encap = &signed.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(TsaError::NotTstInfo(encap.econtent_type.to_string()));
    }
    let content = encap.econtent.as_ref().ok_or(TsaError::NoContent)?;
    let octets: OctetString =
        content.decode_as().map_err(|e| TsaError::BadTstInfo(e.to_string()))?;
    let tst_der = octets.as_bytes().to_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| TsaError::BadTstInfo(e.to_string()))?;
    Ok(Parsed { signed, tst, tst_der })
}

fn tst_info(token: &[u8]) -> Result<TstInfo, TsaError> {
    parse(token).map(|p| p.tst)
}

/// A timestamp authority's trust anchors: certificates that a token's
/// signer certificate must be, or chain to.
#[derive(Clone, Debug)]
pub struct Authority {
    anchors: Vec<Certificate>,
}

impl Authority {
    /// The anchors in a PEM text of one or more `CERTIFICATE` blocks (such
    /// as a TSA's `/api/v1/timestamp/certchain`, leaf to root: every
    /// certificate in it is trusted).
    pub fn from_pem_chain(pem: &str) -> Result<Authority, TsaError> {
        let anchors = Certificate::load_pem_chain(pem.as_bytes())
            .map_err(|e| TsaError::Authority(e.to_string()))?;
        Authority::from_certificates(anchors)
    }

    /// The anchors in DER certificates.
    pub fn from_der<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Result<Authority, TsaError> {
        let anchors = certs
            .into_iter()
            .map(Certificate::from_der)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TsaError::Authority(e.to_string()))?;
        Authority::from_certificates(anchors)
    }

    fn from_certificates(anchors: Vec<Certificate>) -> Result<Authority, TsaError> {
        if anchors.is_empty() {
            return Err(TsaError::Authority("no certificates".into()));
        }
        Ok(Authority { anchors })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Always false: an authority has at least one anchor.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    fn is_anchor(&self, cert: &Certificate) -> bool {
        self.anchors.iter().any(|a| a == cert)
    }
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The TSTInfo's `genTime`, Unix seconds.
    pub time: u64,
    /// The TSTInfo's serial number (DER INTEGER content bytes).
    pub serial: Vec<u8>,
    /// The signer certificate's subject (RFC 4514 string).
    pub tsa: String,
}

/// Why a token is not a valid timestamp of the message by the authority.
/// Untrusted strings (names, OIDs from the token) are quoted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TsaError {
    /// The trust anchors could not be read.
    #[error("timestamp authority certificates: {0}")]
    Authority(String),
    /// Not DER `ContentInfo` / `SignedData` / `TimeStampResp`.
    #[error("timestamp token is not well-formed DER: {0}")]
    Malformed(String),
    /// The `TimeStampResp` status is not granted (0) or grantedWithMods (1).
    #[error("timestamp reply status {0}: not granted")]
    NotGranted(u8),
    /// A granted `TimeStampResp` without a token.
    #[error("timestamp reply has no token")]
    NoToken,
    /// The `ContentInfo` is not `id-signedData`.
    #[error("timestamp token content type {0:?} is not signedData")]
    NotSignedData(String),
    /// The encapsulated content is not `id-ct-TSTInfo`.
    #[error("timestamp token content type {0:?} is not id-ct-TSTInfo")]
    NotTstInfo(String),
    /// The SignedData encapsulates no content.
    #[error("timestamp token has no encapsulated TSTInfo")]
    NoContent,
    /// The TSTInfo does not parse.
    #[error("timestamp TSTInfo is not well-formed: {0}")]
    BadTstInfo(String),
    /// A hash algorithm other than SHA-256, SHA-384, SHA-512.
    #[error("unsupported hash algorithm {0:?}")]
    UnsupportedHash(String),
    /// The TSTInfo's `messageImprint` is not the message's hash.
    #[error("timestamp is over another message (imprint differs)")]
    ImprintMismatch,
    /// Not exactly one SignerInfo.
    #[error("timestamp token has {0} signers, not one")]
    SignerCount(usize),
    /// The SignerInfo has no signed attributes.
    #[error("timestamp token signer has no signed attributes")]
    NoSignedAttributes,
    /// The signed `contentType` attribute is missing, repeated or not TSTInfo.
    #[error("timestamp token's signed content type attribute is missing or not id-ct-TSTInfo")]
    ContentTypeAttribute,
    /// The signed `messageDigest` attribute is missing or repeated.
    #[error("timestamp token's signed message digest attribute is missing")]
    MessageDigestAttribute,
    /// The signed `messageDigest` is not the hash of the TSTInfo.
    #[error("timestamp TSTInfo does not match the signed message digest")]
    ContentDigestMismatch,
    /// No certificate in the token or the authority matches the signer ID.
    #[error("timestamp signer certificate not found")]
    SignerNotFound,
    /// A signature or key algorithm other than ECDSA P-256/P-384.
    #[error("unsupported signature algorithm or key {0:?}")]
    UnsupportedSignature(String),
    /// The signature over the signed attributes does not verify.
    #[error("timestamp token signature does not verify under {0:?}")]
    BadSignature(String),
    /// An issuing certificate is not a CA (basicConstraints).
    #[error("certificate {0:?} issues certificates but is not a CA")]
    NotCa(String),
    /// The signer certificate does not chain to any trust anchor: no
    /// certificate named as an issuer on the way (in the token or the
    /// authority) has a key that verifies the signature of the one below.
    #[error("certificate {0:?} does not chain to the timestamp authority's certificates")]
    UntrustedChain(String),
    /// The signer certificate lacks the critical `timeStamping` extended key usage.
    #[error(
        "certificate {0:?} is not for timestamping (no critical extended key usage timeStamping)"
    )]
    NotTimestamping(String),
    /// A certificate on the path was not valid at `genTime`.
    #[error("certificate {subject:?} was not valid at the timestamp's time {time}")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// `genTime`, Unix seconds.
        time: u64,
    },
}

/// Hash algorithms by OID.
fn hash(alg: &ObjectIdentifier, data: &[u8]) -> Result<Vec<u8>, TsaError> {
    match *alg {
        ID_SHA_256 => Ok(sha2::Sha256::digest(data).to_vec()),
        ID_SHA_384 => Ok(sha2::Sha384::digest(data).to_vec()),
        ID_SHA_512 => Ok(sha2::Sha512::digest(data).to_vec()),
        _ => Err(TsaError::UnsupportedHash(alg.to_string())),
    }
}

/// Checks the ECDSA signature `sig` (DER) by `alg` over `data` under the
/// key of `spki`. `Ok(false)`: a supported key and algorithm, but the
/// signature is wrong.
fn verify_sig(
    spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    alg: &AlgorithmIdentifierOwned,
    data: &[u8],
    sig: &[u8],
) -> Result<bool, TsaError> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let digest = match alg.oid {
        ECDSA_WITH_SHA_256 => hash(&ID_SHA_256, data)?,
        ECDSA_WITH_SHA_384 => hash(&ID_SHA_384, data)?,
        ECDSA_WITH_SHA_512 => hash(&ID_SHA_512, data)?,
        other => return Err(TsaError::UnsupportedSignature(other.to_string())),
    };
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(TsaError::UnsupportedSignature(spki.algorithm.oid.to_string()));
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| TsaError::UnsupportedSignature("EC key without a named curve".into()))?;
    let point = spki.subject_public_key.raw_bytes();
    let unsupported = || TsaError::UnsupportedSignature(format!("bad {curve} public key"));
    match curve {
        SECP_256_R_1 => {
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| unsupported())?;
            let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else { return Ok(false) };
            Ok(key.verify_prehash(&digest, &sig).is_ok())
        }
        SECP_384_R_1 => {
            let key =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| unsupported())?;
            let Ok(sig) = p384::ecdsa::Signature::from_der(sig) else { return Ok(false) };
            Ok(key.verify_prehash(&digest, &sig).is_ok())
        }
        other => Err(TsaError::UnsupportedSignature(other.to_string())),
    }
}

fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate.subject.to_string()
}

fn extension<'a>(
    cert: &'a Certificate,
    oid: &ObjectIdentifier,
) -> Option<&'a x509_cert::ext::Extension> {
    cert.tbs_certificate.extensions.as_ref()?.iter().find(|e| e.extn_id == *oid)
}

fn valid_at(cert: &Certificate, time: u64) -> Result<(), TsaError> {
    let v = &cert.tbs_certificate.validity;
    let (from, to) =
        (v.not_before.to_unix_duration().as_secs(), v.not_after.to_unix_duration().as_secs());
    if time < from || time > to {
        return Err(TsaError::Expired { subject: subject(cert), time });
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    extension(cert, &ID_CE_BASIC_CONSTRAINTS)
        .and_then(|e| {
            x509_cert::ext::pkix::BasicConstraints::from_der(e.extn_value.as_bytes()).ok()
        })
        .is_some_and(|bc| bc.ca)
}

fn is_timestamping(cert: &Certificate) -> bool {
    extension(cert, &ID_CE_EXT_KEY_USAGE).is_some_and(|e| {
        e.critical
            && x509_cert::ext::pkix::ExtendedKeyUsage::from_der(e.extn_value.as_bytes())
                .is_ok_and(|eku| eku.0.contains(&ID_KP_TIME_STAMPING))
    })
}

/// Whether `cert` is the one `sid` names.
fn matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == cert.tbs_certificate.issuer
                && is.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            extension(cert, &ID_CE_SUBJECT_KEY_IDENTIFIER)
                .and_then(|e| OctetString::from_der(e.extn_value.as_bytes()).ok())
                .is_some_and(|o| o.as_bytes() == ski.0.as_bytes())
        }
    }
}

/// The one value of the signed attribute `oid`.
fn attribute<'a>(signer: &'a SignerInfo, oid: &ObjectIdentifier) -> Option<&'a Any> {
    let attrs = signer.signed_attrs.as_ref()?;
    let mut found = attrs.iter().filter(|a| a.oid == *oid);
    let attr = found.next()?;
    if found.next().is_some() || attr.values.len() != 1 {
        return None;
    }
    attr.values.iter().next()
}

/// Checks that `token` (a `TimeStampToken`, or a `TimeStampResp` holding
/// one, as in a Sigstore bundle) is a timestamp of `message` by
/// `authority`, and says when.
///
/// Checks, in order: the token is CMS SignedData over an `id-ct-TSTInfo`;
/// the TSTInfo's imprint is the message's SHA-256 (or SHA-384/512, as the
/// imprint says); there is one signer, with signed attributes whose content
/// type is TSTInfo and whose message digest is the TSTInfo's hash; the
/// signer certificate (from the token or the authority) verifies the
/// signature over the DER signed attributes; it has the critical extended
/// key usage `timeStamping`; it is, or chains (each signature checked,
/// each issuer a CA) to, one of the authority's certificates; and every
/// certificate on that path was valid at `genTime`.
pub fn verify(token: &[u8], message: &[u8], authority: &Authority) -> Result<Verified, TsaError> {
    let token = token_of(token)?;
    let Parsed { signed, tst, tst_der } = parse(&token)?;

    // The TSTInfo is over the message.
    let imprint = &tst.message_imprint;
    if hash(&imprint.hash_algorithm.oid, message)? != imprint.hashed_message.as_bytes() {
        return Err(TsaError::ImprintMismatch);
    }
    let time = tst.gen_time.to_unix_duration().as_secs();

    // The signer's attributes bind the TSTInfo.
    let signers: Vec<&SignerInfo> = signed.signer_infos.0.iter().collect();
    let [signer] = signers[..] else { return Err(TsaError::SignerCount(signers.len())) };
    let attrs = signer.signed_attrs.as_ref().ok_or(TsaError::NoSignedAttributes)?;
    let content_type =
        attribute(signer, &ID_CONTENT_TYPE).and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(ID_CT_TST_INFO) {
        return Err(TsaError::ContentTypeAttribute);
    }
    let digest = attribute(signer, &ID_MESSAGE_DIGEST)
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .ok_or(TsaError::MessageDigestAttribute)?;
    if hash(&signer.digest_alg.oid, &tst_der)? != digest.as_bytes() {
        return Err(TsaError::ContentDigestMismatch);
    }

    // The signer certificate signed them.
    let mut pool: Vec<&Certificate> = Vec::new();
    if let Some(certs) = &signed.certificates {
        pool.extend(certs.0.iter().filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        }));
    }
    pool.extend(authority.anchors.iter());
    let cert = *pool.iter().find(|c| matches(&signer.sid, c)).ok_or(TsaError::SignerNotFound)?;
    // The signature is over the DER SET OF the signed attributes.
    let signed_attrs = attrs.to_der().map_err(|e| TsaError::Malformed(e.to_string()))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if !verify_sig(spki, &signer.signature_algorithm, &signed_attrs, signer.signature.as_bytes())? {
        return Err(TsaError::BadSignature(subject(cert)));
    }
    if !is_timestamping(cert) {
        return Err(TsaError::NotTimestamping(subject(cert)));
    }
    valid_at(cert, time)?;

    // The signer certificate chains to an anchor.
    let mut at = cert;
    let mut depth = 0;
    while !authority.is_anchor(at) {
        depth += 1;
        if depth > MAX_PATH {
            return Err(TsaError::UntrustedChain(subject(cert)));
        }
        let issuers: Vec<&Certificate> = pool
            .iter()
            .copied()
            .filter(|c| *c != at && c.tbs_certificate.subject == at.tbs_certificate.issuer)
            .collect();
        if issuers.is_empty() {
            return Err(TsaError::UntrustedChain(subject(cert)));
        }
        let tbs = at.tbs_certificate.to_der().map_err(|e| TsaError::Malformed(e.to_string()))?;
        let Some(sig) = at.signature.as_bytes() else {
            return Err(TsaError::UntrustedChain(subject(cert)));
        };
        let mut next = None;
        for issuer in issuers {
            let key = &issuer.tbs_certificate.subject_public_key_info;
            if verify_sig(key, &at.signature_algorithm, &tbs, sig)? {
                next = Some(issuer);
                break;
            }
        }
        let issuer = next.ok_or_else(|| TsaError::UntrustedChain(subject(cert)))?;
        if !is_ca(issuer) {
            return Err(TsaError::NotCa(subject(issuer)));
        }
        valid_at(issuer, time)?;
        at = issuer;
    }

    Ok(Verified { time, serial: tst.serial_number.as_bytes().to_vec(), tsa: subject(cert) })
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timestamp request nonce {:#018x} for sha256:", self.nonce)?;
        self.imprint.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_integers_round_trip() {
        for v in [0u64, 1, 0x7f, 0x80, 0xff, 0x1234, u64::MAX, u64::MAX >> 1, 1 << 63] {
            let int = int_of(v).unwrap();
            assert_eq!(u64_of(&int), Some(v), "{v:#x}");
            assert_eq!(Int::from_der(&int.to_der().unwrap()).unwrap(), int);
        }
    }

    #[test]
    fn request_is_der_with_imprint_nonce_and_cert_req() {
        let r = request(b"checkpoint");
        let parsed = TimeStampReq::from_der(&r.to_der()).unwrap();
        assert_eq!(parsed.message_imprint.hashed_message.as_bytes(), &r.imprint[..]);
        assert_eq!(parsed.message_imprint.hash_algorithm.oid, ID_SHA_256);
        assert_eq!(u64_of(&parsed.nonce.unwrap()), Some(r.nonce));
        assert!(parsed.cert_req);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let auth = Authority { anchors: Vec::new() };
        for bad in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x00", b"\x30\x80", &[0xff; 64]] {
            assert!(verify(bad, b"m", &auth).is_err());
        }
    }
}
