//! The scenario harness: a client PD holding one identity of each role in
//! each tenant (see `tenants.toml`), and a misbehaving child PD. It runs the
//! end-to-end scenarios and prints one line per scenario, `harness: PASS
//! <name>` or `harness: FAIL <name>: <why>`, then each tenant's signed
//! checkpoints (`harness: CHECKPOINT <tenant> records|audit <base64 of the
//! note>`), then `harness: DONE <n> passed, <m> failed`. Before the
//! scenarios it prints the checkpoints it found at boot the same way
//! (`harness: RECOVERED …`): after a reboot they must be the last run's
//! `CHECKPOINT`s, everything acknowledged before kept. The simulator's
//! tests and the QEMU runner judge the system by these lines.
#![no_std]

pub mod bench;
mod scenarios;

pub use scenarios::SCENARIOS;

use core::fmt::Write;

use abi::client::Role;
use base64ct::{Base64, Encoding};
use client::Client;
use platform::{Channel, Child, Console, Msg, Pd, Platform, Regions, SharedRegion};

/// Why a scenario failed.
pub type Reason = heapless::String<256>;

/// The harness PD.
pub struct Harness<P: Platform> {
    p: P,
    clients: heapless::Vec<(usize, Role, Client<P>), 16>,
    probe: Option<SharedRegion>,
    passed: u32,
    failed: u32,
    awaiting_fault: bool,
}

impl<P: Platform> Harness<P> {
    /// Starts the harness and runs every scenario up to the fault test,
    /// which completes when the child's fault arrives.
    pub fn init(p: P, regions: &mut dyn Regions) -> Self {
        let mut clients = heapless::Vec::new();
        for id in system::identities_of(p.pd_name()) {
            if let (Some(ch), Some(buf)) =
                (Channel::new(id.client_channel), regions.shared(id.client_symbol))
            {
                let _ = clients.push((id.tenant, id.role, Client::new(p, ch, buf)));
            }
        }
        let probe = regions.shared(system::PROBE_SYMBOL);
        let mut h = Harness { p, clients, probe, passed: 0, failed: 0, awaiting_fault: false };
        h.say(format_args!("starting: {} identities", h.clients.len()));
        h.print_checkpoints("RECOVERED");
        scenarios::run(&mut h);
        h.start_fault_test();
        h
    }

    fn say(&self, args: core::fmt::Arguments) {
        let _ = writeln!(Console(self.p), "harness: {args}");
    }

    /// Records a scenario's outcome.
    fn report(&mut self, name: &str, result: Result<(), Reason>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                self.say(format_args!("PASS {name}"));
            }
            Err(why) => {
                self.failed += 1;
                self.say(format_args!("FAIL {name}: {why}"));
            }
        }
    }

    /// The client of `tenant` with `role`.
    fn client(&mut self, tenant: usize, role: Role) -> Option<&mut Client<P>> {
        self.clients.iter_mut().find(|(t, r, _)| *t == tenant && *r == role).map(|(_, _, c)| c)
    }

    fn start_fault_test(&mut self) {
        let Some(probe) = &mut self.probe else {
            return self.finish();
        };
        let _ = probe.write(0, &[faulty::WRITE_READ_ONLY]);
        match system::HARNESS_CHILD_CHANNEL.and_then(Channel::new) {
            Some(ch) => {
                self.awaiting_fault = true;
                self.say(format_args!("telling the child PD to write to its read-only region"));
                self.p.notify(ch);
            }
            None => self.finish(),
        }
    }

    fn finish(&mut self) {
        scenarios::storage_full(self);
        self.print_checkpoints("CHECKPOINT");
        self.say(format_args!("DONE {} passed, {} failed", self.passed, self.failed));
    }

    /// Prints each tenant's latest signed checkpoints, of its records and of
    /// its audit log, one line each: `<word> <tenant> records|audit <base64
    /// of the note>`, for verification outside the system.
    fn print_checkpoints(&mut self, word: &str) {
        for (t, tenant) in system::TENANTS.iter().enumerate() {
            for (kind, role) in [("records", Role::Ring2), ("audit", Role::Audit)] {
                let mut note = [0u8; 1024];
                let got = match self.client(t, role) {
                    Some(c) if role == Role::Audit => c.audit_checkpoint(&mut note),
                    Some(c) => c.checkpoint(&mut note),
                    None => continue,
                };
                let mut b64 = [0u8; 1400];
                match got.map(|(len, _)| Base64::encode(&note[..len], &mut b64)) {
                    Ok(Ok(text)) => self.say(format_args!("{word} {} {kind} {text}", tenant.name)),
                    Ok(Err(_)) => {
                        self.say(format_args!("no room to print {}'s checkpoint", tenant.name))
                    }
                    Err(e) => {
                        self.say(format_args!("{}'s {kind} checkpoint: {}", tenant.name, e.name()))
                    }
                }
            }
        }
    }
}

impl<P: Platform> Pd for Harness<P> {
    fn fault(&mut self, child: Child, _msg: Msg) -> Option<Msg> {
        let result = if self.awaiting_fault && child.0 == 0 {
            Ok(())
        } else {
            let mut why = Reason::new();
            let _ = write!(why, "unexpected fault of child {}", child.0);
            Err(why)
        };
        self.report(scenarios::FAULT, result);
        if core::mem::take(&mut self.awaiting_fault) {
            self.finish();
        }
        // The child stays stopped.
        None
    }
}
