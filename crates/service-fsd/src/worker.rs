//! One thread per tenant owns its ledger and group-commits: it takes every
//! request waiting, appends all records of all appends as one commit (one
//! fsync round, one signature), records all reads in one audit commit, and
//! only then answers each.

use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use ledger::engine::{Read, Tree};
use ledger::{Caller, ConsistencyProof, Error, InclusionProof, Ledger, ReadSummary, StoreError};
use tenant::{Root, Tenant};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::idempotency::{Done, Journal};
use crate::metrics::Metrics;

/// Who is asking, as their credential says.
#[derive(Clone, Debug)]
pub struct Who {
    /// `<tenant>.<module>`.
    pub module: String,
    /// `token:<8 hex>` or `cert:<8 hex>`.
    pub credential: String,
    /// The daemon's request number.
    pub request: u64,
}

/// Records of an append, checked already: ranges of `body`.
pub struct Records {
    /// The request body.
    pub body: Bytes,
    /// Each record's bytes in it.
    pub ranges: Vec<Range<usize>>,
}

/// An append's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// First index.
    pub first: u64,
    /// Records.
    pub count: u64,
    /// The ledger's size after the commit (or now, for a replay).
    pub tree_size: u64,
    /// Answered from the idempotency journal; nothing was appended.
    pub replayed: bool,
}

/// What an audited read returns.
pub enum Served {
    /// Records, framed, and what was read.
    Records(Vec<u8>, ReadSummary),
    /// An inclusion proof and its audit sequence number.
    Inclusion(Box<InclusionProof>, u64),
    /// A consistency proof and its audit sequence number.
    Consistency(Box<ConsistencyProof>, u64),
    /// A tile's bytes and the audit sequence number.
    Tile(Vec<u8>, u64),
}

type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// The largest tile or bundle: 256 records of the largest size, framed.
const MAX_OBJECT: usize = 256 * (2 + tlog::bundle::MAX_ENTRY_SIZE);

/// An append to commit: its records, its key and body hash, its answer.
type Pending = (Records, Option<(String, [u8; 32])>, Reply<Appended>);

/// A request for a tenant's ledger.
pub enum Job {
    /// Append records, with an optional idempotency key.
    Append {
        /// The records.
        records: Records,
        /// `Idempotency-Key`.
        key: Option<String>,
        /// The answer.
        reply: Reply<Appended>,
    },
    /// An audited read.
    Read {
        /// The caller.
        who: Who,
        /// What.
        read: Read,
        /// The answer.
        reply: Reply<Served>,
    },
    /// The checkpoint of a log: the latest, or signed now (a commit).
    Checkpoint {
        /// Which log.
        tree: Tree,
        /// Commit and sign first.
        sign: bool,
        /// The note.
        reply: Reply<Vec<u8>>,
    },
    /// Sizes of both logs.
    Status {
        /// `(records, audit records)`.
        reply: Reply<(u64, u64)>,
    },
}

impl Job {
    fn records(&self) -> usize {
        match self {
            Job::Append { records, .. } => records.ranges.len(),
            _ => 1,
        }
    }
}

/// A tenant's worker.
pub struct Worker {
    root: Root,
    name: String,
    tenant: Option<Tenant>,
    /// Its witnesses (`fsctl witness add`): every checkpoint counts only
    /// once they all cosigned it.
    witnesses: Vec<witness::client::Configured>,
    /// A checkpoint signed since is not cosigned yet: catch up first.
    uncosigned: bool,
    journal: Journal,
    metrics: Arc<Metrics>,
    window: usize,
    max_batch: usize,
    tile_buf: Vec<u8>,
}

/// The sender side of a tenant's queue.
pub type Queue = mpsc::Sender<Job>;

impl Worker {
    /// Opens tenant `name` of `root` (recovering it) and its idempotency journal.
    pub fn open(
        root: &Root,
        name: &str,
        window: usize,
        max_batch: usize,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Worker> {
        // With witnesses: shown the stored checkpoints before recovery, and
        // caught up (cosigning the current ones) before anything is served.
        let (mut tenant, witnesses) = witness::client::open(root, name)?;
        witness::client::cosign(&mut tenant.engine, &witnesses)?;
        let journal = Journal::open(&root.tenant_dir(name), tenant.engine.size(), window)?;
        Ok(Worker {
            root: root.clone(),
            name: name.into(),
            tenant: Some(tenant),
            witnesses,
            uncosigned: false,
            journal,
            metrics,
            window,
            max_batch,
            tile_buf: vec![0; 1 << 16],
        })
    }

    /// What opening repaired.
    pub fn recovered(&self) -> Option<ledger::Recovered> {
        self.tenant.as_ref().map(|t| t.recovered)
    }

    /// Serves `rx` until every sender is gone, then returns (the queue is drained).
    pub fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.blocking_recv() {
            let mut n = job.records();
            let mut jobs = vec![job];
            while n < self.max_batch {
                match rx.try_recv() {
                    Ok(j) => {
                        n += j.records();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            self.batch(jobs);
        }
        tracing::info!(tenant = %self.name, "tenant closed");
    }

    /// Reopens after a failed commit (recovery runs).
    fn reopen(&mut self) {
        // Its lock goes with it: reopening takes it again, and shows the
        // witnesses the stored checkpoints before recovery runs.
        self.tenant = None;
        self.open_again();
    }

    /// Opens the tenant after a failure (recovery runs); whether it is open.
    fn open_again(&mut self) -> bool {
        match witness::client::open(&self.root, &self.name) {
            Ok((t, ws)) => {
                tracing::warn!(tenant = %self.name, recovered = ?t.recovered, "reopened after a failure");
                self.witnesses = ws;
                self.uncosigned = !self.witnesses.is_empty();
                self.attach(t);
            }
            Err(e) => tracing::error!(tenant = %self.name, "cannot reopen: {e:#}"),
        }
        self.tenant.is_some()
    }

    /// Has the witnesses cosign the current checkpoints; until they have,
    /// nothing signed since counts and nothing more is served.
    fn cosign(&mut self) -> Result<(), ApiError> {
        let Some(t) = self.tenant.as_mut() else {
            return Err(ApiError::unavailable("the ledger is not open"));
        };
        if self.witnesses.is_empty() {
            return Ok(());
        }
        match witness::client::cosign(&mut t.engine, &self.witnesses) {
            Ok(()) => {
                self.uncosigned = false;
                Ok(())
            }
            Err(e) => {
                self.uncosigned = true;
                tracing::warn!(tenant = %self.name, "not cosigned: {e:#}");
                Err(ApiError::unavailable(format!(
                    "the ledger's witnesses have not cosigned its checkpoint ({e:#}); what it signed does not count yet: retry"
                )))
            }
        }
    }

    /// Serves `t` from now on, with its idempotency journal read again and
    /// trimmed to what the ledger holds (a failed commit's lines go).
    fn attach(&mut self, t: Tenant) {
        match Journal::open(&self.root.tenant_dir(&self.name), t.engine.size(), self.window) {
            Ok(j) => {
                self.journal = j;
                self.tenant = Some(t);
            }
            Err(e) => tracing::error!(tenant = %self.name, "idempotency journal: {e}"),
        }
    }

    fn batch(&mut self, jobs: Vec<Job>) {
        if self.tenant.is_none() {
            // A reopen failed earlier: try again, once per batch.
            if !self.open_again() {
                let err = ApiError::unavailable("the ledger cannot be opened now; retry");
                return jobs.into_iter().for_each(|j| fail(j, &err));
            }
        }
        if self.uncosigned
            && let Err(err) = self.cosign()
        {
            return jobs.into_iter().for_each(|j| fail(j, &err));
        }
        let (mut appends, mut reads, mut rest) = (vec![], vec![], vec![]);
        for j in jobs {
            match j {
                Job::Append { records, key, reply } => appends.push((records, key, reply)),
                Job::Read { who, read, reply } => reads.push(((who, read), reply)),
                other => rest.push(other),
            }
        }
        if !appends.is_empty() {
            self.appends(appends);
        }
        if !reads.is_empty() {
            self.reads(reads);
        }
        for j in rest {
            self.other(j);
        }
        if self.tenant.as_ref().is_some_and(|t| t.engine.is_poisoned()) {
            self.reopen();
        }
    }

    fn appends(&mut self, jobs: Vec<(Records, Option<String>, Reply<Appended>)>) {
        let Some(t) = self.tenant.as_mut() else { return };
        let engine = &mut t.engine;
        let size = engine.size();
        // Idempotency: a known key with the same body is answered from the
        // journal; with another body refused. A key twice in this batch:
        // the second waits for the first's answer.
        let mut todo: Vec<Pending> = vec![];
        let mut later: Vec<(usize, Reply<Appended>)> = vec![];
        for (records, key, reply) in jobs {
            let Some(key) = key else {
                todo.push((records, None, reply));
                continue;
            };
            let body = credentials::sha256(&records.body);
            let earlier =
                todo.iter().position(|(_, k, _)| k.as_ref().is_some_and(|(k, _)| *k == key));
            match (self.journal.get(&key), earlier) {
                (Some(d), _) if d.body == body => {
                    self.metrics.idempotent_replays.inc();
                    let a = Appended {
                        first: d.first,
                        count: d.count,
                        tree_size: size,
                        replayed: true,
                    };
                    let _ = reply.send(Ok(a));
                }
                (None, Some(i)) if todo[i].1.as_ref().is_some_and(|(_, b)| *b == body) => {
                    later.push((i, reply));
                }
                (Some(_), _) | (None, Some(_)) => {
                    self.metrics.refused("idempotency_key_reused");
                    let _ = reply.send(Err(ApiError::new(
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for a request with another body",
                    )));
                }
                (None, None) => todo.push((records, Some((key, body)), reply)),
            }
        }
        if todo.is_empty() {
            return;
        }
        // Every request's index range, in order, before anything is written.
        let mut first = size;
        let mut done = Vec::with_capacity(todo.len());
        for (records, _, _) in &todo {
            let count = records.ranges.len() as u64;
            done.push(Done { body: [0; 32], first, count });
            first += count;
        }
        let entries: Vec<(&str, Done)> = todo
            .iter()
            .zip(&done)
            .filter_map(|((_, k, _), d)| {
                k.as_ref().map(|(k, b)| (k.as_str(), Done { body: *b, ..*d }))
            })
            .collect();
        let start = Instant::now();
        let prepared = self.journal.prepare(&entries);
        if !entries.is_empty() {
            self.metrics.fsync_seconds.observe(start.elapsed().as_secs_f64());
        }
        let result = match prepared {
            Err(e) => Err(ApiError::unavailable(format!("idempotency journal: {e}"))),
            Ok(rollback) => {
                let all: Vec<&[u8]> = todo
                    .iter()
                    .flat_map(|(r, _, _)| r.ranges.iter().map(|x| &r.body[x.clone()]))
                    .collect();
                match engine.append_batch(all.iter().copied()) {
                    Ok(range) => {
                        debug_assert_eq!(range.start, size);
                        if let Err(e) = self.journal.committed(&entries) {
                            tracing::warn!(tenant = %self.name, "idempotency journal compaction: {e}");
                        }
                        Ok(range.end)
                    }
                    Err(e) => {
                        if let Err(j) = self.journal.rollback(rollback) {
                            // The journal may now name indexes the next commit
                            // reuses: stop this tenant until it is reopened.
                            tracing::error!(tenant = %self.name, "idempotency journal rollback: {j}");
                            self.tenant = None;
                        }
                        tracing::warn!(tenant = %self.name, "append failed: {e}");
                        Err(ApiError::from_ledger(&e))
                    }
                }
            }
        };
        drop(entries);
        let result = match result {
            Ok(end) => match self.cosign() {
                Ok(()) => Ok(end),
                Err(e) => Err(ApiError {
                    message: format!("records {size} to {} are stored, but {}", end - 1, e.message),
                    ..e
                }),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(end) => {
                let m = &self.metrics;
                m.commit_seconds.observe(start.elapsed().as_secs_f64());
                m.committed("records");
                m.batch_records.observe((end - size) as f64);
                m.batch_requests.observe(todo.len() as f64);
                m.appended_records.inc_by(end - size);
                let answers: Vec<Appended> = done
                    .iter()
                    .map(|d| Appended {
                        first: d.first,
                        count: d.count,
                        tree_size: end,
                        replayed: false,
                    })
                    .collect();
                for (i, reply) in later {
                    m.idempotent_replays.inc();
                    let _ = reply.send(Ok(Appended { replayed: true, ..answers[i] }));
                }
                for ((_, _, reply), a) in todo.into_iter().zip(answers) {
                    m.append_requests.inc();
                    let _ = reply.send(Ok(a));
                }
            }
            Err(err) => {
                self.metrics.refused(err.code);
                for (_, reply) in later {
                    let _ = reply.send(Err(err.clone()));
                }
                for (_, _, reply) in todo {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    fn reads(&mut self, jobs: Vec<((Who, Read), Reply<Served>)>) {
        let Some(t) = self.tenant.as_mut() else { return };
        let engine = &mut t.engine;
        let (asks, replies): (Vec<(Who, Read)>, Vec<Reply<Served>>) = jobs.into_iter().unzip();
        let mut replies: Vec<Option<Reply<Served>>> = replies.into_iter().map(Some).collect();
        let mut plans = Vec::with_capacity(asks.len());
        let mut owner = Vec::with_capacity(asks.len());
        for (i, (who, read)) in asks.iter().enumerate() {
            let caller = Caller {
                module: &who.module,
                credential: &who.credential,
                request: Some(who.request),
            };
            match engine.plan(caller, *read) {
                Ok(p) => {
                    plans.push(p);
                    owner.push(i);
                }
                Err(e) => {
                    let err = ApiError::from_ledger(&e);
                    self.metrics.refused(err.code);
                    if let Some(r) = replies[i].take() {
                        let _ = r.send(Err(err));
                    }
                }
            }
        }
        if plans.is_empty() {
            return;
        }
        if let Err(e) = engine.record_planned(&mut plans) {
            let err = ApiError::from_ledger(&e);
            tracing::warn!(tenant = %self.name, "audit commit failed: {e}");
            self.metrics.refused(err.code);
            for i in owner {
                if let Some(r) = replies[i].take() {
                    let _ = r.send(Err(err.clone()));
                }
            }
            return;
        }
        if let Err(err) = self.cosign() {
            for i in owner {
                if let Some(r) = replies[i].take() {
                    let _ = r.send(Err(err.clone()));
                }
            }
            return;
        }
        let Some(t) = self.tenant.as_mut() else { return };
        let engine = &mut t.engine;
        self.metrics.committed("audit");
        self.metrics.audit_records.inc_by(plans.len() as u64);
        self.metrics.audit_batch.observe(plans.len() as f64);
        for (p, i) in plans.iter().zip(owner) {
            let seq = p.audit_seq().unwrap_or_default();
            let served = match p.read() {
                Read::Records { .. } => {
                    let mut out = Vec::new();
                    engine
                        .serve_records(p, &mut |_, r| {
                            out.extend_from_slice(&(r.len() as u16).to_be_bytes());
                            out.extend_from_slice(r);
                        })
                        .map(|s| Served::Records(out, s))
                }
                Read::Inclusion { .. } => {
                    engine.serve_inclusion(p).map(|x| Served::Inclusion(Box::new(x), seq))
                }
                Read::Consistency { .. } => {
                    engine.serve_consistency(p).map(|x| Served::Consistency(Box::new(x), seq))
                }
                Read::Tile { .. } => loop {
                    match engine.serve_tile(p, &mut self.tile_buf) {
                        // No tile or bundle is larger than a full bundle of
                        // the largest records; a bigger file is not one.
                        Err(Error::Store(StoreError::TooSmall { needed }))
                            if needed <= MAX_OBJECT && needed > self.tile_buf.len() =>
                        {
                            self.tile_buf.resize(needed, 0);
                        }
                        Err(Error::Store(StoreError::TooSmall { .. })) => {
                            break Err(Error::Corrupt {
                                tile: None,
                                what: "an object larger than any tile",
                            });
                        }
                        r => break r.map(|n| Served::Tile(self.tile_buf[..n].to_vec(), seq)),
                    }
                },
            };
            let served = served.map_err(|e| {
                tracing::warn!(tenant = %self.name, "serving a recorded read failed: {e}");
                ApiError::from_ledger(&e)
            });
            if let Some(r) = replies[i].take() {
                let _ = r.send(served);
            }
        }
    }

    fn other(&mut self, job: Job) {
        let Some(t) = self.tenant.as_mut() else {
            return fail(job, &ApiError::unavailable("the ledger is not open"));
        };
        let e = &mut t.engine;
        match job {
            Job::Checkpoint { tree, sign, reply } => {
                if sign {
                    let signed = match tree {
                        Tree::Log => e.checkpoint().map(drop),
                        Tree::Audit => e.audit_checkpoint().map(drop),
                    };
                    let cosigned = signed.map_err(|e| ApiError::from_ledger(&e));
                    if let Err(err) = cosigned.and_then(|()| self.cosign()) {
                        let _ = reply.send(Err(err));
                        return;
                    }
                }
                let Some(t) = self.tenant.as_ref() else { return };
                let note = match tree {
                    Tree::Log => t.engine.log().checkpoint(),
                    Tree::Audit => t.engine.audit().checkpoint(),
                };
                let _ = reply.send(Ok(note.to_vec()));
            }
            Job::Status { reply } => {
                let _ = reply.send(Ok((e.size(), e.audit_size())));
            }
            j => fail(
                j,
                &ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "misrouted",
                ),
            ),
        }
    }
}

/// Answers `job` with `err`.
fn fail(job: Job, err: &ApiError) {
    match job {
        Job::Append { reply, .. } => drop(reply.send(Err(err.clone()))),
        Job::Read { reply, .. } => drop(reply.send(Err(err.clone()))),
        Job::Checkpoint { reply, .. } => drop(reply.send(Err(err.clone()))),
        Job::Status { reply } => drop(reply.send(Err(err.clone()))),
    }
}
