//! Host stand-ins for tests of PD logic: regions in leaked heap memory, a
//! platform whose calls go to a function, and a [`Bus`] on which PDs call
//! and notify each other in one process, as a system description connects
//! them.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ptr::NonNull;

use crate::{Access, Channel, ChannelSet, Msg, Pd, Platform, Regions, SharedRegion, Time};

/// Regions backed by host memory. Shared regions can be opened from two
/// sides (two `HostRegions` built with [`HostRegions::share`]).
#[derive(Default)]
pub struct HostRegions {
    shared: BTreeMap<String, (NonNull<u8>, usize, Access)>,
    private: BTreeMap<String, &'static mut [u8]>,
    config: Option<&'static [u8]>,
}

/// A block of leaked, zeroed memory.
pub fn leak(size: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; size].into_boxed_slice())
}

impl HostRegions {
    /// No regions.
    pub fn new() -> HostRegions {
        HostRegions::default()
    }

    /// Gives the PD a configuration (`Regions::config`).
    pub fn with_config(mut self, bytes: &[u8]) -> Self {
        self.config = Some(Box::leak(bytes.to_vec().into_boxed_slice()));
        self
    }

    /// Adds a private region of `size` bytes.
    pub fn private_region(mut self, symbol: &str, size: usize) -> Self {
        self.private.insert(symbol.into(), leak(size));
        self
    }

    /// Adds a shared region over `mem` (e.g. from [`leak`], also given to
    /// the other side).
    pub fn share(mut self, symbol: &str, mem: &'static [u8], access: Access) -> Self {
        let base = NonNull::new(mem.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
        self.shared.insert(symbol.into(), (base, mem.len(), access));
        self
    }
}

impl Regions for HostRegions {
    fn shared(&mut self, symbol: &str) -> Option<SharedRegion> {
        let (base, len, access) = self.shared.remove(symbol)?;
        // SAFETY: leaked memory lives forever; each symbol is taken once.
        #[allow(unsafe_code)]
        Some(unsafe { SharedRegion::new(base, len, access) })
    }

    fn private(&mut self, symbol: &str) -> Option<&'static mut [u8]> {
        self.private.remove(symbol)
    }

    fn config(&mut self) -> Option<&'static [u8]> {
        self.config
    }
}

/// A shared region over the same memory, for the test's side.
pub fn view(mem: &'static [u8]) -> SharedRegion {
    let base = NonNull::new(mem.as_ptr() as *mut u8).unwrap_or(NonNull::dangling());
    // SAFETY: leaked memory lives forever; tests use the view and the PD in turn.
    #[allow(unsafe_code)]
    unsafe {
        SharedRegion::new(base, mem.len(), Access::ReadWrite)
    }
}

/// A platform for tests: `ppcall` goes to `call`, prints go to stderr.
#[derive(Clone, Copy)]
pub struct HostPlatform {
    /// The PD's name.
    pub name: &'static str,
    /// Handles protected calls.
    pub call: fn(Channel, Msg) -> Msg,
}

impl Platform for HostPlatform {
    fn pd_name(&self) -> &str {
        self.name
    }
    fn notify(&self, _: Channel) {}
    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg {
        (self.call)(ch, msg)
    }
    fn print(&self, s: &str) {
        eprint!("[{}] {s}", self.name);
    }
    fn time(&self) -> Time {
        Time { unix_ms: None, source: "none" }
    }
    fn irq_ack(&self, _: Channel) {}
}

/// No clock: what the bus's clock says until it is set.
const NO_CLOCK: Time = Time { unix_ms: None, source: "none" };

/// An in-process call bus: PDs registered by name, their channels
/// connected pairwise as a system description connects them, and a
/// [`BusPlatform`] for each, whose `ppcall` runs the peer's
/// [`Pd::protected`] and whose `notify` delivers the peer's
/// [`Pd::notified`].
///
/// A notification for a PD that is busy (inside one of its own handlers,
/// or not registered yet) waits, as Microkit's do, and is delivered once
/// it is free; notifications waiting together arrive as one channel set.
/// A call to a busy PD is a call cycle, which would deadlock on seL4: the
/// bus panics saying so. What each PD prints is kept for the test
/// ([`Bus::prints`]), and the time is a fake clock the test sets
/// ([`Bus::set_time`]).
///
/// A bus and its PDs live as long as the process (leaked, like
/// [`HostRegions`]' memory); it belongs to the thread that made it.
#[derive(Clone, Copy)]
pub struct Bus(&'static BusState);

/// The bus's state: its nodes, the channels between them, the clock.
struct BusState {
    nodes: RefCell<Vec<&'static Node>>,
    links: RefCell<BTreeMap<End, (&'static Node, u8)>>,
    time: Cell<Time>,
}

/// One end of a channel: a node's id and its channel id.
type End = (usize, u8);

/// A PD on the bus, or a name a test calls from.
struct Node {
    id: usize,
    name: &'static str,
    /// Its logic, once registered; borrowed while one of its handlers runs.
    pd: RefCell<Option<Box<dyn Pd>>>,
    /// Channels notified while it could not take them.
    pending: Cell<u64>,
    /// What it printed since the test last took it.
    prints: RefCell<String>,
}

/// A PD's platform on a [`Bus`].
#[derive(Clone, Copy)]
pub struct BusPlatform {
    bus: Bus,
    node: &'static Node,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    /// An empty bus, its clock saying there is none.
    pub fn new() -> Bus {
        let state = BusState {
            nodes: RefCell::new(Vec::new()),
            links: RefCell::new(BTreeMap::new()),
            time: Cell::new(NO_CLOCK),
        };
        Bus(Box::leak(Box::new(state)))
    }

    /// The node called `name`, added if the bus has none yet.
    fn node(self, name: &str) -> &'static Node {
        if let Some(n) = self.0.nodes.borrow().iter().find(|n| n.name == name) {
            return n;
        }
        let mut nodes = self.0.nodes.borrow_mut();
        let node = Node {
            id: nodes.len(),
            name: Box::leak(name.to_string().into_boxed_str()),
            pd: RefCell::new(None),
            pending: Cell::new(0),
            prints: RefCell::new(String::new()),
        };
        let node: &'static Node = Box::leak(Box::new(node));
        nodes.push(node);
        node
    }

    /// The platform of the PD `name`: for its `init`, before it is
    /// registered, or for a test calling as that PD (a fake client needs
    /// no [`Pd`] of its own).
    pub fn platform(self, name: &str) -> BusPlatform {
        BusPlatform { bus: self, node: self.node(name) }
    }

    /// Puts `pd`'s logic on the bus as `name` (replacing any before it, as
    /// a reboot would), and delivers what was notified to it meanwhile.
    pub fn register(self, name: &str, pd: Box<dyn Pd>) {
        let node = self.node(name);
        let mut slot = node
            .pd
            .try_borrow_mut()
            .unwrap_or_else(|_| panic!("bus: {name} is replaced while one of its handlers runs"));
        *slot = Some(pd);
        drop(slot);
        self.drain();
    }

    /// Connects channel `a.1` of PD `a.0` with channel `b.1` of PD `b.0`,
    /// as a `<channel>` of a system description does. Each end is
    /// connected once.
    pub fn connect(self, a: (&str, u8), b: (&str, u8)) {
        let (na, nb) = (self.node(a.0), self.node(b.0));
        let mut links = self.0.links.borrow_mut();
        for (end, peer) in [((na, a.1), (nb, b.1)), ((nb, b.1), (na, a.1))] {
            let key = (end.0.id, end.1);
            assert!(
                !links.contains_key(&key),
                "bus: {} channel {} connected twice",
                end.0.name,
                end.1
            );
            links.insert(key, peer);
        }
    }

    /// The other end of `name`'s channel `ch`, if it is connected.
    pub fn peer(self, name: &str, ch: u8) -> Option<(&'static str, u8)> {
        let node = self.node(name);
        self.0.links.borrow().get(&(node.id, ch)).map(|(n, c)| (n.name, *c))
    }

    /// A protected call arriving on `name`'s channel `ch` from outside the
    /// bus (the test as the caller, on any channel, connected or not).
    pub fn protected(self, name: &str, ch: u8, msg: Msg) -> Msg {
        let node = self.node(name);
        let reply = node.run(|pd| pd.protected(channel(ch), msg));
        self.drain();
        reply
    }

    /// A notification arriving on `name`'s channel `ch` from outside the
    /// bus: delivered now if `name` is free, otherwise once it is.
    pub fn notify(self, name: &str, ch: u8) {
        self.node(name).queue(ch);
        self.drain();
    }

    /// What `name` printed since the last call (and forgets it).
    pub fn prints(self, name: &str) -> String {
        std::mem::take(&mut *self.node(name).prints.borrow_mut())
    }

    /// Sets the clock every PD on the bus reads.
    pub fn set_time(self, time: Time) {
        self.0.time.set(time);
    }

    /// Moves the clock on by `ms` milliseconds (if it is set).
    pub fn advance(self, ms: u64) {
        let t = self.0.time.get();
        self.0.time.set(Time { unix_ms: t.unix_ms.map(|now| now + ms), ..t });
    }

    /// Delivers waiting notifications to every PD free to take them.
    fn drain(self) {
        while let Some(node) = self.deliverable() {
            let set = ChannelSet(node.pending.replace(0));
            node.run(|pd| pd.notified(set));
        }
    }

    /// A registered PD, not running, with notifications waiting.
    fn deliverable(self) -> Option<&'static Node> {
        let nodes = self.0.nodes.borrow();
        nodes.iter().copied().find(|n| n.pending.get() != 0 && n.is_free())
    }

    /// The far end of `from`'s channel `ch`; a channel to nothing stops
    /// the caller, as the system description would.
    fn link(self, from: &Node, ch: Channel) -> (&'static Node, u8) {
        let links = self.0.links.borrow();
        let far = links.get(&(from.id, ch.id())).copied();
        far.unwrap_or_else(|| {
            panic!("bus: {} used channel {}, which connects to nothing", from.name, ch.id())
        })
    }
}

/// A channel id the caller gave; beyond Microkit's a test's mistake.
fn channel(ch: u8) -> Channel {
    Channel::new(ch).unwrap_or_else(|| panic!("bus: no channel {ch} in Microkit"))
}

impl Node {
    /// Whether it is registered and none of its handlers is running.
    fn is_free(&self) -> bool {
        self.pd.try_borrow().is_ok_and(|pd| pd.is_some())
    }

    /// Notes a notification on `ch`, for delivery when it is free.
    fn queue(&self, ch: u8) {
        let _ = channel(ch);
        self.pending.set(self.pending.get() | 1 << ch);
    }

    /// Runs one of its handlers; a call into a running PD is a call cycle.
    fn run<R>(&self, handler: impl FnOnce(&mut dyn Pd) -> R) -> R {
        let Ok(mut slot) = self.pd.try_borrow_mut() else {
            panic!("bus: {} was called while running: a call cycle (a deadlock on seL4)", self.name)
        };
        let Some(pd) = slot.as_mut() else { panic!("bus: {} is not registered", self.name) };
        handler(pd.as_mut())
    }
}

impl Platform for BusPlatform {
    fn pd_name(&self) -> &str {
        self.node.name
    }

    fn notify(&self, ch: Channel) {
        let (peer, peer_ch) = self.bus.link(self.node, ch);
        peer.queue(peer_ch);
        self.bus.drain();
    }

    fn ppcall(&self, ch: Channel, msg: Msg) -> Msg {
        let (peer, peer_ch) = self.bus.link(self.node, ch);
        let reply = peer.run(|pd| pd.protected(channel(peer_ch), msg));
        self.bus.drain();
        reply
    }

    fn print(&self, s: &str) {
        self.node.prints.borrow_mut().push_str(s);
        eprint!("{s}");
    }

    fn time(&self) -> Time {
        self.bus.0.time.get()
    }

    /// Waiting for another PD: the bus lets notifications through.
    fn relax(&self) {
        self.bus.drain();
    }

    fn irq_ack(&self, _: Channel) {}
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    type Log = Rc<RefCell<Vec<String>>>;
    type OnCall = Box<dyn FnMut(BusPlatform, Channel, Msg) -> Msg>;

    /// A PD that logs what reaches it and answers calls with `on_call`.
    struct Probe {
        p: BusPlatform,
        log: Log,
        on_call: OnCall,
    }

    impl Pd for Probe {
        fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
            self.log.borrow_mut().push(format!(
                "{} call {} on {}",
                self.p.pd_name(),
                msg.label,
                ch.id()
            ));
            let reply = (self.on_call)(self.p, ch, msg);
            self.log.borrow_mut().push(format!("{} replies", self.p.pd_name()));
            reply
        }

        fn notified(&mut self, set: ChannelSet) {
            let chs: Vec<u8> = set.iter().map(Channel::id).collect();
            self.log.borrow_mut().push(format!("{} notified {chs:?}", self.p.pd_name()));
        }
    }

    fn probe(bus: Bus, name: &str, log: &Log, on_call: OnCall) {
        let pd = Probe { p: bus.platform(name), log: log.clone(), on_call };
        bus.register(name, Box::new(pd));
    }

    /// Replies with the label plus one and the channel the call came on.
    fn echo() -> OnCall {
        Box::new(|_, ch, m| Msg::new(m.label + 1, &[u64::from(ch.id()), m.mr(0)]))
    }

    fn ch(id: u8) -> Channel {
        Channel::new(id).unwrap()
    }

    #[test]
    fn a_call_runs_the_peer_on_its_own_end_of_the_channel_both_ways() {
        let (bus, log) = (Bus::new(), Log::default());
        bus.connect(("a", 3), ("b", 5));
        probe(bus, "a", &log, echo());
        probe(bus, "b", &log, echo());
        assert_eq!(bus.platform("a").ppcall(ch(3), Msg::new(10, &[7])), Msg::new(11, &[5, 7]));
        assert_eq!(bus.platform("b").ppcall(ch(5), Msg::new(20, &[])), Msg::new(21, &[3, 0]));
        assert_eq!(bus.peer("a", 3), Some(("b", 5)));
        assert_eq!(bus.peer("a", 4), None);
        assert_eq!(*log.borrow(), ["b call 10 on 5", "b replies", "a call 20 on 3", "a replies"]);
    }

    #[test]
    fn a_notification_reaches_a_free_pd_at_once() {
        let (bus, log) = (Bus::new(), Log::default());
        bus.connect(("a", 0), ("b", 9));
        probe(bus, "b", &log, echo());
        bus.platform("a").notify(ch(0));
        assert_eq!(*log.borrow(), ["b notified [9]"]);
    }

    #[test]
    fn a_notification_to_a_busy_pd_waits_until_its_handler_returns() {
        let (bus, log) = (Bus::new(), Log::default());
        bus.connect(("a", 1), ("b", 0));
        bus.connect(("a", 2), ("b", 4));
        // b, called by a, notifies a on both channels and twice on one:
        // a is running, so it hears of them once it returns, as one set.
        let notify_back = Box::new(|p: BusPlatform, _, m: Msg| {
            for c in [0, 4, 0] {
                p.notify(ch(c));
            }
            m
        });
        probe(bus, "b", &log, notify_back);
        probe(bus, "a", &log, Box::new(|p: BusPlatform, _, m| p.ppcall(ch(1), m)));
        assert_eq!(bus.protected("a", 7, Msg::new(1, &[])).label, 1);
        let want =
            ["a call 1 on 7", "b call 1 on 0", "b replies", "a replies", "a notified [1, 2]"];
        assert_eq!(*log.borrow(), want);
    }

    #[test]
    fn a_notification_before_registration_is_delivered_at_registration() {
        let (bus, log) = (Bus::new(), Log::default());
        bus.connect(("a", 0), ("b", 61));
        bus.platform("a").notify(ch(0));
        bus.notify("b", 3);
        assert!(log.borrow().is_empty());
        probe(bus, "b", &log, echo());
        assert_eq!(*log.borrow(), ["b notified [3, 61]"]);
    }

    #[test]
    fn prints_are_kept_per_pd_and_time_comes_from_the_fake_clock() {
        let bus = Bus::new();
        let (a, b) = (bus.platform("a"), bus.platform("b"));
        a.print("a: one\n");
        b.print("b: two\n");
        a.print("a: three\n");
        assert_eq!(bus.prints("a"), "a: one\na: three\n");
        assert_eq!(bus.prints("a"), "");
        assert_eq!(bus.prints("b"), "b: two\n");
        assert_eq!(a.time(), Time { unix_ms: None, source: "none" });
        bus.set_time(Time { unix_ms: Some(1_000), source: "test" });
        bus.advance(5);
        assert_eq!(b.time(), Time { unix_ms: Some(1_005), source: "test" });
        assert_eq!(a.pd_name(), "a");
    }

    #[test]
    #[should_panic(expected = "a used channel 2, which connects to nothing")]
    fn a_call_on_an_unconnected_channel_stops_the_caller() {
        let bus = Bus::new();
        bus.platform("a").ppcall(ch(2), Msg::new(1, &[]));
    }

    #[test]
    #[should_panic(expected = "a was called while running: a call cycle")]
    fn a_call_cycle_is_refused() {
        let (bus, log) = (Bus::new(), Log::default());
        bus.connect(("a", 0), ("b", 0));
        probe(bus, "a", &log, Box::new(|p: BusPlatform, _, m| p.ppcall(ch(0), m)));
        probe(bus, "b", &log, Box::new(|p: BusPlatform, _, m| p.ppcall(ch(0), m)));
        bus.protected("a", 1, Msg::new(1, &[]));
    }

    #[test]
    #[should_panic(expected = "b channel 0 connected twice")]
    fn an_end_is_connected_once() {
        let bus = Bus::new();
        bus.connect(("a", 0), ("b", 0));
        bus.connect(("c", 0), ("b", 0));
    }
}
