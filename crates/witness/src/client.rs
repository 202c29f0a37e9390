//! A tenant's witnesses (C2SP tlog-witness): `DIR/TENANT/witnesses` lists
//! them, one `VERIFIER_KEY URL` per line, where URL is the witness's
//! submission prefix. With witnesses configured, every command that opens
//! the tenant first has each witness cosign the current checkpoints (a
//! witness that has cosigned a larger tree stops it there: the directory
//! was rolled back), and every checkpoint a command signs is cosigned by
//! all of them before the command reports success. Cosignatures are kept
//! in the checkpoint files, after the ledger's own signature.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::protocol::{ADD_CHECKPOINT, add_checkpoint_body, parse_size_body};
use anyhow::{Context, Result, anyhow, bail};
use ledger::Tree;
use note::CosignatureVerifier;
use tenant::{HostEngine, Root, Tenant};

/// The file, in the tenant's directory.
pub const FILE: &str = "witnesses";
/// The most witnesses a tenant may have: their cosignatures must fit the
/// checkpoint a ledger keeps (2 KiB) beside its own signature.
pub const MAX_WITNESSES: usize = 8;
/// How long one request to a witness may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response read from a witness.
const MAX_RESPONSE: u64 = 16 * 1024;

/// One configured witness.
pub struct Configured {
    /// Its cosignature verifier key.
    pub key: CosignatureVerifier,
    /// Its submission prefix.
    pub url: String,
}

/// The witnesses configured for the tenant in `dir`.
pub fn load(dir: &Path) -> Result<Vec<Configured>> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut list = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let (key, url) = line.split_once(' ').ok_or_else(|| anyhow!("{}: want KEY URL", at()))?;
        list.push(configured(key, url.trim()).with_context(at)?);
    }
    Ok(list)
}

fn configured(key: &str, url: &str) -> Result<Configured> {
    let key = CosignatureVerifier::parse(key)
        .map_err(|e| anyhow!("witness key {key}: {e} (a witness key has type 0x04)"))?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        bail!("witness URL {url:?}: want http:// or https://");
    }
    Ok(Configured { key, url: url.trim_end_matches('/').to_string() })
}

/// Checks that the witness `key` at `url` may be added to the tenant in
/// `dir`: well formed, not there yet, room for it.
pub fn admit(dir: &Path, key: &str, url: &str) -> Result<Configured> {
    let w = configured(key, url)?;
    let list = load(dir)?;
    if list.iter().any(|k| k.key == w.key) {
        bail!("witness {} is configured already", w.key.name());
    }
    if list.len() >= MAX_WITNESSES {
        bail!("a tenant has at most {MAX_WITNESSES} witnesses");
    }
    Ok(w)
}

/// Adds the witness [`admit`] returned (the caller holds the tenant's
/// lock, and has had it cosign the current checkpoints).
pub fn add(dir: &Path, w: &Configured) -> Result<()> {
    let mut list = load(dir)?;
    if list.iter().any(|k| k.key == w.key) {
        bail!("witness {} is configured already", w.key.name());
    }
    list.push(Configured { key: w.key.clone(), url: w.url.clone() });
    save(dir, &list)
}

/// Removes the witness with key `key`.
pub fn remove(dir: &Path, key: &str) -> Result<()> {
    let key = CosignatureVerifier::parse(key).map_err(|e| anyhow!("witness key {key}: {e}"))?;
    let mut list = load(dir)?;
    let before = list.len();
    list.retain(|w| w.key != key);
    if list.len() == before {
        bail!("witness {} is not configured", key.name());
    }
    save(dir, &list)
}

fn save(dir: &Path, list: &[Configured]) -> Result<()> {
    let mut text = String::from("# Witnesses: VERIFIER_KEY URL (see `fsctl witness`).\n");
    for w in list {
        text.push_str(&format!("{} {}\n", w.key, w.url));
    }
    store_posix::write_durably(&dir.join(FILE), text.as_bytes())
        .with_context(|| format!("writing {}", dir.join(FILE).display()))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Has every witness cosign the current checkpoint of both of the tenant's
/// ledgers, unless it has already; keeps the cosignatures with them.
pub fn cosign(engine: &mut HostEngine, witnesses: &[Configured]) -> Result<()> {
    if witnesses.is_empty() {
        return Ok(());
    }
    let agent = agent();
    for tree in [Tree::Log, Tree::Audit] {
        cosign_tree(engine, tree, witnesses, &agent, false)?;
    }
    Ok(())
}

/// Before the tenant in `dir` is opened (and recovered), asks every witness
/// whether the stored checkpoints (`notes`: the record and the audit
/// checkpoint files, as they are) are behind what it cosigned: if so, the
/// directory was rolled back or forked, and nothing may be written, not
/// even recovery's removal of objects beyond a checkpoint.
pub fn before_open(notes: &[Vec<u8>], witnesses: &[Configured]) -> Result<()> {
    let agent = agent();
    for note in notes {
        let size = note::Checkpoint::peek_size(note).unwrap_or(0);
        for w in witnesses {
            let body = add_checkpoint_body(size, &[], note);
            let name = w.key.name();
            let (status, answer) = post(&agent, &w.url, &body)
                .with_context(|| format!("witness {name} at {}", w.url))?;
            match status {
                200 => {}
                409 => {
                    let theirs = parse_size_body(&answer)
                        .ok_or_else(|| anyhow!("witness {name}: a 409 without a tree size"))?;
                    if theirs >= size {
                        bail!("{}", rolled_back(name, theirs, size));
                    }
                }
                _ => bail!("{}", refused(name, status, &answer)),
            }
        }
    }
    Ok(())
}

fn rolled_back(name: &str, theirs: u64, size: u64) -> String {
    format!(
        "witness {name} has cosigned a tree of size {theirs} that this ledger's checkpoint (size {size}) does not extend: the ledger was rolled back or forked; nothing is written"
    )
}

/// Like [`cosign`], but asks every witness again even where the current
/// checkpoint carries its cosignature (a directory put back from a copy
/// carries old ones): a witness that has seen a larger tree refuses.
pub fn check(engine: &mut HostEngine, witnesses: &[Configured]) -> Result<()> {
    let agent = agent();
    for tree in [Tree::Log, Tree::Audit] {
        cosign_tree(engine, tree, witnesses, &agent, true)?;
    }
    Ok(())
}

fn current(engine: &HostEngine, tree: Tree) -> &[u8] {
    match tree {
        Tree::Log => engine.log().checkpoint(),
        Tree::Audit => engine.audit().checkpoint(),
    }
}

/// Has the witnesses cosign `tree`'s current checkpoint: those that have
/// not yet, or all of them (`again`).
fn cosign_tree(
    engine: &mut HostEngine,
    tree: Tree,
    witnesses: &[Configured],
    agent: &ureq::Agent,
    again: bool,
) -> Result<()> {
    let note = current(engine, tree).to_vec();
    let mut lines = Vec::new();
    for w in witnesses {
        if again || note::cosigned_at(&note, &w.key).ok().flatten().is_none() {
            lines.extend(ask(engine, tree, w, &note, agent)?);
        }
    }
    keep(engine, tree, &note, &lines)
}

/// Stores `note` with the new cosignature `lines` (replacing older lines
/// of the same witnesses).
fn keep(engine: &mut HostEngine, tree: Tree, note: &[u8], lines: &[u8]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let text = std::str::from_utf8(note).context("checkpoint is not UTF-8")?;
    let new = std::str::from_utf8(lines).context("cosignature is not UTF-8")?;
    let names: Vec<&str> = new.lines().filter_map(signer_name).collect();
    // The signature block starts after the last blank line.
    let at = text.rfind("\n\n").map_or(0, |i| i + 2);
    let mut out = text[..at].to_string();
    for line in text[at..].split_inclusive('\n') {
        if signer_name(line.trim_end()).is_none_or(|n| !names.contains(&n)) {
            out.push_str(line);
        }
    }
    out.push_str(new);
    engine
        .add_cosignatures(tree, out.as_bytes())
        .map_err(|e| anyhow!("storing the cosigned checkpoint: {e}"))
}

fn signer_name(line: &str) -> Option<&str> {
    line.strip_prefix("\u{2014} ")?.split_once(' ').map(|(n, _)| n)
}

/// One witness's cosignature line(s) on `note`, the current checkpoint of
/// `tree`: asks with the size it last cosigned, learning it from a 409.
fn ask(
    engine: &mut HostEngine,
    tree: Tree,
    w: &Configured,
    note: &[u8],
    agent: &ureq::Agent,
) -> Result<Vec<u8>> {
    let size = note::Checkpoint::peek_size(note).unwrap_or(0);
    let name = w.key.name();
    let mut old = size;
    for _ in 0..2 {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            engine
                .witness_proof(tree, old)
                .map_err(|e| anyhow!("proving size {size} extends {old} for {name}: {e}"))?
                .to_vec()
        };
        let (status, body) = post(agent, &w.url, &add_checkpoint_body(old, &proof, note))
            .with_context(|| format!("witness {name} at {}", w.url))?;
        match status {
            200 => return verified(note, &body, w),
            409 => {
                let theirs = parse_size_body(&body)
                    .ok_or_else(|| anyhow!("witness {name}: a 409 without a tree size"))?;
                if theirs > size || (theirs == size && old == size) {
                    bail!("{}", rolled_back(name, theirs, size));
                }
                old = theirs;
            }
            _ => bail!("{}", refused(name, status, &body)),
        }
    }
    bail!("witness {name}: its state keeps changing underneath (another writer?)")
}

fn refused(name: &str, status: u16, body: &[u8]) -> String {
    let why = String::from_utf8_lossy(body);
    let why = why.trim();
    match status {
        404 => format!(
            "witness {name} does not know this ledger: its operator must trust the key `fsctl key` prints (`fs-witness trust`) ({why})"
        ),
        422 => format!(
            "witness {name} rejected the consistency proof: this ledger does not extend what it cosigned ({why})"
        ),
        _ => format!("witness {name} refused with HTTP {status}: {why}"),
    }
}

/// Checks the witness's answer: a cosignature by its key on `note`.
fn verified(note: &[u8], body: &[u8], w: &Configured) -> Result<Vec<u8>> {
    let mut with = note.to_vec();
    with.extend_from_slice(body);
    match note::cosigned_at(&with, &w.key) {
        Ok(Some(_)) => {}
        Ok(None) => bail!("witness {}: the answer has no cosignature by its key", w.key.name()),
        Err(e) => bail!("witness {}: its cosignature does not verify: {e}", w.key.name()),
    }
    // Keep only its own line: whatever else it sent is not trusted.
    let text = std::str::from_utf8(body).context("cosignature is not UTF-8")?;
    let mine = text
        .lines()
        .find(|l| {
            let mut one = note.to_vec();
            one.extend_from_slice(format!("{l}\n").as_bytes());
            note::cosigned_at(&one, &w.key).ok().flatten().is_some()
        })
        .unwrap_or_default();
    Ok(format!("{mine}\n").into_bytes())
}

fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut resp = agent
        .post(format!("{url}{ADD_CHECKPOINT}"))
        .content_type("text/plain")
        .send(body)
        .map_err(|e| anyhow!("unreachable: {e}"))?;
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(MAX_RESPONSE)
        .read_to_end(&mut out)
        .map_err(|e| anyhow!("reading its answer: {e}"))?;
    Ok((status, out))
}

/// Opens `tenant` of `root` as a writer must when it may have witnesses:
/// its lock first, then, before recovery (which may remove objects beyond
/// a checkpoint), each witness is shown the stored checkpoints that verify,
/// and one that has cosigned a larger tree stops it (the directory was
/// rolled back or forked): nothing is written then. Returns the tenant and
/// its witnesses; the caller has them [`cosign`] before writing.
pub fn open(root: &Root, tenant: &str) -> Result<(Tenant, Vec<Configured>)> {
    let lock = root.lock(tenant)?;
    let ws = load(&root.tenant_dir(tenant))?;
    if !ws.is_empty() {
        // Only checkpoints that verify: opening refuses the others itself.
        let key = root.verifier(tenant)?;
        let audit = key
            .renamed(&format!("{}{}", key.name(), ledger::engine::AUDIT_SUFFIX))
            .map_err(|e| anyhow!("verifier key: {e}"))?;
        let notes: Vec<Vec<u8>> = [root.log_dir(tenant), root.audit_dir(tenant)]
            .iter()
            .zip([&key, &audit])
            .filter_map(|(d, k)| std::fs::read(d.join("checkpoint")).ok().map(|n| (n, k)))
            .filter(|(n, k)| note::open(n, &[k]).is_ok())
            .map(|(n, _)| n)
            .collect();
        before_open(&notes, &ws)?;
    }
    Ok((root.open_locked(tenant, lock)?, ws))
}
