//! `service-fsd`: the service-fs ledger engine over POSIX storage, behind
//! authenticated HTTP (docs/http.md).
//!
//! - [`config`] reads `service-fs.toml`.
//! - [`worker`]: one thread per tenant owns its ledger and group-commits.
//! - [`http`] has the routes; identity comes from the credential alone.
//! - [`tls`] serves them over HTTPS, taking client certificates, when
//!   `[tls]` is configured.
//! - [`idempotency`]: retries with an `Idempotency-Key` never double-append.
//! - [`metrics`] keeps the Prometheus metrics.
//!
//! No ledger logic lives here: appends, audited reads, proofs and tiles are
//! the engine's (`ledger`), storage is `store-posix`'s, and tenants and
//! roles come from the `tenants.toml` the seL4 build uses.

pub mod config;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod metrics;
pub mod tls;
pub mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use abi::client::Role;
use anyhow::{Context, Result, bail};
use tenant::Root;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::http::{AppState, TenantInfo};
use crate::metrics::Metrics;
use crate::worker::Worker;

/// Tenant names that would collide with the daemon's own routes.
const RESERVED: [&str; 3] = ["v1", "healthz", "metrics"];

/// A daemon ready to serve: its tenants open and recovered.
pub struct Daemon {
    state: Arc<AppState>,
    workers: Vec<JoinHandle<()>>,
    credentials_path: std::path::PathBuf,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Daemon {
    /// Opens every tenant `tenants.toml` names (each must exist in the
    /// ledger root: `fsctl init` creates them, the daemon never does) and
    /// reads the credentials and the TLS files, if any.
    pub fn open(cfg: &Config) -> Result<Daemon> {
        let tls = cfg.tls.as_ref().map(tls::server_config).transpose()?;
        let tenants = sysgen::load_tenants(&cfg.tenants)?;
        let creds = credentials::File::load(&cfg.credentials)?.index();
        if creds.is_empty() {
            tracing::warn!(
                "{} holds no credentials: every request will be refused (add one with `fsctl token add`)",
                cfg.credentials.display()
            );
        }
        let root = Root::new(&cfg.dir);
        let metrics = Arc::new(Metrics::default());
        let mut infos = HashMap::new();
        let mut workers = Vec::new();
        for t in &tenants.tenant {
            if RESERVED.contains(&t.name.as_str()) {
                bail!("tenant name {:?} is reserved for the daemon's own routes", t.name);
            }
            let l = &cfg.limits;
            let w = Worker::open(
                &root,
                &t.name,
                l.idempotency_window,
                l.max_batch_records,
                metrics.clone(),
            )
            .with_context(|| {
                format!(
                    "tenant {:?} in {} (create it with `fsctl --dir {} init {}`)",
                    t.name,
                    cfg.dir.display(),
                    cfg.dir.display(),
                    t.name
                )
            })?;
            if let Some(r) = w.recovered().filter(|r| r.log.repaired() || r.audit.repaired()) {
                tracing::warn!(tenant = %t.name, recovered = ?r, "recovered an interrupted commit");
            }
            let (tx, rx) = mpsc::channel(l.queue_per_tenant);
            let name = t.name.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ledger-{name}"))
                .spawn(move || w.run(rx))
                .context("starting a tenant thread")?;
            workers.push(thread);
            let modules: HashMap<String, Role> = t
                .modules
                .iter()
                .filter_map(|m| Some((m.name.clone(), Role::parse(&m.role)?)))
                .collect();
            infos.insert(t.name.clone(), TenantInfo { queue: tx, modules });
        }
        let max_record = tenants.system.max_record;
        let state = Arc::new(AppState::new(infos, creds, max_record, cfg.limits.clone(), metrics));
        Ok(Daemon { state, workers, credentials_path: cfg.credentials.clone(), tls })
    }

    /// `https` when it serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves on `listener` until `stop` resolves, then drains: in-flight
    /// requests are answered, every tenant's queue is emptied and its
    /// ledger closed before this returns.
    pub fn serve(
        self,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        listener.set_nonblocking(true).context("listening")?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let Daemon { state, workers, credentials_path, tls } = self;
        let served = rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).context("listening")?;
            tokio::spawn(reload_on_hup(state.clone(), credentials_path));
            let app = http::router(state.clone());
            drop(state);
            match tls {
                Some(config) => tls::serve(listener, config, app, stop).await,
                None => {
                    axum::serve(listener, app).with_graceful_shutdown(stop).await.context("serving")
                }
            }
        });
        // The router (and with it every queue's sender) is gone: each worker
        // finishes what is queued and stops.
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
        for w in workers {
            let _ = w.join();
        }
        served
    }
}

/// Re-reads the credentials file on SIGHUP.
async fn reload_on_hup(state: Arc<AppState>, path: std::path::PathBuf) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        match credentials::File::load(&path) {
            Ok(f) => {
                let creds = f.index();
                tracing::info!(credentials = creds.len(), "reloaded {}", path.display());
                *state.credentials.write().unwrap_or_else(|p| p.into_inner()) = creds;
            }
            Err(e) => tracing::error!("keeping the old credentials: {e}"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
        _ = int.recv() => tracing::info!("SIGINT: draining"),
    }
}
