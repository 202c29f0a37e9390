//! The example client PD an integrator would start from. It knows only
//! what any client PD knows (docs/abi.md): a PD holding one module
//! identity has it on channel 0 with its buffer at `sfs_buf`; one holding
//! several has each on channel `i` with its buffer at `sfs_buf_<i>`. It
//! asks each identity what it may do (`STATUS`) and, at start, does that
//! through the client library, printing what it sees.
#![no_std]

use core::convert::Infallible;
use core::fmt::Write;

use abi::client::rights;
use client::Client;
use platform::{Channel, Console, Pd, Platform, Program, Regions, SharedRegion};
use tlog::proof::verify_inclusion;

/// The example client PD.
pub struct ClientPd<P> {
    p: P,
}

macro_rules! say {
    ($p:expr, $($arg:tt)*) => {{
        let _ = writeln!(Console($p), "{}: {}", $p.pd_name(), format_args!($($arg)*));
    }};
}

impl<P: Platform> Program<P> for ClientPd<P> {
    type Error = Infallible;

    /// Starts the client and runs each identity's demonstration.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, Infallible> {
        match regions.shared(system::CLIENT_BUFFER_SYMBOL) {
            Some(buf) => identity(p, 0, buf),
            None => {
                for ch in 0..system::MAX_CHANNELS as u8 {
                    if let Some(buf) = system::buffer_symbol(ch).and_then(|s| regions.shared(s)) {
                        identity(p, ch, buf);
                    }
                }
            }
        }
        Ok(ClientPd { p })
    }
}

impl<P: Platform> ClientPd<P> {
    /// The platform (for the glue).
    pub fn platform(&self) -> P {
        self.p
    }
}

/// What the identity on channel `ch` may do, done.
fn identity<P: Platform>(p: P, ch: u8, buf: SharedRegion) {
    let Some(channel) = Channel::new(ch) else { return };
    let mut c = Client::new(p, channel, buf);
    match c.status() {
        Ok(info) if info.rights & rights::APPEND != 0 => writer(p, ch, &mut c),
        Ok(info) if info.rights & rights::READ != 0 => reader(p, &mut c),
        Ok(info) if info.rights & rights::AUDIT != 0 => auditor(p, &mut c),
        Ok(info) => say!(p, "channel {ch}: rights {:#x}, nothing to show", info.rights),
        Err(e) => say!(p, "channel {ch}: status failed: {}", e.name()),
    }
}

fn writer<P: Platform>(p: P, ch: u8, c: &mut Client<P>) {
    let mut r1 = [0u8; 96];
    let mut r2 = [0u8; 96];
    let name = p.pd_name();
    let a = fmt_into(&mut r1, format_args!("{name} (channel {ch}): service started"));
    let b = fmt_into(&mut r2, format_args!("{name} (channel {ch}): configuration loaded"));
    match c.append(&[a, b]) {
        Ok(r) => say!(p, "appended records {}..{}", r.start, r.end - 1),
        Err(e) => say!(p, "append failed: {}", e.name()),
    }
}

fn reader<P: Platform>(p: P, c: &mut Client<P>) {
    let read = match c.read_since(0, 0) {
        Ok(r) => r,
        Err(e) => return say!(p, "read failed: {}", e.name()),
    };
    say!(
        p,
        "ledger has {} records; read {} (audit record {})",
        read.tree_size,
        read.count,
        read.audit_seq
    );
    let mut start = [0u8; 96];
    let _ = c.for_each_prefix(&read, &mut start, |i, len, r| {
        let text = core::str::from_utf8(r).unwrap_or("<binary>");
        if len > r.len() {
            say!(p, "  #{i}: {text}… ({len} bytes)")
        } else {
            say!(p, "  #{i}: {text}")
        }
    });
    if read.tree_size == 0 {
        return;
    }
    let last = read.tree_size - 1;
    match c.prove_inclusion(last, read.tree_size) {
        Ok(proof) => {
            let ok =
                verify_inclusion(&proof.proof, proof.tree_size, &proof.root, last, &proof.leaf)
                    .is_ok();
            say!(
                p,
                "inclusion proof of record {last}: {}",
                if ok { "verified" } else { "INVALID" }
            );
        }
        Err(e) => say!(p, "proof failed: {}", e.name()),
    }
}

fn auditor<P: Platform>(p: P, c: &mut Client<P>) {
    match c.read_audit(0, 0) {
        Ok(read) => {
            say!(p, "audit ledger: {} reads recorded before this one", read.count);
            let mut start = [0u8; 512];
            let _ = c.for_each_prefix(&read, &mut start, |i, _, r| {
                say!(p, "  audit #{i}: {}", core::str::from_utf8(r).unwrap_or("?"))
            });
        }
        Err(e) => say!(p, "audit read failed: {}", e.name()),
    }
}

/// Formats into a buffer, truncating; returns the bytes written.
fn fmt_into<'a>(buf: &'a mut [u8], args: core::fmt::Arguments) -> &'a [u8] {
    struct W<'b>(&'b mut [u8], usize);
    impl Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.0.len() - self.1);
            self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
            self.1 += n;
            Ok(())
        }
    }
    let mut w = W(buf, 0);
    let _ = w.write_fmt(args);
    let n = w.1;
    &buf[..n]
}

impl<P: Platform> Pd for ClientPd<P> {}
