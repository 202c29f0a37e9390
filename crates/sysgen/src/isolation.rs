//! Isolation, checked: no channel and no memory region joins PDs of two
//! tenants, except through the shared servers (`wire`, `psdb`) in the roles
//! their configurations give each of their channels and buffers.
//!
//! Who belongs to which tenant comes from the configurations of the
//! system's own PDs (a ledger's says its tenant; a `wire`'s, each client
//! and ledger channel's; psdb's, each namespace's), never from names: a
//! client PD belongs to the tenant of the `wire` channels it holds, and
//! any PD joined to it by a channel or a shared region to that tenant too.
//! `make system` checks what it generates; `simulator check` and `boot`
//! check any description before it runs.

use std::collections::BTreeMap;
use std::path::Path;

use sdf::{Pos, ProtectionDomain, SdfError, System};
use system::{Config, Kind};

/// What a PD is, for the check.
#[derive(Clone, Copy)]
enum Role<'a> {
    /// A tenant's ledger.
    Ledger(&'a str),
    /// A server shared by tenants, with its configuration.
    Server(&'a Config<'a>),
    /// Anything else: client PDs, integrators' PDs.
    Other,
}

/// The configurations of `system`'s PDs, read from the files their
/// `sfs_config` regions are prefilled from (beside the description in
/// `dir`, else in the working directory, as Microkit's tool looks).
pub fn configs(system: &System, dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, SdfError> {
    let mut out = BTreeMap::new();
    for pd in system.all_pds() {
        let Some(m) =
            pd.maps.iter().find(|m| m.setvar_vaddr.as_deref() == Some(system::CONFIG_SYMBOL))
        else {
            continue;
        };
        let region = system.memory_region(&m.mr);
        let Some(path) = region.and_then(|r| r.prefill_path.as_deref()) else {
            return Err(at(
                system,
                m.pos,
                format!(
                    "PD '{}': its configuration region '{}' has no prefill file",
                    pd.name, m.mr
                ),
            ));
        };
        let file = [dir.join(path), path.into()].into_iter().find(|p| p.exists());
        let bytes = file.and_then(|f| std::fs::read(f).ok()).ok_or_else(|| {
            at(
                system,
                m.pos,
                format!(
                    "PD '{}': its configuration {path} cannot be read (run `make system`)",
                    pd.name
                ),
            )
        })?;
        out.insert(pd.name.clone(), bytes);
    }
    Ok(out)
}

fn at(system: &System, pos: Pos, message: String) -> SdfError {
    SdfError { file: system.file.clone(), line: pos.line, col: pos.col, message }
}

/// Checks `system`, its PDs' configurations in `configs` (by PD name).
pub fn check(system: &System, configs: &BTreeMap<String, Vec<u8>>) -> Result<(), SdfError> {
    let mut parsed = BTreeMap::new();
    for pd in system.all_pds() {
        if let Some(bytes) = configs.get(&pd.name) {
            let c = Config::parse(bytes, &pd.name).map_err(|e| {
                at(
                    system,
                    pd.pos,
                    format!("PD '{}': its configuration is not readable: {e:?}", pd.name),
                )
            })?;
            parsed.insert(pd.name.clone(), c);
        }
    }
    Checker::new(system, &parsed).run()
}

struct Checker<'s> {
    system: &'s System,
    pds: Vec<&'s ProtectionDomain>,
    roles: Vec<Role<'s>>,
    /// Union-find over PDs that are not servers.
    parent: Vec<usize>,
    /// A tenant each PD is known to serve, with the evidence.
    tenant: Vec<Option<(&'s str, String, Pos)>>,
}

impl<'s> Checker<'s> {
    fn new(system: &'s System, configs: &'s BTreeMap<String, Config<'s>>) -> Self {
        let pds = system.all_pds();
        let roles = pds
            .iter()
            .map(|p| match configs.get(&p.name) {
                Some(c) => match &c.kind {
                    Kind::Ledger(l) => Role::Ledger(l.tenant),
                    _ => Role::Server(c),
                },
                None => Role::Other,
            })
            .collect();
        let n = pds.len();
        Checker { system, pds, roles, parent: (0..n).collect(), tenant: vec![None; n] }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.pds.iter().position(|p| p.name == name)
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn err(&self, pos: Pos, message: String) -> SdfError {
        at(self.system, pos, message)
    }

    /// Records that PD `i`'s group serves `tenant`, because of `why`.
    fn claim(&mut self, i: usize, tenant: &'s str, why: String, pos: Pos) -> Result<(), SdfError> {
        let r = self.find(i);
        match &self.tenant[r] {
            Some((t, first, _)) if *t != tenant => Err(self.err(
                pos,
                format!(
                    "{why} joins tenant {t} (as {first}) and tenant {tenant}: only wire and psdb may serve two tenants"
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.tenant[r] = Some((tenant, why, pos));
                Ok(())
            }
        }
    }

    /// Joins the groups of PDs `a` and `b` (neither a server).
    fn join(&mut self, a: usize, b: usize, why: String, pos: Pos) -> Result<(), SdfError> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return Ok(());
        }
        let tb = self.tenant[rb].take();
        self.parent[rb] = ra;
        match tb {
            Some((t, _, _)) => self.claim(ra, t, why, pos),
            None => Ok(()),
        }
    }

    fn run(mut self) -> Result<(), SdfError> {
        for i in 0..self.pds.len() {
            if let Role::Ledger(t) = self.roles[i] {
                let why = format!("the configuration of '{}' says", self.pds[i].name);
                self.claim(i, t, why, self.pds[i].pos)?;
            }
        }
        self.channels()?;
        self.regions()
    }

    /// The tenant a server assigns to its channel `ch` (`None`: none).
    fn server_channel(&self, c: &Config<'s>, ch: u8) -> Option<&'s str> {
        match &c.kind {
            Kind::Wire(w) => w
                .clients
                .iter()
                .find(|x| x.channel == ch)
                .and_then(|x| w.ledgers.get(usize::from(x.ledger)).map(|l| l.tenant))
                .or_else(|| w.ledgers.iter().find(|l| l.channel == ch).map(|l| l.tenant)),
            Kind::Psdb(p) => {
                p.namespaces.iter().find(|n| n.channel == ch).and_then(|n| n.name.split('/').next())
            }
            Kind::Harness(h) => h.identities.iter().find(|x| x.channel == ch).map(|x| x.tenant),
            _ => None,
        }
    }

    fn server(&self, i: usize) -> Option<&'s Config<'s>> {
        match self.roles[i] {
            Role::Server(c) => Some(c),
            _ => None,
        }
    }

    fn channels(&mut self) -> Result<(), SdfError> {
        let system = self.system;
        for ch in &system.channels {
            let [a, b] = &ch.ends;
            let (Some(ia), Some(ib)) = (self.index(&a.pd), self.index(&b.pd)) else { continue };
            let why = format!("the channel between '{}' and '{}'", a.pd, b.pd);
            self.ledger_channel(ia, a, ib, b, ch.pos)?;
            self.ledger_channel(ib, b, ia, a, ch.pos)?;
            match (self.server(ia), self.server(ib)) {
                (Some(x), Some(y)) => self.between_servers(x, a, y, b, ch.pos)?,
                (Some(c), None) => self.server_end(c, a.id, ib, &why, ch.pos)?,
                (None, Some(c)) => self.server_end(c, b.id, ia, &why, ch.pos)?,
                (None, None) => self.join(ia, ib, why, ch.pos)?,
            }
        }
        Ok(())
    }

    /// A channel of a server to a tenant's PD: the server must have given
    /// that channel to a tenant, which the PD then serves.
    fn server_end(
        &mut self,
        c: &'s Config<'s>,
        ch: u8,
        other: usize,
        why: &str,
        pos: Pos,
    ) -> Result<(), SdfError> {
        match self.server_channel(c, ch) {
            Some(t) => {
                self.claim(other, t, format!("{why} (channel {ch} of '{}', tenant {t})", c.pd), pos)
            }
            None if matches!(c.kind, Kind::Harness(_) | Kind::Blk(_) | Kind::Faulty) => {
                // The harness's child, a driver: no tenant's data.
                Ok(())
            }
            None => Err(self
                .err(pos, format!("{why}: '{}' has no channel {ch} in its configuration", c.pd))),
        }
    }

    /// Servers talk to servers only as drivers, parents and children, and
    /// the harness (a client of several tenants) to `wire` on channels
    /// both give the same tenant.
    fn between_servers(
        &self,
        x: &'s Config<'s>,
        a: &sdf::End,
        y: &'s Config<'s>,
        b: &sdf::End,
        pos: Pos,
    ) -> Result<(), SdfError> {
        use Kind::{Blk, Faulty, Harness, Psdb, Wire};
        let (harness, wire) = match (&x.kind, &y.kind) {
            (Psdb(_), Blk(_)) | (Blk(_), Psdb(_)) | (Harness(_), Faulty) | (Faulty, Harness(_)) => {
                return Ok(());
            }
            (Harness(h), Wire(_)) if a.pp => ((h, a.id), (y, b.id)),
            (Wire(_), Harness(h)) if b.pp => ((h, b.id), (x, a.id)),
            _ => {
                return Err(self.err(
                    pos,
                    format!(
                        "the channel between '{}' and '{}' is not one the shared servers have",
                        a.pd, b.pd
                    ),
                ));
            }
        };
        let ((h, hch), (w, wch)) = (harness, wire);
        let mine = h.identities.iter().find(|i| i.channel == hch).map(|i| i.tenant);
        let theirs = self.server_channel(w, wch);
        if mine.is_some() && mine == theirs {
            return Ok(());
        }
        Err(self.err(
            pos,
            format!(
                "the harness's channel {hch} is tenant {} there, but channel {wch} of '{}' is tenant {}",
                mine.unwrap_or("none"),
                w.pd,
                theirs.unwrap_or("none")
            ),
        ))
    }

    /// Only a `wire` (on a channel its configuration gives the ledger)
    /// calls a ledger, and a ledger calls only psdb: nothing reaches a
    /// tenant's ledger around the rights `wire` checks.
    fn ledger_channel(
        &self,
        il: usize,
        l: &sdf::End,
        io: usize,
        o: &sdf::End,
        pos: Pos,
    ) -> Result<(), SdfError> {
        let Role::Ledger(_) = self.roles[il] else { return Ok(()) };
        let ok = match self.roles[io] {
            Role::Server(c) => match &c.kind {
                Kind::Wire(w) => o.pp && w.ledgers.iter().any(|x| x.channel == o.id),
                Kind::Psdb(_) => l.pp,
                _ => false,
            },
            _ => false,
        };
        if ok {
            return Ok(());
        }
        Err(self.err(
            pos,
            format!(
                "the channel between '{}' and '{}': a ledger talks only to the wire channels given to it and to psdb",
                l.pd, o.pd
            ),
        ))
    }

    /// The tenant a server's mapping of a region serves (`Err`: private).
    fn server_map(&self, c: &Config<'s>, symbol: &str) -> Result<Option<&'s str>, ()> {
        let ch = system::BUFFER_SYMBOLS.iter().position(|b| *b == symbol);
        match ch {
            Some(ch) => Ok(self.server_channel(c, ch as u8)),
            None if symbol.starts_with("sfs_blk_") || symbol == system::PROBE_SYMBOL => Ok(None),
            None => Err(()),
        }
    }

    fn regions(&mut self) -> Result<(), SdfError> {
        let mut users: BTreeMap<&str, Vec<(usize, &'s sdf::Map)>> = BTreeMap::new();
        let pds = self.pds.clone();
        for (i, pd) in pds.iter().enumerate() {
            for m in &pd.maps {
                users.entry(m.mr.as_str()).or_default().push((i, m));
            }
        }
        for (mr, maps) in users {
            if maps.len() < 2 {
                continue;
            }
            let names: Vec<String> = maps
                .iter()
                .map(|(i, m)| format!("{} at line {}", self.pds[*i].name, m.pos.line))
                .collect();
            let why = format!("region '{mr}' (mapped into {})", names.join(", "));
            let mut others = Vec::new();
            for &(i, m) in &maps {
                let Some(c) = self.server(i) else {
                    others.push(i);
                    continue;
                };
                let symbol = m.setvar_vaddr.as_deref().unwrap_or("");
                match self.server_map(c, symbol) {
                    Ok(Some(t)) => {
                        for &(j, _) in &maps {
                            if j != i && self.server(j).is_none() {
                                self.claim(j, t, why.clone(), m.pos)?;
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(()) => {
                        return Err(self.err(
                            m.pos,
                            format!("{why}: it is private memory of '{}' ({symbol})", c.pd),
                        ));
                    }
                }
            }
            for w in others.windows(2) {
                let pos = maps.iter().find(|(i, _)| *i == w[1]).map_or(Pos::default(), |m| m.1.pos);
                self.join(w[0], w[1], why.clone(), pos)?;
            }
        }
        Ok(())
    }
}
