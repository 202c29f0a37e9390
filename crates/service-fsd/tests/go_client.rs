//! An independent tlog-tiles client, Go's `golang.org/x/mod/sumdb/tlog` and
//! `note` (`crates/oracle/go/httpclient`), fetches and verifies a tenant's
//! ledger and audit ledger from the running daemon over HTTP: the daemon
//! serves standard, verifiable tlog-tiles logs.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tenant::Root;

/// The repository's tenants file.
fn tenants_toml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tenants.toml")
}

/// The daemon, sent SIGKILL if the test fails before it stops it.
struct Daemon {
    child: Option<Child>,
    url: String,
}

impl Daemon {
    fn start(root: &Path, credentials: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_service-fsd"))
            .arg("--dir")
            .arg(root)
            .arg("--tenants")
            .arg(tenants_toml())
            .arg("--credentials")
            .arg(credentials)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting service-fsd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("service-fsd listening on ") else {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon did not start: {line}{err}");
        };
        Daemon { url: url.to_string(), child: Some(child) }
    }

    /// SIGTERM; whether it then exited cleanly.
    fn terminate(&mut self) -> bool {
        let mut c = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_child(&c);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        c.wait().unwrap().success()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// POSTs `body` to the tenant's records; returns the answer's JSON.
fn post(d: &Daemon, token: &str, content_type: &str, body: Vec<u8>) -> serde_json::Value {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent
        .post(format!("{}/v1/acme/records", d.url))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .send(&body[..])
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    assert!(matches!(status, 200 | 201), "append: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Record `i`: its number, padded to a length that varies.
fn record(i: usize) -> Vec<u8> {
    let mut r = format!("acme record {i:04} ").into_bytes();
    r.resize(r.len() + (i * 37) % 300, b'a' + (i % 26) as u8);
    r
}

/// Batch sizes, summing to 700: single appends (so partial tiles of many
/// widths come and go), and batches crossing the 256- and 512-record tile
/// edges (so there are full tiles, pruned partials and a current partial).
const BATCHES: [usize; 15] = [1, 1, 1, 5, 50, 200, 1, 3, 255, 1, 7, 100, 1, 73, 1];

#[test]
fn go_tlog_client_verifies_the_daemon_over_http() {
    assert_eq!(BATCHES.iter().sum::<usize>(), 700);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let credentials = tmp.path().join("credentials.toml");
    let mut keys = std::collections::HashMap::new();
    for t in sysgen::load_tenants(&tenants_toml()).unwrap().tenant {
        keys.insert(t.name.clone(), Root::new(&root).init(&t.name, None).unwrap());
    }
    let token = |module: &str| credentials::add_token(&credentials, "acme", module).unwrap();
    let (writer, reader, auditor) = (token("identity"), token("reports"), token("auditor"));
    let key = keys["acme"].clone();
    let audit_key =
        key.renamed(&format!("{}{}", key.name(), ledger::engine::AUDIT_SUFFIX)).unwrap();
    assert_eq!(audit_key.name(), "service-fs/acme/audit");

    let mut d = Daemon::start(&root, &credentials);
    let mut next = 0;
    for (b, &n) in BATCHES.iter().enumerate() {
        let records: Vec<Vec<u8>> = (next..next + n).map(record).collect();
        let answer = if n == 1 && b % 2 == 0 {
            post(&d, &writer, "application/octet-stream", records[0].clone())
        } else {
            let framed = records
                .iter()
                .flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat())
                .collect();
            post(&d, &writer, "application/vnd.service-fs.records", framed)
        };
        assert_eq!(answer["first"], next as u64, "{answer}");
        assert_eq!(answer["count"], n as u64, "{answer}");
        assert_eq!(answer["tree_size"], (next + n) as u64, "{answer}");
        next += n;
    }

    let base = format!("{}/acme/", d.url);
    let log = oracle::http_verify(&base, &key.to_string(), &reader).unwrap();
    eprintln!("log: {log:?}");
    assert_eq!(log.origin, key.name());
    assert_eq!((log.size, log.records), (700, 700));
    // Level 0: tiles 0 and 1 full, tile 2 of 188; level 1: tile 0 of 2.
    assert_eq!(log.tiles_fetched, 4);
    assert_eq!(log.bundles, 3);
    assert!(log.older_partials >= 4 && log.proofs >= 4, "{log:?}");

    let audit_base = format!("{}/acme/audit/", d.url);
    let audit = oracle::http_verify(&audit_base, &audit_key.to_string(), &auditor).unwrap();
    eprintln!("audit: {audit:?}");
    assert_eq!(audit.origin, "service-fs/acme/audit");
    assert!(audit.size >= BATCHES.len() as u64, "one audit record per append at least");
    assert_eq!(audit.records, audit.size);

    // Another key, under the right name or its own, does not open the checkpoint.
    let other = &keys["globex"];
    let renamed = other.renamed(key.name()).unwrap();
    for wrong in [other.to_string(), renamed.to_string(), audit_key.to_string()] {
        let err = oracle::http_verify(&base, &wrong, &reader).unwrap_err();
        assert!(err.contains("checkpoint"), "{wrong}: {err}");
    }
    // Nor does the log's key open the audit checkpoint.
    assert!(oracle::http_verify(&audit_base, &key.to_string(), &auditor).is_err());
    // A ring1 token may not read tiles; an audit token may not read the log.
    for (url, k, t) in [(&base, &key, &writer), (&audit_base, &audit_key, &reader)] {
        let err = oracle::http_verify(url, &k.to_string(), t).unwrap_err();
        assert!(err.contains("GET checkpoint: 403"), "{url}: {err}");
    }

    assert!(d.terminate(), "the daemon did not stop cleanly on SIGTERM");
}
