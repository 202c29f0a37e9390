//! The example client PD an integrator would start from: it finds its module
//! identity in the system tables by its PD name and, at start, does what its
//! role allows through the client library, printing what it sees.
#![no_std]

use core::fmt::Write;

use abi::client::Role;
use client::Client;
use platform::{Channel, Console, Pd, Platform, Regions};
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

impl<P: Platform> ClientPd<P> {
    /// Starts the client and runs its role's demonstration.
    pub fn init(p: P, regions: &mut dyn Regions) -> Self {
        let name = p.pd_name();
        for id in system::identities_of(name) {
            let (Some(ch), Some(buf)) =
                (Channel::new(id.client_channel), regions.shared(id.client_symbol))
            else {
                say!(p, "missing channel or buffer for {}", id.module);
                continue;
            };
            let mut c = Client::new(p, ch, buf);
            match id.role {
                Role::Ring1 => writer(p, &mut c, id.module),
                Role::Ring2 => reader(p, &mut c),
                Role::Audit => auditor(p, &mut c),
            }
        }
        ClientPd { p }
    }
}

fn writer<P: Platform>(p: P, c: &mut Client<P>, module: &str) {
    let mut r1 = [0u8; 96];
    let mut r2 = [0u8; 96];
    let a = fmt_into(&mut r1, format_args!("{module}: service started"));
    let b = fmt_into(&mut r2, format_args!("{module}: configuration loaded"));
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
    let mut scratch = [0u8; system::MAX_RECORD];
    let _ = c.for_each(&read, &mut scratch, |i, r| {
        say!(p, "  #{i}: {}", core::str::from_utf8(r).unwrap_or("<binary>"))
    });
    if read.tree_size == 0 {
        return;
    }
    match c.prove_inclusion(read.tree_size - 1, read.tree_size) {
        Ok(proof) => {
            let ok = verify_inclusion(
                &proof.proof,
                proof.tree_size,
                &proof.root,
                read.tree_size - 1,
                &proof.leaf,
            )
            .is_ok();
            say!(
                p,
                "inclusion proof of record {}: {}",
                read.tree_size - 1,
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
            let mut scratch = [0u8; 512];
            let _ = c.for_each(&read, &mut scratch, |i, r| {
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

impl<P: Platform> ClientPd<P> {
    /// The platform (for the glue).
    pub fn platform(&self) -> P {
        self.p
    }
}
