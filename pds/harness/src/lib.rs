//! The scenario harness: a client PD holding one identity of each role in
//! each tenant `[harness]` lists (`tenants.toml`; its configuration says
//! which), and a misbehaving child PD. It says which tenants it covers
//! (`harness: COVERS <tenant>…`), runs the end-to-end scenarios (on the
//! first two) and prints one line per scenario, `harness: PASS <name>` or
//! `harness: FAIL <name>: <why>`, then each covered tenant's signed
//! checkpoints (`harness: CHECKPOINT <tenant> records|audit <base64 of the
//! note>`), then `harness: DONE <n> passed, <m> failed`. Before the
//! scenarios it prints the checkpoints it found at boot the same way
//! (`harness: RECOVERED …`): after a reboot they must be the last run's
//! `CHECKPOINT`s, everything acknowledged before kept. The simulator's
//! tests and the QEMU runner judge the system by these lines; their
//! formats and the scenarios' names are the `scenarios` crate's, which
//! those tools use instead of this one.
#![no_std]

pub mod bench;
mod scenarios;

use core::fmt::Write;

use ::scenarios::faulty;
use ::scenarios::markers::{self, AUDIT, CHECKPOINT, COVERS, Done, RECORDS, RECOVERED};
use abi::client::Role;
use base64ct::{Base64, Encoding};
use client::Client;
use platform::{Channel, Child, Console, Msg, Pd, Platform, Program, Regions, SharedRegion};

/// Why a scenario failed.
pub type Reason = heapless::String<256>;

/// A tenant the harness covers: its name and checkpoint origin.
#[derive(Clone, Copy)]
pub struct Tenant {
    name: &'static str,
    origin: &'static str,
}

/// The harness PD.
pub struct Harness<P: Platform> {
    p: P,
    tenants: heapless::Vec<Tenant, 20>,
    clients: heapless::Vec<(usize, Role, Client<P>), 60>,
    probe: Option<SharedRegion>,
    child: Option<Channel>,
    max_record: usize,
    /// Room for a record or audit record of every size, and one more byte.
    scratch: &'static mut [u8],
    passed: u32,
    failed: u32,
    awaiting_fault: bool,
}

impl<P: Platform> Program<P> for Harness<P> {
    type Error = &'static str;

    /// Starts the harness and runs every scenario up to the fault test,
    /// which completes when the child's fault arrives.
    fn init(p: P, regions: &mut dyn Regions) -> Result<Self, &'static str> {
        let config = match system::load(regions, p.pd_name()).map(|c| c.kind) {
            Ok(system::Kind::Harness(h)) => h,
            _ => return Err("no harness configuration (sfs_config)"),
        };
        let mut tenants: heapless::Vec<Tenant, 20> = heapless::Vec::new();
        let mut clients = heapless::Vec::new();
        for id in &config.identities {
            let t = match tenants.iter().position(|t| t.name == id.tenant) {
                Some(t) => t,
                None => {
                    let tenant = Tenant { name: id.tenant, origin: id.origin };
                    tenants.push(tenant).map_err(|_| "more tenants than the harness holds")?;
                    tenants.len() - 1
                }
            };
            let ch = Channel::new(id.channel).ok_or("a channel beyond Microkit's")?;
            let symbol = system::buffer_symbol(id.channel).ok_or("a channel beyond Microkit's")?;
            let buf = regions.shared(symbol).ok_or("an identity's buffer is not mapped")?;
            clients
                .push((t, id.role, Client::new(p, ch, buf)))
                .map_err(|_| "too many identities")?;
        }
        let max_record = config.max_record as usize;
        let mem = regions.private(system::MEM_SYMBOL).ok_or("no private memory (sfs_mem)")?;
        // Room for any record or audit record, and one byte more.
        let room = max_record.max(ledger::audit::MAX_AUDIT_RECORD) + 1;
        let scratch = mem.get_mut(..room).ok_or("private memory too small")?;
        let mut h = Harness {
            p,
            tenants,
            clients,
            probe: regions.shared(system::PROBE_SYMBOL),
            child: config.child.and_then(Channel::new),
            max_record,
            scratch,
            passed: 0,
            failed: 0,
            awaiting_fault: false,
        };
        h.say(format_args!("starting: {} identities", h.clients.len()));
        h.covers();
        h.print_checkpoints(RECOVERED);
        scenarios::run(&mut h);
        h.start_fault_test();
        Ok(h)
    }
}

impl<P: Platform> Harness<P> {
    /// Says which tenants the harness covers (prints checkpoints of).
    fn covers(&self) {
        let mut line: heapless::String<512> = heapless::String::new();
        for t in &self.tenants {
            let _ = write!(line, " {}", t.name);
        }
        self.say(format_args!("{COVERS}{line}"));
    }

    /// Tenant `t` of those covered.
    fn tenant(&self, t: usize) -> Option<Tenant> {
        self.tenants.get(t).copied()
    }

    fn say(&self, args: core::fmt::Arguments) {
        let _ = writeln!(Console(self.p), "harness: {args}");
    }

    /// Records a scenario's outcome.
    fn report(&mut self, name: &str, result: Result<(), Reason>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                self.say(format_args!("{} {name}", markers::PASS));
            }
            Err(why) => {
                self.failed += 1;
                self.say(format_args!("{} {name}: {why}", markers::FAIL));
            }
        }
    }

    /// The client of `tenant` with `role`.
    fn client(&mut self, tenant: usize, role: Role) -> Option<&mut Client<P>> {
        self.clients.iter_mut().find(|(t, r, _)| *t == tenant && *r == role).map(|(_, _, c)| c)
    }

    /// The client of `tenant` with `role`, and the scratch memory.
    fn client_and_scratch(
        &mut self,
        tenant: usize,
        role: Role,
    ) -> Option<(&mut Client<P>, &mut [u8])> {
        let Harness { clients, scratch, .. } = self;
        let c = clients.iter_mut().find(|(t, r, _)| *t == tenant && *r == role)?;
        Some((&mut c.2, &mut **scratch))
    }

    fn start_fault_test(&mut self) {
        let Some(probe) = &mut self.probe else {
            return self.finish();
        };
        let _ = probe.write(0, &[faulty::WRITE_READ_ONLY]);
        match self.child {
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
        self.print_checkpoints(CHECKPOINT);
        self.say(format_args!(
            "{}",
            Done { passed: self.passed.into(), failed: self.failed.into() }
        ));
    }

    /// Prints each tenant's latest signed checkpoints, of its records and of
    /// its audit log, one line each: `<word> <tenant> records|audit <base64
    /// of the note>`, for verification outside the system.
    fn print_checkpoints(&mut self, word: &str) {
        for t in 0..self.tenants.len() {
            let tenant = self.tenants[t];
            for (kind, role) in [(RECORDS, Role::Ring2), (AUDIT, Role::Audit)] {
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
        self.report(::scenarios::FAULT, result);
        if core::mem::take(&mut self.awaiting_fault) {
            self.finish();
        }
        // The child stays stopped.
        None
    }
}
