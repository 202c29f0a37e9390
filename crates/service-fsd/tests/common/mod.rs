//! A daemon on loopback over a fresh ledger root, with a token for every
//! module of the repository's `tenants.toml`, and a small HTTP client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tenant::Root;

/// The daemon's binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_service-fsd");

/// The repository's tenants file.
pub fn tenants_toml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tenants.toml")
}

/// A ledger root with every tenant created and a token for every module.
pub struct Ledgers {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub credentials: PathBuf,
    /// `"tenant.module"` → token.
    pub tokens: HashMap<String, String>,
    /// Tenant → verifier key.
    pub keys: HashMap<String, note::Verifier>,
}

impl Ledgers {
    pub fn new() -> Ledgers {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let credentials = tmp.path().join("credentials.toml");
        let cfg = sysgen::load_tenants(&tenants_toml()).unwrap();
        let (mut tokens, mut keys) = (HashMap::new(), HashMap::new());
        for t in &cfg.tenant {
            keys.insert(t.name.clone(), Root::new(&root).init(&t.name, None).unwrap());
            for m in &t.modules {
                let tok = credentials::add_token(&credentials, &t.name, &m.name).unwrap();
                tokens.insert(format!("{}.{}", t.name, m.name), tok);
            }
        }
        Ledgers { tmp, root, credentials, tokens, keys }
    }

    pub fn token(&self, module: &str) -> &str {
        &self.tokens[module]
    }

    /// The daemon's command over this root, on a free port.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--dir")
            .arg(&self.root)
            .arg("--tenants")
            .arg(tenants_toml())
            .arg("--credentials")
            .arg(&self.credentials)
            .args(["--listen", "127.0.0.1:0"]);
        c
    }

    /// Starts the daemon binary on a free port, with `extra` flags.
    pub fn start(&self, extra: &[&str]) -> Daemon {
        let mut child = self
            .command()
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("service-fsd listening on ") else {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("the daemon did not start: {line}{err}");
        };
        Daemon { child: Some(child), url: url.to_string() }
    }

    /// Every record of `tenant`, read straight from its files as any
    /// tlog-tiles reader would (no lock: the daemon may be running), after
    /// `verify` checked the whole ledger against the tenant's key.
    pub fn records(&self, tenant: &str) -> Vec<Vec<u8>> {
        let log = self.root.join(tenant).join("log");
        let report = verify::verify(&verify::Dir(log.clone()), &self.keys[tenant])
            .unwrap_or_else(|e| panic!("{tenant} does not verify: {e}"));
        let mut out = Vec::new();
        for k in 0..report.size.div_ceil(256) {
            let width = (report.size - k * 256).min(256) as u16;
            let tile = tlog::Tile::entries(k, width);
            let path = log.join(tile.path().as_str());
            let bundle = std::fs::read(&path).unwrap();
            out.extend(unframe(&bundle));
        }
        assert_eq!(out.len() as u64, report.size);
        out
    }
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    pub child: Option<Child>,
    pub url: String,
}

impl Daemon {
    /// Sends SIGTERM and waits; returns whether it exited with status 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else { return false };
        let pid = rustix::process::Pid::from_child(&c);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        c.wait().unwrap().success()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGHUP (reload credentials).
    pub fn hup(&self) {
        let c = self.child.as_ref().unwrap();
        let pid = rustix::process::Pid::from_child(c);
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    /// The error code of a JSON error.
    pub fn code(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// One request.
pub fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    try_call(method, url, token, headers, body).unwrap()
}

/// One request that may fail to get an answer at all.
pub fn try_call(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, ureq::Error> {
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(body.to_vec()).unwrap();
    let mut r = agent().run(req)?;
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut body = Vec::new();
    r.body_mut().as_reader().read_to_end(&mut body)?;
    Ok(Answer { status: r.status().as_u16(), headers, body })
}

pub fn get(url: &str, token: &str) -> Answer {
    call("GET", url, Some(token), &[], b"")
}

/// Records framed as `docs/abi.md` has them.
pub fn framed(records: &[&[u8]]) -> Vec<u8> {
    records.iter().flat_map(|r| [&(r.len() as u16).to_be_bytes()[..], r].concat()).collect()
}

/// Appends `records` framed; returns the answer.
pub fn append(
    d: &Daemon,
    tenant: &str,
    token: &str,
    records: &[&[u8]],
    key: Option<&str>,
) -> Answer {
    try_append(d, tenant, token, records, key).unwrap()
}

/// [`append`], when the daemon may die meanwhile.
pub fn try_append(
    d: &Daemon,
    tenant: &str,
    token: &str,
    records: &[&[u8]],
    key: Option<&str>,
) -> Result<Answer, ureq::Error> {
    let mut h = vec![("content-type", "application/vnd.service-fs.records")];
    if let Some(k) = key {
        h.push(("idempotency-key", k));
    }
    try_call("POST", &format!("{}/v1/{tenant}/records", d.url), Some(token), &h, &framed(records))
}

/// Parses records framing.
pub fn unframe(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    while b.len() >= 2 {
        let n = u16::from_be_bytes([b[0], b[1]]) as usize;
        out.push(b[2..2 + n].to_vec());
        b = &b[2 + n..];
    }
    out
}
