//! End to end: `rekor::tsa::request` → the fake timestamp authority
//! (`fake_rekor::tsa`) over HTTP → `rekor::tsa::verify` under its root;
//! retries on 503, and each of its faults caught by `timestamp` or `verify`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_rekor::tsa::{TsaFault, TsaServer};
use rekor::tsa::{self, Authority, TsaError};
use rekor::{Error, Policy};

const MESSAGE: &[u8] = b"tenant-a\n42\nroot hash\n\n- tenant-a signature\n";

fn policy() -> Policy {
    Policy {
        timeout: Duration::from_secs(10),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn authority(server: &TsaServer) -> Authority {
    Authority::from_pem_chain(&server.root_pem()).unwrap()
}

#[test]
fn a_timestamp_from_the_fake_tsa_verifies() {
    let server = TsaServer::start().unwrap();
    let before = now();
    let req = tsa::request(MESSAGE);
    let token = tsa::timestamp(&server.url(), &req, &policy()).unwrap();
    let v = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap();
    assert!(v.time >= before && v.time <= now(), "{} not in {before}..", v.time);
    assert_eq!(v.tsa, "CN=fake-rekor TSA,O=fake-rekor");
    assert_eq!(v.serial, [1]);
    assert_eq!(server.requests(), 1);

    // Serials increase; the whole certificate chain is an authority too.
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let chain = Authority::from_pem_chain(&server.chain_pem()).unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(tsa::verify(&token, MESSAGE, &chain).unwrap().serial, [2]);
    // Over this message only.
    assert_eq!(tsa::verify(&token, b"another", &chain), Err(TsaError::ImprintMismatch));
}

#[test]
fn requests_carry_fresh_nonces() {
    let (a, b) = (tsa::request(MESSAGE), tsa::request(MESSAGE));
    assert_eq!(a.imprint, b.imprint);
    assert_ne!(a.nonce, b.nonce);
}

#[test]
fn unavailable_is_retried() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::Unavailable, 2);
    let req = tsa::request(MESSAGE);
    let token = tsa::timestamp(&server.url(), &req, &policy()).unwrap();
    assert_eq!(server.requests(), 3);
    tsa::verify(&token, MESSAGE, &authority(&server)).unwrap();
}

#[test]
fn unavailable_every_time_is_one_error() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::Unavailable, 10);
    let err = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap_err();
    assert!(matches!(err, Error::Unavailable { attempts: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(server.requests(), 3);
}

fn invalid(fault: TsaFault) -> String {
    let server = TsaServer::start().unwrap();
    server.set_fault(fault, 1);
    let err = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap_err();
    assert_eq!(server.requests(), 1, "{fault:?} must not be retried");
    match err {
        Error::Invalid { url, reason } => {
            assert_eq!(url, server.url());
            reason
        }
        e => panic!("{fault:?}: {e:?}"),
    }
}

#[test]
fn a_token_over_another_imprint_is_refused() {
    assert!(invalid(TsaFault::OtherImprint).contains("imprint"));
}

#[test]
fn a_token_with_another_nonce_is_refused() {
    assert!(invalid(TsaFault::OtherNonce).contains("nonce"));
}

#[test]
fn a_rejection_is_refused() {
    assert!(invalid(TsaFault::Rejection).contains("not granted"));
}

#[test]
fn garbage_is_refused() {
    assert!(invalid(TsaFault::Garbage).contains("DER"));
}

#[test]
fn a_token_signed_by_another_key_does_not_verify() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::OtherKey, 1);
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let err = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap_err();
    assert_eq!(err, TsaError::BadSignature("CN=fake-rekor TSA,O=fake-rekor".into()));
}

#[test]
fn a_token_of_another_root_does_not_verify() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::OtherRoot, 1);
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let err = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap_err();
    assert_eq!(err, TsaError::UntrustedChain("CN=fake-rekor other TSA,O=fake-rekor".into()));
    // Another server's root is another authority.
    let other = TsaServer::start().unwrap();
    let token = tsa::timestamp(&other.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let err = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap_err();
    assert!(matches!(err, TsaError::UntrustedChain(_)), "{err:?}");
}

#[test]
fn a_signer_not_for_timestamping_does_not_verify() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::NotTimestamping, 1);
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let err = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap_err();
    let subject = "CN=fake-rekor TSA without timeStamping,O=fake-rekor";
    assert_eq!(err, TsaError::NotTimestamping(subject.into()));
}

#[test]
fn a_time_outside_the_certificates_validity_does_not_verify() {
    let server = TsaServer::start().unwrap();
    server.set_fault(TsaFault::LateTime, 1);
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    let err = tsa::verify(&token, MESSAGE, &authority(&server)).unwrap_err();
    let TsaError::Expired { subject, time } = err else { panic!("{err:?}") };
    assert_eq!(subject, "CN=fake-rekor TSA,O=fake-rekor");
    assert!(time > now() + 39 * 365 * 86_400, "{time}");
}

#[test]
fn the_certchain_is_served() {
    let server = TsaServer::start().unwrap();
    let client = rekor::Client::new(&server.base_url(), policy());
    let r = client.get("/api/v1/timestamp/certchain").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/pem-certificate-chain"));
    let auth = Authority::from_pem_chain(std::str::from_utf8(&r.body).unwrap()).unwrap();
    let token = tsa::timestamp(&server.url(), &tsa::request(MESSAGE), &policy()).unwrap();
    tsa::verify(&token, MESSAGE, &auth).unwrap();
}

#[test]
fn a_missing_server_is_unavailable() {
    let server = TsaServer::start().unwrap();
    let url = server.url();
    drop(server);
    let err = tsa::timestamp(&url, &tsa::request(MESSAGE), &policy()).unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[test]
fn a_wrong_path_is_rejected() {
    let server = TsaServer::start().unwrap();
    let url = format!("{}/api/v1/nothing", server.base_url());
    let err = tsa::timestamp(&url, &tsa::request(MESSAGE), &policy()).unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 404, .. }), "{err:?}");
}
