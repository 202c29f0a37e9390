//! `fs-witness` as a user runs it: init, trust, serve; answered over HTTP
//! with the status codes and bodies of C2SP tlog-witness.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use note::{CosignatureVerifier, Signer};

const BIN: &str = env!("CARGO_BIN_EXE_fs-witness");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn checkpoint(log: &Signer, size: u64, root: tlog::Hash) -> Vec<u8> {
    let text = format!("{}\n{size}\n{root}\n", log.name());
    let mut out = [0u8; 1024];
    let n = note::sign(&text, &[log], &mut out).unwrap();
    out[..n].to_vec()
}

fn post(url: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.post(url).send(body).unwrap();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let mut out = Vec::new();
    r.body_mut().as_reader().read_to_end(&mut out).unwrap();
    (r.status().as_u16(), kind.unwrap_or_default(), out)
}

#[test]
fn serves_the_witness_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("w");
    let state = state.to_str().unwrap();
    let wkey = run(&["init", "--state", state, "--name", "witness.test/w1"]);
    let wkey = CosignatureVerifier::parse(wkey.trim()).unwrap();
    assert_eq!(run(&["key", "--state", state]).trim(), wkey.to_string());
    let log = Signer::from_seed("service-fs/acme", [5; 32]).unwrap();
    assert!(run(&["trust", "--state", state, &log.verifier().to_string()]).starts_with("trusted"));
    let mut child = Command::new(BIN)
        .args(["serve", "--state", state, "--listen", "127.0.0.1:0", "--prefix", "/w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _server = Server(child);
    let base = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap();
    let url = format!("{base}/add-checkpoint");

    let leaf = tlog::leaf_hash(b"r0");
    let cp = checkpoint(&log, 1, leaf);
    let (status, _, body) = post(&url, &witness::protocol::add_checkpoint_body(0, &[], &cp));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let mut cosigned = cp.clone();
    cosigned.extend_from_slice(&body);
    assert!(note::cosigned_at(&cosigned, &wkey).unwrap().is_some());

    // A stale old size: 409, text/x.tlog.size, the size it holds.
    let (status, kind, body) = post(&url, &witness::protocol::add_checkpoint_body(0, &[], &cp));
    assert_eq!(
        (status, kind.as_str(), body.as_slice()),
        (409, "text/x.tlog.size", b"1\n".as_slice())
    );
    // An unknown log, a bad body, one too large.
    let other = Signer::from_seed("service-fs/globex", [6; 32]).unwrap();
    let cp2 = checkpoint(&other, 1, leaf);
    assert_eq!(post(&url, &witness::protocol::add_checkpoint_body(0, &[], &cp2)).0, 404);
    assert_eq!(post(&url, b"garbage").0, 400);
    // Just over the limit: small enough to be sent whole before the answer.
    assert_eq!(post(&url, &vec![b'x'; witness::protocol::MAX_BODY + 1]).0, 413);
    // Another path is not the protocol's.
    assert_eq!(post(&format!("{base}/other"), b"x").0, 404);
}

#[test]
fn a_second_server_on_the_same_state_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("w");
    let state = state.to_str().unwrap();
    run(&["init", "--state", state, "--name", "witness.test/w1"]);
    let mut child = Command::new(BIN)
        .args(["serve", "--state", state, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _server = Server(child);
    let out = Command::new(BIN)
        .args(["serve", "--state", state, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another witness process"));
    // And a key is never overwritten.
    let out = Command::new(BIN).args(["init", "--state", state, "--name", "x/y"]).output().unwrap();
    assert!(!out.status.success());
}
