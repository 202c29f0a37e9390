//! `service-fsd` under load on loopback: a bounded load generator (each of
//! N clients one keep-alive connection with one request at a time)
//! appending single 64-byte records durably, then reading them back, with
//! latency percentiles. The daemon runs as its own process, from the
//! release build beside this one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one load level measured.
pub struct Load {
    /// Requests answered per second.
    pub per_sec: f64,
    /// Latency percentiles, milliseconds: the median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Records per group commit, from the daemon's metrics.
    pub batch: f64,
}

/// The daemon over a fresh root in `scratch`, with one tenant `bench`.
pub struct Daemon {
    child: Child,
    addr: String,
    writer: String,
    reader: String,
    metrics_before: (f64, f64),
}

const TENANTS: &str = r#"
[system]
max_record = 1024
client_buffer = 0x10000
records_size = 0x800000
audit_size = 0x200000
psdb_memory = 0x400000

[[tenant]]
name = "bench"
modules = [
    { name = "writer", role = "ring1" },
    { name = "reader", role = "ring2" },
]
"#;

impl Daemon {
    /// Starts it.
    pub fn start(scratch: &Path) -> Result<Daemon> {
        let bin = std::env::current_exe()?.with_file_name("service-fsd");
        anyhow::ensure!(bin.exists(), "build service-fsd first (make bench does)");
        let _ = std::fs::remove_dir_all(scratch);
        std::fs::create_dir_all(scratch)?;
        let tenants = scratch.join("tenants.toml");
        std::fs::write(&tenants, TENANTS)?;
        let creds = scratch.join("credentials.toml");
        tenant::Root::new(scratch.join("root")).init("bench", None)?;
        let writer = credentials::add_token(&creds, "bench", "writer")?;
        let reader = credentials::add_token(&creds, "bench", "reader")?;
        let mut child = Command::new(bin)
            .arg("--dir")
            .arg(scratch.join("root"))
            .arg("--tenants")
            .arg(&tenants)
            .arg("--credentials")
            .arg(&creds)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting service-fsd")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("its output")?).read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("service-fsd listening on http://") else {
            bail!("service-fsd did not start: {line}");
        };
        let addr = url.to_string();
        Ok(Daemon { child, addr, writer, reader, metrics_before: (0.0, 0.0) })
    }

    /// Appended records and record commits so far, from `/metrics`.
    fn counts(&self, rt: &tokio::runtime::Runtime) -> Result<(f64, f64)> {
        let text = rt.block_on(get_text(&self.addr, "/metrics"))?;
        let find = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        Ok((
            find("service_fs_appended_records_total"),
            find("service_fs_commits_total{log=\"records\"}"),
        ))
    }

    /// `clients` clients appending one 64-byte record per request for `secs`.
    pub fn appends(&mut self, clients: usize, secs: f64) -> Result<Load> {
        let rt = runtime()?;
        self.metrics_before = self.counts(&rt)?;
        let path = "/v1/bench/records".to_string();
        let token = self.writer.clone();
        let (per_sec, mut lat) = rt.block_on(run(&self.addr, clients, secs, move |i, out| {
            let mut body = [0u8; 64];
            body[..8].copy_from_slice(&i.to_be_bytes());
            request("POST", &path, &token, "application/octet-stream", &body, out)
        }))?;
        let (recs, commits) = self.counts(&rt)?;
        let batch = (recs - self.metrics_before.0) / (commits - self.metrics_before.1).max(1.0);
        Ok(load(per_sec, &mut lat, batch))
    }

    /// `clients` clients calling `GET /healthz` (no credential, no ledger):
    /// what HTTP alone costs on this machine, the same-run ceiling for the
    /// rows above.
    pub fn health(&mut self, clients: usize, secs: f64) -> Result<Load> {
        let rt = runtime()?;
        let (per_sec, mut lat) = rt.block_on(run(&self.addr, clients, secs, move |_, out| {
            request("GET", "/healthz", "none", "text/plain", &[], out)
        }))?;
        Ok(load(per_sec, &mut lat, 0.0))
    }

    /// `clients` clients each reading one record per request (audited).
    pub fn reads(&mut self, clients: usize, secs: f64, size: u64) -> Result<Load> {
        let rt = runtime()?;
        let token = self.reader.clone();
        let (per_sec, mut lat) = rt.block_on(run(&self.addr, clients, secs, move |i, out| {
            let path =
                format!("/v1/bench/records?from={}&max=1", i.wrapping_mul(7919) % size.max(1));
            request("GET", &path, &token, "application/octet-stream", &[], out)
        }))?;
        Ok(load(per_sec, &mut lat, 0.0))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("runtime")
}

/// Writes an HTTP/1.1 request into `out` (emptied first).
fn request(method: &str, path: &str, token: &str, ct: &str, body: &[u8], out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.clear();
    let _ = write!(
        out,
        "{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\n\
         content-type: {ct}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body);
}

/// One keep-alive connection, one request at a time: requests are
/// written as prepared bytes and only the status and the body's length are
/// read from the answer, so the load generator's own cost per request (it
/// shares the machine with the daemon) stays a small part of the figure.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: vec![0; 64 * 1024] })
    }

    /// Sends `req` and reads the whole answer: its status and body.
    async fn call(&mut self, req: &[u8]) -> Result<(u16, &[u8])> {
        self.stream.write_all(req).await?;
        let mut filled = 0;
        loop {
            if filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.stream.read(&mut self.buf[filled..]).await?;
            if n == 0 {
                bail!("the daemon closed the connection");
            }
            filled += n;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(head) = resp.parse(&self.buf[..filled])? else {
                continue;
            };
            let status = resp.code.context("no status")?;
            let length = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse::<usize>().ok())
                .context("an answer without content-length")?;
            let end = head + length;
            if self.buf.len() < end {
                self.buf.resize(end, 0);
            }
            while filled < end {
                let n = self.stream.read(&mut self.buf[filled..end]).await?;
                if n == 0 {
                    bail!("the daemon closed the connection mid-answer");
                }
                filled += n;
            }
            anyhow::ensure!(filled == end, "bytes after the answer to one request");
            return Ok((status, &self.buf[head..end]));
        }
    }
}

async fn get_text(addr: &str, path: &str) -> Result<String> {
    let mut req = Vec::new();
    request("GET", path, "none", "text/plain", &[], &mut req);
    let mut conn = Conn::open(addr).await?;
    let (_, body) = conn.call(&req).await?;
    Ok(String::from_utf8_lossy(body).into_owned())
}

/// Runs `clients` connections, each sending the request `make(i, out)`
/// writes, one after another, for `secs`; returns requests per second and
/// every latency (ms).
async fn run(
    addr: &str,
    clients: usize,
    secs: f64,
    make: impl Fn(u64, &mut Vec<u8>) + Send + Sync + 'static,
) -> Result<(f64, Vec<f64>)> {
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut conn = Conn::open(addr).await?;
        let (make, stop) = (make.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut req = Vec::new();
            let mut i = c as u64 * 1_000_000_000;
            while !stop.load(Ordering::Relaxed) {
                make(i, &mut req);
                let t = Instant::now();
                let (status, _) = conn.call(&req).await?;
                if !(200..300).contains(&status) {
                    bail!("status {status}");
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok((all.len() as f64 / elapsed, all))
}

/// The load of `per_sec` requests answered with latencies `lat` (ms).
fn load(per_sec: f64, lat: &mut [f64], batch: f64) -> Load {
    let [p50_ms, p90_ms, p99_ms, p999_ms] = percentiles(lat, [0.50, 0.90, 0.99, 0.999]);
    Load { per_sec, p50_ms, p90_ms, p99_ms, p999_ms, batch }
}

fn percentiles<const N: usize>(lat: &mut [f64], qs: [f64; N]) -> [f64; N] {
    if lat.is_empty() {
        return [0.0; N];
    }
    lat.sort_by(f64::total_cmp);
    qs.map(|q| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)])
}
