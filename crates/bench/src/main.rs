//! `make bench`: service-fs throughput next to baselines measured in the
//! same run, since these machines are noisy. Every figure is the median of
//! several runs; the report goes to standard output and, with `--write`,
//! to `docs/performance.md`.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use ledger::{Buffers, Engine, Ledger, NoClock};
use ledger::{Recovery, StoreError, TileStore};
use note::Signer;
use sha2::{Digest, Sha256};
use store_mem::{MemStore, Never};
use store_posix::PosixStore;
use tlog::Tile;

/// The allocator service-fsd ships with: glibc's maps and unmaps every
/// large block (an entry bundle of 1 KiB records is 256 KiB), so a store
/// in memory would be measured faulting pages in rather than storing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod daemon;
mod peer;
mod plot;
mod proofs;
mod sel4;

/// Records per commit for the in-memory figures (group commit).
const BATCH: usize = 4096;

/// Tessera's POSIX driver, as its authors report it (12-core machine).
const TESSERA_POSIX_WRITES_PER_SEC: f64 = 2_900.0;

#[derive(Parser)]
struct Args {
    /// Write the report to this Markdown file.
    #[arg(long)]
    write: Option<PathBuf>,
    /// Small counts, for a smoke test.
    #[arg(long)]
    quick: bool,
    /// Directory for the durable benchmark (must be on the disk under test, not tmpfs).
    #[arg(long, default_value = "target/bench-tmp")]
    scratch: PathBuf,
    /// Only the daemon's rows (service-fsd over HTTP), against a raw fsync.
    #[arg(long)]
    daemon_only: bool,
    /// Only the proof rows, over a stored ledger.
    #[arg(long, conflicts_with = "daemon_only")]
    proofs_only: bool,
    /// Only the seL4 image's rows and notes (needs `MICROKIT_SDK`).
    #[arg(long, conflicts_with_all = ["daemon_only", "proofs_only"])]
    sel4_only: bool,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `count` records of `size` bytes, distinct in their first 8 bytes.
fn records(size: usize, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut r: Vec<u8> = (0..size).map(|b| b as u8).collect();
            r[..8].copy_from_slice(&(i as u64).to_be_bytes());
            r
        })
        .collect()
}

fn signer() -> Signer {
    Signer::from_seed("bench.example/log", [7; 32]).unwrap_or_else(|_| unreachable!())
}

/// A store that keeps nothing: measures the engine alone (hashing, tiles,
/// bundles, signed checkpoints) without the cost of holding the bytes.
struct Discard;

impl TileStore for Discard {
    type Error = store_mem::Never;
    fn get(&mut self, _: &Tile, _: &mut [u8]) -> Result<Option<usize>, StoreError<Never>> {
        Ok(None)
    }
    fn put(&mut self, _: &Tile, _: &[u8]) -> Result<(), StoreError<Never>> {
        Ok(())
    }
    fn sync(&mut self) -> Result<(), StoreError<Never>> {
        Ok(())
    }
    fn get_checkpoint(&mut self, _: &mut [u8]) -> Result<Option<usize>, StoreError<Never>> {
        Ok(None)
    }
    fn replace_checkpoint(&mut self, _: &[u8], _: &[u8]) -> Result<(), StoreError<Never>> {
        Ok(())
    }
    fn recover(&mut self, _: u64) -> Result<Recovery, StoreError<Never>> {
        Ok(Recovery::default())
    }
}

/// Nanoseconds per record appending `recs` in batches to an engine over `store`.
fn engine_memory<S: TileStore>(
    store: impl Fn() -> S,
    recs: &[Vec<u8>],
    batch: usize,
) -> Result<f64> {
    let (mut e, _) =
        Engine::open(store(), store(), signer(), NoClock, Buffers::<Vec<u8>>::default(), 65535)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = Instant::now();
    for chunk in recs.chunks(batch) {
        e.append_batch(chunk.iter().map(Vec::as_slice)).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(start.elapsed().as_nanos() as f64 / recs.len() as f64)
}

/// The bench PD's records: 64 bytes, the first 8 the index.
fn records_for_chain(n: u64) -> Vec<Vec<u8>> {
    records(64, n as usize)
}

/// Nanoseconds per record for SHA-256 of each record: the hashing bound.
fn sha256_raw(recs: &[Vec<u8>]) -> f64 {
    let start = Instant::now();
    let mut acc = 0u8;
    for r in recs {
        acc ^= Sha256::digest(r)[0];
    }
    std::hint::black_box(acc);
    start.elapsed().as_nanos() as f64 / recs.len() as f64
}

/// Nanoseconds per record for the Merkle hashing alone: a leaf hash and
/// (on average) one node hash, with the tile bookkeeping of `tlog::Builder`.
fn merkle_only(recs: &[Vec<u8>]) -> f64 {
    let mut b = tlog::Builder::new();
    let start = Instant::now();
    for r in recs {
        let _ = b.push(tlog::leaf_hash(r));
    }
    std::hint::black_box(b.root());
    start.elapsed().as_nanos() as f64 / recs.len() as f64
}

/// Durable appends per second to a POSIX ledger in `dir`.
fn engine_posix(dir: &Path, recs: &[Vec<u8>], batch: usize) -> Result<f64> {
    for sub in ["log", "audit"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let (mut e, _) = Engine::open(
        PosixStore::open(dir.join("log"))?,
        PosixStore::open(dir.join("audit"))?,
        signer(),
        NoClock,
        Buffers::<Vec<u8>>::default(),
        65535,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = Instant::now();
    for chunk in recs.chunks(batch) {
        e.append_batch(chunk.iter().map(Vec::as_slice)).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(recs.len() as f64 / start.elapsed().as_secs_f64())
}

/// Raw `write` + `fsync` of a new 64-byte file, per second: the disk's bound.
fn fsync_rate(dir: &Path, n: usize) -> Result<f64> {
    fs::create_dir_all(dir)?;
    let start = Instant::now();
    for i in 0..n {
        let mut f = File::create(dir.join(format!("f{i}")))?;
        f.write_all(&[0u8; 64])?;
        f.sync_all()?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Writes the bench system to `dir`: `system.xml` with the bench program
/// in the harness's place, and its workload (records, records per append,
/// record size, status calls) prefilled into the probe region.
fn bench_system(dir: &Path, workload: [u64; 4]) -> Result<()> {
    let [records, batch, size, status] = workload;
    let g = sysgen::generate_harness_only(Path::new("."), sysgen::DEFAULT_BOARD, None)?;
    qemu_runner::workload::write_system(
        dir,
        &g,
        &qemu_runner::workload::bench_cfg(records, batch, size, status),
    )?;
    Ok(())
}

/// The PD chain in the simulator: a bench client appends through wire, the
/// ledger and psdb, each a process. Returns (appends/s, ms per status call
/// round trip through two hops, psdb calls per commit).
fn pd_chain(records: u64, batch: u64, size: u64, status_calls: u64) -> Result<(f64, f64, f64)> {
    let sim = std::env::current_exe()?.with_file_name("simulator");
    anyhow::ensure!(sim.exists(), "build the simulator first (make bench does)");
    let dir = tempfile::tempdir()?;
    bench_system(dir.path(), [records, batch, size, status_calls])?;
    let run = |args: &[&str]| {
        std::process::Command::new(&sim).current_dir(dir.path()).args(args).output()
    };
    run(&["keys", "system.xml"])?;
    let out = run(&["boot", "system.xml", "--until-idle", "--timeout", "600", "--stats"])?;
    let console = String::from_utf8_lossy(&out.stdout);
    let find = |prefix: &str| -> Option<f64> {
        let line = console.lines().find(|l| l.contains(prefix))?;
        line.split_whitespace().rev().nth(1)?.parse().ok()
    };
    let (Some(status_us), Some(append_us)) = (find("bench: status calls"), find("bench: appends"))
    else {
        anyhow::bail!("the bench PD printed no figures:\n{console}");
    };
    let (status_ms, append_ms) = (status_us / 1000.0, append_us / 1000.0);
    let psdb_calls: f64 = console
        .lines()
        .find(|l| l.contains("calls ledger_acme -> psdb:"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    let commits = records.div_ceil(batch) as f64;
    Ok((
        records as f64 / (append_ms.max(0.001) / 1000.0),
        status_ms / status_calls as f64,
        psdb_calls / commits,
    ))
}

struct Row {
    what: String,
    value: String,
    ratio: String,
}

/// The rows measured so far, each also printed (to stderr) the moment it
/// is measured, so a long run shows its progress.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    /// The numbers the plots show.
    figures: plot::Figures,
}

impl Report {
    fn push(&mut self, row: Row) {
        eprintln!("bench: {}: {} ({})", row.what, row.value, row.ratio);
        self.rows.push(row);
    }

    fn extend(&mut self, rows: impl IntoIterator<Item = Row>) {
        rows.into_iter().for_each(|r| self.push(r));
    }
}

/// Says on stderr what is measured next.
fn progress(what: &str) {
    eprintln!("bench: measuring {what} ...");
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (runs, scale) = if args.quick { (3, 20) } else { (7, 1) };
    let mut rows = Report::default();
    let mut notes = Vec::new();
    if args.write.is_some() {
        // Before measuring, so that a missing font does not cost a run.
        plot::load_font()?;
    }
    if args.daemon_only {
        let scratch = args.scratch.join(format!("run-{}", std::process::id()));
        let fsyncs = fsync_rate(&scratch.join("fsync"), 200)?;
        daemon_rows(&scratch.join("daemon"), args.quick, fsyncs, &mut rows)?;
        let _ = fs::remove_dir_all(&scratch);
        print!("{}", render(&rows.rows, &notes));
        // The report stays as the last full run wrote it; the latency plot is redrawn.
        if let Some(path) = &args.write {
            write_plots(path, &rows.figures)?;
        }
        return Ok(());
    }
    if args.proofs_only {
        let scratch = args.scratch.join(format!("run-{}", std::process::id()));
        let measured = proof_rows(&scratch.join("proofs"), args.quick, &mut rows);
        let _ = fs::remove_dir_all(&scratch);
        measured?;
        print!("{}", render(&rows.rows, &notes));
        return Ok(());
    }
    if args.sel4_only {
        let (sel4_rows, sel4_notes) = sel4::rows(args.quick)?;
        rows.extend(sel4_rows);
        print!("{}", render(&rows.rows, &sel4_notes));
        return Ok(());
    }

    let go123 = oracle::Go::Go123.installed();
    if !go123 {
        notes.push(
            "Go 1.23 rows: skipped, /usr/lib/go-1.23 is missing (`scripts/setup.sh bench`, \
             which `make bench` runs, installs it from bookworm-backports)."
                .into(),
        );
    }
    let mut at64 = None;
    for (size, count) in [(64usize, 200_000usize), (256, 100_000), (1024, 50_000)] {
        let m = by_size(size, count / scale, runs, go123)?;
        size_rows(size, &m, &mut rows);
        at64.get_or_insert(m);
    }
    if let Some(base) = &at64 {
        batch_rows(runs, scale, base, &mut rows)?;
    }

    let one = records(64, 2_000 / scale);
    let single =
        median((0..runs).map(|_| engine_memory(|| Discard, &one, 1)).collect::<Result<_>>()?);
    rows.push(Row {
        what: "engine core, 64-byte records, one commit (signed checkpoint) each".into(),
        value: format!("{:.0} records/s ({single:.0} ns each)", 1e9 / single),
        ratio: "signing dominates".into(),
    });

    let one_hop_ms = {
        let mut hop = 0.0;
        for (records, batch) in [(300u64, 1u64), (2_000, 16), (8_000, 64)] {
            let records = (records / scale.min(4) as u64).max(batch);
            let recs = records_for_chain(records);
            let engine = median(
                (0..3)
                    .map(|_| engine_memory(MemStore::new, &recs, batch as usize))
                    .collect::<Result<_>>()?,
            );
            let (rate, status_ms, psdb_per_commit) =
                pd_chain(records, batch, 64, 1000 / scale as u64)?;
            hop = status_ms / 2.0;
            let commit_ms = batch as f64 * 1000.0 / rate;
            let ipc_ms = (2.0 + psdb_per_commit) * hop;
            rows.push(Row {
                what: format!("PD chain in the simulator (client, wire, ledger, psdb processes), 64-byte records, batches of {batch}"),
                value: format!("{rate:.0} appends/s"),
                ratio: format!(
                    "engine alone {:.0} appends/s ({:.0}x); a commit takes {commit_ms:.2} ms and makes {:.1} protected calls, ~{:.0}% of its time at this run's cost per call",
                    1e9 / engine,
                    (1e9 / engine) / rate,
                    2.0 + psdb_per_commit,
                    (100.0 * ipc_ms / commit_ms).min(100.0)
                ),
            });
        }
        hop
    };
    rows.push(Row {
        what: "one protected call in the simulator (a hop: kernel process and two PD processes)"
            .into(),
        value: format!("{:.0} µs", one_hop_ms * 1000.0),
        ratio: "socket round trips; on seL4 a call is a kernel IPC".into(),
    });

    let (sel4_rows, sel4_notes) = sel4::rows(args.quick)?;
    rows.extend(sel4_rows);
    notes.extend(sel4_notes);

    // Every measurement writes a tree of its own, and nothing is deleted
    // before the end: ext4 without a journal makes each inode allocation
    // skip every inode freed in the last minutes, so deleting one
    // measurement's files would slow the next.
    let scratch = args.scratch.join(format!("run-{}", std::process::id()));
    let fsyncs = median(
        (0..3)
            .map(|i| fsync_rate(&scratch.join(format!("fsync-{i}")), 200 / scale.min(10)))
            .collect::<Result<_>>()?,
    );
    rows.push(Row {
        what: "raw write+fsync of a new file".into(),
        value: format!("{fsyncs:.0} /s"),
        ratio: "disk bound".into(),
    });
    for (batch, count) in [(1usize, 200usize), (64, 12_800), (1024, 204_800), (4096, 409_600)] {
        let count = (count / scale).max(batch);
        let recs = records(64, count);
        let rate = median(
            (0..3)
                .map(|i| engine_posix(&scratch.join(format!("ledger-{batch}-{i}")), &recs, batch))
                .collect::<Result<_>>()?,
        );
        rows.push(Row {
            what: format!("durable POSIX appends, 64-byte records, batches of {batch}"),
            value: format!("{rate:.0} appends/s"),
            ratio: format!(
                "{:.1}x Tessera POSIX ({TESSERA_POSIX_WRITES_PER_SEC:.0}/s); a commit takes {:.1} raw fsync times",
                rate / TESSERA_POSIX_WRITES_PER_SEC,
                fsyncs / (rate / batch as f64)
            ),
        });
    }
    // The daemon first: its figures are the most sensitive to what the
    // disk and the page cache still do for earlier measurements.
    daemon_rows(&scratch.join("daemon"), args.quick, fsyncs, &mut rows)?;
    proof_rows(&scratch.join("proofs"), args.quick, &mut rows)?;
    let _ = fs::remove_dir_all(&scratch);
    notes.push(format!(
        "Machine: {} cores, {}. Runs: median of {runs} (durable: of 3).",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    ));

    if let Some(path) = &args.write {
        let drawn = write_plots(path, &rows.figures)?;
        notes.push(plot_links(&drawn));
    }
    let report = render(&rows.rows, &notes);
    print!("{report}");
    if let Some(path) = args.write {
        let doc = fs::read_to_string(&path).unwrap_or_default();
        fs::write(&path, splice(&doc, &report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The medians of one record size's measurements, nanoseconds per
/// record (NaN where not measured: Go 1.23 when it is not installed).
struct BySize {
    go119: f64,
    go119_sha: f64,
    go123: f64,
    go123_sha: f64,
    peer: f64,
    sha: f64,
    merkle: f64,
    core: f64,
    mem: f64,
}

/// Measures `count` records of `size` bytes in every implementation,
/// interleaved `runs` times so that noise hits them all alike.
fn by_size(size: usize, count: usize, runs: usize, go123: bool) -> Result<BySize> {
    let recs = records(size, count);
    progress(&format!("{size}-byte records: engine, Go tlog, tlog_tiles, SHA-256"));
    let mut t: [Vec<f64>; 9] = Default::default();
    for _ in 0..runs {
        let g = oracle::bench_stored_hashes(size, count, 1).map_err(anyhow::Error::msg)?;
        t[0].extend(g.ns_per_record);
        t[1].extend(g.sha256_ns);
        if go123 {
            let g = oracle::bench_stored_hashes_with(oracle::Go::Go123, size, count, 1)
                .map_err(anyhow::Error::msg)?;
            t[2].extend(g.ns_per_record);
            t[3].extend(g.sha256_ns);
        }
        t[4].push(peer::stored_hashes(&recs));
        t[5].push(sha256_raw(&recs));
        t[6].push(merkle_only(&recs));
        t[7].push(engine_memory(|| Discard, &recs, BATCH)?);
        t[8].push(engine_memory(MemStore::new, &recs, BATCH)?);
    }
    let [go119, go119_sha, go123, go123_sha, peer, sha, merkle, core, mem] =
        t.map(|v| if v.is_empty() { f64::NAN } else { median(v) });
    Ok(BySize { go119, go119_sha, go123, go123_sha, peer, sha, merkle, core, mem })
}

/// `ns` per record as a rate, for the table.
fn per_sec(ns: f64) -> String {
    format!("{:.0} records/s ({ns:.0} ns each)", 1e9 / ns)
}

/// How `ns` per record compares with the baselines of `m`.
fn versus(m: &BySize, ns: f64) -> String {
    format!("{}; {:.0}% of the SHA-256 bound", versus_peers(m, ns), 100.0 * m.sha / ns)
}

/// How `ns` per record compares with Go's and `tlog_tiles`' `StoredHashes`.
fn versus_peers(m: &BySize, ns: f64) -> String {
    let go123 = match m.go123.is_nan() {
        false => format!("{:.2}x Go 1.23, ", m.go123 / ns),
        true => String::new(),
    };
    format!("{go123}{:.2}x Go 1.19, {:.2}x tlog_tiles", m.go119 / ns, m.peer / ns)
}

/// The rows, and the record-size plot's points, of one record size.
fn size_rows(size: usize, m: &BySize, rows: &mut Report) {
    let x = size as f64;
    for (name, ns) in [
        ("engine core", m.core),
        ("engine + in-memory store", m.mem),
        ("Go 1.23 tlog.StoredHashes", m.go123),
        ("Go 1.19 tlog.StoredHashes", m.go119),
        ("tlog_tiles stored_hashes (Rust peer)", m.peer),
        ("raw SHA-256 alone (bound)", m.sha),
    ] {
        rows.figures.by_size(name, x, 1e9 / ns);
    }
    rows.push(Row {
        what: format!("engine core, {size}-byte records, batches of {BATCH} (store discards)"),
        value: per_sec(m.core),
        ratio: versus(m, m.core),
    });
    rows.push(Row {
        what: format!("engine + in-memory store, {size}-byte records, batches of {BATCH}"),
        value: per_sec(m.mem),
        ratio: versus(m, m.mem),
    });
    baseline_rows(size, m, rows);
}

/// The baselines' rows of one record size.
fn baseline_rows(size: usize, m: &BySize, rows: &mut Report) {
    if !m.go123.is_nan() {
        rows.push(Row {
            what: format!("Go 1.23 tlog.StoredHashes, {size}-byte records"),
            value: per_sec(m.go123),
            ratio: format!(
                "baseline (SHA-NI); {:.0}% of Go 1.23's own SHA-256 bound ({:.0} ns)",
                100.0 * m.go123_sha / m.go123,
                m.go123_sha
            ),
        });
    }
    rows.push(Row {
        what: format!("Go 1.19 tlog.StoredHashes, {size}-byte records"),
        value: per_sec(m.go119),
        ratio: format!(
            "baseline (Debian's default Go; AVX2, no SHA-NI); {:.0}% of its own SHA-256 bound ({:.0} ns)",
            100.0 * m.go119_sha / m.go119,
            m.go119_sha
        ),
    });
    rows.push(Row {
        what: format!("tlog_tiles::tlog::stored_hashes (Rust peer), {size}-byte records"),
        value: per_sec(m.peer),
        ratio: format!(
            "baseline: Cloudflare's port of x/mod tlog, into memory; {:.0}% of the SHA-256 bound",
            100.0 * m.sha / m.peer
        ),
    });
    rows.push(Row {
        what: format!("raw SHA-256 of each {size}-byte record"),
        value: per_sec(m.sha),
        ratio: "bound".into(),
    });
    rows.push(Row {
        what: format!("Merkle hashing alone (tlog::Builder), {size}-byte records"),
        value: per_sec(m.merkle),
        ratio: format!(
            "{:.0}% of the SHA-256 bound; the engine core is {:.0}% of it",
            100.0 * m.sha / m.merkle,
            100.0 * m.merkle / m.core
        ),
    });
}

/// Engine + in-memory store at 1 to 4096 records per commit (64-byte
/// records), next to the unbatched baselines of the same run (`base`,
/// the 64-byte medians).
fn batch_rows(runs: usize, scale: usize, base: &BySize, rows: &mut Report) -> Result<()> {
    progress("engine + in-memory store by batch size");
    let mut points = Vec::new();
    for (batch, count) in [(1usize, 2_000usize), (16, 20_000), (256, 100_000), (4096, 200_000)] {
        let recs = records(64, (count / scale).max(batch));
        let ns = median(
            (0..runs).map(|_| engine_memory(MemStore::new, &recs, batch)).collect::<Result<_>>()?,
        );
        points.push((batch as f64, 1e9 / ns));
        rows.push(Row {
            what: format!("engine + in-memory store, 64-byte records, batches of {batch} (one signed checkpoint per batch)"),
            value: format!("{:.0} appends/s ({ns:.0} ns each)", 1e9 / ns),
            ratio: format!("{} (their StoredHashes, which has no batches)", versus_peers(base, ns)),
        });
    }
    let f = &mut rows.figures;
    f.by_batch.push(plot::Series { name: "engine + in-memory store".into(), points });
    for (name, ns) in [
        ("Go 1.23 tlog.StoredHashes", base.go123),
        ("Go 1.19 tlog.StoredHashes", base.go119),
        ("tlog_tiles stored_hashes", base.peer),
    ] {
        if !ns.is_nan() {
            f.batch_baselines.push(plot::Baseline { name: name.into(), value: 1e9 / ns });
        }
    }
    Ok(())
}

/// Draws the plots into `perf/` beside the report `doc`; returns the
/// file names written.
fn write_plots(doc: &Path, figures: &plot::Figures) -> Result<Vec<&'static str>> {
    let dir = plot::perf_dir(doc);
    let drawn = plot::write(&dir, figures)?;
    for name in &drawn {
        eprintln!("wrote {}", dir.join(name).display());
    }
    Ok(drawn)
}

/// The report's links to the plots `drawn`, relative to the report.
fn plot_links(drawn: &[&str]) -> String {
    let mut s =
        "Plots of this run (the same figures, each with its same-run baselines):".to_string();
    for name in drawn {
        let alt = name.trim_end_matches(".png").replace('-', " ");
        let _ = write!(s, "\n\n![{alt}](perf/{name})");
    }
    s
}

/// Proofs over a stored, durable ledger of a million records.
fn proof_rows(dir: &Path, quick: bool, rows: &mut Report) -> Result<()> {
    let (size, count) = if quick { (50_000, 200) } else { (1_000_000, 2_000) };
    progress(&format!("proofs over a POSIX ledger of {size} records"));
    let p = proofs::measure(dir, size, count)?;
    let go = |pick: fn(&(String, f64, f64)) -> f64, ours: f64| match &p.go {
        Some(g) => {
            format!("; Go {} via TileHashReader {:.1} µs ({:.2}x)", g.0, pick(g), pick(g) / ours)
        }
        None => "; Go: skipped, not installed".into(),
    };
    rows.push(Row {
        what: format!("inclusion proof over stored tiles, N = {}, first read", p.size),
        value: format!("{:.1} µs", p.inclusion_us),
        ratio: format!(
            "Log, each tile read and verified as first needed{}",
            go(|g| g.1, p.inclusion_us)
        ),
    });
    rows.push(Row {
        what: format!("consistency proof over stored tiles, N = {}, first read", p.size),
        value: format!("{:.1} µs", p.consistency_us),
        ratio: format!("Log{}", go(|g| g.2, p.consistency_us)),
    });
    rows.push(Row {
        what: format!("inclusion proof over verified tiles, N = {}", p.size),
        value: format!("{:.2} µs", p.warm_inclusion_us),
        ratio: format!(
            "Log, the same proofs again from its tile cache; {:.1}x the proof algorithm with every hash in memory ({:.2} µs){}",
            p.warm_inclusion_us / p.memory_us,
            p.memory_us,
            go(|g| g.1, p.warm_inclusion_us)
        ),
    });
    rows.push(Row {
        what: format!("consistency proof over verified tiles, N = {}", p.size),
        value: format!("{:.2} µs", p.warm_consistency_us),
        ratio: format!("Log, from its tile cache{}", go(|g| g.2, p.warm_consistency_us)),
    });
    rows.push(Row {
        what: format!("read_since of all {} records (64 B), stored", p.size),
        value: format!("{:.0} ns per record", p.read_ns),
        ratio: format!(
            "{:.2}x reading the same bundles from the store and hashing each record once ({:.0} ns); one audit commit, every bundle checked against the signed tree (the first pass, verifying every tile as well: {:.0} ns, {:.2}x)",
            p.read_ns / p.read_bound_ns,
            p.read_bound_ns,
            p.read_first_ns,
            p.read_first_ns / p.read_bound_ns,
        ),
    });
    rows.push(Row {
        what: format!("audited inclusion proof (Ledger), N = {}", p.size),
        value: format!("{:.0} µs", p.audited_us),
        ratio: format!(
            "{:.2}x one proof ({:.1} µs) plus one audit commit ({:.0} µs)",
            p.audited_us / (p.inclusion_us + p.audit_commit_us),
            p.inclusion_us,
            p.audit_commit_us
        ),
    });
    Ok(())
}

/// The daemon's rows: durable single-record appends over HTTP from 1, 16
/// and 256 clients, then audited single-record reads.
fn daemon_rows(scratch: &Path, quick: bool, fsyncs: f64, rows: &mut Report) -> Result<()> {
    let secs = if quick { 1.0 } else { 5.0 };
    let mut d = daemon::Daemon::start(scratch)?;
    // Warm up: connections, page cache, the first tiles.
    d.appends(16, secs / 5.0)?;
    let mut appended = 0.0;
    rows.figures.fsync_ms = Some(1e3 / fsyncs);
    for clients in [1, 16, 256] {
        // HTTP alone at the same load, just before: the same-run ceiling.
        let ceiling = d.health(clients, secs)?;
        rows.push(Row {
            what: format!("HTTP alone: GET /healthz on the same daemon, {clients} clients"),
            value: format!(
                "{:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms",
                ceiling.per_sec, ceiling.p50_ms, ceiling.p99_ms
            ),
            ratio: "no credential, no ledger: what HTTP costs here, with the load generator".into(),
        });
        let l = d.appends(clients, secs)?;
        appended += l.per_sec * secs;
        rows.figures.latency.push(plot::Latency {
            clients: clients as f64,
            p50: l.p50_ms,
            p90: l.p90_ms,
            p99: l.p99_ms,
            p999: l.p999_ms,
        });
        rows.push(Row {
            what: format!("service-fsd over HTTP, durable single-record appends (64 B), {clients} clients"),
            value: format!("{:.0} appends/s, p50 {:.2} ms, p99 {:.2} ms", l.per_sec, l.p50_ms, l.p99_ms),
            ratio: format!(
                "{:.0}% of HTTP alone; {:.1}x Tessera POSIX ({TESSERA_POSIX_WRITES_PER_SEC:.0}/s); {:.1} records per group commit, a commit every {:.1} raw fsync times",
                100.0 * l.per_sec / ceiling.per_sec,
                l.per_sec / TESSERA_POSIX_WRITES_PER_SEC,
                l.batch,
                fsyncs / (l.per_sec / l.batch.max(1.0))
            ),
        });
    }
    for clients in [16, 256] {
        let l = d.reads(clients, secs, appended as u64)?;
        rows.push(Row {
            what: format!("service-fsd over HTTP, audited single-record reads, {clients} clients"),
            value: format!(
                "{:.0} reads/s, p50 {:.2} ms, p99 {:.2} ms",
                l.per_sec, l.p50_ms, l.p99_ms
            ),
            ratio: "each read recorded in the audit ledger (group-committed) before it is served"
                .into(),
        });
    }
    Ok(())
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn render(rows: &[Row], notes: &[String]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| measurement | result | ratio |\n|---|---|---|");
    for r in rows {
        let _ = writeln!(s, "| {} | {} | {} |", r.what, r.value, r.ratio);
    }
    for n in notes {
        let _ = writeln!(s, "\n{n}");
    }
    s
}

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// Replaces the generated section of the document, keeping the prose around it.
fn splice(doc: &str, report: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{BEGIN}\n{report}{}", &doc[..b], &doc[e..]),
        _ => format!("{doc}\n{BEGIN}\n{report}{END}\n"),
    }
}
