//! The PD side: one process per protection domain, running its logic with
//! the platform it would have on seL4.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use platform::{
    Access, Channel, ChannelSet, Child, Msg, Pd, Platform, Program, Regions, SharedRegion, Ticks,
    Time,
};
use rustix::mm::{MapFlags, ProtFlags};

use crate::proto::{self, Frame, Kind, MapSetup};

static NAME: OnceLock<String> = OnceLock::new();

thread_local! {
    static CONN: RefCell<Option<OwnedFd>> = const { RefCell::new(None) };
}

fn with_conn<T>(f: impl FnOnce(&OwnedFd) -> T) -> T {
    CONN.with(|c| match &*c.borrow() {
        Some(fd) => f(fd),
        None => {
            eprintln!("simulator: no kernel connection");
            std::process::exit(3)
        }
    })
}

fn send(frame: Frame) {
    if with_conn(|fd| proto::send(fd.as_fd(), &frame)).is_err() {
        std::process::exit(3); // the kernel is gone
    }
}

fn recv() -> Frame {
    match with_conn(|fd| proto::recv(fd.as_fd())) {
        Ok(Some(f)) => f,
        _ => std::process::exit(3),
    }
}

/// The platform of a simulated PD: calls and notifications go to the kernel,
/// which checks them against the system description.
#[derive(Clone, Copy)]
pub struct SimPlatform;

impl Platform for SimPlatform {
    fn pd_name(&self) -> &str {
        NAME.get().map_or("?", String::as_str)
    }

    fn notify(&self, ch: Channel) {
        send(Frame::new(Kind::Notify, ch.id(), Msg::new(0, &[])));
    }

    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg {
        send(Frame::new(Kind::Call, ch.id(), msg));
        let reply = recv();
        if reply.kind != Kind::Reply {
            eprintln!("simulator: expected a reply, got {:?}", reply.kind);
            std::process::exit(3);
        }
        reply.msg
    }

    fn print(&self, s: &str) {
        // Through the kernel, so the console keeps the order events happened in.
        if with_conn(|fd| proto::send_print(fd.as_fd(), s.as_bytes())).is_err() {
            std::process::exit(3);
        }
    }

    fn time(&self) -> Time {
        let unix_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as u64);
        Time { unix_ms, source: "host-realtime" }
    }

    fn ticks(&self) -> Option<Ticks> {
        static START: OnceLock<Instant> = OnceLock::new();
        let count = START.get_or_init(Instant::now).elapsed().as_nanos() as u64;
        Some(Ticks { count, per_second: 1_000_000_000 })
    }

    fn relax(&self) {
        // The PD waited on runs in another process at the same time.
        std::thread::yield_now();
    }

    fn irq_ack(&self, ch: Channel) {
        // The simulator has no devices: its drivers are host programs
        // that never take an interrupt.
        eprintln!("simulator: irq_ack on channel {}: no interrupts here", ch.id());
        std::process::exit(3);
    }
}

/// The PD's mappings, by symbol.
pub struct SimRegions {
    maps: BTreeMap<String, (NonNull<u8>, MapSetup)>,
}

impl SimRegions {
    /// Every mapping: its `setvar_vaddr` symbol, its `setvar_size` symbol if
    /// any, its address and its size (what Microkit's tool patches into a
    /// program).
    pub fn symbols(&self) -> impl Iterator<Item = (&str, Option<&str>, usize, usize)> {
        self.maps.iter().map(|(sym, (base, m))| {
            (sym.as_str(), m.size_symbol.as_deref(), base.as_ptr() as usize, m.size)
        })
    }
}

impl Regions for SimRegions {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let (base, m) = self.maps.remove(symbol)?;
        let access = if m.writable { Access::ReadWrite } else { Access::ReadOnly };
        // SAFETY: the mapping stays for the process's life and is taken once.
        #[allow(unsafe_code)]
        Some(unsafe { SharedRegion::new(base, m.size, access) })
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        match self.maps.get(symbol) {
            Some((_, m)) if m.private && m.writable => {}
            _ => return None,
        }
        let (base, m) = self.maps.remove(symbol)?;
        // SAFETY: mapped writable into this process only (the kernel says
        // `private` when no other PD maps it), for the process's life, and
        // taken once, so this is the only reference.
        #[allow(unsafe_code)]
        Some(unsafe { std::slice::from_raw_parts_mut(base.as_ptr(), m.size) })
    }

    fn config(&mut self) -> Option<&'static [u8]> {
        let (base, m) = self.maps.get(CONFIG_SYMBOL)?;
        if m.writable || !m.private {
            return None;
        }
        // SAFETY: mapped read-only into this process alone for its life,
        // filled before the PD started and written by no one after.
        #[allow(unsafe_code)]
        Some(unsafe { std::slice::from_raw_parts(base.as_ptr(), m.size) })
    }
}

/// The symbol of a PD's configuration region (`system::CONFIG_SYMBOL`).
const CONFIG_SYMBOL: &str = "sfs_config";

/// Maps a region's memfd at the permissions the system description gives.
fn map(fd: &OwnedFd, m: &MapSetup) -> Result<NonNull<u8>> {
    let prot = if m.writable { ProtFlags::READ | ProtFlags::WRITE } else { ProtFlags::READ };
    // SAFETY: a fresh shared mapping of a memfd of at least `size` bytes; it
    // is never unmapped.
    #[allow(unsafe_code)]
    let ptr =
        unsafe { rustix::mm::mmap(std::ptr::null_mut(), m.size, prot, MapFlags::SHARED, fd, 0) }
            .with_context(|| format!("mapping {}", m.symbol))?;
    NonNull::new(ptr.cast()).ok_or_else(|| anyhow!("null mapping"))
}

/// A PD process the kernel has set up.
pub struct Connected {
    /// The PD's name.
    pub name: String,
    /// Its program image, as the system description names it.
    pub image: String,
    /// Its regions.
    pub regions: SimRegions,
    /// Its channel ends that may call, a bit per channel id.
    pub pps: u64,
    /// Its channel ends that may notify, a bit per channel id.
    pub notifications: u64,
}

/// Connects to the kernel (standard input) and maps the regions it sends.
pub fn connect() -> Result<Connected> {
    let conn = std::io::stdin().as_fd().try_clone_to_owned().context("kernel connection")?;
    let (setup, fds) = proto::recv_setup(&conn).context("receiving the PD setup")?;
    let _ = NAME.set(setup.name.clone());
    let mut maps = BTreeMap::new();
    for (m, fd) in setup.maps.into_iter().zip(&fds) {
        maps.insert(m.symbol.clone(), (map(fd, &m)?, m));
    }
    drop(fds);
    CONN.with(|c| *c.borrow_mut() = Some(conn));
    Ok(Connected {
        name: setup.name,
        image: setup.image,
        regions: SimRegions { maps },
        pps: setup.pps,
        notifications: setup.notifications,
    })
}

/// Runs as a PD process: set up from the kernel, `start` the program the
/// setup names (its `init`), then serve events until the kernel ends it.
pub fn run(
    start: impl FnOnce(&str, SimPlatform, &mut dyn Regions) -> Result<BoxedPd, String>,
) -> Result<()> {
    let Connected { name, image, mut regions, .. } = connect()?;
    let pd = start(&image, SimPlatform, &mut regions)
        .map_err(|e| anyhow!("{name}: cannot start {image}: {e}"))?;
    serve(pd)
}

/// Tells the kernel `init` is done, then hands it each event.
pub fn serve(mut pd: BoxedPd) -> Result<()> {
    send(Frame::new(Kind::Done, 0, Msg::new(0, &[])));
    loop {
        let f = recv();
        match f.kind {
            Kind::Notified => {
                pd.notified(ChannelSet(f.msg.label));
                send(Frame::new(Kind::Done, 0, Msg::new(0, &[])));
            }
            Kind::Protected => {
                let ch = Channel::new(f.ch).ok_or_else(|| anyhow!("bad channel"))?;
                let reply = pd.protected(ch, f.msg);
                send(Frame::new(Kind::Return, f.ch, reply));
            }
            Kind::Fault => {
                // The child stays stopped: the simulator resumes no one.
                let _ = pd.fault(Child(f.ch), f.msg);
                send(Frame::new(Kind::Done, 0, Msg::new(0, &[])));
            }
            other => return Err(anyhow!("unexpected {other:?} from the kernel")),
        }
    }
}

/// The `main` of a PD program built for the simulator: starts the PD
/// type `T` as the PD the kernel sets up (`sim_pd::main::<MyPd<SimPlatform>>()`).
/// Exits 1 saying why when it cannot start.
pub fn main<T: Program<SimPlatform> + 'static>() -> ! {
    if let Err(e) = run(|_, p, r| start::<T>(p, r)) {
        eprintln!("simulator: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0)
}

/// Starts the PD type `T`, boxed; `Err` is its [`Program::Error`], shown.
pub fn start<T: Program<SimPlatform> + 'static>(
    p: SimPlatform,
    regions: &mut dyn Regions,
) -> Result<BoxedPd, String> {
    T::init(p, regions).map(|pd| Box::new(pd) as BoxedPd).map_err(|e| format!("{e:?}"))
}

/// A PD's logic, boxed.
pub type BoxedPd = Box<dyn Pd>;
