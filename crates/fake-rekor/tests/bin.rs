//! The `fake-rekor` binary as a user runs it: it prints its URL and log
//! key, keeps its key in the seed file, and stops on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_fake-rekor");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary; returns it with its URL and log key.
fn start(args: &[&str]) -> (Running, String, String) {
    let mut child =
        Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let url = first.trim().strip_prefix("fake-rekor: listening on ").unwrap().to_string();
    let key = second.trim().strip_prefix("log key: ").unwrap().to_string();
    (Running(child), url, key)
}

#[test]
fn prints_url_and_key_and_keeps_its_seed() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-rekor-bin");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seed = dir.join("seed");
    let seed = seed.to_str().unwrap();
    let args = ["--listen", "127.0.0.1:0", "--origin", "demo.test", "--seed-file", seed];
    let (mut running, url, key) = start(&args);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(note::Verifier::parse(&key).unwrap().name() == "demo.test");
    let mut body = String::new();
    ureq::get(format!("{url}/healthz"))
        .call()
        .unwrap()
        .body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .unwrap();
    assert_eq!(body, r#"{"status":"SERVING"}"#);
    // SIGTERM stops it cleanly.
    let pid = running.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(running.0.wait().unwrap().success());
    // The seed file made on the first start gives the same key again.
    assert_eq!(std::fs::read_to_string(seed).unwrap().trim().len(), 64);
    let (_again, _, key2) = start(&args);
    assert_eq!(key2, key);
}
