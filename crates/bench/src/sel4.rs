//! The seL4 image under QEMU: the bench program takes the harness's place,
//! appends through the PD chain and to the engine alone in its own memory,
//! and prints the times its generic timer measured. Each workload is built
//! twice, psdb on the board's disk (virtio-blk, real flushes: durable) and
//! in psdb's memory (not durable), and each is run as is (the counter
//! follows the host clock: emulated speed) and with `-icount` (one
//! instruction per guest nanosecond: the counter counts instructions).
//! Needs `MICROKIT_SDK`; skipped with a note otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use qemu_runner::board::{Board, Qemu};
use qemu_runner::run::{self, Ended, Limits};
use qemu_runner::{disks, workload};
use sysgen::Storage;

use crate::Row;

const OUT: &str = "build/bench";

/// Figures a bench run printed, in guest microseconds.
#[derive(Debug, Default, Clone)]
struct Figures {
    status_calls: f64,
    status_us: f64,
    chain_us: f64,
    engine_us: f64,
    records: f64,
    signatures: f64,
    sign_us: f64,
    ready: Option<Duration>,
}

/// A workload built for one kind of storage.
struct Built {
    image: PathBuf,
    /// Its disk, and the bytes the system needs there.
    disk: Option<(PathBuf, u64)>,
}

impl Built {
    /// One boot (on a blank disk, if it has one); `flushes: false` has QEMU
    /// ignore the guest's flushes (`cache=unsafe`: not durable, a diagnostic).
    fn run(&self, qemu: &Qemu, icount: bool, flushes: bool) -> Result<Figures> {
        if let Some((d, bytes)) = &self.disk {
            disks::fresh(d, *bytes)?;
        }
        let disk = self.disk.as_ref().map(|(d, _)| d.as_path());
        let (cmd, mut args) = qemu.command_line(&self.image, disk, icount);
        if !flushes {
            for a in args.iter_mut().filter(|a| a.starts_with("file=")) {
                a.push_str(",cache=unsafe");
            }
        }
        figures(&cmd, &args)
    }

    /// The median of three timed boots, and one counted.
    fn measure(&self, qemu: &Qemu, flushes: bool) -> Result<(Figures, Figures)> {
        let mut timed = Vec::new();
        for _ in 0..3 {
            timed.push(self.run(qemu, false, flushes)?);
        }
        let timed: [Figures; 3] = timed.try_into().map_err(|_| anyhow::anyhow!("three runs"))?;
        Ok((median(timed), self.run(qemu, true, flushes)?))
    }
}

/// The rows, or nothing and a note saying why not.
pub fn rows(quick: bool) -> Result<(Vec<Row>, Vec<String>)> {
    if std::env::var_os("MICROKIT_SDK").is_none_or(|v| v.is_empty()) {
        return Ok((
            Vec::new(),
            vec!["seL4 image figures: skipped, MICROKIT_SDK is not set.".into()],
        ));
    }
    let board_name = std::env::var("MICROKIT_BOARD").unwrap_or_else(|_| "qemu_virt_aarch64".into());
    let (_, board) = Board::named(Path::new("board"), &board_name)?;
    let Some(qemu) = &board.qemu else { bail!("board {board_name} has no QEMU model") };
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let scale = if quick { 4 } else { 1 };
    for (records, batch) in [(300u64, 1u64), (2_000, 16), (8_000, 64)] {
        let records = (records / scale).max(batch);
        let ram = build(&board_name, Some(Storage::Ram), records, batch, 1000 / scale, "ram")?;
        let (ram_timed, ram_counted) = ram.measure(qemu, true)?;
        let (timed, counted, unflushed) = match board.disk {
            Some(_) => {
                let d = build(&board_name, None, records, batch, 1000 / scale, "disk")?;
                let (timed, counted) = d.measure(qemu, true)?;
                rows.push(amplification(&d, batch, records)?);
                let (unflushed, _) = d.measure(qemu, false)?;
                (timed, counted, unflushed)
            }
            None => (ram_timed.clone(), ram_counted.clone(), ram_timed.clone()),
        };
        let rate = |f: &Figures| f.records / (f.chain_us / 1e6);
        let per_append = |f: &Figures| f.chain_us * 1e3 / f.records;
        let n = counted.records;
        let engine_insn = counted.engine_us * 1e3 / n;
        let hop_insn = counted.status_us * 1e3 / counted.status_calls / 2.0;
        rows.push(Row {
            what: format!("seL4 image in QEMU ({board_name}, emulated), durable appends through the PD chain (virtio-blk, flushed), 64-byte records, batches of {batch}"),
            value: format!("{:.0} appends/s", rate(&timed)),
            ratio: format!(
                "{:.0}% of psdb in memory ({:.0} appends/s, not durable); the same disk with QEMU ignoring flushes {:.0} appends/s ({:.0}% of memory): the two flushes per commit (host fdatasyncs) cost the rest; engine alone in one PD {:.0} appends/s (medians of 3 boots)",
                100.0 * rate(&timed) / rate(&ram_timed),
                rate(&ram_timed),
                rate(&unflushed),
                100.0 * rate(&unflushed) / rate(&ram_timed),
                timed.records / (timed.engine_us / 1e6)
            ),
        });
        rows.push(Row {
            what: format!("seL4 image in QEMU -icount: guest instructions per durable append, batches of {batch}"),
            value: format!("{:.0} through the chain", per_append(&counted)),
            ratio: format!(
                "psdb in memory {:.0} ({:.2}x; the durable count includes psdb polling the driver while the host flushes); engine alone {engine_insn:.0}; a status call's hops (client to wire, wire to ledger) ~{hop_insn:.0} each, handlers included",
                per_append(&ram_counted),
                per_append(&counted) / per_append(&ram_counted)
            ),
        });
        if batch == 1 {
            rows.push(Row {
                what: "seL4 image in QEMU -icount: guest instructions per checkpoint signature (Ed25519, the ledger PD's code)".into(),
                value: format!("{:.0}", counted.sign_us * 1e3 / counted.signatures),
                ratio: format!(
                    "{:.0}% of an append of one record to the engine alone (one signed checkpoint each); emulated {:.0} µs",
                    100.0 * counted.sign_us / counted.signatures / (counted.engine_us / n),
                    timed.sign_us / timed.signatures
                ),
            });
        }
        if batch == 1
            && let Some(t) = timed.ready
        {
            notes.push(format!(
                "seL4 image in QEMU: boot to ready (QEMU started to the monitor reporting `wire`, the last server, passive; host wall clock, fastest of 3 boots, with the disk) {:.2} s.",
                t.as_secs_f64()
            ));
        }
    }
    let (ledger_code, note) = sizes(&board_name)?;
    rows.push(Row {
        what: format!(
            "seL4 image ({board_name}): the ledger PD's code (ELF executable LOAD segments)"
        ),
        value: format!("{} KiB", ledger_code / 1024),
        ratio: format!(
            "limit {} KiB, which `make image` enforces; every program's size below",
            LEDGER_CODE_LIMIT / 1024
        ),
    });
    notes.push(note);
    Ok((rows, notes))
}

/// Bytes the disk took per record: the records' log, and a checkpoint
/// slot write per commit, against the record's own 64 bytes.
fn amplification(b: &Built, batch: u64, records: u64) -> Result<Row> {
    let disk = b.disk.as_ref().map(|(d, _)| d.as_path()).context("no disk")?;
    let used = disk::image::with_image(disk::file::FileDevice::open_read_only(disk)?, |img| {
        img.parts.iter().map(|p| p.borrow().ns.as_ref().map_or(0, |ns| ns.used())).sum::<u64>()
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // The bench's two runs (the chain and the engine alone, which writes to
    // the harness's memory, not the disk) leave the chain's appends only.
    let commits = records.div_ceil(batch);
    let slots = commits * 512;
    let per = (used + slots) as f64 / records as f64;
    Ok(Row {
        what: format!("disk bytes written per 64-byte record, batches of {batch}"),
        value: format!("{per:.0} bytes ({:.1}x the record)", per / 64.0),
        ratio: format!(
            "log {:.0} (bundle entry and leaf hash: 98 bytes in any tlog-tiles store; full tiles again; record headers; a commit padded to a 512-byte block), checkpoint slot {:.0}",
            used as f64 / records as f64,
            slots as f64 / records as f64
        ),
    })
}

/// Each figure's median over three runs.
fn median(runs: [Figures; 3]) -> Figures {
    let mid = |f: fn(&Figures) -> f64| {
        let mut v = runs.each_ref().map(f);
        v.sort_by(f64::total_cmp);
        v[1]
    };
    Figures {
        status_calls: runs[0].status_calls,
        status_us: mid(|f| f.status_us),
        chain_us: mid(|f| f.chain_us),
        engine_us: mid(|f| f.engine_us),
        records: runs[0].records,
        signatures: runs[0].signatures,
        sign_us: mid(|f| f.sign_us),
        ready: runs.iter().filter_map(|f| f.ready).min(),
    }
}

/// Builds the bench image for `board` with `storage` (`None`: the
/// board's own) into `build/bench/<name>` (64-byte records).
fn build(
    board: &str,
    storage: Option<Storage>,
    records: u64,
    batch: u64,
    status_calls: u64,
    name: &str,
) -> Result<Built> {
    let dir = Path::new(OUT).join(name);
    let g = sysgen::generate_harness_only(Path::new("."), board, storage)?;
    let system =
        workload::write_system(&dir, &g, &workload::bench_cfg(records, batch, 64, status_calls))?;
    let out = std::process::Command::new("scripts/image.sh")
        .arg(&system)
        .arg(&dir)
        .output()
        .context("running scripts/image.sh")?;
    if !out.status.success() {
        bail!("building the bench image failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let bytes = sysgen::describe(&system)?.disk_bytes;
    let disk = bytes.filter(|_| storage != Some(Storage::Ram)).map(|b| (dir.join("disk.img"), b));
    Ok(Built { image: dir.join("loader.img"), disk })
}

/// Boots the bench image and reads its figures.
fn figures(cmd: &str, args: &[String]) -> Result<Figures> {
    let limits = Limits {
        until: vec!["bench: DONE".into()],
        timeout: Duration::from_secs(1800),
        idle: Duration::from_secs(600),
        linger: Duration::ZERO,
    };
    let r = run::run(cmd, args, &limits, |_| {})?;
    let console = r.console();
    if r.ended != Ended::Finished {
        bail!("the bench image did not finish ({:?}):\n{console}", r.ended);
    }
    let field = |prefix: &str, i: usize| -> Option<f64> {
        let line = console.lines().find(|l| l.starts_with(prefix))?;
        line.split_whitespace().nth(i)?.parse().ok()
    };
    let parsed = (|| {
        Some(Figures {
            // bench: status calls N in T us
            status_calls: field("bench: status calls", 3)?,
            status_us: field("bench: status calls", 5)?,
            // bench: appends N batch B size S in T us
            records: field("bench: appends", 2)?,
            chain_us: field("bench: appends", 8)?,
            // bench: engine appends N batch B size S in T us
            engine_us: field("bench: engine appends", 9)?,
            // bench: signatures N in T us
            signatures: field("bench: signatures", 2)?,
            sign_us: field("bench: signatures", 4)?,
            ready: r.first("MON|INFO: PD 'wire' is now passive"),
        })
    })();
    parsed.with_context(|| format!("the bench PD printed no figures:\n{console}"))
}

/// The most code the ledger PD may have (scripts/image.sh checks it).
const LEDGER_CODE_LIMIT: u64 = 128 * 1024;

/// The ledger PD's code, and each program's size and the image's as a note.
fn sizes(board: &str) -> Result<(u64, String)> {
    let dir = Path::new(OUT).join("disk/image").join(board);
    let mut parts = Vec::new();
    let mut ledger = 0;
    let mut names: Vec<_> = fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    names.sort();
    for p in names.iter().filter(|p| p.extension().is_some_and(|e| e == "elf")) {
        let bytes = fs::read(p)?;
        let (text, data) = loaded(&bytes).unwrap_or((0, 0));
        if p.file_stem().is_some_and(|s| s == "ledger") {
            ledger = text;
        }
        parts.push(format!(
            "{} {} KiB code + {} KiB data",
            p.file_name().unwrap_or_default().to_string_lossy(),
            text / 1024,
            data / 1024
        ));
    }
    let image = fs::metadata(Path::new(OUT).join("disk/loader.img"))?.len();
    let note = format!(
        "seL4 image ({board}): loader image {:.2} MiB; programs as loaded (ELF LOAD segments, memory size): {}.",
        image as f64 / (1024.0 * 1024.0),
        parts.join(", ")
    );
    Ok((ledger, note))
}

/// The executable and the other bytes an ELF64 file loads (`PT_LOAD`
/// memory sizes).
fn loaded(elf: &[u8]) -> Option<(u64, u64)> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(elf.get(o..o + 8)?.try_into().ok()?));
    if elf.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)? as usize, u16_at(0x36)? as usize, u16_at(0x38)?);
    let (mut text, mut data) = (0, 0);
    for i in 0..phnum as usize {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 1 {
            let memsz = u64_at(ph + 0x28)?;
            if u32_at(ph + 4)? & 1 != 0 { text += memsz } else { data += memsz }
        }
    }
    Some((text, data))
}
