//! Prometheus metrics (`GET /metrics`), with no tenant names in them: the
//! daemon does not tell a caller which tenants exist.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// The error code of the JSON error.
    pub reason: String,
}

/// Labels of a commit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Log {
    /// `records` or `audit`.
    pub log: String,
}

/// The stores' fsync latencies: observed from `store-posix`, one per process.
static STORE_FSYNC: std::sync::OnceLock<Histogram> = std::sync::OnceLock::new();

fn sync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric the daemon keeps.
pub struct Metrics {
    registry: Registry,
    /// Records appended.
    pub appended_records: Counter,
    /// Append requests answered with indexes (replays included).
    pub append_requests: Counter,
    /// Appends answered from an idempotency key, not appended again.
    pub idempotent_replays: Counter,
    /// Commits, by log.
    pub commits: Family<Log, Counter>,
    /// Records per group commit of appends.
    pub batch_records: Histogram,
    /// Requests per group commit of appends.
    pub batch_requests: Histogram,
    /// Seconds one group commit took (records written, synced, checkpoint replaced).
    pub commit_seconds: Histogram,
    /// Seconds the idempotency journal's fdatasync took.
    pub fsync_seconds: Histogram,
    /// Seconds each fsync or fdatasync of the ledger stores took.
    pub store_fsync_seconds: Histogram,
    /// Audit records written (one per read).
    pub audit_records: Counter,
    /// Reads per audit group commit.
    pub audit_batch: Histogram,
    /// Requests refused, by reason.
    pub refusals: Family<Reason, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("service_fs");
        let m = Metrics {
            appended_records: Counter::default(),
            append_requests: Counter::default(),
            idempotent_replays: Counter::default(),
            commits: Family::default(),
            batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_requests: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            store_fsync_seconds: STORE_FSYNC.get_or_init(sync_histogram).clone(),
            audit_records: Counter::default(),
            audit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            refusals: Family::default(),
            registry: Registry::default(),
        };
        registry.register("appended_records", "Records appended", m.appended_records.clone());
        registry.register("append_requests", "Append requests answered", m.append_requests.clone());
        registry.register(
            "idempotent_replays",
            "Appends answered from their Idempotency-Key",
            m.idempotent_replays.clone(),
        );
        registry.register("commits", "Commits by log", m.commits.clone());
        registry.register("batch_records", "Records per group commit", m.batch_records.clone());
        registry.register("batch_requests", "Requests per group commit", m.batch_requests.clone());
        registry.register("commit_seconds", "Group commit latency", m.commit_seconds.clone());
        registry.register(
            "journal_fsync_seconds",
            "Idempotency journal fdatasync latency",
            m.fsync_seconds.clone(),
        );
        registry.register(
            "store_fsync_seconds",
            "Latency of each fsync and fdatasync of the ledger stores",
            m.store_fsync_seconds.clone(),
        );
        store_posix::observe_syncs(|d| {
            if let Some(h) = STORE_FSYNC.get() {
                h.observe(d.as_secs_f64());
            }
        });
        registry.register("audit_records", "Audit records written", m.audit_records.clone());
        registry.register("audit_batch", "Reads per audit commit", m.audit_batch.clone());
        registry.register("refusals", "Requests refused, by reason", m.refusals.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a refusal.
    pub fn refused(&self, reason: &str) {
        self.refusals.get_or_create(&Reason { reason: reason.into() }).inc();
    }

    /// Counts a commit of `log`.
    pub fn committed(&self, log: &str) {
        self.commits.get_or_create(&Log { log: log.into() }).inc();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
