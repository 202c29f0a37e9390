//! The daemon over HTTPS with client certificates: a registered certificate
//! is its module's credential (and is what the audit ledger names), an
//! unregistered one is refused, a certificate does not reach another
//! tenant, bearer tokens still work over TLS, plain HTTP to the TLS port
//! gets no answer, and SIGTERM still drains and exits cleanly.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A certificate and its key.
struct Identity {
    cert: CertificateDer<'static>,
    key: KeyPair,
}

impl Identity {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }

    /// Writes `NAME.pem` and `NAME.key` into `dir`; returns their paths.
    fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        let pem = pem(&self.cert);
        std::fs::write(&cert, pem).unwrap();
        std::fs::write(&key, self.key.serialize_pem()).unwrap();
        (cert, key)
    }
}

fn pem(der: &CertificateDer<'_>) -> String {
    use base64ct::{Base64, Encoding};
    let b64 = Base64::encode_string(der);
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// A CA, and what it issues.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap().der().clone();
        Ca { params, key, cert }
    }

    fn issue(&self, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Identity {
        let key = KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap().der().clone();
        Identity { cert, key }
    }

    fn client(&self, name: &str) -> Identity {
        self.issue(name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A TLS client trusting `ca`, presenting `me` if given.
fn client(ca: &Ca, me: Option<&Identity>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.clone()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
    Arc::new(match me {
        Some(id) => builder.with_client_auth_cert(vec![id.cert.clone()], id.key_der()).unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// One HTTP/1.1 request over TLS, the connection closed after it.
fn https(
    d: &Daemon,
    tls: &Arc<ClientConfig>,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> std::io::Result<Answer> {
    let addr = d.url.strip_prefix("https://").expect("an https URL");
    let tcp = TcpStream::connect(addr)?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    let mut s = StreamOwned::new(conn, tcp);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        req += &format!("Authorization: Bearer {t}\r\n");
    }
    if !body.is_empty() {
        req += "Content-Type: application/octet-stream\r\n";
    }
    req += &format!("Content-Length: {}\r\n\r\n", body.len());
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse(&raw).ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}

/// An HTTP/1.1 answer (whole body, or chunked).
fn parse(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: std::collections::HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut rest = &raw[end + 4..];
    let body = if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") {
        let mut body = Vec::new();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n")?;
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?.trim(), 16).ok()?;
            if n == 0 {
                break body;
            }
            body.extend_from_slice(rest.get(eol + 2..eol + 2 + n)?);
            rest = rest.get(eol + 4 + n..)?;
        }
    } else {
        rest.to_vec()
    };
    Some(Answer { status, headers, body })
}

/// The daemon over TLS: a CA, its server certificate, `ca.pem` as the client CA.
struct Setup {
    ledgers: Ledgers,
    ca: Ca,
    registered: Identity,
    unregistered: Identity,
    fingerprint: String,
}

fn setup() -> (Setup, Daemon) {
    let ledgers = Ledgers::new();
    let ca = Ca::new("service-fs test CA");
    let sans = ["localhost", "127.0.0.1"];
    let server = ca.issue("service-fsd", &sans, ExtendedKeyUsagePurpose::ServerAuth);
    let registered = ca.client("acme.reports");
    let unregistered = ca.client("nobody");
    let fingerprint =
        credentials::add_certificate(&ledgers.credentials, "acme", "reports", &registered.cert)
            .unwrap();
    let dir = ledgers.tmp.path();
    let (cert, key) = server.write(dir, "server");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, pem(&ca.cert)).unwrap();
    let d = ledgers.start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-client-ca",
        ca_pem.to_str().unwrap(),
    ]);
    assert!(d.url.starts_with("https://127.0.0.1:"), "{}", d.url);
    (Setup { ledgers, ca, registered, unregistered, fingerprint }, d)
}

#[test]
fn client_certificates_are_credentials() {
    let (s, d) = setup();
    let l = &s.ledgers;
    let anonymous = client(&s.ca, None);
    let reports = client(&s.ca, Some(&s.registered));
    let nobody = client(&s.ca, Some(&s.unregistered));

    // A token, no certificate: as over plain HTTP.
    let a =
        https(&d, &anonymous, "POST", "/v1/acme/records", Some(l.token("acme.identity")), b"r0")
            .unwrap();
    assert_eq!(a.status, 201, "{a:?}");
    let a = https(&d, &anonymous, "GET", "/v1/acme/status", None, b"").unwrap();
    assert_eq!((a.status, a.code()), (401, "unauthorized".into()));

    // The registered certificate alone is acme.reports.
    let a = https(&d, &reports, "GET", "/v1/acme/status", None, b"").unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    let j = a.json();
    assert_eq!((j["module"].as_str(), j["role"].as_str()), (Some("acme.reports"), Some("ring2")));
    let a = https(&d, &reports, "GET", "/v1/acme/records?from=0", None, b"").unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(unframe(&a.body), vec![b"r0".to_vec()]);
    // ring2 may not append.
    let a = https(&d, &reports, "POST", "/v1/acme/records", None, b"no").unwrap();
    assert_eq!(a.status, 403, "{a:?}");
    // With its own module's token beside it: the certificate still names it.
    let a = https(&d, &reports, "GET", "/v1/acme/status", Some(l.token("acme.reports")), b"");
    assert_eq!(a.unwrap().status, 200);
    // With another module's token, or a wrong one: ambiguous, refused.
    for token in [l.token("acme.identity"), l.token("globex.payments"), "sfs_forged"] {
        let a = https(&d, &reports, "GET", "/v1/acme/status", Some(token), b"").unwrap();
        assert_eq!(a.status, 401, "{token}: {a:?}");
    }

    // Another tenant: exactly as one that does not exist.
    let a = https(&d, &reports, "GET", "/v1/globex/status", None, b"").unwrap();
    let none = https(&d, &reports, "GET", "/v1/nobody/status", None, b"").unwrap();
    assert_eq!((a.status, &a.body), (404, &none.body));

    // A certificate the CA issued but nobody registered: refused, even with
    // a valid token beside it.
    let a = https(&d, &nobody, "GET", "/v1/acme/status", None, b"").unwrap();
    assert_eq!(a.status, 401, "{a:?}");
    let a = https(&d, &nobody, "GET", "/v1/acme/status", Some(l.token("acme.reports")), b"");
    assert_eq!(a.unwrap().status, 401);

    // A certificate from another CA does not get through the handshake.
    let stranger = Ca::new("another CA").client("acme.reports");
    let other = client(&s.ca, Some(&stranger));
    assert!(https(&d, &other, "GET", "/v1/acme/status", None, b"").is_err());

    // The audit ledger names the certificate: the one read it served
    // (the refused ones leave no record).
    let a = https(
        &d,
        &anonymous,
        "GET",
        "/v1/acme/audit/records?from=0",
        Some(l.token("acme.auditor")),
        b"",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    let lines: Vec<serde_json::Value> =
        unframe(&a.body).iter().map(|r| serde_json::from_slice(r).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["module"], "acme.reports");
    assert_eq!(lines[0]["op"], "read_since");
    assert_eq!(lines[0]["credential"], format!("cert:{}", &s.fingerprint[..8]));
    assert_eq!(l.records("acme"), vec![b"r0".to_vec()]);
}

#[test]
fn plain_http_gets_nothing_and_sigterm_drains() {
    let (s, mut d) = setup();
    let anonymous = client(&s.ca, None);
    let plain = d.url.replace("https://", "http://");
    assert!(try_call("GET", &format!("{plain}/healthz"), None, &[], b"").is_err());
    // The failed handshake stopped nothing.
    let a = https(&d, &anonymous, "GET", "/healthz", None, b"").unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    // A connection that never starts its handshake does not hold up draining.
    let _idle = TcpStream::connect(d.url.strip_prefix("https://").unwrap()).unwrap();
    let started = std::time::Instant::now();
    assert!(d.terminate(), "SIGTERM exits 0");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn sigterm_under_load_over_tls_answers_what_is_in_flight() {
    let (s, mut d) = setup();
    let tls = client(&s.ca, None);
    let token = s.ledgers.token("acme.identity").to_string();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (url, tls, token, stop) = (d.url.clone(), tls.clone(), token.clone(), stop.clone());
            std::thread::spawn(move || {
                let d = Daemon { child: None, url };
                let (mut acked, mut refused) = (vec![], 0);
                for i in 0.. {
                    let rec = format!("t{t} r{i}");
                    match https(&d, &tls, "POST", "/v1/acme/records", Some(&token), rec.as_bytes())
                    {
                        Ok(a) if a.status == 201 => {
                            acked.push((a.json()["first"].as_u64().unwrap(), rec))
                        }
                        Ok(a) => panic!("an answer other than 201 while draining: {a:?}"),
                        Err(_) => refused += 1,
                    }
                    if stop.load(std::sync::atomic::Ordering::Relaxed) && refused > 0 {
                        break;
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert!(d.terminate(), "exits 0 after draining");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<(u64, String)> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(!acked.is_empty());
    let stored = s.ledgers.records("acme");
    for (i, rec) in &acked {
        assert_eq!(stored[*i as usize], rec.as_bytes(), "acknowledged: kept");
    }
    assert_eq!(stored.len(), acked.len(), "every commit made while draining was answered");
}
