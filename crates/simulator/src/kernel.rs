//! The kernel side: boots a system description, runs each PD in its own
//! process, and carries notifications and protected calls only along the
//! channels the description grants, with Microkit's semantics: a PD handles
//! one event at a time, a caller blocks until the callee replies, calls go
//! only to higher priorities, and a faulting child's parent hears of it.
//! Anything not granted stops the offending PD and is reported.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use platform::Msg;
use rustix::event::{PollFd, PollFlags};
use rustix::fs::MemfdFlags;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use sdf::System;

use sim_pd::proto::{self, Frame, Kind, MapSetup, Setup};

/// How to run a system.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stop once every PD is idle and nothing is pending.
    pub until_idle: bool,
    /// Give up (an error) if not idle by then.
    pub timeout: Option<Duration>,
    /// Write every region's final contents to `<dir>/<region>.bin`.
    pub dump: Option<PathBuf>,
    /// Print how many protected calls each PD made to each other at the end.
    pub stats: bool,
    /// The disk image the `blk` PD serves.
    pub disk: Option<PathBuf>,
    /// The disk's power-loss seed.
    pub power_loss: Option<u64>,
    /// Say each PD's host process id (for tests that kill one).
    pub show_pids: bool,
    /// The PDs whose programs are host executables, not the simulator's own.
    pub programs: Programs,
}

/// Host executables to run, by PD name.
pub type Programs = BTreeMap<String, PathBuf>;

/// What happened to the PDs that stopped.
#[derive(Debug, Default)]
pub struct Report {
    /// `(pd, why)` for every PD that stopped.
    pub stopped: Vec<(String, String)>,
}

enum State {
    /// Running `init`.
    Init,
    /// Waiting for an event.
    Idle,
    /// Handling one.
    Busy,
    /// Blocked in a protected call to this PD.
    Calling(usize),
    /// Stopped.
    Dead,
}

struct Call {
    caller: usize,
    ch: u8,
    msg: Msg,
}

struct Slot {
    name: String,
    /// Console output not yet ended by a newline.
    line: Vec<u8>,
    parent: Option<usize>,
    child_id: Option<u8>,
    sock: OwnedFd,
    process: Child,
    state: State,
    notify: u64,
    calls: VecDeque<Call>,
    faults: VecDeque<(u8, Msg)>,
    serving: Option<usize>,
}

/// One end of a channel, as seen from a PD: where it leads and what it allows.
#[derive(Clone, Copy)]
struct End {
    other: usize,
    other_ch: u8,
    pp: bool,
    notify: bool,
}

struct Kernel {
    pds: Vec<Slot>,
    ends: BTreeMap<(usize, u8), End>,
    report: Report,
    console: Arc<Mutex<()>>,
    /// Protected calls made, by (caller, callee).
    calls: BTreeMap<(usize, usize), u64>,
}

fn say(console: &Mutex<()>, who: &str, line: &str) {
    let _guard = console.lock();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[{who}] {line}");
    let _ = out.flush();
}

/// Creates the regions as memfds, filled from their prefill files.
fn regions(system: &System, dir: &Path) -> Result<BTreeMap<String, OwnedFd>> {
    let mut out = BTreeMap::new();
    for mr in &system.memory_regions {
        let fd = rustix::fs::memfd_create(mr.name.as_str(), MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, mr.size)?;
        if let Some(path) = &mr.prefill_path {
            // Beside the system description, else (as the Microkit tool looks)
            // in the working directory.
            let path = [dir.join(path), PathBuf::from(path)]
                .into_iter()
                .find(|p| p.exists())
                .unwrap_or(dir.join(path));
            let data = std::fs::read(&path).with_context(|| {
                format!("region '{}': prefill file {}", mr.name, path.display())
            })?;
            if data.is_empty() {
                bail!("region '{}': prefill file {} is empty", mr.name, path.display());
            }
            if data.len() as u64 > mr.size {
                bail!(
                    "region '{}': prefill file {} is larger than the region",
                    mr.name,
                    path.display()
                );
            }
            File::from(fd.try_clone()?).write_all(&data)?;
        }
        out.insert(mr.name.clone(), fd);
    }
    Ok(out)
}

/// Copies console lines from a PD to ours, prefixed with its name.
fn console(
    name: String,
    stream: impl Read + Send + 'static,
    lock: Arc<Mutex<()>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            say(&lock, &name, &line);
        }
    })
}

/// Boots `system` (read from a file in `dir`, where prefill paths are
/// resolved) and runs it as `opts` says.
pub fn run(system: &System, dir: &Path, opts: &Options) -> Result<Report> {
    let fds = regions(system, dir)?;
    let all = system.all_pds();
    let mut mapped: BTreeMap<&str, usize> = BTreeMap::new();
    for pd in &all {
        for m in &pd.maps {
            *mapped.entry(m.mr.as_str()).or_default() += 1;
        }
    }
    let exe = std::env::current_exe().context("finding the simulator binary")?;
    let lock = Arc::new(Mutex::new(()));
    let mut threads = Vec::new();
    let mut pds = Vec::new();
    for pd in &all {
        let (mine, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // The simulator's own programs run in a process of the simulator;
        // another is its own executable, built against `sim-pd`.
        let mut cmd = match opts.programs.get(&pd.name) {
            Some(program) => Command::new(program),
            None => {
                let mut c = Command::new(&exe);
                c.arg("pd");
                c
            }
        };
        cmd.env_remove(crate::disk::DISK_ENV).env_remove(crate::disk::POWER_LOSS_ENV);
        if let Some(d) = &opts.disk {
            cmd.env(crate::disk::DISK_ENV, d);
        }
        if let Some(seed) = opts.power_loss {
            cmd.env(crate::disk::POWER_LOSS_ENV, seed.to_string());
        }
        let mut process = cmd
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting PD {}", pd.name))?;
        if opts.show_pids {
            say(&lock, "kernel", &format!("PD {} is process {}", pd.name, process.id()));
        }
        for stream in [
            process.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            process.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            threads.push(console(pd.name.clone(), stream, lock.clone()));
        }
        let maps: Vec<MapSetup> = pd
            .maps
            .iter()
            .map(|m| MapSetup {
                symbol: m.setvar_vaddr.clone().unwrap_or_else(|| m.mr.clone()),
                size_symbol: m.setvar_size.clone(),
                size: system.memory_region(&m.mr).map_or(0, |r| r.size as usize),
                writable: m.perms.write,
                private: mapped.get(m.mr.as_str()) == Some(&1),
            })
            .collect();
        let region_fds: Vec<_> =
            pd.maps.iter().filter_map(|m| fds.get(&m.mr).map(|f| f.as_fd())).collect();
        let (mut pps, mut notifications) = (0u64, 0u64);
        for e in system.channels.iter().flat_map(|c| &c.ends).filter(|e| e.pd == pd.name) {
            pps |= u64::from(e.pp) << e.id;
            notifications |= u64::from(e.notify) << e.id;
        }
        let setup = Setup {
            name: pd.name.clone(),
            image: pd.program_image.clone(),
            maps,
            pps,
            notifications,
        };
        proto::send_setup(mine.as_fd(), &setup, &region_fds)
            .with_context(|| format!("setting up PD {}", pd.name))?;
        let parent =
            system.parent_of(&pd.name).and_then(|p| all.iter().position(|q| q.name == p.name));
        pds.push(Slot {
            name: pd.name.clone(),
            line: Vec::new(),
            parent,
            child_id: pd.id,
            sock: mine,
            process,
            state: State::Init,
            notify: 0,
            calls: VecDeque::new(),
            faults: VecDeque::new(),
            serving: None,
        });
    }
    let index = |name: &str| all.iter().position(|p| p.name == name);
    let mut ends = BTreeMap::new();
    for ch in &system.channels {
        let [a, b] = &ch.ends;
        if let (Some(ia), Some(ib)) = (index(&a.pd), index(&b.pd)) {
            ends.insert((ia, a.id), End { other: ib, other_ch: b.id, pp: a.pp, notify: a.notify });
            ends.insert((ib, b.id), End { other: ia, other_ch: a.id, pp: b.pp, notify: b.notify });
        }
    }
    let mut k = Kernel {
        pds,
        ends,
        report: Report::default(),
        console: lock.clone(),
        calls: BTreeMap::new(),
    };
    let result = k.event_loop(opts);
    if opts.stats {
        for (&(a, b), n) in &k.calls {
            k.log(&format!("calls {} -> {}: {n}", k.pds[a].name, k.pds[b].name));
        }
    }
    if let Some(dir) = &opts.dump {
        dump(&fds, dir)?;
    }
    for pd in &mut k.pds {
        let _ = pd.process.kill();
        let _ = pd.process.wait();
    }
    for t in threads {
        let _ = t.join();
    }
    result.map(|()| k.report)
}

/// Writes every region's contents into `dir` (0700), each file 0600: they
/// hold signing-key seeds too.
fn dump(fds: &BTreeMap<String, OwnedFd>, dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    for (name, fd) in fds {
        let mut f = File::from(fd.try_clone()?);
        f.rewind()?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        let path = dir.join(format!("{name}.bin"));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        out.write_all(&data)?;
    }
    Ok(())
}

impl Kernel {
    fn log(&self, line: &str) {
        say(&self.console, "kernel", line);
    }

    fn event_loop(&mut self, opts: &Options) -> Result<()> {
        let start = Instant::now();
        let mut idle_polls = 0;
        loop {
            let live: Vec<usize> = (0..self.pds.len())
                .filter(|&i| !matches!(self.pds[i].state, State::Dead))
                .collect();
            let ready = {
                let mut polls: Vec<PollFd> =
                    live.iter().map(|&i| PollFd::new(&self.pds[i].sock, PollFlags::IN)).collect();
                let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 50_000_000 };
                rustix::event::poll(&mut polls, Some(&timeout)).context("poll")?;
                polls.iter().map(|p| p.revents()).collect::<Vec<_>>()
            };
            let mut any = false;
            for (&i, events) in live.iter().zip(ready) {
                if events.is_empty() {
                    continue;
                }
                any = true;
                match proto::recv_any(self.pds[i].sock.as_fd()) {
                    Ok(Some(proto::Incoming::Frame(f))) => self.frame(i, f),
                    Ok(Some(proto::Incoming::Print(text))) => self.print(i, &text),
                    _ => self.died(i, None),
                }
            }
            if !any && self.quiescent() {
                idle_polls += 1;
            } else {
                idle_polls = 0;
            }
            if idle_polls >= 4 {
                // Nothing can run again: callers blocked on stopped PDs
                // wait forever, which is a failure, not an idle system.
                let stuck = self.stuck();
                if !stuck.is_empty() {
                    bail!("the system stopped making progress: {}", stuck.join("; "));
                }
                if opts.until_idle {
                    self.log("system idle");
                    return Ok(());
                }
            }
            if opts.timeout.is_some_and(|t| start.elapsed() > t) {
                bail!(
                    "the system did not become idle within {:?}",
                    opts.timeout.unwrap_or_default()
                );
            }
        }
    }

    /// Prints a PD's console output, a line at a time, prefixed by its name.
    fn print(&mut self, i: usize, text: &[u8]) {
        let pd = &mut self.pds[i];
        pd.line.extend_from_slice(text);
        while let Some(n) = pd.line.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pd.line.drain(..=n).collect();
            say(&self.console, &pd.name, String::from_utf8_lossy(&line[..n]).as_ref());
        }
    }

    /// Nothing runs and nothing is pending (a PD blocked, through any chain
    /// of callers, on a stopped one never runs again).
    fn quiescent(&self) -> bool {
        self.pds.iter().all(|p| match p.state {
            State::Idle => p.notify == 0 && p.calls.is_empty() && p.faults.is_empty(),
            State::Dead => true,
            State::Calling(c) => self.blocked_forever(c),
            State::Init | State::Busy => false,
        })
    }

    /// Each PD blocked for ever in a call, and on whom.
    fn stuck(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.pds {
            if let State::Calling(c) = p.state
                && self.blocked_forever(c)
            {
                let mut end = c;
                while let State::Calling(next) = self.pds[end].state {
                    end = next;
                }
                out.push(format!("{} waits for {}, which has stopped", p.name, self.pds[end].name));
            }
        }
        out
    }

    /// Whether a call to `c` can never return: `c` stopped, or waits on a
    /// PD that can never return. Calls rise in priority, so chains end.
    fn blocked_forever(&self, mut c: usize) -> bool {
        for _ in 0..self.pds.len() {
            match self.pds[c].state {
                State::Dead => return true,
                State::Calling(next) => c = next,
                _ => return false,
            }
        }
        false
    }

    fn frame(&mut self, i: usize, f: Frame) {
        let busy = matches!(self.pds[i].state, State::Init | State::Busy);
        if matches!(f.kind, Kind::Call | Kind::Return) && f.msg.label > platform::MAX_LABEL {
            // seL4 cannot carry it: rust-sel4 stops the PD building the message.
            return self
                .violation(i, &format!("sent label {:#x}, wider than 52 bits", f.msg.label));
        }
        match f.kind {
            Kind::Done if busy && self.pds[i].serving.is_none() => {
                self.pds[i].state = State::Idle;
                self.dispatch(i);
            }
            Kind::Return if busy && self.pds[i].serving.is_some() => {
                let caller = self.pds[i].serving.take().unwrap_or(i);
                self.pds[i].state = State::Idle;
                if matches!(self.pds[caller].state, State::Calling(c) if c == i) {
                    self.pds[caller].state = State::Busy;
                    self.send(caller, Frame::new(Kind::Reply, 0, f.msg));
                }
                self.dispatch(i);
            }
            Kind::Notify if busy => match self.ends.get(&(i, f.ch)).copied() {
                Some(e) if e.notify => {
                    self.pds[e.other].notify |= 1 << e.other_ch;
                    self.dispatch(e.other);
                }
                _ => self.violation(
                    i,
                    &format!("notified channel {} without a channel end that may notify", f.ch),
                ),
            },
            Kind::Call if busy => match self.ends.get(&(i, f.ch)).copied() {
                Some(e) if e.pp => {
                    *self.calls.entry((i, e.other)).or_default() += 1;
                    self.pds[i].state = State::Calling(e.other);
                    if matches!(self.pds[e.other].state, State::Dead) {
                        let who = (self.pds[i].name.clone(), self.pds[e.other].name.clone());
                        self.log(&format!(
                            "{} called {}, which has stopped: it waits forever",
                            who.0, who.1
                        ));
                    } else {
                        self.pds[e.other].calls.push_back(Call {
                            caller: i,
                            ch: e.other_ch,
                            msg: f.msg,
                        });
                        self.dispatch(e.other);
                    }
                }
                _ => self.violation(
                    i,
                    &format!("called channel {} without a channel end with pp=\"true\"", f.ch),
                ),
            },
            _ => self.violation(i, &format!("sent {:?} when it could not", f.kind)),
        }
    }

    /// Delivers the next pending event to an idle PD. As on seL4, a pending
    /// notification is taken before the endpoint's queue (faults, then calls).
    fn dispatch(&mut self, j: usize) {
        if !matches!(self.pds[j].state, State::Idle) {
            return;
        }
        let pd = &mut self.pds[j];
        let frame = if pd.notify != 0 {
            let bits = std::mem::take(&mut pd.notify);
            Frame::new(Kind::Notified, 0, Msg::new(bits, &[]))
        } else if let Some((child, msg)) = pd.faults.pop_front() {
            Frame::new(Kind::Fault, child, msg)
        } else if let Some(call) = pd.calls.pop_front() {
            pd.serving = Some(call.caller);
            Frame::new(Kind::Protected, call.ch, call.msg)
        } else {
            return;
        };
        pd.state = State::Busy;
        self.send(j, frame);
    }

    fn send(&mut self, j: usize, f: Frame) {
        if proto::send(self.pds[j].sock.as_fd(), &f).is_err() {
            self.died(j, None);
        }
    }

    fn violation(&mut self, i: usize, what: &str) {
        let _ = self.pds[i].process.kill();
        self.died(i, Some(format!("violation: {what}")));
    }

    /// A PD stopped (its process ended, or the kernel stopped it).
    fn died(&mut self, i: usize, why: Option<String>) {
        if matches!(self.pds[i].state, State::Dead) {
            return;
        }
        self.pds[i].state = State::Dead;
        // It may still run (a malformed frame, a broken socket): stop it first.
        let _ = self.pds[i].process.kill();
        let status = self.pds[i].process.wait();
        let why = why.unwrap_or_else(|| match status {
            Ok(s) => match (s.signal(), s.code()) {
                (Some(11), _) => {
                    "fault: memory access not allowed by its mappings (SIGSEGV)".into()
                }
                (Some(9), _) => "stopped by the kernel".into(),
                (Some(sig), _) => format!("fault: killed by signal {sig}"),
                (None, Some(101)) => "fault: panicked".into(),
                (None, Some(code)) => format!("exited with status {code}"),
                _ => "stopped".into(),
            },
            Err(e) => format!("lost: {e}"),
        });
        let name = self.pds[i].name.clone();
        self.log(&format!("PD {name} stopped: {why}"));
        self.report.stopped.push((name.clone(), why));
        if let Some(c) = self.pds[i].serving.take() {
            self.log(&format!("{} waits forever for {name}", self.pds[c].name));
        }
        if let (Some(parent), Some(id)) = (self.pds[i].parent, self.pds[i].child_id) {
            self.pds[parent].faults.push_back((id, Msg::new(1, &[])));
            self.dispatch(parent);
        }
    }
}
