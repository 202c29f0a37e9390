//! What libmicrokit's `main` does, in the simulator: set the PD up as the
//! Microkit tool and loader would have (name, channel masks, `setvar`
//! variables), run the program's `init`, then hand it each event.

use std::ffi::c_uint;
use std::sync::atomic::Ordering::Relaxed;

use anyhow::Result;
use platform::{Channel, ChannelSet, Child, Msg, Pd};
use sim_pd::Connected;

use crate::abi::{self, MsgInfo};
use crate::console;
use crate::symbols::{Kind, Symbol, Symbols};

/// How the process ends when the PD cannot start (as `sim_pd::main`'s).
const START_FAILED: i32 = 1;

/// `void init(void)`.
type InitFn = extern "C" fn();
/// `void notified(microkit_channel)`.
type NotifiedFn = extern "C" fn(c_uint);
/// `microkit_msginfo protected(microkit_channel, microkit_msginfo)`.
type ProtectedFn = extern "C" fn(c_uint, MsgInfo) -> MsgInfo;
/// `seL4_Bool fault(microkit_child, microkit_msginfo, microkit_msginfo *)`.
type FaultFn = extern "C" fn(c_uint, MsgInfo, *mut MsgInfo) -> i8;

/// The program's entry points.
struct Program {
    init: InitFn,
    notified: NotifiedFn,
    protected: Option<ProtectedFn>,
    fault: Option<FaultFn>,
}

/// Runs the C program as the PD the kernel sets up.
pub fn start() -> ! {
    let conn = match sim_pd::connect() {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("microkit-host: {e:#} (this program runs as a PD: `simulator boot`)");
            std::process::exit(START_FAILED)
        }
    };
    console::connected();
    abi::set_name(&conn.name);
    abi::microkit_pps.store(conn.pps, Relaxed);
    abi::microkit_notifications.store(conn.notifications, Relaxed);
    let program = prepare(&conn).unwrap_or_else(|errors| {
        for e in errors {
            console::line(&format!("{}: {e}", conn.name));
        }
        console::finish();
        std::process::exit(START_FAILED)
    });
    (program.init)();
    // libmicrokit sends a signal deferred in `init` with its first receive.
    abi::send_deferred();
    if let Err(e) = sim_pd::serve(Box::new(program)) {
        console::line(&format!("{}: {e:#}", conn.name));
    }
    console::finish();
    std::process::exit(START_FAILED)
}

/// Sets the program's `setvar` variables and finds its entry points; every
/// reason it cannot run if not.
fn prepare(conn: &Connected) -> Result<Program, Vec<String>> {
    let image = conn.image.as_str();
    let anchor = std::ptr::addr_of!(abi::microkit_name) as usize;
    let symbols = Symbols::of_this_process("microkit_name", anchor)
        .map_err(|e| vec![format!("{image}: {e:#}")])?;
    let mut errors = Vec::new();
    for (var, size_var, addr, size) in conn.regions.symbols() {
        let values = [(Some(var), addr), (size_var, size)];
        for (name, value) in values.into_iter().filter_map(|(n, v)| Some((n?, v))) {
            if let Err(e) = setvar(&symbols, image, name, value as u64) {
                errors.push(e);
            }
        }
    }
    match entry_points(&symbols, image) {
        Ok(program) if errors.is_empty() => Ok(program),
        Ok(_) => Err(errors),
        Err(more) => Err(errors.into_iter().chain(more).collect()),
    }
}

/// Writes `value` into the program's variable `name`, as the Microkit tool
/// patches it into the ELF.
fn setvar(symbols: &Symbols, image: &str, name: &str, value: u64) -> Result<(), String> {
    let declare = format!("declare it (uintptr_t {name};)");
    let sym = match symbols.find(name) {
        Ok(Some(sym)) => sym,
        Ok(None) => return Err(format!("setvar symbol {name:?} is not in {image}: {declare}")),
        Err(e) => return Err(format!("setvar symbol {name:?} in {image}: {e}")),
    };
    let problem = match sym.kind {
        Kind::Variable if sym.size == 8 => None,
        Kind::Variable => Some(format!("is {} bytes, not 8", sym.size)),
        Kind::ReadOnly => Some("is read-only".to_owned()),
        Kind::Function | Kind::Other => Some("is not a variable".to_owned()),
    };
    if let Some(problem) = problem {
        return Err(format!("setvar symbol {name:?} in {image} {problem}: {declare}"));
    }
    write_word(sym, value);
    Ok(())
}

/// Stores a word in an 8-byte writable variable of the program.
fn write_word(sym: Symbol, value: u64) {
    let ptr = std::ptr::with_exposed_provenance_mut::<u64>(sym.addr);
    // SAFETY: `sym` is an 8-byte data symbol of this executable, at its
    // address in this process, in a section that stays writable (checked by
    // `Symbols`); the program has not started (its `init` comes after), so
    // nothing else is using it. Unaligned: the symbol table promises no
    // alignment.
    unsafe { ptr.write_unaligned(value) }
}

/// The program's entry points: `init` and `notified` required, as
/// libmicrokit requires them (it links only with both).
fn entry_points(symbols: &Symbols, image: &str) -> Result<Program, Vec<String>> {
    let mut errors = Vec::new();
    let mut find = |name: &str, prototype: &str, required: bool| {
        let found = symbols.function(name);
        match &found {
            Ok(None) if required => {
                errors.push(format!("{image} has no function {name:?}: define {prototype}"))
            }
            Err(e) => errors.push(format!("{image}: {e}: define {prototype}")),
            Ok(_) => {}
        }
        found.ok().flatten().map(code)
    };
    let init = find("init", "void init(void)", true);
    let notified = find("notified", "void notified(microkit_channel ch)", true);
    let protected = find(
        "protected",
        "microkit_msginfo protected(microkit_channel ch, microkit_msginfo msginfo)",
        false,
    );
    let fault = find(
        "fault",
        "seL4_Bool fault(microkit_child child, microkit_msginfo msginfo, microkit_msginfo *reply_msginfo)",
        false,
    );
    let (Some(init), Some(notified), true) = (init, notified, errors.is_empty()) else {
        return Err(errors);
    };
    // SAFETY: each pointer is to the program's global function of that name
    // (checked by `Symbols`), which microkit.h declares with exactly this
    // prototype (a program including it cannot define another), so calling
    // it through the pointer is what libmicrokit's own calls do.
    unsafe {
        Ok(Program {
            init: std::mem::transmute::<*const (), InitFn>(init),
            notified: std::mem::transmute::<*const (), NotifiedFn>(notified),
            protected: protected.map(|f| std::mem::transmute::<*const (), ProtectedFn>(f)),
            fault: fault.map(|f| std::mem::transmute::<*const (), FaultFn>(f)),
        })
    }
}

/// A pointer to code at `addr`.
fn code(addr: usize) -> *const () {
    std::ptr::with_exposed_provenance(addr)
}

impl Pd for Program {
    fn notified(&mut self, channels: ChannelSet) {
        // As libmicrokit: one call per channel of the badge, lowest first.
        for ch in channels.iter() {
            (self.notified)(ch.id().into());
        }
        abi::send_deferred();
    }

    fn protected(&mut self, ch: Channel, msg: Msg) -> Msg {
        let info = abi::incoming(&msg);
        let Some(protected) = self.protected else { abi::missing("protected") };
        let reply = abi::outgoing(protected(ch.id().into(), info), "protected reply");
        // libmicrokit signals before it replies.
        abi::send_deferred();
        reply
    }

    fn fault(&mut self, child: Child, msg: Msg) -> Option<Msg> {
        let info = abi::incoming(&msg);
        let Some(fault) = self.fault else { abi::missing("fault") };
        let mut reply = abi::microkit_msginfo_new(0, 0);
        let resume = fault(child.0.into(), info, &mut reply) != 0;
        let reply = resume.then(|| abi::outgoing(reply, "fault reply"));
        abi::send_deferred();
        reply
    }
}
