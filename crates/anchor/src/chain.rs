//! The offline check of a tenant's whole anchor chain, as an auditor runs
//! it years later from the files alone: the anchor ledger verifies under the
//! tenant's key; every receipt's checkpoint is signed by the tenant, extends
//! the previous one (consistency proof) and is logged in Rekor (inclusion
//! proof under Rekor's signed checkpoint); and the tenant's current ledger
//! extends the last one anchored.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use note::{Checkpoint, CosignatureVerifier, Verifier};
use tlog::tree::NodeReader;
use tlog::{Hash, TILE_WIDTH, Tile, leaf_hash, node_hash};

use crate::ledger;
use crate::month::Month;
use crate::receipt::{Receipt, parse_hash};
use crate::rekor_log::{RekorKey, check};
use crate::tiles::{self, Tiles};

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Receipts checked.
    pub receipts: u64,
    /// Months of the first and last receipt.
    pub first: Option<String>,
    /// The last month anchored.
    pub last: Option<String>,
    /// The tree size of the last anchored checkpoint.
    pub anchored_size: u64,
    /// The current ledger's size.
    pub current_size: u64,
    /// Witness times checked against the keys given.
    pub witness_times: u64,
    /// RFC 3161 timestamps checked against the authority given.
    pub timestamps: u64,
}

/// Checks the anchor chain in `anchors` (a tenant's `anchors/`) against the
/// tenant's key, the Rekor keys (one per log the chain used: Rekor v2 logs
/// are sharded and rotated, so a chain of years spans several) and, if
/// given, witness keys whose cosigned times every receipt must carry, and
/// a timestamp authority whose token every receipt must carry; `current` is
/// the tenant's ledger now.
pub fn verify(
    anchors: &Path,
    tenant: &Verifier,
    rekor: &[RekorKey],
    witnesses: &[CosignatureVerifier],
    tsa: Option<&rekor::tsa::Authority>,
    current: &dyn Tiles,
) -> Result<Report> {
    let receipts = read_receipts(anchors, tenant)?;
    let mut report = Report { receipts: receipts.len() as u64, ..Report::default() };
    let mut prev: Option<&Receipt> = None;
    for (i, r) in receipts.iter().enumerate() {
        check_receipt(r, prev, tenant, rekor, witnesses, &mut report)
            .and_then(|()| check_time(r, tsa, &mut report))
            .with_context(|| format!("anchor receipt {i} ({})", r.month))?;
        prev = Some(r);
    }
    report.first = receipts.first().map(|r| r.month.clone());
    report.last = receipts.last().map(|r| r.month.clone());
    let note = current
        .read("checkpoint")?
        .ok_or_else(|| anyhow!("{}: no checkpoint", current.describe()))?;
    let (size, root) = open_checkpoint(&note, tenant).context("the current ledger")?;
    report.current_size = size;
    if let Some(last) = prev {
        report.anchored_size = last.size;
        tiles::consistency(current, last.size, &last.root_hash()?, size, &root)
            .context("the current ledger against the last anchor")?;
    }
    Ok(report)
}

fn check_receipt(
    r: &Receipt,
    prev: Option<&Receipt>,
    tenant: &Verifier,
    rekor: &[RekorKey],
    witnesses: &[CosignatureVerifier],
    report: &mut Report,
) -> Result<()> {
    let month: Month = r.month.parse().map_err(|e: String| anyhow!(e))?;
    let (size, root) = open_checkpoint(r.checkpoint.as_bytes(), tenant)?;
    if size != r.size || root != r.root_hash()? {
        bail!("its size and root are not those of the checkpoint it holds");
    }
    check_previous(r, prev, month)?;
    let key = rekor
        .iter()
        .find(|k| k.api() == r.rekor.api && k.log_name() == r.rekor.log)
        .ok_or_else(|| {
            anyhow!(
                "it is in Rekor log {:?} ({}), and no --rekor-key given is that log's",
                r.rekor.log,
                r.rekor.url
            )
        })?;
    let checked = check(&r.rekor, r.checkpoint.as_bytes(), tenant, key)?;
    if (checked.log_index, checked.tree_size) != (r.rekor.log_index, r.rekor.tree_size) {
        bail!(
            "Rekor's answer names entry {} in a tree of {}, not the receipt's",
            checked.log_index,
            checked.tree_size
        );
    }
    if checked.integrated_time != r.time.rekor_integrated_time {
        bail!("its Rekor integrated time is not the one Rekor signed");
    }
    for w in witnesses {
        let Some(t) = note::cosigned_at(r.checkpoint.as_bytes(), w)
            .map_err(|e| anyhow!("its cosignature by witness {}: {e}", w.name()))?
        else {
            bail!("its checkpoint carries no cosignature by witness {}", w.name());
        };
        if !r.time.witnesses.iter().any(|x| x.time == t && x.key == w.to_string()) {
            bail!("witness {} cosigned at {t}, which the receipt does not state", w.name());
        }
        report.witness_times += 1;
    }
    Ok(())
}

/// The receipt's RFC 3161 timestamp, when an authority is given.
fn check_time(r: &Receipt, tsa: Option<&rekor::tsa::Authority>, report: &mut Report) -> Result<()> {
    let Some(authority) = tsa else { return Ok(()) };
    let t = r.time.rfc3161.as_ref().context("it carries no RFC 3161 timestamp")?;
    crate::rekor_log::check_timestamp(t, r.checkpoint.as_bytes(), authority)?;
    report.timestamps += 1;
    Ok(())
}

/// The link to the previous receipt: a later month, and a consistency
/// proof from its checkpoint to this one.
fn check_previous(r: &Receipt, prev: Option<&Receipt>, month: Month) -> Result<()> {
    let (Some(p), Some(link)) = (prev, &r.previous) else {
        return match (prev, &r.previous) {
            (None, None) => Ok(()),
            (None, Some(_)) => bail!("the first receipt names a previous anchor"),
            _ => bail!("it does not name the previous anchor"),
        };
    };
    let prev_month: Month = p.month.parse().map_err(|e: String| anyhow!(e))?;
    if month <= prev_month {
        bail!("its month is not after the previous receipt's {}", p.month);
    }
    if link.size != p.size || link.root != p.root {
        bail!("the previous anchor it names is not the receipt before it");
    }
    let proof = link.consistency.iter().map(|h| parse_hash(h)).collect::<Result<Vec<_>>>()?;
    let (old_root, root) = (p.root_hash()?, r.root_hash()?);
    let ok = match (p.size, r.size) {
        (old, new) if old > new => false,
        (old, new) if old == new => old_root == root && proof.is_empty(),
        (0, _) => proof.is_empty(),
        (old, new) => tlog::proof::verify_consistency(&proof, new, &root, old, &old_root).is_ok(),
    };
    if !ok {
        bail!(
            "its checkpoint (size {}) does not extend the previous one (size {})",
            r.size,
            p.size
        );
    }
    Ok(())
}

fn open_checkpoint(note: &[u8], key: &Verifier) -> Result<(u64, Hash)> {
    let opened = note::open(note, &[key])
        .map_err(|e| anyhow!("the checkpoint does not verify with the tenant's key {key}: {e}"))?;
    let cp = Checkpoint::parse(opened.text).map_err(|e| anyhow!("the checkpoint: {e}"))?;
    if cp.origin != key.name() {
        bail!("the checkpoint's origin {:?} is not the tenant's {:?}", cp.origin, key.name());
    }
    Ok((cp.size, cp.root))
}

/// Every receipt of the anchor ledger in `anchors`, after verifying its
/// files under the tenant's key; the entries read are hashed again into the
/// signed root, so files changed after the verification are caught too.
pub fn read_receipts(anchors: &Path, tenant: &Verifier) -> Result<Vec<Receipt>> {
    let key = ledger::verifier(tenant)?;
    for part in [anchors.to_path_buf(), anchors.join(ledger::LOG)] {
        if std::fs::symlink_metadata(&part).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!("{} is a symbolic link, which a ledger never follows", part.display());
        }
    }
    let dir = verify::Dir(anchors.join(ledger::LOG));
    let report = verify::verify(&dir, &key)
        .map_err(|d| anyhow!("the anchor ledger {}: {d}", dir.0.display()))?;
    let mut entries = Vec::new();
    for k in 0..report.size.div_ceil(TILE_WIDTH) {
        let width = (report.size - k * TILE_WIDTH).min(TILE_WIDTH) as u16;
        let tile = Tile::entries(k, width);
        let bytes = verify::read_tile(&dir, &tile)
            .map_err(|d| anyhow!("{d}"))?
            .ok_or_else(|| anyhow!("{}: {tile} is missing", dir.0.display()))?;
        entries.extend(
            tlog::bundle::entries(&bytes).take(usize::from(width)).map(|e| e.map(<[u8]>::to_vec)),
        );
    }
    let entries: Vec<Vec<u8>> = entries
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow!("{}: a bundle is malformed", dir.0.display()))?;
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    if leaves.len() as u64 != report.size
        || tlog::tree::tree_hash(report.size, &mut Leaves(&leaves)).ok() != Some(report.root)
    {
        bail!("{}: the receipts changed while they were read", dir.0.display());
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| Receipt::decode(e).with_context(|| format!("anchor receipt {i}")))
        .collect()
}

/// Subtree hashes computed from all the leaves (anchor ledgers are small:
/// one receipt a month).
struct Leaves<'a>(&'a [Hash]);

impl NodeReader for Leaves<'_> {
    type Error = ();

    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ()> {
        if level == 0 {
            return self.0.get(index as usize).copied().ok_or(());
        }
        let (l, r) = (self.node(level - 1, 2 * index)?, self.node(level - 1, 2 * index + 1)?);
        Ok(node_hash(&l, &r))
    }
}
