//! One anchoring of one tenant: its latest signed checkpoint into Rekor,
//! and the receipt into its anchor ledger. Nothing is appended unless every
//! check passed; the same month twice is a no-op.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use note::{Checkpoint, CosignatureVerifier, Signer};

use crate::ledger::AnchorLedger;
use crate::month::Month;
use crate::receipt::{self, Previous, Receipt, Time, WitnessTime, hash_b64};
use crate::rekor_log::{RekorLog, Tsa};
use crate::tiles::{self, Tiles};

/// What to anchor.
pub struct Job<'a> {
    /// The tenant's signing key (its name is the ledger's origin).
    pub signer: &'a Signer,
    /// Its anchor ledger directory (`DIR/<tenant>/anchors`).
    pub anchors: &'a Path,
    /// Where its checkpoint and tiles are read.
    pub source: &'a dyn Tiles,
    /// Its witnesses: their cosigned times go into the receipt.
    pub witnesses: &'a [CosignatureVerifier],
    /// The month being anchored.
    pub month: Month,
    /// How long to wait for another emitter on the same tenant.
    pub wait: Duration,
    /// The time now (Unix seconds), for the receipt.
    pub now: u64,
    /// A timestamp authority to stamp the checkpoint, if any.
    pub tsa: Option<&'a Tsa>,
}

/// What a run did for a tenant.
#[derive(Debug)]
pub enum Outcome {
    /// A new receipt, at this index of the anchor ledger.
    Anchored(u64, Box<Receipt>),
    /// The month was anchored already, by this receipt.
    Already(u64, Box<Receipt>),
}

/// Anchors the tenant's latest checkpoint for `job.month`, unless that
/// month is anchored already.
pub fn anchor(job: &Job<'_>, rekor: &RekorLog) -> Result<Outcome> {
    // The checkpoint first: a key that does not sign it (a wrong seed)
    // must not make an anchor ledger under that key.
    let note = job
        .source
        .read("checkpoint")?
        .ok_or_else(|| anyhow!("{}: no checkpoint", job.source.describe()))?;
    if note.len() > ledger::log::MAX_NOTE {
        bail!(
            "{}: the checkpoint is {} bytes, more than a ledger signs",
            job.source.describe(),
            note.len()
        );
    }
    let (size, root) = open_checkpoint(&note, job.signer)?;
    let mut ledger = AnchorLedger::open(job.anchors, job.signer, job.wait)?;
    let last = ledger.last()?;
    if let Some(last) = &last {
        let month: Month = last.month.parse().map_err(|e: String| anyhow!(e))?;
        if month == job.month {
            return Ok(Outcome::Already(ledger.size() - 1, Box::new(last.clone())));
        }
        if month > job.month {
            bail!("{} is before {month}, the month anchored last", job.month);
        }
    }
    let previous = match &last {
        Some(l) => {
            let old_root = l.root_hash()?;
            let proof = tiles::consistency(job.source, l.size, &old_root, size, &root)?;
            Some(Previous {
                size: l.size,
                root: l.root.clone(),
                consistency: proof.iter().map(hash_b64).collect(),
            })
        }
        None => None,
    };
    let witnesses = witness_times(&note, job.witnesses)?;
    let rfc3161 = job.tsa.map(|t| t.stamp(&note)).transpose()?;
    let (entry, checked) = rekor.submit(&note, job.signer)?;
    let receipt = Receipt {
        v: receipt::VERSION,
        month: job.month.to_string(),
        emitted_at: job.now,
        checkpoint: String::from_utf8(note).context("the checkpoint is not UTF-8")?,
        size,
        root: hash_b64(&root),
        previous,
        rekor: entry,
        time: Time { witnesses, rekor_integrated_time: checked.integrated_time, rfc3161 },
    };
    let index = ledger.append(&receipt)?;
    Ok(Outcome::Anchored(index, Box::new(receipt)))
}

/// Opens the tenant's checkpoint with its key; its size and root.
fn open_checkpoint(note: &[u8], signer: &Signer) -> Result<(u64, tlog::Hash)> {
    let key = signer.verifier();
    let opened = note::open(note, &[&key])
        .map_err(|e| anyhow!("the checkpoint is not signed by the tenant's key {key}: {e}"))?;
    let cp = Checkpoint::parse(opened.text).map_err(|e| anyhow!("the checkpoint: {e}"))?;
    if cp.origin != key.name() {
        bail!("the checkpoint's origin {:?} is not the tenant's {:?}", cp.origin, key.name());
    }
    Ok((cp.size, cp.root))
}

/// The time each witness cosigned the checkpoint; a cosignature that does
/// not verify is an error, a missing one is left out.
pub fn witness_times(note: &[u8], witnesses: &[CosignatureVerifier]) -> Result<Vec<WitnessTime>> {
    let mut out = Vec::new();
    for w in witnesses {
        match note::cosigned_at(note, w) {
            Ok(Some(time)) => out.push(WitnessTime { key: w.to_string(), time }),
            Ok(None) => {}
            Err(e) => bail!("the checkpoint's cosignature by witness {}: {e}", w.name()),
        }
    }
    Ok(out)
}
