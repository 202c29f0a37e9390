//! An RFC 3161 timestamp authority for tests, speaking the API of
//! Sigstore's timestamp-authority (`POST /api/v1/timestamp` with an
//! `application/timestamp-query` body, answered with an
//! `application/timestamp-reply` `TimeStampResp`; `GET
//! /api/v1/timestamp/certchain` as `application/pem-certificate-chain`).
//!
//! Self-contained, written independently of the `rekor` crate's client:
//! at start it makes an ECDSA P-256 root CA and a P-256 TSA leaf
//! certificate (extended key usage `timeStamping`, critical) issued by it
//! (certificates by `rcgen`), and answers each query with a granted
//! `TimeStampResp` whose token is CMS SignedData (built with the `cms` and
//! `x509-tsp` DER types) over a TSTInfo with the query's imprint and nonce,
//! `genTime` now and an increasing serial, signed by the leaf over the
//! signed attributes (content type TSTInfo, signing time, message digest),
//! the leaf certificate included. Only SHA-256, SHA-384 and SHA-512
//! imprints are accepted.
//!
//! [`TsaServer::set_fault`] makes the next answers misbehave ([`TsaFault`]).
//! **Not a production TSA**: a fresh key every start, no policy, no
//! accuracy, no ESS signing-certificate attribute.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// The path queries are posted to.
pub const TIMESTAMP_PATH: &str = "/api/v1/timestamp";
/// The path of the certificate chain.
pub const CERTCHAIN_PATH: &str = "/api/v1/timestamp/certchain";
/// The TSTInfo policy of this fake: the test OID `1.2.3.4.1` of OpenSSL's
/// TSA examples.
pub const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.3.4.1");

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA_384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_WITH_SHA_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// A way for the TSA to misbehave, for the next answers
/// ([`TsaServer::set_fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsaFault {
    /// HTTP 503 with a JSON error body, no token.
    Unavailable,
    /// A valid token over another imprint (the query's, first byte flipped).
    OtherImprint,
    /// A token whose TSTInfo carries another nonce (the query's plus one).
    OtherNonce,
    /// A token signed by another P-256 key, still carrying the TSA leaf
    /// certificate: its signature does not verify.
    OtherKey,
    /// A token signed by a leaf of another root (both made at start), that
    /// leaf's certificate included: valid, but not under [`TsaServer::root_pem`].
    OtherRoot,
    /// A token signed by a leaf of the same root that lacks the extended
    /// key usage `timeStamping`.
    NotTimestamping,
    /// A valid token whose `genTime` is 40 years from now, past the end of
    /// the certificates' validity (2049).
    LateTime,
    /// A `TimeStampResp` with status `rejection` (2) and no token, HTTP 200.
    Rejection,
    /// HTTP 201, `application/timestamp-reply`, a body that is not DER.
    Garbage,
}

/// A signing certificate and its key.
struct Signer {
    cert: Certificate,
    key: SigningKey,
}

struct Inner {
    serial: u64,
    requests: usize,
    fault: Option<(TsaFault, usize)>,
}

struct Shared {
    tsa: Signer,
    /// A leaf of the same root without the timeStamping key usage.
    no_eku: Signer,
    other_root: Signer,
    other_key: SigningKey,
    chain_pem: String,
    root_pem: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running timestamp authority on `127.0.0.1`, on a thread of its own
/// with its own tokio runtime. Dropping it stops it.
pub struct TsaServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A root CA and a TSA leaf issued by it, and a second leaf of that root
/// without the extended key usage: (leaf, root certificate PEM, leaf
/// certificate PEM, leaf without the key usage).
fn make_pki(name: &str) -> io::Result<(Signer, String, String, Signer)> {
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
        Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, date_time_ymd,
    };
    let dn = |cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "fake-rekor");
        dn.push(DnType::CommonName, cn);
        dn
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other)?;
    let mut root = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    root.distinguished_name = dn(&format!("{name} root"));
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.not_before = date_time_ymd(2020, 1, 1);
    root.not_after = date_time_ymd(2049, 12, 31);
    let root_cert = root.self_signed(&root_key).map_err(other)?;

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    leaf.distinguished_name = dn(name);
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // ExtendedKeyUsage ::= SEQUENCE { id-kp-timeStamping }, critical (RFC 3161 §2.3).
    let eku = vec![0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];
    let mut eku = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku);
    eku.set_criticality(true);
    leaf.custom_extensions.push(eku);
    leaf.not_before = date_time_ymd(2020, 1, 1);
    leaf.not_after = date_time_ymd(2049, 12, 31);
    let issuer = Issuer::from_params(&root, &root_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(other)?;

    let signer = |cert: &rcgen::Certificate, key: &KeyPair| -> io::Result<Signer> {
        Ok(Signer {
            cert: Certificate::from_der(cert.der()).map_err(other)?,
            key: SigningKey::from_pkcs8_der(&key.serialize_der()).map_err(other)?,
        })
    };
    let tsa = signer(&leaf_cert, &leaf_key)?;

    let plain_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(other)?;
    leaf.custom_extensions.clear();
    leaf.distinguished_name = dn(&format!("{name} without timeStamping"));
    let plain_cert = leaf.signed_by(&plain_key, &issuer).map_err(other)?;
    let plain = signer(&plain_cert, &plain_key)?;
    Ok((tsa, root_cert.pem(), leaf_cert.pem(), plain))
}

impl TsaServer {
    /// Makes the keys and certificates and serves on `127.0.0.1:0`.
    pub fn start() -> io::Result<TsaServer> {
        let (tsa, root_pem, leaf_pem, no_eku) = make_pki("fake-rekor TSA")?;
        let (other_root, _, _, _) = make_pki("fake-rekor other TSA")?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(other)?;
        let other_key = SigningKey::from_slice(&seed).map_err(other)?;
        let shared = Arc::new(Shared {
            tsa,
            no_eku,
            other_root,
            other_key,
            chain_pem: format!("{leaf_pem}{root_pem}"),
            root_pem,
            inner: Mutex::new(Inner { serial: 0, requests: 0, fault: None }),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::Builder::new().name("fake-tsa".into()).spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
        Ok(TsaServer { addr, shared, stop: Some(stop), thread: Some(thread) })
    }

    /// The full timestamp URL, `http://127.0.0.1:<port>/api/v1/timestamp`.
    pub fn url(&self) -> String {
        format!("http://{}{TIMESTAMP_PATH}", self.addr)
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The trust anchor: the root CA certificate, PEM.
    pub fn root_pem(&self) -> String {
        self.shared.root_pem.clone()
    }

    /// The chain `GET /api/v1/timestamp/certchain` serves: leaf, then root, PEM.
    pub fn chain_pem(&self) -> String {
        self.shared.chain_pem.clone()
    }

    /// Makes the next `times` answers to `POST /api/v1/timestamp`
    /// misbehave (`times` = 0 clears the fault).
    pub fn set_fault(&self, fault: TsaFault, times: usize) {
        self.shared.lock().fault = (times > 0).then_some((fault, times));
    }

    /// Back to normal answers.
    pub fn clear_fault(&self) {
        self.shared.lock().fault = None;
    }

    /// How many `POST /api/v1/timestamp` requests arrived (any outcome).
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }
}

impl Drop for TsaServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(TIMESTAMP_PATH, post(timestamp))
        .route(CERTCHAIN_PATH, get(certchain))
        .with_state(shared)
}

async fn certchain(State(shared): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_TYPE, "application/pem-certificate-chain")], shared.chain_pem.clone())
        .into_response()
}

/// The timestamp-authority's JSON error.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "code": status.as_u16(), "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn reply(status: StatusCode, der: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/timestamp-reply")], der).into_response()
}

async fn timestamp(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (serial, fault) = {
        let mut inner = shared.lock();
        inner.requests += 1;
        let fault = inner.fault.map(|(f, _)| f);
        inner.fault = match inner.fault {
            Some((f, n)) if n > 1 => Some((f, n - 1)),
            _ => None,
        };
        (inner.serial + 1, fault)
    };
    if fault == Some(TsaFault::Unavailable) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "service unavailable");
    }
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.trim().eq_ignore_ascii_case("application/timestamp-query") {
        return error(StatusCode::BAD_REQUEST, "content type must be application/timestamp-query");
    }
    let Ok(req) = TimeStampReq::from_der(&body) else {
        return error(StatusCode::BAD_REQUEST, "error parsing timestamp request");
    };
    let want = match req.message_imprint.hash_algorithm.oid {
        ID_SHA_256 => 32,
        ID_SHA_384 => 48,
        ID_SHA_512 => 64,
        _ => return error(StatusCode::BAD_REQUEST, "unsupported hash algorithm"),
    };
    if req.message_imprint.hashed_message.as_bytes().len() != want {
        return error(StatusCode::BAD_REQUEST, "hashed message has the wrong length");
    }
    match fault {
        Some(TsaFault::Garbage) => {
            return reply(StatusCode::CREATED, b"this is not a TimeStampResp".to_vec());
        }
        Some(TsaFault::Rejection) => {
            let resp = TimeStampResp {
                status: PkiStatusInfo {
                    status: PkiStatus::Rejection,
                    status_string: None,
                    fail_info: None,
                },
                time_stamp_token: None,
            };
            return match resp.to_der() {
                Ok(der) => reply(StatusCode::OK, der),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            };
        }
        _ => {}
    }
    match token(&shared, &req, serial, fault) {
        Ok(der) => {
            shared.lock().serial = serial;
            reply(StatusCode::CREATED, der)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A non-negative DER INTEGER of `v`.
fn int_of(v: u64) -> der::Result<Int> {
    let be = v.to_be_bytes();
    let start = be.iter().position(|&b| b != 0).unwrap_or(7);
    let mut bytes = be[start..].to_vec();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    Int::new(&bytes)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    Ok(Attribute { oid, values: SetOfVec::try_from(vec![value])? })
}

/// The granted `TimeStampResp` for `req`, serial `serial`, as `fault` bends it.
fn token(
    shared: &Shared,
    req: &TimeStampReq,
    serial: u64,
    fault: Option<TsaFault>,
) -> der::Result<Vec<u8>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let now = std::time::Duration::from_secs(now.as_secs());
    let mut gen_time = now;
    if fault == Some(TsaFault::LateTime) {
        gen_time += std::time::Duration::from_secs(40 * 365 * 86_400);
    }
    let mut imprint = req.message_imprint.clone();
    if fault == Some(TsaFault::OtherImprint) {
        let mut h = imprint.hashed_message.as_bytes().to_vec();
        h[0] ^= 1;
        imprint.hashed_message = OctetString::new(h)?;
    }
    let mut nonce = req.nonce.clone();
    if fault == Some(TsaFault::OtherNonce) {
        let n = nonce.as_ref().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
        let v = n.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        nonce = Some(int_of(v.wrapping_add(1))?);
    }
    let tst = TstInfo {
        version: TspVersion::V1,
        policy: POLICY,
        message_imprint: imprint,
        serial_number: int_of(serial)?,
        gen_time: GeneralizedTime::from_unix_duration(gen_time)?,
        accuracy: None,
        ordering: false,
        nonce,
        tsa: None,
        extensions: None,
    };
    let tst_der = tst.to_der()?;
    let (signer, key) = match fault {
        Some(TsaFault::OtherRoot) => (&shared.other_root, &shared.other_root.key),
        Some(TsaFault::OtherKey) => (&shared.tsa, &shared.other_key),
        Some(TsaFault::NotTimestamping) => (&shared.no_eku, &shared.no_eku.key),
        _ => (&shared.tsa, &shared.tsa.key),
    };

    let digest = sha2::Sha256::digest(&tst_der);
    let attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_CT_TST_INFO)?)?,
        attribute(ID_SIGNING_TIME, Any::encode_from(&UtcTime::from_unix_duration(now)?)?)?,
        attribute(ID_MESSAGE_DIGEST, Any::encode_from(&OctetString::new(digest.to_vec())?)?)?,
    ])?;
    // The signature is over the DER SET OF the signed attributes.
    let signature: DerSignature = key.sign(&attrs.to_der()?);
    let sha256 = AlgorithmIdentifierOwned { oid: ID_SHA_256, parameters: None };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.cert.tbs_certificate.issuer.clone(),
            serial_number: signer.cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned { oid: ECDSA_WITH_SHA_256, parameters: None },
        signature: OctetString::new(signature.as_bytes())?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_CT_TST_INFO,
            econtent: Some(Any::encode_from(&OctetString::new(tst_der)?)?),
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(vec![
            CertificateChoices::Certificate(signer.cert.clone()),
        ])?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let token = ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed)? };
    TimeStampResp {
        status: PkiStatusInfo { status: PkiStatus::Accepted, status_string: None, fail_info: None },
        time_stamp_token: Some(token),
    }
    .to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_query_with_a_granted_reply_for_its_imprint_and_nonce() {
        let server = TsaServer::start().unwrap();
        let req = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: x509_tsp::MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned { oid: ID_SHA_256, parameters: None },
                hashed_message: OctetString::new([7u8; 32].to_vec()).unwrap(),
            },
            req_policy: None,
            nonce: Some(int_of(0x8000_0000_0000_0001).unwrap()),
            cert_req: true,
            extensions: None,
        };
        let mut resp = ureq::post(&server.url())
            .content_type("application/timestamp-query")
            .send(&req.to_der().unwrap())
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body = resp.body_mut().read_to_vec().unwrap();
        let resp = TimeStampResp::from_der(&body).unwrap();
        assert_eq!(resp.status.status, PkiStatus::Accepted);
        let token = resp.time_stamp_token.unwrap();
        let signed: SignedData = token.content.decode_as().unwrap();
        let content: OctetString = signed.encap_content_info.econtent.unwrap().decode_as().unwrap();
        let tst = TstInfo::from_der(content.as_bytes()).unwrap();
        assert_eq!(tst.message_imprint, req.message_imprint);
        assert_eq!(tst.nonce, req.nonce);
        assert_eq!(tst.serial_number, int_of(1).unwrap());
        assert_eq!(server.requests(), 1);
        let chain = ureq::get(&format!("{}{CERTCHAIN_PATH}", server.base_url()))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(chain, server.chain_pem());
        assert!(chain.ends_with(&server.root_pem()));
    }

    #[test]
    fn refuses_what_is_not_a_query() {
        let server = TsaServer::start().unwrap();
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let r = agent.post(&server.url()).content_type("application/timestamp-query").send(b"xx");
        assert_eq!(r.unwrap().status(), 400);
        let r = agent.post(&server.url()).content_type("application/json").send(b"{}");
        assert_eq!(r.unwrap().status(), 400);
    }
}
