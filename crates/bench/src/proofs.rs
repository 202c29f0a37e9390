//! Proofs over stored tiles at N = 1M: a `Log` over the POSIX store (its
//! tiles verified against the signed tree as it loads them), the audited
//! proofs of the engine (each also one audit commit), the proof algorithm
//! with every node hash in memory (the bound), and Go's `tlog` through
//! `TileHashReader` over the same directory.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow};
use ledger::{Buffers, Caller, Engine, Ledger, Log, NoClock};
use store_posix::PosixStore;
use tenant::{AUDIT_CACHE_TILES, LOG_CACHE_TILES};
use tlog::{Hash, NodeReader, leaf_hash, node_hash};

type HostLedger = Engine<PosixStore, Vec<u8>, NoClock>;

/// What one size measured, microseconds per proof.
pub struct Proofs {
    /// Tree size.
    pub size: u64,
    /// `Log::prove_inclusion`, caches cold at the start.
    pub inclusion_us: f64,
    /// `Log::prove_consistency`, after the inclusion proofs.
    pub consistency_us: f64,
    /// The same inclusion proofs again, every tile they need verified and cached.
    pub warm_inclusion_us: f64,
    /// The same consistency proofs again.
    pub warm_consistency_us: f64,
    /// `Ledger::prove_inclusion`: recorded in the audit ledger first.
    pub audited_us: f64,
    /// One audit commit alone (an audited read of nothing new).
    pub audit_commit_us: f64,
    /// The proof algorithm over node hashes held in memory.
    pub memory_us: f64,
    /// `Ledger::read_since` of every record (one audit commit, every
    /// bundle checked), nanoseconds per record: the median of three
    /// passes, and the first (each tile verified as it is loaded; later
    /// passes find them in the cache).
    pub read_ns: f64,
    /// The first pass.
    pub read_first_ns: f64,
    /// The bound: reading every bundle from the store and hashing each
    /// record once, nanoseconds per record.
    pub read_bound_ns: f64,
    /// Go 1.23 (or Debian's Go) via `TileHashReader`: inclusion and
    /// consistency, with the toolchain's name; `None` without Go.
    pub go: Option<(String, f64, f64)>,
}

/// Every node hash of the tree of `leaves`, level by level.
struct AllNodes(Vec<Vec<Hash>>);

impl AllNodes {
    fn new(leaves: Vec<Hash>) -> AllNodes {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let up = below.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(up);
        }
        AllNodes(levels)
    }
}

impl NodeReader for AllNodes {
    type Error = ();

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        self.0.get(usize::from(level)).and_then(|l| l.get(index as usize)).copied().ok_or(())
    }
}

/// Pseudo-random indexes below `n` (the same sequence every run for a seed).
fn indexes(n: u64, count: usize, seed: u64) -> Vec<u64> {
    let mut x = seed;
    (0..count)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 11) % n
        })
        .collect()
}

fn per_call_us(count: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<f64> {
    let start = Instant::now();
    for i in 0..count {
        f(i)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / count as f64)
}

/// Builds a ledger of `size` 64-byte records in `dir` and measures proofs
/// over it, `count` of each kind.
pub fn measure(dir: &Path, size: u64, count: usize) -> Result<Proofs> {
    let recs = crate::records(64, size as usize);
    for sub in ["log", "audit"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let open = || {
        Engine::open(
            PosixStore::open(dir.join("log"))?,
            PosixStore::open(dir.join("audit"))?,
            crate::signer(),
            NoClock,
            Buffers::<Vec<u8>>::with_cache(LOG_CACHE_TILES, AUDIT_CACHE_TILES),
            65535,
        )
        .map_err(|e| anyhow!("{e}"))
    };
    let (mut e, _) = open()?;
    for chunk in recs.chunks(4096) {
        e.append_batch(chunk.iter().map(Vec::as_slice)).map_err(|e| anyhow!("{e}"))?;
    }
    drop(e);
    let at = indexes(size, count, 12345);
    let olds: Vec<u64> = indexes(size, count, 54321).iter().map(|i| i + 1).collect();

    // The log alone, as a proof server reads it: fresh caches, as large as
    // the daemon's, so that the second pass finds every tile verified.
    let buffers = Buffers::<Vec<u8>>::with_cache(LOG_CACHE_TILES, 0).log;
    let (mut log, _) =
        Log::open(PosixStore::open(dir.join("log"))?, crate::signer(), buffers, 65535)
            .map_err(|e| anyhow!("{e}"))?;
    let pass = |log: &mut Log<PosixStore, Vec<u8>>| -> Result<(f64, f64)> {
        let inclusion = per_call_us(count, |i| {
            log.prove_inclusion(size, at[i]).map(drop).map_err(|e| anyhow!("{e}"))
        })?;
        let consistency = per_call_us(count, |i| {
            log.prove_consistency(size, olds[i]).map(drop).map_err(|e| anyhow!("{e}"))
        })?;
        Ok((inclusion, consistency))
    };
    let (inclusion_us, consistency_us) = pass(&mut log)?;
    let (warm_inclusion_us, warm_consistency_us) = pass(&mut log)?;
    drop(log);

    // The bound: every node hash already in memory.
    let mut nodes = AllNodes::new(recs.iter().map(|r| leaf_hash(r)).collect());
    let memory_us = per_call_us(count, |i| {
        tlog::proof::prove_inclusion(size, at[i], &mut nodes)
            .map(drop)
            .map_err(|_| anyhow!("no proof"))
    })?;

    // Audited: each proof is recorded in the audit ledger (one commit) first.
    let (mut e, _): (HostLedger, _) = open()?;
    let caller = Caller { module: "bench", credential: "uid:0", request: None };
    let audited = count.min(200);
    let audited_us = per_call_us(audited, |i| {
        e.prove_inclusion(&caller, at[i], size).map(drop).map_err(|e| anyhow!("{e}"))
    })?;
    let audit_commit_us = per_call_us(audited, |_| {
        e.read_since(&caller, size, ledger::Limit::entries(1), &mut |_, _| {})
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    let (read_first_ns, read_ns, read_bound_ns) = reads(&mut e, dir, size)?;
    drop(e);

    let vkey = crate::signer().verifier().to_string();
    let go = [oracle::Go::Go123, oracle::Go::Default].into_iter().find(|g| g.installed());
    let go = match go {
        Some(g) => {
            let b = oracle::bench_proofs_with(g, &dir.join("log"), &vkey, count)
                .map_err(anyhow::Error::msg)?;
            Some((g.version().unwrap_or_default(), b.inclusion_ns / 1e3, b.consistency_ns / 1e3))
        }
        None => None,
    };
    Ok(Proofs {
        size,
        inclusion_us,
        consistency_us,
        warm_inclusion_us,
        warm_consistency_us,
        audited_us,
        read_ns,
        read_first_ns,
        read_bound_ns,
        audit_commit_us,
        memory_us,
        go,
    })
}

/// Reads every record through the engine and, interleaved, the bound: the
/// same bundles read from the store and each record hashed once.
fn reads(e: &mut HostLedger, dir: &Path, size: u64) -> Result<(f64, f64, f64)> {
    let caller = Caller { module: "bench", credential: "uid:0", request: None };
    let mut buf = Vec::new();
    let (mut engine, mut bound) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0u64;
        e.read_since(&caller, 0, ledger::Limit::NONE, &mut |_, r| n += r.len() as u64)
            .map_err(|e| anyhow!("{e}"))?;
        engine.push(start.elapsed().as_secs_f64() * 1e9 / size as f64);
        let start = Instant::now();
        let mut sum = 0u8;
        for k in 0..size.div_ceil(256) {
            let t = tlog::Tile::partial(tlog::TileKind::Entries, size)
                .filter(|t| t.index == k)
                .unwrap_or(tlog::Tile::entries(k, 256));
            buf.clear();
            File::open(dir.join("log").join(t.path().as_str()))?.read_to_end(&mut buf)?;
            for r in tlog::bundle::entries(&buf) {
                sum ^= leaf_hash(r.map_err(|_| anyhow!("bad bundle"))?).0[0];
            }
        }
        std::hint::black_box(sum);
        bound.push(start.elapsed().as_secs_f64() * 1e9 / size as f64);
    }
    Ok((engine[0], crate::median(engine), crate::median(bound)))
}
