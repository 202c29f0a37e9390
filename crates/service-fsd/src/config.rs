//! `service-fs.toml`: where the ledgers are, where to listen, the shared
//! `tenants.toml`, the credentials file, TLS, and the limits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::Deserialize;

/// The default address: loopback only, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8417";

/// `service-fs.toml`. Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The ledger root (one directory per tenant, as `fsctl init` makes them).
    pub dir: PathBuf,
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The tenants file shared with the seL4 build (`make system`).
    #[serde(default = "default_tenants")]
    pub tenants: PathBuf,
    /// Module credentials (`fsctl token add`).
    #[serde(default = "default_credentials")]
    pub credentials: PathBuf,
    /// HTTPS, and client certificates, if any (plain HTTP without).
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
}

/// `[tls]`: serve HTTPS, and accept client certificates as credentials.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The server's certificate chain, PEM, its own certificate first.
    pub cert: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CAs whose client certificates are accepted, PEM. With it a client
    /// may present a certificate (one `fsctl token add-cert` registered is
    /// a credential); one without still may use a bearer token. Without
    /// it, no client certificate is asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Request limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Most records one read returns.
    pub max_read_records: u64,
    /// Most bytes one read returns (records framed).
    pub max_read_bytes: usize,
    /// A request not answered in this time gets 408 (an append may still
    /// commit: retry with its `Idempotency-Key`).
    pub request_timeout_ms: u64,
    /// Requests per second each module may make (0: unlimited).
    pub rate_per_module: u32,
    /// Requests a module may make at once above its rate.
    pub burst_per_module: u32,
    /// Idempotency keys remembered per tenant (the most recent ones).
    pub idempotency_window: usize,
    /// Most records in one group commit.
    pub max_batch_records: usize,
    /// Requests waiting for a tenant's ledger before new ones are refused (503).
    pub queue_per_tenant: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 4 << 20,
            max_read_records: 4096,
            max_read_bytes: 4 << 20,
            request_timeout_ms: 30_000,
            rate_per_module: 0,
            burst_per_module: 1000,
            idempotency_window: 100_000,
            max_batch_records: 8192,
            queue_per_tenant: 65_536,
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("a valid address")
}

fn default_tenants() -> PathBuf {
    "tenants.toml".into()
}

fn default_credentials() -> PathBuf {
    "credentials.toml".into()
}

impl Config {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Config =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut paths = vec![&mut cfg.dir, &mut cfg.tenants, &mut cfg.credentials];
        if let Some(t) = &mut cfg.tls {
            paths.extend([&mut t.cert, &mut t.key]);
            paths.extend(t.client_ca.as_mut());
        }
        for p in paths {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        cfg.check()?;
        Ok(cfg)
    }

    /// A configuration from flags alone: `tenants.toml` and
    /// `credentials.toml` in the current directory unless given.
    pub fn from_dir(dir: PathBuf) -> Config {
        Config {
            dir,
            listen: default_listen(),
            tenants: default_tenants(),
            credentials: default_credentials(),
            tls: None,
            limits: Limits::default(),
        }
    }

    /// Checks the limits make sense.
    pub fn check(&self) -> Result<()> {
        let l = &self.limits;
        ensure!(l.max_body >= 1024, "limits.max_body must be at least 1024");
        ensure!(l.max_read_records >= 1, "limits.max_read_records must be at least 1");
        ensure!(l.max_read_bytes >= 65_537, "limits.max_read_bytes must hold the largest record");
        ensure!(l.request_timeout_ms >= 1, "limits.request_timeout_ms must be at least 1");
        ensure!(l.burst_per_module >= 1, "limits.burst_per_module must be at least 1");
        ensure!(l.max_batch_records >= 1, "limits.max_batch_records must be at least 1");
        ensure!(l.queue_per_tenant >= 1, "limits.queue_per_tenant must be at least 1");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("service-fs.toml");
        let text = "dir = \"ledgers\"\n[tls]\ncert = \"server.pem\"\nkey = \"/etc/k.pem\"\n";
        std::fs::write(&path, text).unwrap();
        let tls = Config::load(&path).unwrap().tls.unwrap();
        assert_eq!(tls.cert, dir.path().join("server.pem"));
        assert_eq!(tls.key, Path::new("/etc/k.pem"));
        assert_eq!(tls.client_ca, None);
        std::fs::write(&path, format!("{text}client_ca = \"ca.pem\"\n")).unwrap();
        let tls = Config::load(&path).unwrap().tls.unwrap();
        assert_eq!(tls.client_ca, Some(dir.path().join("ca.pem")));
        std::fs::write(&path, "dir = \"d\"\n").unwrap();
        assert!(Config::load(&path).unwrap().tls.is_none());
        std::fs::write(&path, "dir = \"d\"\n[tls]\ncert = \"c.pem\"\n").unwrap();
        assert!(Config::load(&path).is_err(), "a key is needed");
    }
}
